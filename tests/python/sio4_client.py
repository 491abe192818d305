"""Drives python-socketio 4 (Socket.IO protocol 4 over Engine.IO 3, a Socket.IO 2 client)
against the Socket.IO 2 test server of tests/socketio_v2.rs. Runs in the .venv-sio4 venv.

usage: python sio4_client.py URL [--transports polling,websocket] [--timeout SECONDS]

Scenario, on one connection to `/` and `/custom`:
  1. connect; `/` is joined by the server at once, `/custom` by the client's CONNECT; both
     emit `auth` (`{}`: this client sends no query with its CONNECT);
  2. `whoami` on each is acknowledged with the id as the server knows it: the Engine.IO id
     on `/`, `/custom#<that id>` on `/custom`;
  3. `message` with text, numbers, a nested object and binary comes back as `message-back`;
  4. `message-with-ack` is acknowledged with the same arguments;
  5. `ask` makes the server ask `question` with an ack (binary in both directions) and send
     back the reply as `answer`;
  6. disconnect.
Python-socketio 4 counts text payload lengths in code points (Node counts UTF-16 units), so
the texts sent stay in the Basic Multilingual Plane.

Exit code 0 = pass; otherwise the reason is on stderr. Every wait is bounded by --timeout.
"""

import argparse
import queue
import sys

import socketio

# The arguments and the helpers of the python-socketio 5 driver (its module imports only
# what both versions have).
from sio_client import ARGS, Failure, expect_equal, take


def call(client, event, data, namespace, timeout):
    try:
        return client.call(event, data, namespace=namespace, timeout=timeout)
    except socketio.exceptions.TimeoutError:
        raise Failure(f"no ack for {event!r} on {namespace} within {timeout} s") from None


def run(args):
    transports = [t for t in args.transports.split(",") if t]
    client = socketio.Client(reconnection=False)
    auth = {"/": queue.Queue(), "/custom": queue.Queue()}
    echoes = queue.Queue()
    answers = queue.Queue()
    for ns, q in auth.items():
        client.on("auth", lambda *a, q=q: q.put(a), namespace=ns)
    client.on("message-back", lambda *a: echoes.put(a))
    client.on("answer", lambda *a: answers.put(a))
    client.on("question", lambda q, data: ("reply to " + q, data + b"\x09"))

    try:
        client.connect(
            args.url,
            transports=transports,
            namespaces=["/custom"],
        )
    except socketio.exceptions.ConnectionError as err:
        raise Failure(f"could not connect to {args.url}: {err}") from None

    try:
        for ns, q in auth.items():
            expect_equal(take(q, f"auth of {ns}", args.timeout), ({},), f"auth of {ns}")
        sid = client.eio.sid
        expect_equal(call(client, "whoami", None, "/", args.timeout), sid, "the id of /")
        expect_equal(
            call(client, "whoami", None, "/custom", args.timeout),
            f"/custom#{sid}",
            "the id of /custom",
        )
        client.emit("message", ARGS)
        expect_equal(take(echoes, "message-back", args.timeout), ARGS, "arguments of 'message-back'")
        expect_equal(call(client, "message-with-ack", ARGS, "/", args.timeout), ARGS, "ack of 'message-with-ack'")
        client.emit("ask")
        expect_equal(
            take(answers, "answer", args.timeout),
            ("reply to q?", b"\x01\x02\x09"),
            "the reply the server got",
        )
        transport = client.transport()
    finally:
        client.disconnect()
    return f"{args.url} over {transport} as {sid}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--transports", default="polling,websocket")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds allowed for each step")
    args = parser.parse_args()
    try:
        summary = run(args)
    except Failure as err:
        print(f"sio4_client: FAIL: {err}", file=sys.stderr)
        return 1
    print(f"sio4_client: ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
