"""Drives python-socketio's client against the `socketio_conformance` example.

usage: python sio_client.py URL [--transports polling,websocket] [--namespace /]
                                [--auth JSON] [--serializer default|msgpack]
                                [--timeout SECONDS]

Scenario (namespace `/` by default, which must echo):
  1. connect with the auth payload (none by default) and expect the `auth` event to carry
     it back (`{}` when none was sent);
  2. emit `message` with text, numbers, a nested object and binary (bytes), and expect
     `message-back` with the same arguments;
  3. call `message-with-ack` with the same arguments and expect the ack to carry them back;
  4. disconnect.
With a namespace other than `/` only step 1 runs (the example echoes on `/` only).
`--serializer msgpack` speaks the MessagePack parser (a server with `Parser::MsgPack`).

Exit code 0 = pass; otherwise the reason is on stderr. Every wait is bounded by --timeout.
"""

import argparse
import json
import queue
import sys

import socketio

# Arguments sent in steps 2 and 3: binary at the top level and nested inside an object.
ARGS = (
    1,
    "2",
    {"3": [False], "nested": {"bytes": b"\x00\x01\xfe\xff"}},
    b"\x10\x20\x30",
    "h\u00e9llo \u4f60\u597d",
)


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


def run(args):
    transports = [t for t in args.transports.split(",") if t]
    auth = json.loads(args.auth) if args.auth is not None else None
    namespace = args.namespace

    client = socketio.Client(reconnection=False, serializer=args.serializer)
    auth_events = queue.Queue()
    echo_events = queue.Queue()
    client.on("auth", lambda *a: auth_events.put(a), namespace=namespace)
    client.on("message-back", lambda *a: echo_events.put(a), namespace=namespace)

    try:
        client.connect(
            args.url,
            auth=auth,
            transports=transports,
            namespaces=[namespace],
            socketio_path=args.path,
            wait_timeout=args.timeout,
        )
    except socketio.exceptions.ConnectionError as err:
        raise Failure(f"could not connect to {args.url} namespace {namespace}: {err}") from None

    try:
        received = take(auth_events, "auth", args.timeout)
        expect_equal(received, (auth if auth is not None else {},), "arguments of the 'auth' event")

        if namespace == "/":
            client.emit("message", ARGS, namespace=namespace)
            expect_equal(take(echo_events, "message-back", args.timeout), ARGS, "arguments of 'message-back'")
            try:
                reply = client.call("message-with-ack", ARGS, namespace=namespace, timeout=args.timeout)
            except socketio.exceptions.TimeoutError:
                raise Failure(f"no ack for 'message-with-ack' within {args.timeout} s") from None
            expect_equal(reply, ARGS, "ack of 'message-with-ack'")
        transport = client.transport()
    finally:
        client.disconnect()
    return f"{args.url} namespace {namespace} over {transport} ({args.serializer} serializer)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--transports", default="polling,websocket")
    parser.add_argument("--namespace", default="/")
    parser.add_argument("--path", default="socket.io")
    parser.add_argument("--auth", default=None, help="JSON object sent as the CONNECT payload")
    parser.add_argument("--serializer", default="default", choices=["default", "msgpack"])
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds allowed for each step")
    args = parser.parse_args()
    try:
        summary = run(args)
    except Failure as err:
        print(f"sio_client: FAIL: {err}", file=sys.stderr)
        return 1
    print(f"sio_client: ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
