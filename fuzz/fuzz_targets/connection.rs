//! The connection state machine: a sequence of packets from long-polling clients into the
//! real server (engine session, `Client`, namespaces, sockets, handlers), in process
//! through its tower service, on a fresh runtime per input.
//!
//! The input is lines (`\n`): each line is one POST body, as the client wrote it (an
//! Engine.IO 4 payload: packets separated by `0x1e`, binary ones as `b` and base64); a line
//! starting with a tab is sent by a second client; a line starting with `0x0b` by a
//! Socket.IO 2 client (Engine.IO 3 and protocol 4: a text payload `<length>:<packet>`, or
//! with `0x01` next, a binary payload sent as `application/octet-stream`), which the
//! server joins to `/` by itself; a line `!<op><arg>` makes the server
//! act (`e` emit, `b` binary emit, `a` emit with acknowledgements, `j`/`l` join/leave,
//! `t` emit to a room, `d`/`D` disconnect every socket, `f` fetch sockets, `s` server-side
//! emit, `x` emit to each socket). The handlers are in `fuzz/common/harness.rs`.
//!
//! Checks: nothing panics (in the server, its tasks or handlers); every answer is a status
//! the protocol allows; everything the server writes is a valid payload of valid
//! Socket.IO packets with their attachments right behind them; the server then shuts down.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

#[path = "../common/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{Polling, Server, lines, server_op};
use tower_socketio::SocketIo;

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    harness::runtime().block_on(async {
        let server = Server::new(SocketIo::builder().allow_eio3(true));
        let mut first = Polling::open(&server).await;
        let mut second = Polling::open(&server).await;
        let mut old = Polling::open_v3(&server).await;
        for line in lines(data) {
            match line {
                [b'!', op, arg @ ..] => server_op(&server.io, *op, arg).await,
                [b'\t', body @ ..] => {
                    second.post(Bytes::copy_from_slice(body)).await;
                }
                [0x0b, 0x01, body @ ..] => {
                    old.post_as(Bytes::copy_from_slice(body), true).await;
                }
                [0x0b, body @ ..] => {
                    old.post(Bytes::copy_from_slice(body)).await;
                }
                body => {
                    first.post(Bytes::copy_from_slice(body)).await;
                }
            }
            first.collect().await;
            second.collect().await;
            old.collect().await;
        }
        server.close().await;
    });
}
