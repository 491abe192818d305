//! Protocol 4: the bytes socket.io-client 2, python-socketio 4 and Node's server write.

use super::*;
use crate::protocol::{Args, Codec, ConnectReply, Parser, Revision, WireFormat};

fn connect(s: &'static str) -> Packet {
    match decode(Str::from_static(s), &DecoderConfig::default()) {
        Ok(Decoded::Packet(p)) => p,
        other => panic!("{s}: {other:?}"),
    }
}

fn auth(p: &Packet) -> (&str, &str) {
    match &p.inner {
        PacketData::Connect(Some(auth)) => (p.ns.as_str(), auth.raw()),
        other => panic!("not a CONNECT with auth: {other:?}"),
    }
}

#[test]
fn connect_packets_carry_their_query_as_auth() {
    assert_eq!(
        auth(&connect("0/custom?token=abc&x=1,")),
        ("/custom", r#"{"token":"abc","x":"1"}"#)
    );
    // Without the trailing comma (python-socketio 4), without a query, with an ignored
    // payload.
    assert_eq!(auth(&connect("0/custom")), ("/custom", "{}"));
    assert_eq!(auth(&connect("0/custom,")), ("/custom", "{}"));
    assert_eq!(
        auth(&connect(r#"0/custom?a=1,{"ignored":true}"#)),
        ("/custom", r#"{"a":"1"}"#)
    );
    assert_eq!(auth(&connect("0")), ("/", "{}"));
    // Decoding as a form: `+`, `%XX`, malformed `%`, empty values, repeated keys.
    assert_eq!(
        auth(&connect("0/q?a=%ZZ&b=1+2&c&d=%C3%A9&x=1&x=2")),
        ("/q", r#"{"a":"%ZZ","b":"1 2","c":"","d":"é","x":"2"}"#)
    );
    // Quotes and backslashes end up escaped in the JSON.
    assert_eq!(auth(&connect(r#"0/q?k=%22%5C"#)), ("/q", r#"{"k":"\"\\"}"#));
    // The namespace is the text before `?`, as written.
    assert_eq!(auth(&connect("0/café?x=1")).0, "/café");
    assert_eq!(auth(&connect("0/a/../b")).0, "/a/../b");
    assert!(decode(Str::from_static("0abc"), &DecoderConfig::default()).is_err());
}

#[test]
fn other_packets_decode_as_in_protocol_5() {
    let d = |s: &'static str| decode(Str::from_static(s), &DecoderConfig::default());
    let Ok(Decoded::Packet(p)) = d(r#"27["message-with-ack",1,"2"]"#) else {
        panic!()
    };
    let PacketData::Event { event, args, ack } = p.inner else {
        panic!()
    };
    assert_eq!(
        (event.as_str(), ack, args.len()),
        ("message-with-ack", Some(7), 2)
    );
    assert!(matches!(
        d("1/custom"),
        Ok(Decoded::Packet(Packet {
            inner: PacketData::Disconnect,
            ..
        }))
    ));
    assert!(matches!(
        d(r#"51-["m",{"_placeholder":true,"num":0}]"#),
        Ok(Decoded::Partial(_))
    ));
    // Reserved names and junk are refused, as Node's decoder does.
    assert!(d(r#"2["disconnecting"]"#).is_err());
    assert!(d("2{}").is_err());
    assert!(d("abc").is_err());
}

#[test]
fn server_answers_and_refusals() {
    assert_eq!(encode_connect("/").as_str(), "0");
    assert_eq!(encode_connect("/custom").as_str(), "0/custom,");
    let e = |ns, m, d: Option<&serde_json::Value>| {
        encode_connect_error(ns, m, d).unwrap().as_str().to_owned()
    };
    assert_eq!(
        e("/refuse", "not authorized", None),
        r#"4/refuse,"not authorized""#
    );
    assert_eq!(e("/", "root says no", None), r#"4"root says no""#);
    let data = serde_json::json!({"code": 42, "why": "bad token"});
    assert_eq!(
        e("/refusedata", "x", Some(&data)),
        r#"4/refusedata,{"code":42,"why":"bad token"}"#
    );
    assert_eq!(
        e("/s", "x", Some(&serde_json::json!("string data"))),
        r#"4/s,"string data""#
    );
    for falsy in [
        serde_json::json!(null),
        serde_json::json!(false),
        serde_json::json!(0),
        serde_json::json!(""),
    ] {
        assert_eq!(e("/f", "msg", Some(&falsy)), r#"4/f,"msg""#, "{falsy}");
    }
}

#[test]
fn the_codec_at_revision_4() {
    let c = Codec::new(Parser::Json, Revision::V4);
    assert_eq!((c.parser(), c.revision()), (Parser::Json, Revision::V4));
    // One wire format with protocol 5: a broadcast is encoded once for both.
    assert_eq!(c.wire_format(), WireFormat::Json);
    assert_eq!(c.wire_format(), Codec::default().wire_format());
    assert_eq!(
        c.encode_connect("/chat", ConnectReply::new("sid").with_pid("p"))
            .text()
            .unwrap()
            .as_str(),
        "0/chat,"
    );
    assert_eq!(
        c.encode_connect_error("/chat", "no", None::<&()>)
            .unwrap()
            .text()
            .unwrap()
            .as_str(),
        r#"4/chat,"no""#
    );
    assert_eq!(
        c.encode_disconnect("/chat").text().unwrap().as_str(),
        "1/chat,"
    );
    let args = Args::from_serialize(&(1, bytes::Bytes::from_static(&[1]))).unwrap();
    assert_eq!(
        c.encode_event_args("/", "e", &args, Some(3)),
        Codec::default().encode_event_args("/", "e", &args, Some(3))
    );
    assert_eq!(
        c.encode(&Packet::connect_error(
            "/n",
            "m",
            Some(Args::json_value(Str::from_static("[1]")))
        ))
        .text()
        .unwrap()
        .as_str(),
        "4/n,[1]"
    );
    assert_eq!(
        c.encode(&Packet::connect(
            "/n",
            Some(Args::json_value(Str::from_static("{}")))
        ))
        .text()
        .unwrap()
        .as_str(),
        "0/n,"
    );
    let mut reader = c.reader(DecoderConfig::default());
    let p = reader
        .feed(Message::Text(Str::from_static("0/x?t=1")))
        .unwrap()
        .unwrap();
    assert_eq!(auth(&p), ("/x", r#"{"t":"1"}"#));
}

#[test]
fn a_broadcast_is_encoded_once_for_both_revisions() {
    let packet = crate::protocol::BroadcastPacket::event(
        "/",
        "news",
        &("a", bytes::Bytes::from_static(&[1, 2])),
        None,
    )
    .unwrap();
    let v5 = packet.encoded(Codec::new(Parser::Json, Revision::V5));
    let v4 = packet.encoded(Codec::new(Parser::Json, Revision::V4));
    assert!(
        std::ptr::eq(v4, v5),
        "one encoding for a room of 2.x and 4.x clients"
    );
    assert_eq!(
        v4.text().unwrap().as_str(),
        r#"51-["news","a",{"_placeholder":true,"num":0}]"#
    );
}
