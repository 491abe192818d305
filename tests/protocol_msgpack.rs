//! The MessagePack parser through the public protocol API: the codec and the reader, the
//! argument mapping in MessagePack, conversions between the two wire forms, and random
//! input. What hostile input costs in memory is measured in protocol_msgpack_memory.rs.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tower_socketio::engine::Message;
use tower_socketio::protocol::{
    Args, BroadcastPacket, Codec, ConnectReply, DecoderConfig, Packet, PacketData, PacketReader,
    Parser, ProtocolError, Revision, Value, WireFormat,
};

// ---- helpers ---------------------------------------------------------------------------------

const MSGPACK: Codec = Codec::new(Parser::MsgPack, Revision::V5);

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
    MSGPACK
        .reader(DecoderConfig::default())
        .feed(Message::Binary(Bytes::from(bytes)))
}

fn binary(e: &tower_socketio::protocol::Encoded) -> Bytes {
    match e.first() {
        Message::Binary(b) => b.clone(),
        other => panic!("not a binary message: {other:?}"),
    }
}

// ---- the codec -------------------------------------------------------------------------------

#[test]
fn the_codec_speaks_one_binary_message_per_packet() {
    assert_eq!(MSGPACK.parser(), Parser::MsgPack);
    assert_eq!(MSGPACK.wire_format(), WireFormat::MsgPack);
    let e = MSGPACK
        .encode_event(
            "/chat",
            "file",
            &("a.bin", Bytes::from_static(&[1, 2])),
            Some(3),
        )
        .unwrap();
    assert!(e.text().is_none() && e.attachments().is_empty() && e.len() == 1);
    assert_eq!(
        binary(&e),
        map(&[
            ("type", b"\x02"),
            ("data", b"\x93\xa4file\xa5a.bin\xc4\x02\x01\x02"),
            ("id", b"\x03"),
            ("nsp", b"\xa5/chat"),
        ])
    );
    let reply = MSGPACK.encode_connect("/", ConnectReply::new("sid1").with_pid("p"));
    assert_eq!(
        binary(&reply),
        map(&[
            ("type", b"\x00"),
            ("data", b"\x82\xa3sid\xa4sid1\xa3pid\xa1p"),
            ("nsp", b"\xa1/"),
        ])
    );
    // A text message is refused: a JSON client on a MessagePack server.
    let mut reader = MSGPACK.reader(DecoderConfig::default());
    assert_eq!(
        reader.feed(Message::Text("40".into())),
        Err(ProtocolError::UnexpectedText)
    );
    // And the JSON reader still refuses a binary message no packet announced.
    assert_eq!(
        PacketReader::default().feed(Message::Binary(Bytes::from(event(b"\x91\xa1e")))),
        Err(ProtocolError::UnexpectedAttachment)
    );
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Move {
    x: i32,
    y: i32,
    #[serde(with = "bytes_field")]
    blob: Vec<u8>,
    tag: Option<String>,
}

mod bytes_field {
    pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        serde_bytes_like(d)
    }
    fn serde_bytes_like<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_bytes(V)
    }
}

#[test]
fn typed_arguments_map_the_same_way_in_messagepack() {
    let m = Move {
        x: 1,
        y: -2,
        blob: vec![9, 8],
        tag: None,
    };
    // Several arguments; a struct is a map with its field names, binary is `bin`.
    let args = Args::from_serialize_with(Parser::MsgPack, &("move", &m, 7u8)).unwrap();
    assert_eq!(args.len(), 3);
    assert_eq!(args.parser(), Parser::MsgPack);
    let (name, back, n): (String, Move, u8) = args.deserialize().unwrap();
    assert_eq!((name.as_str(), &back, n), ("move", &m, 7));
    // Anything but a tuple takes the first argument; `Vec<u8>` and `Bytes` take binary.
    assert_eq!(args.deserialize::<String>().unwrap(), "move");
    let bin = Args::from_serialize_with(Parser::MsgPack, &(Bytes::from_static(&[1, 2]),)).unwrap();
    assert_eq!(bin.deserialize::<Vec<u8>>().unwrap(), vec![1, 2]);
    assert_eq!(
        bin.deserialize::<Bytes>().unwrap(),
        Bytes::from_static(&[1, 2])
    );
    assert_eq!(
        bin.deserialize::<Value>().unwrap(),
        Value::Binary(Bytes::from_static(&[1, 2]))
    );
    // Borrowing from the received bytes.
    let frame = event(b"\x92\xa1e\xa5hello");
    let p = feed(frame).unwrap().unwrap();
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    let s: &str = args.deserialize().unwrap();
    assert_eq!(s, "hello");
    // A type mismatch is a DataError from the MessagePack decoder (its words, not serde_json's).
    let err = args.deserialize::<u32>().unwrap_err();
    assert!(err.is_msgpack() && !err.is_json(), "{err:?}");
    assert!(err.to_string().contains("marker"), "{err}");
}

#[test]
fn arguments_convert_once_between_the_wire_forms() {
    let json = Args::from_serialize(&(1, "x", Bytes::from_static(&[5]))).unwrap();
    let msgpack =
        Args::from_serialize_with(Parser::MsgPack, &(1, "x", Bytes::from_static(&[5]))).unwrap();
    assert_eq!(json, msgpack);
    // A broadcast built in one form is encoded for each wire format once.
    let packet = BroadcastPacket::from_args("/", "ev", msgpack.clone(), None);
    let json_codec = Codec::default();
    let as_json = packet.encoded(json_codec);
    assert_eq!(
        as_json.text().unwrap().as_str(),
        r#"51-["ev",1,"x",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(as_json.attachments(), [Bytes::from_static(&[5])]);
    assert!(std::ptr::eq(as_json, packet.encoded(json_codec)));
    let as_msgpack = packet.encoded(MSGPACK);
    assert_eq!(
        binary(as_msgpack),
        event(b"\x94\xa2ev\x01\xa1x\xc4\x01\x05")
    );
    // JSON arguments re-emitted by the MessagePack codec.
    let e = MSGPACK.encode_event_args("/", "ev", &json, None);
    assert_eq!(binary(&e), binary(as_msgpack));
    // And `to_json_array` renders MessagePack arguments for logs.
    assert_eq!(msgpack.to_json_array(), r#"[1,"x",[5]]"#);
}

// ---- random input ---------------------------------------------------------------------------

#[test]
fn random_and_mutated_messages_never_panic() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let corpus = [
        event(b"\x94\xa7message\xa3str\xc4\x02\x01\x02\x81\xa1n\xd4\x00\x00"),
        map(&[
            ("type", b"\x03"),
            ("id", b"\x07"),
            ("data", b"\x91\xa2ok"),
            ("nsp", b"\xa2/a"),
        ]),
        map(&[
            ("type", b"\x00"),
            ("data", b"\x81\xa5token\xa3abc"),
            ("nsp", b"\xa7/custom"),
        ]),
        map(&[
            ("type", b"\x04"),
            (
                "data",
                b"\x82\xa7message\xa1x\xa4data\xd7\x00\0\0\0\0\0\0\0\x01",
            ),
            ("nsp", b"\xa1/"),
        ]),
        event(b"\x93\xa1e\xc7\x03\x00\x01\x02\x03\x81\x05\xd6\xff\0\0\0\x01"),
    ];
    for i in 0..30_000 {
        let mut m = corpus[i % corpus.len()].clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() as usize) % m.len();
            match next() % 3 {
                0 => m[at] = next() as u8,
                1 => {
                    m.insert(at, next() as u8);
                }
                _ => {
                    m.remove(at);
                }
            }
            if m.is_empty() {
                m.push(0);
            }
        }
        if let Ok(Some(p)) = feed(m) {
            // What decodes re-encodes, with either codec, and reads as values.
            let _ = MSGPACK.encode(&p);
            let _ = Codec::default().encode(&p);
            if let PacketData::Event { args, .. } | PacketData::EventAck { args, .. } = &p.inner {
                let _ = args.deserialize_all::<Vec<Value>>();
            }
        }
    }
}
