//! Tests of `parser.rs`: the codec seam, the reader, the encodings.

use super::*;
use crate::protocol::PacketData;

fn text(s: &'static str) -> Message {
    Message::Text(Str::from_static(s))
}

fn bin(b: &'static [u8]) -> Message {
    Message::Binary(Bytes::from_static(b))
}

#[test]
fn reader_collects_attachments_then_hands_out_the_packet() {
    let mut r = Codec::default().reader(DecoderConfig::default());
    let head = r#"52-["f",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(r.feed(text(head)), Ok(None));
    assert!(r.is_pending());
    assert_eq!(r.feed(bin(b"a")), Ok(None));
    let p = r.feed(bin(b"b")).unwrap().unwrap();
    assert!(!r.is_pending());
    let PacketData::Event { args, .. } = p.inner else {
        panic!("not an event")
    };
    assert_eq!(
        args.attachments(),
        [Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
    // Plain packets come out at once.
    assert!(r.feed(text(r#"2["x"]"#)).unwrap().is_some());
}

#[test]
fn reader_refuses_what_breaks_the_attachment_order() {
    let mut r = PacketReader::default();
    assert_eq!(r.feed(bin(b"x")), Err(ProtocolError::UnexpectedAttachment));
    assert_eq!(
        r.feed(text(r#"51-["f",{"_placeholder":true,"num":0}]"#)),
        Ok(None)
    );
    assert_eq!(
        r.feed(text(r#"2["x"]"#)),
        Err(ProtocolError::AttachmentsPending)
    );
    // An error forgets the pending packet: its attachment is now unexpected.
    assert!(!r.is_pending());
    assert_eq!(r.feed(bin(b"x")), Err(ProtocolError::UnexpectedAttachment));
    assert_eq!(
        r.feed(text("9")),
        Err(ProtocolError::UnknownPacketType('9'))
    );
    r.feed(text(r#"51-["f",{"_placeholder":true,"num":0}]"#))
        .unwrap();
    r.reset();
    assert!(!r.is_pending());
}

#[test]
fn reader_applies_its_limits() {
    let strict = DecoderConfig::default().with_max_attachments(1);
    let mut r = Codec::default().reader(strict);
    assert_eq!(r.limits(), &strict);
    assert_eq!(
        r.feed(text(r#"52-["f",{"_placeholder":true,"num":0}]"#)),
        Err(ProtocolError::TooManyAttachments { max: 1 })
    );
}

#[test]
fn codec_encodes_what_the_v5_functions_encode() {
    let c = Codec::new(Parser::Json, Revision::V5);
    assert_eq!((c.parser(), c.revision()), (Parser::Json, Revision::V5));
    assert_eq!(c.wire_format(), WireFormat::Json);
    assert_eq!(
        c.encode_connect("/", ConnectReply::new("s").with_pid("p"))
            .text()
            .unwrap()
            .as_str(),
        r#"0{"sid":"s","pid":"p"}"#
    );
    assert_eq!(
        c.encode_connect_error("/a", "no", Some(&1)).unwrap(),
        Encoded::from(v5::encode_connect_error("/a", "no", Some(&1)).unwrap())
    );
    assert_eq!(c.encode_disconnect("/a").text().unwrap().as_str(), "1/a,");
    assert_eq!(
        c.encode_ack("/", 3, &("x",)).unwrap(),
        v5::encode_ack("/", 3, &("x",)).unwrap()
    );
    let args = Args::from_serialize(&(1,)).unwrap();
    assert_eq!(
        c.encode_ack_args("/", 3, &args).text().unwrap().as_str(),
        "33[1]"
    );
    assert_eq!(
        c.encode(&Packet::disconnect("/b")).text().unwrap().as_str(),
        "1/b,"
    );
}
