//! Tests of `message.rs`: the cluster messages as Node writes and reads them.

use super::*;
use crate::adapter::BroadcastFlags;
use crate::protocol::Args;

fn packet<T: serde::Serialize>(args: &T) -> WirePacket {
    WirePacket {
        nsp: "/".into(),
        event: "ev".into(),
        args: Args::from_serialize(args).unwrap(),
    }
}

/// The arguments of a packet read back, as values.
fn args_of(p: &WirePacket) -> Vec<Value> {
    p.args.deserialize_all().unwrap()
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap()
}

#[test]
fn broadcasts_are_written_as_node_writes_them() {
    let m = Message::broadcast(
        "c73405d6c8976005",
        "/",
        &packet(&(1,)),
        &BroadcastOptions {
            rooms: vec!["room1".into()],
            ..Default::default()
        },
        None,
    )
    .unwrap();
    // Node's capture (key order aside, which no decoder looks at).
    assert_eq!(
        json(&m.encode_json_or_msgpack()),
        json(
            br#"{"type":3,"data":{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"c73405d6c8976005","nsp":"/"}"#
        )
    );
    let fields = m.stream_fields(false);
    let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(names, ["uid", "nsp", "type", "data"]);
    assert_eq!(fields[2].1, Bytes::from_static(b"3"));
    assert_eq!(
        json(&fields[3].1),
        json(
            br#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["room1"],"except":[],"flags":{}}}"#
        )
    );
    let back =
        Message::from_stream_fields("c73405d6c8976005", "/", "3", Some(&fields[3].1)).unwrap();
    assert_eq!(back, m);
    let p = back.packet().unwrap();
    assert_eq!((p.nsp.as_str(), p.event.as_str()), ("/", "ev"));
    assert_eq!(args_of(&p), vec![Value::from(1u64)]);
    assert_eq!(back.opts().rooms, vec![Room::from("room1")]);
    assert!(back.opts().flags.local);
}

#[test]
fn binary_goes_as_messagepack() {
    let bin = Value::Binary(Bytes::from_static(&[1, 2]));
    let m = Message::broadcast(
        "u",
        "/chat",
        &packet(&(Bytes::from_static(&[1, 2]),)),
        &BroadcastOptions::default(),
        None,
    )
    .unwrap();
    assert!(m.has_binary());
    let sharded = m.encode_json_or_msgpack();
    assert_eq!(sharded[0], 0x84, "a map of four entries");
    assert_eq!(Message::decode(&sharded).unwrap(), m);
    assert_eq!(Message::decode_msgpack(&m.encode_msgpack()).unwrap(), m);
    let fields = m.stream_fields(false);
    assert_ne!(fields[3].1[0], b'{');
    let back = Message::from_stream_fields("u", "/chat", "3", Some(&fields[3].1)).unwrap();
    assert_eq!(args_of(&back.packet().unwrap()), vec![bin]);
    // Node's capture of a binary stream entry reads back.
    let node = b"gqZwYWNrZXSCpHR5cGUCpGRhdGGTpm1pc3NlZAHEAgkIpG9wdHODpXJvb21zkaVyb29tMaZleGNlcHSQpWZsYWdzgA==";
    let m = Message::from_stream_fields("x", "/", "3", Some(node)).unwrap();
    let p = m.packet().unwrap();
    assert_eq!(p.event, "missed");
    assert_eq!(
        args_of(&p),
        vec![
            Value::from(1u64),
            Value::Binary(Bytes::from_static(&[9, 8]))
        ]
    );
    assert_eq!(m.opts().rooms, vec![Room::from("room1")]);
    // Without binary checks, JSON always.
    assert_eq!(m.stream_fields(true)[3].1[0], b'{');
}

#[test]
fn acknowledged_broadcasts_carry_the_request_and_timeout() {
    let opts = BroadcastOptions {
        flags: BroadcastFlags {
            volatile: true,
            compress: false,
            local: false,
        },
        ..Default::default()
    };
    let m = Message::broadcast("u", "/", &packet(&()), &opts, Some(("abc", 500))).unwrap();
    assert_eq!(m.request_id().as_deref(), Some("abc"));
    assert_eq!(m.ack_timeout_ms(), Some(500));
    let text = m.encode_json_or_msgpack();
    let v = json(&text);
    assert_eq!(
        v["data"]["opts"]["flags"],
        serde_json::json!({"volatile": true, "compress": false, "timeout": 500})
    );
    let back = Message::decode(&text).unwrap();
    let o = back.opts();
    assert!(o.flags.volatile && !o.flags.compress);
}

#[test]
fn hostile_messages_are_errors() {
    for bad in [
        &b"[1,2]"[..],
        br#"{"type":"x","uid":"u","nsp":"/"}"#,
        br#"{"type":3,"nsp":"/"}"#,
        br#"{"type":3,"uid":"u"}"#,
        br#"{"type":3,"uid":1,"nsp":"/"}"#,
        br#"{"type":13,"uid":"u","nsp":"/","data":103}"#,
        br#"{"type":3,"uid":"u","nsp":"/","data":[1]}"#,
        b"\xc1",
        b"{",
    ] {
        assert!(
            Message::decode(&Bytes::copy_from_slice(bad)).is_err(),
            "{bad:?}"
        );
    }
    assert!(Message::from_stream_fields("u", "/", "three", None).is_err());
    assert!(Message::from_stream_fields("u", "/", "3", Some(b"!!not base64")).is_err());
    assert!(Message::from_stream_fields("u", "/", "3", Some(b"{bad")).is_err());
    // Data that is not a map (Node writes none, and reads a stream entry's data as JSON
    // only when it starts with `{`): base64 MessagePack of the number 103 here.
    assert!(Message::from_stream_fields("u", "/", "13", Some(b"Zw==")).is_err());
    // A message without data reads; its packet does not.
    let m = Message::decode(&Bytes::from_static(br#"{"type":3,"uid":"u","nsp":"/"}"#)).unwrap();
    assert!(m.packet().is_err());
    assert!(m.request_id().is_none());
}

/// Mutated and random inputs never panic a decoder (a fixed-seed xorshift; bounded).
#[test]
fn decoders_survive_mutated_input() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seeds: Vec<Vec<u8>> = {
        let m = Message::broadcast(
            "u",
            "/",
            &packet(&(Bytes::from_static(&[1]), 7)),
            &BroadcastOptions {
                rooms: vec!["r".into()],
                except: vec!["e".into()],
                ..Default::default()
            },
            Some(("id", 5)),
        )
        .unwrap();
        let plain =
            Message::broadcast("u", "/", &packet(&()), &BroadcastOptions::default(), None).unwrap();
        vec![
            m.encode_msgpack().to_vec(),
            m.encode_json_or_msgpack().to_vec(),
            plain.encode_json_or_msgpack().to_vec(),
            m.stream_fields(false)[3].1.to_vec(),
            plain.stream_fields(false)[3].1.to_vec(),
        ]
    };
    for i in 0..20_000 {
        let mut input = seeds[i % seeds.len()].clone();
        for _ in 0..(1 + next() % 4) {
            if input.is_empty() {
                break;
            }
            let at = (next() as usize) % input.len();
            match next() % 4 {
                0 => input[at] = next() as u8,
                1 => input.truncate(at),
                2 => input.insert(at, next() as u8),
                _ => {
                    input.remove(at);
                }
            }
        }
        let bytes = Bytes::from(input.clone());
        if let Ok(m) = Message::decode(&bytes) {
            let _ = (
                m.packet(),
                m.opts(),
                m.rooms(),
                m.request_id(),
                m.ack_timeout_ms(),
            );
            let _ = m.encode_json_or_msgpack();
        }
        if let Ok(m) = Message::decode_msgpack(&bytes) {
            let _ = (m.packet(), m.opts(), m.stream_fields(false));
        }
        if let Ok(m) = Message::from_stream_fields("u", "/", "3", Some(&input)) {
            let _ = (m.packet(), m.opts());
        }
    }
}

#[test]
fn ids_are_sixteen_hex_digits() {
    let a = random_hex_id();
    assert_eq!(a.len(), 16);
    assert!(
        a.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_ne!(a, random_hex_id());
    assert!(kind::is_response(kind::BROADCAST_ACK));
    assert!(!kind::is_response(kind::BROADCAST));
}
