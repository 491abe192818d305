"""Drives python-socketio's client against the scenario server (tests/js/scenarios/SPEC.md).

usage: python scenario_client.py URL [--transports polling,websocket] [--path socket.io]
                                     [--timeout SECONDS]

Scenario:
  1. a CONNECT refused by the middleware of `/` (auth token "bad") reaches `connect_error`
     with `{"message": "unauthorized", "data": {"code": 401}}`;
  2. one connection carries `/` and `/custom` (auth `{"nick": "py"}`): `/` emits `welcome`
     with the socket id and the auth, `/custom` emits `auth`; `conn` on both namespaces reports
     the client's own Engine.IO session id;
  3. `echo` with text, numbers, nested objects and binary (bytes, nested too): `echo-back`
     carries the same arguments; the ack of `echo` too (client-to-server ack);
  4. `ask` with binary data: the server asks `question` (server-to-client ack), the client
     answers with several arguments, binary included, and the server acknowledges
     `{"reply": [...]}` with them;
  5. `join` a room, `fetch` it: the entry has the client's id, rooms and `data.nick`;
  6. disconnect.

Exit code 0 = pass; otherwise the reason is on stderr. Every wait is bounded by --timeout.
"""

import argparse
import queue
import sys

import socketio

# Arguments of `echo`: binary at the top level and nested, plus every JSON kind.
ARGS = (
    1,
    "two",
    {"three": [False, None, 3.5], "nested": {"bytes": b"\x00\x01\xfe\xff"}},
    b"\x10\x20\x30",
    [b"a", {"b": b"b"}],
    "h\u00e9llo \u4f60\u597d",
)
QUESTION = {"q": b"\x01\x02\x03", "list": [b"\x04"]}
REPLY = ("py-reply", b"\x05\x06", {"inner": b"\x07"})


class Failure(Exception):
    """A scenario step did not see what it expected."""


def expect_equal(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def take(events, name, timeout):
    try:
        return events.get(timeout=timeout)
    except queue.Empty:
        raise Failure(f"timed out after {timeout} s waiting for the {name!r} event") from None


def call(client, event, *args, namespace="/", timeout):
    """Emits with an ack request; returns the ack's single argument."""
    try:
        return client.call(event, args, namespace=namespace, timeout=timeout)
    except socketio.exceptions.TimeoutError:
        raise Failure(f"no ack for {event!r} on {namespace} within {timeout} s") from None


def refused_connect(args, transports):
    """Step 1: the middleware refusal reaches connect_error with its message and data."""
    client = socketio.Client(reconnection=False)
    errors = queue.Queue()
    client.on("connect_error", lambda *a: errors.put(a), namespace="/")
    try:
        client.connect(
            args.url,
            auth={"token": "bad"},
            transports=transports,
            namespaces=["/"],
            socketio_path=args.path,
            wait_timeout=args.timeout,
        )
    except socketio.exceptions.ConnectionError:
        pass
    else:
        client.disconnect()
        raise Failure("a CONNECT with auth token 'bad' was accepted")
    try:
        received = take(errors, "connect_error", args.timeout)
    finally:
        client.disconnect()
    expect_equal(received, ({"message": "unauthorized", "data": {"code": 401}},), "connect_error of token 'bad'")


def run(args):
    transports = [t for t in args.transports.split(",") if t]
    refused_connect(args, transports)

    auth = {"nick": "py"}
    client = socketio.Client(reconnection=False)
    welcome = queue.Queue()
    custom_auth = queue.Queue()
    echoes = queue.Queue()
    questions = queue.Queue()

    def on_question(*data):
        questions.put(data)
        return REPLY

    client.on("welcome", lambda *a: welcome.put(a), namespace="/")
    client.on("echo-back", lambda *a: echoes.put(a), namespace="/")
    client.on("question", on_question, namespace="/")
    client.on("auth", lambda *a: custom_auth.put(a), namespace="/custom")

    try:
        client.connect(
            args.url,
            auth=auth,
            transports=transports,
            namespaces=["/", "/custom"],
            socketio_path=args.path,
            wait_timeout=args.timeout,
        )
    except socketio.exceptions.ConnectionError as err:
        raise Failure(f"could not connect to {args.url} namespaces / and /custom: {err}") from None

    try:
        sid = client.get_sid("/")
        expect_equal(take(welcome, "welcome", args.timeout), ({"id": sid, "auth": auth},), "'welcome' on /")
        expect_equal(take(custom_auth, "auth", args.timeout), (auth,), "'auth' on /custom")
        for namespace in ("/", "/custom"):
            info = call(client, "conn", namespace=namespace, timeout=args.timeout)
            expect_equal(info.get("id"), client.eio.sid, f"Engine.IO session id seen by {namespace}")
            if info.get("transport") not in ("polling", "websocket"):
                raise Failure(f"'conn' on {namespace} reports transport {info.get('transport')!r}")

        client.emit("echo", ARGS, namespace="/")
        expect_equal(take(echoes, "echo-back", args.timeout), ARGS, "arguments of 'echo-back'")
        try:
            reply = client.call("echo", ARGS, namespace="/", timeout=args.timeout)
        except socketio.exceptions.TimeoutError:
            raise Failure(f"no ack for 'echo' within {args.timeout} s") from None
        expect_equal(reply, ARGS, "ack of 'echo'")
        expect_equal(take(echoes, "echo-back", args.timeout), ARGS, "arguments of the second 'echo-back'")

        answer = call(client, "ask", QUESTION, timeout=args.timeout)
        expect_equal(take(questions, "question", args.timeout), (QUESTION,), "arguments of 'question'")
        expect_equal(answer, {"reply": list(REPLY)}, "ack of 'ask' (the server got our ack)")

        room = f"py-{sid}"
        expect_equal(call(client, "join", room, timeout=args.timeout), sorted([sid, room]), "ack of 'join'")
        expect_equal(
            call(client, "fetch", room, timeout=args.timeout),
            [{"id": sid, "rooms": sorted([sid, room]), "data": {"nick": "py"}, "auth": auth}],
            "ack of 'fetch'",
        )
        transport = client.transport()
    finally:
        client.disconnect()
    return f"{args.url} namespaces / and /custom over {transport}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--transports", default="polling,websocket")
    parser.add_argument("--path", default="socket.io")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds allowed for each step")
    args = parser.parse_args()
    try:
        summary = run(args)
    except Failure as err:
        print(f"scenario_client: FAIL: {err}", file=sys.stderr)
        return 1
    print(f"scenario_client: ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
