//! The MessagePack parser (`socket.io-msgpack-parser` 3.x): each packet is one binary
//! Engine.IO message holding a MessagePack map `{type, nsp, data, id}`; binary stays inline
//! as `bin` (no attachments, no packet types 5 and 6); text messages are refused.
//!
//! Decoding goes through the crate's one MessagePack codec (`crate::msgpack`: validation
//! with the configured depth, `notepack.io`'s extensions rewritten), then reads the map
//! without building a tree: the namespace, the type, the ack id, and the byte range of
//! `data`, which the packet's [`Args`](super::Args) keep as a zero-copy slice.
//!
//! The checks are those of the JSON parser, stricter than Node's `checkPacket`: an event
//! must be a non-empty array whose first element is a string (not reserved) or a number,
//! ack ids are integers from 0; `data: nil` on CONNECT and DISCONNECT counts as absent
//! (python-socketio sends it).
//!
//! At protocol 4 (an Engine.IO 3 session on a MessagePack server: no client pairs them, it
//! is here for completeness) the packets are the same but for protocol 4's CONNECT rules: a
//! client's namespace may carry its query (`/chat?token=abc`, read as the auth), the server
//! answers CONNECT with nothing but the namespace, and a refusal's data is the error's data
//! or its message.

mod decode;
mod encode;

pub(crate) use decode::{decode, decode_v4};
pub(crate) use encode::{
    encode_ack, encode_ack_args, encode_connect, encode_connect_error, encode_connect_error_v4,
    encode_connect_v4, encode_disconnect, encode_event, encode_event_args, encode_event_args_tail,
    encode_packet,
};

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::{Args, DecoderConfig, Packet, PacketData, ProtocolError, Value};

    fn dec(b: &[u8]) -> Result<Packet, ProtocolError> {
        decode(Bytes::copy_from_slice(b), &DecoderConfig::default())
    }

    fn bin(e: &crate::protocol::Encoded) -> Vec<u8> {
        match e.first() {
            crate::message::Message::Binary(b) => b.to_vec(),
            other => panic!("not binary: {other:?}"),
        }
    }

    /// `83 a4"type" 02 a4"data" ... a3"nsp" a1 2f` and friends, built readably.
    fn map(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = vec![0x80 | entries.len() as u8];
        for (k, v) in entries {
            out.push(0xa0 | k.len() as u8);
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    #[test]
    fn reads_what_the_js_client_sends() {
        // CONNECT to `/`, no auth: {type: 0, data: undefined, nsp: "/"}
        let p = dec(&map(&[
            ("type", b"\x00"),
            ("data", b"\xd4\x00\x00"),
            ("nsp", b"\xa1/"),
        ]))
        .unwrap();
        assert_eq!(p.ns.as_str(), "/");
        assert_eq!(p.inner, PacketData::Connect(None));
        // CONNECT /custom with auth {token: "abc"}
        let p = dec(&map(&[
            ("type", b"\x00"),
            ("data", b"\x81\xa5token\xa3abc"),
            ("nsp", b"\xa7/custom"),
        ]))
        .unwrap();
        assert_eq!(p.ns.as_str(), "/custom");
        let PacketData::Connect(Some(auth)) = &p.inner else {
            panic!("{p:?}")
        };
        let v: Value = auth.deserialize().unwrap();
        assert_eq!(v.get("token").and_then(Value::as_str), Some("abc"));
        // EVENT with options and binary: ["message", "str", <01 02>, {n: undefined}]
        let p = dec(&map(&[
            ("type", b"\x02"),
            (
                "data",
                b"\x94\xa7message\xa3str\xc4\x02\x01\x02\x81\xa1n\xd4\x00\x00",
            ),
            ("options", b"\x81\xa8compress\xc3"),
            ("nsp", b"\xa1/"),
        ]))
        .unwrap();
        let PacketData::Event { event, args, ack } = &p.inner else {
            panic!("{p:?}")
        };
        assert_eq!((event.as_str(), *ack), ("message", None));
        let (s, b, o): (String, Bytes, Value) = args.deserialize().unwrap();
        assert_eq!((s.as_str(), &b[..]), ("str", &[1u8, 2][..]));
        assert_eq!(o, Value::Object(Default::default()));
        // EVENT with ack, then an ACK, in the client's key order.
        let p = dec(&map(&[
            ("type", b"\x02"),
            ("data", b"\x92\xb0message-with-ack\x01"),
            ("options", b"\x81\xa8compress\xc3"),
            ("id", b"\x00"),
            ("nsp", b"\xa1/"),
        ]))
        .unwrap();
        assert!(matches!(p.inner, PacketData::Event { ack: Some(0), .. }));
        let p = dec(&map(&[
            ("type", b"\x03"),
            ("id", b"\x00"),
            ("data", b"\x91\xa2ok"),
            ("nsp", b"\xa1/"),
        ]))
        .unwrap();
        let PacketData::EventAck { args, ack: 0 } = &p.inner else {
            panic!("{p:?}")
        };
        assert_eq!(args.deserialize::<String>().unwrap(), "ok");
        // DISCONNECT from JS and from python (data: nil).
        let js = dec(&map(&[("type", b"\x01"), ("nsp", b"\xa1/")])).unwrap();
        let py = dec(&map(&[
            ("type", b"\x01"),
            ("data", b"\xc0"),
            ("nsp", b"\xa1/"),
        ]))
        .unwrap();
        assert_eq!(js.inner, PacketData::Disconnect);
        assert_eq!(py.inner, PacketData::Disconnect);
        // python's CONNECT: data {}
        let p = dec(&map(&[
            ("type", b"\x00"),
            ("data", b"\x80"),
            ("nsp", b"\xa1/"),
        ]))
        .unwrap();
        assert!(matches!(p.inner, PacketData::Connect(Some(_))));
    }

    #[test]
    fn writes_what_node_sends() {
        // Node's EVENT: 83 a4"type" 02 a4"data" 92 a4"auth" 80 a3"nsp" a1 2f
        let e = encode_event("/", "auth", &Value::Object(Default::default()), None).unwrap();
        assert_eq!(
            bin(&e),
            map(&[
                ("type", b"\x02"),
                ("data", b"\x92\xa4auth\x80"),
                ("nsp", b"\xa1/")
            ])
        );
        assert!(e.attachments().is_empty());
        // With an ack id: type, data, id, nsp.
        let e = encode_event("/", "x", &(), Some(0)).unwrap();
        assert_eq!(
            bin(&e),
            map(&[
                ("type", b"\x02"),
                ("data", b"\x91\xa1x"),
                ("id", b"\x00"),
                ("nsp", b"\xa1/")
            ])
        );
        let e = encode_ack("/", 0, &(1,)).unwrap();
        assert_eq!(
            bin(&e),
            map(&[
                ("type", b"\x03"),
                ("data", b"\x91\x01"),
                ("id", b"\x00"),
                ("nsp", b"\xa1/")
            ])
        );
        let e = encode_connect("/", "abc", None);
        assert_eq!(
            bin(&e),
            map(&[
                ("type", b"\x00"),
                ("data", b"\x81\xa3sid\xa3abc"),
                ("nsp", b"\xa1/")
            ])
        );
        let e = encode_connect_error("/refuse", "nope", Some(&Value::from(1u64))).unwrap();
        assert_eq!(
            bin(&e),
            map(&[
                ("type", b"\x04"),
                ("data", b"\x82\xa7message\xa4nope\xa4data\x01"),
                ("nsp", b"\xa7/refuse")
            ])
        );
        assert_eq!(
            bin(&encode_disconnect("/a")),
            map(&[("type", b"\x01"), ("nsp", b"\xa2/a")])
        );
    }

    #[test]
    fn received_arguments_are_echoed_without_a_copy_of_their_values() {
        let frame = map(&[
            ("nsp", b"\xa1/"),
            ("data", b"\x93\xa2ev\x01\xc4\x01\x09"),
            ("type", b"\x02"),
            ("id", b"\x07"),
        ]);
        let p = dec(&frame).unwrap();
        let PacketData::Event { args, .. } = &p.inner else {
            panic!()
        };
        assert_eq!(args.as_msgpack(), Some(&b"\x01\xc4\x01\x09"[..]));
        let back = encode_ack_args("/", 7, args);
        assert_eq!(
            bin(&back),
            map(&[
                ("type", b"\x03"),
                ("data", b"\x92\x01\xc4\x01\x09"),
                ("id", b"\x07"),
                ("nsp", b"\xa1/")
            ])
        );
        // And every packet comes back from its model.
        assert_eq!(dec(&bin(&encode_packet(&p))).unwrap(), p);
        // JSON arguments are converted, binary inline.
        let json = Args::from_serialize(&("a", Bytes::from_static(&[1]))).unwrap();
        let e = encode_event_args("/n", "j", &json, None);
        assert_eq!(
            bin(&e),
            map(&[
                ("type", b"\x02"),
                ("data", b"\x93\xa1j\xa1a\xc4\x01\x01"),
                ("nsp", b"\xa2/n")
            ])
        );
    }

    #[test]
    fn refuses_what_the_json_parser_refuses() {
        let nsp: &[u8] = b"\xa1/";
        for (frame, want) in [
            (
                map(&[("type", b"\xa12"), ("nsp", nsp)]),
                ProtocolError::InvalidPacketType,
            ),
            (
                map(&[("type", b"\x05"), ("nsp", nsp)]),
                ProtocolError::InvalidPacketType,
            ),
            (
                map(&[("type", b"\xff"), ("nsp", nsp)]),
                ProtocolError::InvalidPacketType,
            ),
            (
                map(&[("type", b"\xcb\x3f\xf8\0\0\0\0\0\0"), ("nsp", nsp)]),
                ProtocolError::InvalidPacketType,
            ),
            (map(&[("nsp", nsp)]), ProtocolError::InvalidPacketType),
            (
                map(&[("type", b"\x01"), ("nsp", b"\x01")]),
                ProtocolError::InvalidNamespace,
            ),
            (
                map(&[("type", b"\x01"), ("nsp", b"\xc0")]),
                ProtocolError::InvalidNamespace,
            ),
            (map(&[("type", b"\x01")]), ProtocolError::InvalidNamespace),
            (
                map(&[
                    ("type", b"\x02"),
                    ("data", b"\x91\xa1e"),
                    ("id", b"\xa11"),
                    ("nsp", nsp),
                ]),
                ProtocolError::InvalidAckId,
            ),
            (
                map(&[
                    ("type", b"\x02"),
                    ("data", b"\x91\xa1e"),
                    ("id", b"\xff"),
                    ("nsp", nsp),
                ]),
                ProtocolError::InvalidAckId,
            ),
            (
                map(&[
                    ("type", b"\x02"),
                    ("data", b"\x91\xa1e"),
                    ("id", b"\xc0"),
                    ("nsp", nsp),
                ]),
                ProtocolError::InvalidAckId,
            ),
            (
                map(&[("type", b"\x02"), ("data", b"\x81\xa1a\x01"), ("nsp", nsp)]),
                ProtocolError::InvalidPayload("expected an array"),
            ),
            (
                map(&[("type", b"\x02"), ("data", b"\x90"), ("nsp", nsp)]),
                ProtocolError::EmptyEvent,
            ),
            (
                map(&[("type", b"\x02"), ("data", b"\x91\xc3"), ("nsp", nsp)]),
                ProtocolError::InvalidEventName,
            ),
            (
                map(&[
                    ("type", b"\x02"),
                    ("data", b"\x92\xaadisconnect\xa6forged"),
                    ("nsp", nsp),
                ]),
                ProtocolError::ReservedEvent("disconnect".into()),
            ),
            (
                map(&[("type", b"\x03"), ("data", b"\x90"), ("nsp", nsp)]),
                ProtocolError::MissingAckId,
            ),
            (
                map(&[("type", b"\x00"), ("data", b"\x91\x01"), ("nsp", nsp)]),
                ProtocolError::InvalidPayload("CONNECT payload must be a map"),
            ),
            (
                map(&[("type", b"\x01"), ("data", b"\x01"), ("nsp", nsp)]),
                ProtocolError::InvalidPayload("DISCONNECT carries no payload"),
            ),
            (
                b"\x92\x01\x02".to_vec(),
                ProtocolError::InvalidPayload("a packet must be a MessagePack map"),
            ),
            (
                b"\xc1".to_vec(),
                ProtocolError::InvalidMessagePack("reserved byte 0xc1"),
            ),
            (
                [map(&[("type", b"\x01"), ("nsp", nsp)]), vec![0]].concat(),
                ProtocolError::InvalidMessagePack("bytes after the packet"),
            ),
            (
                b"\xdf\xff\xff\xff\xff".to_vec(),
                ProtocolError::InvalidMessagePack("truncated"),
            ),
            (
                map(&[("type", b"\x02"), ("data", b"\xdd\xff\xff\xff\xff")]),
                ProtocolError::InvalidMessagePack("truncated"),
            ),
        ] {
            assert_eq!(dec(&frame), Err(want), "{frame:x?}");
        }
        assert_eq!(dec(b""), Err(ProtocolError::Empty));
        // A numeric event name is accepted, as with JSON.
        let p = dec(&map(&[
            ("type", b"\x02"),
            ("data", b"\x91\x01"),
            ("nsp", nsp),
        ]))
        .unwrap();
        assert!(matches!(&p.inner, PacketData::Event { event, .. } if event.as_str() == "1"));
    }

    #[test]
    fn protocol_4_connect_rules() {
        use crate::protocol::{Codec, Parser, Revision};
        let codec = Codec::new(Parser::MsgPack, Revision::V4);
        assert_eq!(
            (codec.parser(), codec.revision()),
            (Parser::MsgPack, Revision::V4)
        );
        let p = decode_v4(
            Bytes::from(map(&[("type", b"\x00"), ("nsp", b"\xb0/chat?token=abc&")])),
            &DecoderConfig::default(),
        )
        .unwrap();
        assert_eq!(p.ns.as_str(), "/chat");
        let PacketData::Connect(Some(auth)) = &p.inner else {
            panic!("{p:?}")
        };
        assert_eq!(auth.raw(), r#"{"token":"abc"}"#);
        let reply = codec.encode_connect("/chat", crate::protocol::ConnectReply::new("s"));
        assert_eq!(
            bin(&reply),
            map(&[("type", b"\x00"), ("nsp", b"\xa5/chat")])
        );
        let refused = codec
            .encode_connect_error("/", "nope", None::<&()>)
            .unwrap();
        assert_eq!(
            bin(&refused),
            map(&[("type", b"\x04"), ("data", b"\xa4nope"), ("nsp", b"\xa1/")])
        );
        let refused = codec
            .encode_connect_error("/", "nope", Some(&Value::from(7u64)))
            .unwrap();
        assert_eq!(
            bin(&refused),
            map(&[("type", b"\x04"), ("data", b"\x07"), ("nsp", b"\xa1/")])
        );
        // Events are protocol 5's.
        let e = codec.encode_event("/", "x", &(1,), None).unwrap();
        assert_eq!(bin(&e), bin(&encode_event("/", "x", &(1,), None).unwrap()));
    }

    #[test]
    fn nesting_is_counted_from_the_data() {
        let deep = |levels: usize| {
            let mut data = vec![0x91u8; levels];
            data.push(0xa1);
            data.push(b'e');
            map(&[("type", b"\x02"), ("data", &data), ("nsp", b"\xa1/")])
        };
        let config = DecoderConfig::default().with_max_depth(3);
        assert!(
            decode(Bytes::from(deep(3)), &config)
                .is_err_and(|e| e != ProtocolError::TooDeep { max: 3 })
        );
        assert_eq!(
            decode(Bytes::from(deep(4)), &config),
            Err(ProtocolError::TooDeep { max: 3 })
        );
        let mut bomb = vec![0x91u8; 100_000];
        bomb.push(0xc0);
        assert_eq!(
            dec(&map(&[
                ("type", b"\x02"),
                ("data", &bomb),
                ("nsp", b"\xa1/")
            ])),
            Err(ProtocolError::TooDeep { max: 127 })
        );
    }
}
