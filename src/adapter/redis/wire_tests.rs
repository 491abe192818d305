//! Tests of `wire.rs`: the Redis adapter's channels and messages as Node's adapter writes
//! and reads them.

use super::*;
use crate::protocol::Codec;

#[test]
fn channel_names_follow_node() {
    let c = Channels::new("socket.io", "/chat", "abc123");
    assert_eq!(c.broadcast, "socket.io#/chat#");
    assert_eq!(c.request, "socket.io-request#/chat#");
    assert_eq!(c.response, "socket.io-response#/chat#");
    assert_eq!(c.own_response, "socket.io-response#/chat#abc123#");
    assert_eq!(c.broadcast_pattern(), "socket.io#/chat#*");
    assert_eq!(
        Channels::new("k", "/a*[b]", "u").broadcast_pattern(),
        "k#/a\\*\\[b\\]#*"
    );
    let mut opts = BroadcastOptions::default();
    assert_eq!(c.broadcast_channel(&opts), "socket.io#/chat#");
    opts.rooms.push("r1".into());
    assert_eq!(c.broadcast_channel(&opts), "socket.io#/chat#r1#");
    opts.rooms.push("r2".into());
    assert_eq!(c.broadcast_channel(&opts), "socket.io#/chat#");
    assert_eq!(c.room_of("socket.io#/chat#r1#"), Some("r1"));
    assert_eq!(c.room_of("socket.io#/chat#"), None);
    assert_eq!(c.room_of("socket.io#/other#"), None);
}

#[test]
fn encoded_events_round_trip_through_the_wire_packet() {
    let data = (
        "text",
        Bytes::from_static(&[1, 2, 3]),
        serde_json::json!({"n": 1, "f": 1.5, "nested": [null, true]}),
    );
    let codec = Codec::default();
    let broadcast = BroadcastPacket::event("/chat", "ev", &data, None).unwrap();
    let encoded = broadcast.encoded(codec).clone();
    let packet = WirePacket::from_broadcast(&broadcast);
    assert_eq!(packet.nsp, "/chat");
    assert_eq!(packet.event, "ev");
    let msg = encode_broadcast("uid1", &packet, &BroadcastOptions::default()).unwrap();
    let back = decode_broadcast(&msg).unwrap();
    assert_eq!(back.uid, "uid1");
    assert_eq!(
        (back.packet.nsp.as_str(), back.packet.event.as_str()),
        ("/chat", "ev")
    );
    // Received arguments are a slice of the message, binary inline.
    let raw = back.packet.args.as_msgpack().unwrap();
    assert!(msg.as_ptr_range().contains(&raw.as_ptr()));
    assert_eq!(back.packet.args, packet.args);
    let again = back.packet.to_broadcast(None);
    assert_eq!(again.encoded(codec), &encoded);
    let with_ack = back.packet.to_broadcast(Some(7));
    let text = with_ack.encoded(codec).text().unwrap();
    assert!(text.as_str().starts_with("51-/chat,7["), "{text}");
}

#[test]
fn notepack_2_peers_decode() {
    // [uid, {type: 2, data: ["ev", undefined, Date(0)], nsp: "/"}, {rooms: [5]}] as
    // notepack.io 2.2 writes it.
    let mut msg = b"\x93\xa3uid\x83\xa4type\x02\xa4data\x93\xa2ev\xd4\x00\x00\xd7\x00".to_vec();
    msg.extend_from_slice(&[0; 8]);
    msg.extend_from_slice(b"\xa3nsp\xa1/\x81\xa5rooms\x91\x05");
    let back = decode_broadcast(&Bytes::from(msg)).unwrap();
    let args: Vec<Value> = back.packet.args.deserialize_all().unwrap();
    assert_eq!(
        args,
        vec![Value::Null, Value::from("1970-01-01T00:00:00.000Z")]
    );
    assert_eq!(back.opts.rooms, vec![Room::from("5")]);
}

#[test]
fn options_and_flags_round_trip() {
    let opts = BroadcastOptions {
        rooms: vec!["a".into(), "b".into()],
        except: vec!["c".into(), "c".into()],
        flags: BroadcastFlags {
            volatile: true,
            local: false,
            compress: false,
        },
    };
    let v = broadcast_opts_value(&opts, Some(1500));
    let back = read_opts(Some(&v));
    assert_eq!(back.rooms, opts.rooms);
    assert_eq!(back.except, vec![Room::from("c")]);
    assert!(back.flags.volatile && !back.flags.compress && back.flags.local);
    assert_eq!(uint(&v["flags"]["timeout"]), Some(1500));
    // Numeric rooms (JavaScript allows them) become text.
    let v: Value = serde_json::from_str(r#"{"rooms":[5,"x"],"except":[]}"#).unwrap();
    assert_eq!(
        read_opts(Some(&v)).rooms,
        vec![Room::from("5"), Room::from("x")]
    );
    assert_eq!(
        read_opts(None),
        BroadcastOptions {
            flags: BroadcastFlags {
                local: true,
                ..Default::default()
            },
            ..Default::default()
        }
    );
    assert_eq!(uint(&Value::from(3.0)), Some(3));
    assert_eq!(uint(&Value::from(3.5)), None);
}

#[test]
fn hostile_broadcasts_are_errors() {
    let u = || Value::from("u");
    for v in [
        Value::Null,
        Value::Array(vec![]),
        Value::Array(vec![Value::Null, Value::Null, Value::Null]),
        Value::Array(vec![
            u(),
            object([("type", Value::from(2u64))]),
            Value::Null,
        ]),
        Value::Array(vec![
            u(),
            object([("type", Value::from(2u64)), ("data", Value::Array(vec![]))]),
            Value::Null,
        ]),
        Value::Array(vec![
            u(),
            object([
                ("type", Value::from(1u64)),
                ("data", Value::Array(vec![Value::from("x")])),
            ]),
            Value::Null,
        ]),
    ] {
        assert!(decode_broadcast(&to_msgpack(&v)).is_err(), "{v:?}");
    }
    for b in [
        &b"\xdd\xff\xff\xff\xff"[..],
        b"\x93\xa1u\xdf\xff\xff\xff\xff",
        b"\xc1",
    ] {
        assert!(decode_broadcast(&Bytes::copy_from_slice(b)).is_err());
    }
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0xc0);
    assert!(decode_broadcast(&Bytes::from(deep.clone())).is_err());
    assert!(parse_any(&Bytes::from(deep)).is_err());
    assert!(parse_any(&Bytes::from_static(b"{not json")).is_err());
}

#[test]
fn acknowledgements_of_broadcasts() {
    let args = Args::from_serialize(&("ok", 2)).unwrap();
    let msg = encode_broadcast_ack("r1", &args).unwrap();
    let v = parse_any(&msg).unwrap();
    assert_eq!(uint(&v["type"]), Some(kind::BROADCAST_ACK));
    assert_eq!(v["packet"], "ok");
    let back = broadcast_ack_args(v.get("packet")).unwrap();
    assert_eq!(back.deserialize::<String>().unwrap(), "ok");
    let none = encode_broadcast_ack("r1", &Args::new()).unwrap();
    assert!(parse_any(&none).unwrap().get("packet").is_none());
    assert!(broadcast_ack_args(None).unwrap().is_empty());
}

#[test]
fn random_ids_use_the_alphabet() {
    let a = random_id(6);
    assert_eq!(a.len(), 6);
    assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(random_id(16), random_id(16));
}
