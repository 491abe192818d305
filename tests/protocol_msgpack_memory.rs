//! What hostile MessagePack costs in memory, measured with dhat's heap profiler (a global
//! allocator): every decode of a hostile message fails holding a few KiB at most (nothing is
//! sized by a length the message declares); an honest one costs what it holds. One test
//! function, alone in its binary, so that nothing else allocates while it measures.

use bytes::Bytes;
use tower_socketio::engine::Message;
use tower_socketio::protocol::{
    Codec, DecoderConfig, Packet, PacketData, Parser, ProtocolError, Revision,
};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// The most heap `f` held at once (bytes allocated while it ran and not yet freed).
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let profiler = dhat::Profiler::builder().testing().build();
    let r = f();
    let peak = dhat::HeapStats::get().max_bytes;
    drop(profiler);
    (r, peak)
}

fn map(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![0x80 | entries.len() as u8];
    for (k, v) in entries {
        out.push(0xa0 | k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v);
    }
    out
}

fn event(data: &[u8]) -> Vec<u8> {
    map(&[("type", b"\x02"), ("data", data), ("nsp", b"\xa1/")])
}

fn feed(bytes: Vec<u8>) -> Result<Option<Packet>, ProtocolError> {
    Codec::new(Parser::MsgPack, Revision::V5)
        .reader(DecoderConfig::default())
        .feed(Message::Binary(Bytes::from(bytes)))
}

#[test]
fn hostile_messages_allocate_almost_nothing_and_honest_ones_what_they_hold() {
    hostile_messages_are_errors_that_allocate_almost_nothing();
    honest_messages_cost_what_they_hold();
}

fn hostile_messages_are_errors_that_allocate_almost_nothing() {
    let huge = |marker: u8| vec![marker, 0xff, 0xff, 0xff, 0xff];
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0xc0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("array32 header alone", huge(0xdd)),
        ("map32 header alone", huge(0xdf)),
        ("str32 header alone", huge(0xdb)),
        ("bin32 header alone", huge(0xc6)),
        ("ext32 header alone", [huge(0xc9), vec![0]].concat()),
        ("array32 header as data", event(&huge(0xdd))),
        ("60 nested array32 headers", huge(0xdd).repeat(60)),
        ("arrays 100 000 deep", event(&deep)),
        ("trailing byte", [event(b"\x91\xa1e"), vec![0]].concat()),
        ("0xc1", vec![0xc1]),
        (
            "namespace is a number",
            map(&[("type", b"\x01"), ("nsp", b"\x07")]),
        ),
        (
            "id is a string",
            map(&[
                ("type", b"\x03"),
                ("data", b"\x90"),
                ("id", b"\xa11"),
                ("nsp", b"\xa1/"),
            ]),
        ),
    ];
    for (what, bytes) in cases {
        let len = bytes.len();
        let (result, peak) = peak_of(move || feed(bytes));
        assert!(result.is_err(), "{what}: {result:?}");
        // Nothing sized by a declared length: a stack of at most 256 small frames.
        assert!(peak <= 8 * 1024, "{what} ({len} bytes) took {peak} bytes");
    }
}

fn honest_messages_cost_what_they_hold() {
    // One million nils in one array argument (1 MB): decoded as a slice of the message.
    let mut data = vec![0x92, 0xa1, b'e', 0xdd];
    data.extend_from_slice(&1_000_000u32.to_be_bytes());
    data.resize(data.len() + 1_000_000, 0xc0);
    let frame = event(&data);
    let (packet, peak) = peak_of(|| feed(frame).unwrap().unwrap());
    assert!(peak <= 8 * 1024, "decoding took {peak} bytes");
    let PacketData::Event { args, .. } = &packet.inner else {
        panic!()
    };
    // Reading it into a type costs what the type holds for the elements really there.
    let (nils, peak) = peak_of(|| args.deserialize::<Vec<()>>().unwrap());
    assert_eq!(nils.len(), 1_000_000);
    assert!(peak <= 1024, "a Vec of units took {peak} bytes");
    let (values, peak) = peak_of(|| args.deserialize::<Vec<Option<u8>>>().unwrap());
    assert_eq!(values.len(), 1_000_000);
    // Two bytes an element, in a Vec grown to a capacity of 2^20.
    assert!(peak <= 2 * (1 << 20) + 1024, "{peak} bytes");
    // Extensions make a rewritten copy, at most five times the message.
    let mut dates = vec![0xdc, 0x01, 0x00];
    for _ in 0..256 {
        dates.extend_from_slice(b"\xd6\xff\x00\x00\x00\x00");
    }
    let frame = event(&[b"\x92\xa1e".as_slice(), &dates].concat());
    let len = frame.len();
    let (packet, peak) = peak_of(|| feed(frame).unwrap().unwrap());
    assert!(peak <= 5 * len + 1024, "{peak} bytes for {len}");
    let PacketData::Event { args, .. } = &packet.inner else {
        panic!()
    };
    let dates: Vec<String> = args.deserialize().unwrap();
    assert_eq!(dates[255], "1970-01-01T00:00:00.000Z");
}
