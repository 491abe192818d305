//! Packet-level tests of the Socket.IO 5 codec: every conformance case (decode and
//! encode) and every hostile input of the conformance list.

use bytes::Bytes;
use serde_json::json;
use tower_socketio::engine::{Message, Str};
use tower_socketio::protocol::{
    Args, Decoded, Decoder, DecoderConfig, Packet, PacketData, Parser, PartialPacket,
    ProtocolError, RESERVED_EVENTS, Value, decode_text, encode_ack, encode_ack_args,
    encode_connect, encode_connect_data, encode_connect_error, encode_disconnect, encode_event,
    encode_event_args, encode_packet, is_reserved_event,
};

fn packet(text: &str) -> Packet {
    match decode_text(Str::from(text.to_owned())) {
        Ok(Decoded::Packet(p)) => p,
        other => panic!("{text:?} did not decode to a complete packet: {other:?}"),
    }
}

fn partial(text: &str) -> PartialPacket {
    match decode_text(Str::from(text.to_owned())) {
        Ok(Decoded::Partial(p)) => p,
        other => panic!("{text:?} did not decode to a partial packet: {other:?}"),
    }
}

fn error(text: &str) -> ProtocolError {
    match decode_text(Str::from(text.to_owned())) {
        Err(e) => e,
        Ok(other) => panic!("{text:?} was accepted: {other:?}"),
    }
}

fn reencoded(p: &Packet) -> String {
    let encoded = encode_packet(p);
    assert!(encoded.attachments().is_empty());
    encoded.text().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------
// CONNECT / DISCONNECT

#[test]
fn connect_main_namespace() {
    let p = packet("0");
    assert_eq!(p.ns.to_string(), "/");
    assert_eq!(p.inner, PacketData::Connect(None));
    assert_eq!(reencoded(&p).to_string(), "0");
    assert_eq!(encode_connect("/", "abc").to_string(), r#"0{"sid":"abc"}"#);
}

#[test]
fn connect_with_auth_payload() {
    let p = packet(r#"0{"token":"123"}"#);
    assert_eq!(p.ns.to_string(), "/");
    let PacketData::Connect(Some(auth)) = &p.inner else {
        panic!("no auth: {p:?}")
    };
    assert_eq!(auth.raw(), r#"{"token":"123"}"#);
    let auth: serde_json::Value = auth.deserialize().unwrap();
    assert_eq!(auth, json!({"token": "123"}));
    assert_eq!(reencoded(&p).to_string(), r#"0{"token":"123"}"#);
}

#[test]
fn connect_custom_namespace_with_and_without_comma() {
    for text in ["0/custom,", "0/custom"] {
        let p = packet(text);
        assert_eq!(p.ns.to_string(), "/custom", "{text}");
        assert_eq!(p.inner, PacketData::Connect(None), "{text}");
        assert_eq!(reencoded(&p).to_string(), "0/custom,");
    }
    let p = packet(r#"0/custom,{"token":"abc"}"#);
    assert_eq!(p.ns.to_string(), "/custom");
    assert_eq!(
        p.inner,
        PacketData::Connect(Some(
            Args::from_serialize(&(json!({"token": "abc"}),)).unwrap()
        ))
    );
    assert_eq!(
        encode_connect("/custom", "xyz").to_string(),
        r#"0/custom,{"sid":"xyz"}"#
    );
}

#[test]
fn connect_sid_is_escaped() {
    let s = encode_connect("/", "a\"b\\c\u{1}");
    let v: serde_json::Value = serde_json::from_str(&s[1..]).unwrap();
    assert_eq!(v, json!({"sid": "a\"b\\c\u{1}"}));
}

#[test]
fn connect_payload_must_be_an_object() {
    for text in [
        "0[]",
        "0\"token\"",
        "0null",
        "012",
        "0/custom,[1]",
        "0{",
        "0{}x",
    ] {
        assert!(
            matches!(error(text), ProtocolError::InvalidPayload(_)),
            "{text}"
        );
    }
}

#[test]
fn disconnect() {
    let p = packet("1");
    assert_eq!(p.ns.to_string(), "/");
    assert_eq!(p.inner, PacketData::Disconnect);
    assert_eq!(reencoded(&p).to_string(), "1");
    assert_eq!(encode_disconnect("/").to_string(), "1");

    let p = packet("1/custom");
    assert_eq!(p.ns.to_string(), "/custom");
    assert_eq!(p.inner, PacketData::Disconnect);
    assert_eq!(encode_disconnect("/custom").to_string(), "1/custom,");
    assert_eq!(packet("1/custom,"), p);

    assert!(matches!(error("1{}"), ProtocolError::InvalidPayload(_)));
    assert!(matches!(
        error("1/custom,x"),
        ProtocolError::InvalidPayload(_)
    ));
}

#[test]
fn connect_error() {
    let s = encode_connect_error("/random", "Invalid namespace", None::<&()>).unwrap();
    // On the wire (after the Engine.IO `4`): `44/random,{"message":"Invalid namespace"}`.
    assert_eq!(s.to_string(), r#"4/random,{"message":"Invalid namespace"}"#);

    let s = encode_connect_error("/", "Not authorized", Some(&json!({"retry": 3}))).unwrap();
    assert_eq!(
        s.to_string(),
        r#"4{"message":"Not authorized","data":{"retry":3}}"#
    );

    let p = packet(&s);
    assert_eq!(
        p.inner,
        PacketData::ConnectError {
            message: "Not authorized".into(),
            data: Some(Args::from_serialize(&(json!({"retry": 3}),)).unwrap()),
        }
    );
    assert_eq!(reencoded(&p), s.as_str());

    // Protocol 4 style: a plain string.
    let p = packet(r#"4"Not authorized""#);
    assert_eq!(
        p.inner,
        PacketData::ConnectError {
            message: "Not authorized".into(),
            data: None,
        }
    );
    assert!(matches!(error("4[1]"), ProtocolError::InvalidPayload(_)));
    assert!(matches!(
        error(r#"4{"message":1}"#),
        ProtocolError::InvalidPayload(_)
    ));
}

// ---------------------------------------------------------------------------------------
// EVENT / ACK

#[test]
fn plain_event() {
    let p = packet(r#"2["message",1,"2",{"3":[true]}]"#);
    let PacketData::Event { event, args, ack } = &p.inner else {
        panic!("{p:?}")
    };
    assert_eq!(event.to_string(), "message");
    assert_eq!(*ack, None);
    assert_eq!(args.len(), 3);
    assert_eq!(args.raw().to_string(), r#"1,"2",{"3":[true]}"#);
    assert!(!args.has_binary());

    let echo = encode_event_args("/", "message-back", args, None);
    assert_eq!(
        echo.text().unwrap().to_string(),
        r#"2["message-back",1,"2",{"3":[true]}]"#
    );
    assert!(echo.attachments().is_empty());
    assert_eq!(
        reencoded(&p).to_string(),
        r#"2["message",1,"2",{"3":[true]}]"#
    );
}

#[test]
fn event_with_ack_is_answered_with_same_arguments() {
    let p = packet(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#);
    let PacketData::Event { event, args, ack } = &p.inner else {
        panic!("{p:?}")
    };
    assert_eq!(event.to_string(), "message-with-ack");
    assert_eq!(*ack, Some(456));

    // Re-emitted without parsing.
    let answer = encode_ack_args(&p.ns, 456, args);
    assert_eq!(
        answer.text().unwrap().to_string(),
        r#"3456[1,"2",{"3":[false]}]"#
    );

    // And through a typed round trip.
    let typed: (i32, String, Value) = args.deserialize().unwrap();
    let answer = encode_ack("/", 456, &typed).unwrap();
    assert_eq!(
        answer.text().unwrap().to_string(),
        r#"3456[1,"2",{"3":[false]}]"#
    );
    assert!(answer.attachments().is_empty());
}

#[test]
fn event_in_custom_namespace() {
    let p = packet(r#"2/admin,13["foo"]"#);
    assert_eq!(p.ns.to_string(), "/admin");
    assert!(matches!(
        &p.inner,
        PacketData::Event { event, ack: Some(13), args } if event.as_str() == "foo" && args.is_empty()
    ));
    assert_eq!(reencoded(&p).to_string(), r#"2/admin,13["foo"]"#);
    let e = encode_event("/admin", "auth", &json!({}), None).unwrap();
    assert_eq!(e.text().unwrap().to_string(), r#"2/admin,["auth",{}]"#);
}

#[test]
fn ack_packets() {
    let p = packet("312[]");
    assert_eq!(
        p.inner,
        PacketData::EventAck {
            args: Args::new(),
            ack: 12
        }
    );
    assert_eq!(reencoded(&p).to_string(), "312[]");
    let p = packet(r#"3/admin,13["bar"]"#);
    assert_eq!(p.ns.to_string(), "/admin");
    let PacketData::EventAck { args, ack: 13 } = &p.inner else {
        panic!("{p:?}")
    };
    assert_eq!(args.deserialize::<String>().unwrap(), "bar");
    assert_eq!(
        encode_ack("/admin", 13, "bar")
            .unwrap()
            .text()
            .unwrap()
            .to_string(),
        r#"3/admin,13["bar"]"#
    );
    assert_eq!(
        encode_ack("/", 12, &())
            .unwrap()
            .text()
            .unwrap()
            .to_string(),
        "312[]"
    );
    assert_eq!(error(r#"3["bar"]"#), ProtocolError::MissingAckId);
}

#[test]
fn event_names() {
    // A number is a valid event name, kept as its JSON text.
    let p = packet("2[42,\"x\"]");
    assert!(matches!(&p.inner, PacketData::Event { event, .. } if event.as_str() == "42"));
    // Escapes are decoded.
    let p = packet(r#"2["a\"b\u00e9"]"#);
    assert!(matches!(&p.inner, PacketData::Event { event, .. } if event.as_str() == "a\"bé"));
    assert_eq!(reencoded(&p).to_string(), "2[\"a\\\"bé\"]");
    let e = encode_event("/", "quote\"d", &(), None).unwrap();
    assert_eq!(e.text().unwrap().to_string(), r#"2["quote\"d"]"#);
}

#[test]
fn event_name_must_be_string_or_number() {
    for text in [
        "2[null]",
        "2[true]",
        "2[{}]",
        "2[[\"a\"]]",
        r#"2[{"_placeholder":true,"num":0}]"#,
    ] {
        assert_eq!(error(text), ProtocolError::InvalidEventName, "{text}");
    }
}

#[test]
fn reserved_event_names() {
    assert_eq!(RESERVED_EVENTS.len(), 6);
    for name in RESERVED_EVENTS {
        assert!(is_reserved_event(name));
        let text = format!(r#"2["{name}",1]"#);
        assert_eq!(
            error(&text),
            ProtocolError::ReservedEvent(name.to_owned()),
            "{text}"
        );
        let text = format!(r#"51-["{name}",{{"_placeholder":true,"num":0}}]"#);
        assert_eq!(error(&text), ProtocolError::ReservedEvent(name.to_owned()));
    }
    for name in ["message", "connection", "Connect", "connect ", "error", ""] {
        assert!(!is_reserved_event(name), "{name}");
    }
    // The check applies to the decoded name, escapes included.
    assert_eq!(
        error(r#"2["\u0063onnect"]"#),
        ProtocolError::ReservedEvent("connect".into())
    );
}

// ---------------------------------------------------------------------------------------
// Binary

#[test]
fn binary_event_and_its_echo() {
    let mut partial =
        partial(r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    assert_eq!(partial.expected(), 2);
    assert_eq!(partial.push(Bytes::from_static(&[1, 2, 3])).unwrap(), None);
    assert_eq!(partial.received(), 1);
    let p = partial
        .push(Bytes::from_static(&[4, 5, 6]))
        .unwrap()
        .expect("complete");
    assert!(partial.is_complete());
    // More frames than announced.
    assert_eq!(
        partial.push(Bytes::from_static(&[7])),
        Err(ProtocolError::UnexpectedAttachment)
    );

    let PacketData::Event { event, args, ack } = &p.inner else {
        panic!("{p:?}")
    };
    assert_eq!(event.to_string(), "message");
    assert_eq!(*ack, None);
    assert_eq!(args.len(), 2);
    assert_eq!(
        args.attachments(),
        &[
            Bytes::from_static(&[1, 2, 3]),
            Bytes::from_static(&[4, 5, 6])
        ]
    );

    // Echo without re-parsing.
    let echo = encode_event_args("/", "message-back", args, None);
    assert_eq!(
        echo.text().unwrap().to_string(),
        r#"52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(echo.attachments(), args.attachments());
    let messages = echo.clone().into_messages();
    assert_eq!(
        messages,
        vec![
            Message::Text(echo.text().unwrap().clone()),
            Message::Binary(Bytes::from_static(&[1, 2, 3])),
            Message::Binary(Bytes::from_static(&[4, 5, 6])),
        ]
    );

    // Echo through untyped values.
    let values: (Value, Value) = args.deserialize().unwrap();
    assert_eq!(values.0, Value::Binary(Bytes::from_static(&[1, 2, 3])));
    let echo2 = encode_event("/", "message-back", &values, None).unwrap();
    assert_eq!(echo2, echo);
}

#[test]
fn binary_ack() {
    let mut partial = partial(
        r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    );
    partial.push(Bytes::from_static(&[1, 2, 3])).unwrap();
    let p = partial
        .push(Bytes::from_static(&[4, 5, 6]))
        .unwrap()
        .unwrap();
    let PacketData::Event {
        args,
        ack: Some(789),
        ..
    } = &p.inner
    else {
        panic!("{p:?}")
    };
    let answer = encode_ack_args("/", 789, args);
    assert_eq!(
        answer.text().unwrap().to_string(),
        r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(answer.attachments().len(), 2);

    // The answer decodes back as a binary ACK.
    let mut back = self::partial(answer.text().unwrap());
    back.push(answer.attachments()[0].clone()).unwrap();
    let back = back.push(answer.attachments()[1].clone()).unwrap().unwrap();
    let PacketData::EventAck {
        args: back_args,
        ack: 789,
    } = &back.inner
    else {
        panic!("{back:?}")
    };
    assert_eq!(back_args, args);
    assert_eq!(back.inner.packet_type(), 6);
    assert_eq!(p.inner.packet_type(), 5);
}

#[test]
fn binary_packet_examples_from_the_spec() {
    let mut p = partial(r#"51-["baz",{"_placeholder":true,"num":0}]"#);
    let p = p.push(Bytes::from_static(&[1, 2, 3, 4])).unwrap().unwrap();
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    let data: Bytes = args.deserialize().unwrap();
    assert_eq!(&data[..], &[1, 2, 3, 4]);

    let mut p =
        partial(r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    p.push(Bytes::from_static(&[1, 2])).unwrap();
    let p = p.push(Bytes::from_static(&[3, 4])).unwrap().unwrap();
    assert_eq!(p.ns.to_string(), "/admin");

    let e = encode_event(
        "/admin",
        "baz",
        &(Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])),
        None,
    )
    .unwrap();
    assert_eq!(
        e.text().unwrap().to_string(),
        r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    let e = encode_ack("/admin", 1, &Bytes::from_static(&[9])).unwrap();
    assert_eq!(
        e.text().unwrap().to_string(),
        r#"61-/admin,1[{"_placeholder":true,"num":0}]"#
    );
    let e = encode_event("/", "foo", &("x", Bytes::from_static(&[1])), Some(14)).unwrap();
    assert_eq!(
        e.text().unwrap().to_string(),
        r#"51-14["foo","x",{"_placeholder":true,"num":0}]"#
    );
}

#[test]
fn binary_with_zero_attachments_is_complete_at_once() {
    let p = packet(r#"50-["x",1]"#);
    assert!(matches!(&p.inner, PacketData::Event { args, .. } if args.len() == 1));
    // Placeholders still need an attachment to point at.
    assert_eq!(
        error(r#"50-["x",{"_placeholder":true,"num":0}]"#),
        ProtocolError::InvalidPlaceholder
    );
}

#[test]
fn placeholder_in_either_member_order() {
    let mut p = partial(r#"51-["x",{"num":0,"_placeholder":true}]"#);
    let p = p.push(Bytes::from_static(b"hi")).unwrap().unwrap();
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    assert_eq!(
        args.deserialize::<Value>().unwrap(),
        Value::Binary(Bytes::from_static(b"hi"))
    );

    // JSON whitespace anywhere inside.
    let mut p = partial("51-[\"x\", { \"num\" : 0 ,\n\t\"_placeholder\" : true } ]");
    let p = p.push(Bytes::from_static(b"ws")).unwrap().unwrap();
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    assert_eq!(
        args.deserialize::<Bytes>().unwrap(),
        Bytes::from_static(b"ws")
    );
}

#[test]
fn duplicate_placeholder_use_is_allowed() {
    let mut p =
        partial(r#"51-["x",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":0}]]"#);
    let p = p.push(Bytes::from_static(b"ab")).unwrap().unwrap();
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    let (a, b): (Bytes, Vec<Bytes>) = args.deserialize().unwrap();
    assert_eq!(a, b[0]);
    assert_eq!(&a[..], b"ab");
}

#[test]
fn non_placeholder_objects_in_binary_packets_are_data() {
    let mut p = partial(
        r#"51-["x",{"_placeholder":false,"num":3},{"num":1,"name":"n"},{"_placeholder":"true","num":0},{"_placeholder":true,"num":0}]"#,
    );
    let p = p.push(Bytes::from_static(b"z")).unwrap().unwrap();
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    let all: Vec<Value> = args.deserialize_all().unwrap();
    assert_eq!(
        serde_json::to_value(&all[..3]).unwrap(),
        json!([{"_placeholder":false,"num":3},{"num":1,"name":"n"},{"_placeholder":"true","num":0}])
    );
    assert_eq!(all[3], Value::Binary(Bytes::from_static(b"z")));
}

// ---------------------------------------------------------------------------------------
// Hostile input

#[test]
fn unknown_packet_type() {
    // The conformance suite's `4abc` is an Engine.IO message `4` carrying `abc`.
    assert_eq!(error("abc"), ProtocolError::UnknownPacketType('a'));
    assert_eq!(error("7"), ProtocolError::UnknownPacketType('7'));
    assert_eq!(error("é2[]"), ProtocolError::UnknownPacketType('é'));
    assert_eq!(error(" 2[\"a\"]"), ProtocolError::UnknownPacketType(' '));
    assert_eq!(error(""), ProtocolError::Empty);
}

#[test]
fn invalid_event_payloads() {
    for text in [
        "2{}",
        "2",
        "2\"message\"",
        "2[\"a\"",
        "2[\"a\"]]",
        "2[\"a\"] x",
        "2/custom,",
        "2/custom",
        "3456{}",
        "3456",
        "2[\"a\",]",
        "2[\"a\" 1]",
    ] {
        assert!(
            matches!(error(text), ProtocolError::InvalidPayload(_)),
            "{text}: {:?}",
            error(text)
        );
    }
    assert_eq!(error("2[]"), ProtocolError::EmptyEvent);
    assert_eq!(error("51-[]"), ProtocolError::EmptyEvent);
    // Letters where the ack id or the array belongs read as a broken ack id.
    assert_eq!(error("2null"), ProtocolError::InvalidAckId);
    // Whitespace around the array is JSON and accepted.
    let p = packet("2 [ \"a\" , 1 ] ");
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    assert_eq!(args.deserialize::<u8>().unwrap(), 1);
}

#[test]
fn invalid_ack_ids() {
    assert_eq!(
        error(r#"2abc["message-with-ack",1,"2",{"3":[false]}]"#),
        ProtocolError::InvalidAckId
    );
    assert_eq!(error(r#"21a["x"]"#), ProtocolError::InvalidAckId);
    assert_eq!(error(r#"3x[]"#), ProtocolError::InvalidAckId);
    // Larger than u64.
    assert_eq!(
        error(r#"299999999999999999999999["x"]"#),
        ProtocolError::InvalidAckId
    );
    let p = packet(r#"218446744073709551615["x"]"#);
    assert!(matches!(
        p.inner,
        PacketData::Event {
            ack: Some(u64::MAX),
            ..
        }
    ));
}

#[test]
fn invalid_attachment_counts() {
    assert_eq!(error("5"), ProtocolError::InvalidAttachmentCount);
    assert_eq!(error(r#"5["x"]"#), ProtocolError::InvalidAttachmentCount);
    assert_eq!(error("5abc-"), ProtocolError::InvalidAttachmentCount);
    assert_eq!(error("5-[\"x\"]"), ProtocolError::InvalidAttachmentCount);
    assert_eq!(error("52[\"x\"]"), ProtocolError::InvalidAttachmentCount);
    assert_eq!(error("6"), ProtocolError::InvalidAttachmentCount);
    assert_eq!(
        error(r#"511-["x"]"#),
        ProtocolError::TooManyAttachments { max: 10 }
    );
    assert_eq!(
        error("5999999999999999999999999999-[\"x\"]"),
        ProtocolError::TooManyAttachments { max: 10 }
    );
    // Ten is the default maximum, and it is configurable.
    let ten = (0..10)
        .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let text = format!(r#"510-["x",{ten}]"#);
    assert_eq!(partial(&text).expected(), 10);
    let strict = Decoder::new(DecoderConfig::default().with_max_attachments(2));
    assert_eq!(
        strict.decode_text(Str::from(text)).unwrap_err(),
        ProtocolError::TooManyAttachments { max: 2 }
    );
}

#[test]
fn attachment_count_on_non_binary_types() {
    for text in [
        r#"21-["x",{"_placeholder":true,"num":0}]"#,
        r#"31-1[]"#,
        "01-",
        "11-",
        r#"41-{"message":"x"}"#,
    ] {
        assert_eq!(
            error(text),
            ProtocolError::UnexpectedAttachmentCount,
            "{text}"
        );
    }
}

#[test]
fn invalid_placeholders() {
    for num in [
        "2",
        "-1",
        "1.0",
        "0.5",
        "\"0\"",
        "null",
        "1e0",
        "18446744073709551616",
    ] {
        let text = format!(r#"52-["x",{{"_placeholder":true,"num":{num}}}]"#);
        assert_eq!(error(&text), ProtocolError::InvalidPlaceholder, "{text}");
    }
    for obj in [
        r#"{"_placeholder":true}"#,
        r#"{"_placeholder":true,"num":0,"extra":1}"#,
        r#"{"extra":1,"_placeholder":true,"num":0}"#,
        r#"{"_placeholder":true,"num":0,"num":1}"#,
        r#"{"_placeholder":true,"_placeholder":true,"num":0}"#,
        r#"{"_placeholder":false,"_placeholder":true,"num":0}"#,
    ] {
        let text = format!(r#"52-["x",{obj}]"#);
        assert_eq!(error(&text), ProtocolError::InvalidPlaceholder, "{text}");
        let text = format!(r#"61-1[{{"deep":[{obj}]}}]"#);
        assert_eq!(error(&text), ProtocolError::InvalidPlaceholder, "{text}");
    }
}

#[test]
fn deeply_nested_json_is_refused() {
    // serde_json's own recursion limit: a plain parse errors out instead of overflowing.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = serde_json::from_str::<serde_json::Value>(&deep).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
    assert!(serde_json::from_str::<Value>(&deep).is_err());

    // The decoder refuses it before anything else (its raw-value scanning has no limit).
    let max = DecoderConfig::default().max_depth;
    for text in [
        format!(r#"2["x",{deep}]"#),
        format!("3456{deep}"),
        format!(r#"51-["x",{deep}]"#),
        format!("0{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
        format!(r#"4{{"message":"m","data":{deep}}}"#),
    ] {
        assert_eq!(error(&text), ProtocolError::TooDeep { max });
    }
    // Brackets inside strings do not count.
    let p = packet(&format!(r#"2["x","{}"]"#, "[".repeat(10_000)));
    assert!(matches!(&p.inner, PacketData::Event { args, .. } if args.len() == 1));

    // At the limit, the arguments still deserialize.
    let at_limit = format!(r#"2["x",{}{}]"#, "[".repeat(max - 1), "]".repeat(max - 1));
    let p = packet(&at_limit);
    let PacketData::Event { args, .. } = &p.inner else {
        panic!()
    };
    args.deserialize::<Value>().unwrap();
    let over = format!(r#"2["x",{}{}]"#, "[".repeat(max), "]".repeat(max));
    assert_eq!(error(&over), ProtocolError::TooDeep { max });
}

#[test]
fn errors_say_what_was_wrong() {
    let cases = [
        ("abc", "unknown packet type"),
        ("5abc-", "attachment count"),
        (r#"511-["x"]"#, "more than 10"),
        ("2{}", "invalid payload"),
        ("2[]", "empty array"),
        (r#"2abc["x"]"#, "acknowledgement id"),
        (r#"2["connect"]"#, "reserved event name \"connect\""),
        (r#"2[1.5e3]"#, ""),
        (r#"52-["x",{"_placeholder":true,"num":9}]"#, "placeholder"),
    ];
    for (text, needle) in cases {
        match decode_text(Str::from(text)) {
            Err(e) => assert!(e.to_string().contains(needle), "{text}: {e}"),
            Ok(_) => assert!(needle.is_empty(), "{text} accepted"),
        }
    }
    assert!(
        ProtocolError::UnexpectedAttachment
            .to_string()
            .contains("binary frame")
    );
}

#[test]
fn parser_enum_encodes_with_the_default_format() {
    let p = packet(r#"2/a,1["x",2]"#);
    assert_eq!(Parser::default().encode(&p), encode_packet(&p));
    assert_eq!(Decoder::default().parser(), Parser::Json);
    assert_eq!(Decoder::default().config(), &DecoderConfig::default());
}

#[test]
fn decoded_slices_share_the_received_buffer() {
    // No copy of the frame: the namespace, the event name and the arguments are views
    // into the text message that came in.
    let text = Str::from(r#"2/chat,7["hello",{"who":"world"},[1,2]]"#.to_owned());
    let range = text.as_bytes().as_ptr_range();
    let Decoded::Packet(p) = decode_text(text.clone()).unwrap() else {
        panic!()
    };
    let inside = |s: &str| range.contains(&s.as_ptr());
    assert!(inside(&p.ns));
    let PacketData::Event { event, args, .. } = &p.inner else {
        panic!()
    };
    assert!(inside(event));
    assert!(inside(args.raw()));
}

#[test]
fn connect_with_any_payload() {
    let s = encode_connect_data("/custom", &json!({"sid": "a", "pid": "b"})).unwrap();
    assert_eq!(s.to_string(), r#"0/custom,{"pid":"b","sid":"a"}"#);
    assert!(encode_connect_data("/", &[1]).is_err());
    assert!(encode_connect_data("/", "sid").is_err());
}

#[test]
fn codec_types_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Packet>();
    assert_send_sync::<PartialPacket>();
    assert_send_sync::<Args>();
    assert_send_sync::<Value>();
    assert_send_sync::<Decoder>();
    assert_send_sync::<ProtocolError>();
    assert_send_sync::<tower_socketio::protocol::EncodeError>();
    assert_send_sync::<tower_socketio::protocol::Encoded>();
}
