//! Engine.IO 3 framing: the payloads Node and the clients write, and every hostile input
//! of `docs/ARCHITECTURE.md` (socketioxide's engineioxide 0.17.4/0.17.5 fixes included).

use super::*;

fn msg(s: &str) -> Packet {
    Packet::Message(Str::from(s.to_owned()))
}

fn bin(b: &[u8]) -> Packet {
    Packet::Binary(Bytes::copy_from_slice(b))
}

/// Bytes followed by text.
fn cat(head: &[u8], text: &str) -> Vec<u8> {
    let mut v = head.to_vec();
    v.extend_from_slice(text.as_bytes());
    v
}

/// A text payload decoded as a session does: validated as a whole.
fn text(body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    text_max(body, 1_000_000)
}

fn text_max(body: &[u8], max: usize) -> Result<Vec<Packet>, DecodeError> {
    let payload = TextPayload::from_body(Bytes::copy_from_slice(body), max)?;
    validated(payload).map(|p| p.map(Result::unwrap).collect())
}

fn binary(body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    validated(BinaryPayload::new(Bytes::copy_from_slice(body), 1_000_000))
        .map(|p| p.map(Result::unwrap).collect())
}

#[test]
fn utf16_lengths() {
    assert_eq!(utf16_len(""), 0);
    assert_eq!(utf16_len("hello"), 5);
    assert_eq!(utf16_len("é€"), 2);
    assert_eq!(utf16_len("😀"), 2);
    assert_eq!(utf16_len("a𝕊b"), 4);
    for s in ["", "abc", "é", "€x", "😀😀a", "\u{fffd}", "\u{10ffff}"] {
        assert_eq!(utf16_len(s), s.encode_utf16().count(), "{s:?}");
    }
}

#[test]
fn text_payloads_clients_send() {
    assert_eq!(text(b"6:4hello"), Ok(vec![msg("hello")]));
    assert_eq!(
        text(b"6:4test16:4test26:4test3"),
        Ok(vec![msg("test1"), msg("test2"), msg("test3")])
    );
    assert_eq!(
        text(b"6:4hello10:b4AQIDBA=="),
        Ok(vec![msg("hello"), bin(&[1, 2, 3, 4])])
    );
    assert_eq!(text("3:4😀".as_bytes()), Ok(vec![msg("😀")]));
    assert_eq!(text("2:4€".as_bytes()), Ok(vec![msg("€")]));
    assert_eq!(text(b"1:2"), Ok(vec![Packet::Ping { probe: false }]));
    assert_eq!(text(b"6:2probe"), Ok(vec![Packet::Ping { probe: true }]));
    assert_eq!(text(b"1:1"), Ok(vec![Packet::Close]));
    // A pong decodes; what it means (a close, in Engine.IO 3) is the session's business.
    assert_eq!(text(b"1:3"), Ok(vec![Packet::Pong { probe: false }]));
    assert_eq!(text(b"4:2abc"), Ok(vec![Packet::Ping { probe: false }]));
    assert_eq!(text(b"1:5"), Ok(vec![Packet::Upgrade]));
    assert_eq!(text(b"1:0"), Ok(vec![Packet::Open]));
    assert_eq!(text(b"1:6"), Ok(vec![Packet::Noop]));
    assert_eq!(text(b"1:4"), Ok(vec![msg("")]));
    // Leading zeros, empty packets.
    assert_eq!(text(b"04:4hey"), Ok(vec![msg("hey")]));
    assert_eq!(text(b"0:"), Ok(vec![]));
    assert_eq!(text(b"0:6:4hello"), Ok(vec![msg("hello")]));
    assert_eq!(text(b"6:4hello0:"), Ok(vec![msg("hello")]));
}

#[test]
fn text_payload_lengths_count_utf16_units() {
    // socketioxide 0.17.5 (#742): the decoder counted graphemes, the encoder chars.
    assert_eq!(text("3:4𝕊3:4ab".as_bytes()), Ok(vec![msg("𝕊"), msg("ab")]));
    assert_eq!(text("2:4𝕊".as_bytes()), Err(DecodeError::InvalidLength));
    assert_eq!(text(b"10:4ab"), Err(DecodeError::Truncated));
    // A UTF-8 byte count is not a length.
    assert_eq!(text("5:4😀".as_bytes()), Err(DecodeError::Truncated));
    // A length that ends between the halves of a surrogate pair delivers nothing (Node
    // delivers a lone surrogate, then fails).
    assert_eq!(text("2:4😀1:6".as_bytes()), Err(DecodeError::InvalidLength));
    // Combining characters are one unit each.
    assert_eq!(text("3:4e\u{301}".as_bytes()), Ok(vec![msg("e\u{301}")]));
}

#[test]
fn text_payload_junk_is_refused() {
    for body in [
        &b"abc"[..],
        b":4hey",
        b"-1:4",
        b"a:4hey",
        b"4.0:4hey",
        b"0x4:4hey",
        b" 4:4hey",
        b"+4:4hey",
        b"4e0:4hey",
        b" :",
        b"99999999999999999999:4hey",
        b"12345678901:4hey",
        b"6:4hellox",
        b"6",
        b"6:4hello4",
    ] {
        assert_eq!(
            text(body),
            Err(DecodeError::InvalidLength),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    for body in [&b"99:4hey"[..], b"6:4hello4:", b"2:4", b"1:"] {
        assert_eq!(
            text(body),
            Err(DecodeError::Truncated),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(text(b"6:4hello1:9"), Err(DecodeError::UnknownType));
    assert_eq!(text(b"1:7"), Err(DecodeError::UnknownType));
    assert_eq!(text(b"1:b"), Err(DecodeError::UnknownType));
    assert_eq!(text(b"6:b9AQID"), Err(DecodeError::UnknownType));
    assert_eq!(text(b"3:b4!"), Err(DecodeError::InvalidBase64));
    assert_eq!(text(b"7:b4AQ!ID"), Err(DecodeError::InvalidBase64));
    assert_eq!(text(b""), Err(DecodeError::Empty));
}

#[test]
fn ten_digits_are_read_without_overflow() {
    // The longest length accepted: read, then found longer than the body.
    assert_eq!(text(b"9999999999:4hey"), Err(DecodeError::Truncated));
    // Zeros count as digits: eleven of them are too many.
    assert_eq!(text(b"00000000006:4hello"), Err(DecodeError::InvalidLength));
    assert_eq!(text(b"0000000006:4hello"), Ok(vec![msg("hello")]));
}

#[test]
fn invalid_utf8_is_read_lossily_then_counted() {
    // Node reads the body as UTF-8 with replacement characters (one unit each).
    assert_eq!(text(b"5:4\xff\xfeAB"), Ok(vec![msg("\u{fffd}\u{fffd}AB")]));
}

#[test]
fn every_packet_is_checked_against_max_payload() {
    // 4 bytes of junk become 12 bytes of replacement characters: over a 10-byte limit,
    // although the body is not.
    assert_eq!(
        text_max(b"5:4\xff\xff\xff\xff", 10),
        Err(DecodeError::TooLarge)
    );
    assert_eq!(text_max(b"5:4\xff\xff\xff\xff", 12).unwrap().len(), 1);
    assert_eq!(text_max(b"6:4hello", 4), Err(DecodeError::TooLarge));
    assert_eq!(text_max(b"10:b4AQIDBA==", 3), Err(DecodeError::TooLarge));
    let big = BinaryPayload::new(Bytes::from_static(&[1, 5, 0xff, 4, 1, 2, 3, 4]), 3);
    assert_eq!(validated(big).unwrap_err(), DecodeError::TooLarge);
}

#[test]
fn a_bad_packet_anywhere_means_nothing_is_delivered() {
    // The decoder itself stops at the error; `validated` refuses the payload first.
    let mut lazy = TextPayload::from_body(Bytes::from_static(b"6:4hello1:9"), 100).unwrap();
    assert_eq!(lazy.next(), Some(Ok(msg("hello"))));
    assert_eq!(lazy.next(), Some(Err(DecodeError::UnknownType)));
    assert_eq!(lazy.next(), None);
    let lazy = TextPayload::from_body(Bytes::from_static(b"6:4hello1:9"), 100).unwrap();
    assert_eq!(validated(lazy).unwrap_err(), DecodeError::UnknownType);
}

#[test]
fn decoded_messages_share_the_body() {
    let body = Bytes::from_static(b"6:4hello");
    let mut p = TextPayload::from_body(body.clone(), 100).unwrap();
    let Some(Ok(Packet::Message(m))) = p.next() else {
        panic!("not a message")
    };
    assert_eq!(m.as_bytes().as_ptr(), body[3..].as_ptr());
}

#[test]
fn binary_payloads_clients_send() {
    assert_eq!(binary(b"\x00\x06\xff4hello"), Ok(vec![msg("hello")]));
    assert_eq!(
        binary(&[1, 5, 0xff, 4, 1, 2, 3, 4]),
        Ok(vec![bin(&[1, 2, 3, 4])])
    );
    assert_eq!(binary(&cat(b"\x00\x03\xff", "4é")), Ok(vec![msg("é")]));
    assert_eq!(binary(&[1, 1, 0xff, 4]), Ok(vec![bin(&[])]));
    assert_eq!(
        binary(b"\x00\x01\xff2"),
        Ok(vec![Packet::Ping { probe: false }])
    );
    // python-socketio 4's disconnect: three string packets.
    assert_eq!(
        binary(b"\x00\x00\x09\xff41/custom\x00\x02\xff41\x00\x01\xff1"),
        Ok(vec![msg("1/custom"), msg("1"), Packet::Close])
    );
    // Base64 inside a string packet (Node accepts it too).
    assert_eq!(binary(b"\x00\x06\xffb4AQID"), Ok(vec![bin(&[1, 2, 3])]));
    // An empty body holds nothing.
    assert_eq!(binary(b""), Ok(vec![]));
}

#[test]
fn binary_payload_junk_is_refused() {
    let mut digits_311 = vec![0u8];
    digits_311.extend(std::iter::repeat_n(1u8, 311));
    digits_311.extend_from_slice(b"\xff4hi");
    let mut digits_312 = vec![0u8];
    digits_312.extend(std::iter::repeat_n(1u8, 312));
    digits_312.extend_from_slice(b"\xff4hi");
    let eleven = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\xff4hi";
    for body in [
        &digits_311[..],
        &digits_312[..],
        &eleven[..],
        b"\x00\x0a\xff4hellohello",
        // socketioxide #741: a length byte of 0xd0 and above overflowed `b + 48` (a
        // panic in debug builds).
        b"\x00\xd0\xff4",
        b"\x00\xfe\xff4",
        b"\x00\xff4hi",
        b"\x00\x00\xff",
    ] {
        assert_eq!(binary(body), Err(DecodeError::InvalidLength), "{body:?}");
    }
    for body in [
        &b"\x00\x01\x02"[..],
        b"\x00",
        b"\x01",
        b"\x00\x01",
        b"\x00\x09\x09\xff4hi",
        // socketioxide #739: five bytes declared, three present; its decoder looped
        // forever here.
        b"\x01\x05\xff\x04\x01\x02",
        b"\x00\x06\xff4hello\x00\x06\xff4hell",
    ] {
        assert_eq!(binary(body), Err(DecodeError::Truncated), "{body:?}");
    }
    assert_eq!(
        binary(b"\x00\x03\xff4\xc3\x28"),
        Err(DecodeError::InvalidUtf8)
    );
    assert_eq!(binary(&[1, 2, 0xff, 9, 1]), Err(DecodeError::UnknownType));
    assert_eq!(binary(&[1, 1, 0xff, 2]), Err(DecodeError::UnknownType));
    assert_eq!(binary(&[1, 1, 0xff, 1]), Err(DecodeError::UnknownType));
    assert_eq!(binary(&[7, 2, 0xff, 4, 1]), Err(DecodeError::InvalidMarker));
    assert_eq!(binary(b"\x00\x01\xff7"), Err(DecodeError::UnknownType));
    assert_eq!(
        binary(b"\x00\x06\xff4hello\x02"),
        Err(DecodeError::InvalidMarker)
    );
}

#[test]
fn every_prefix_of_a_payload_ends() {
    // Whatever is cut off, the decoders answer (an error or the packets before the cut),
    // never loop, never panic.
    let text_body = "6:4hello10:b4AQIDBA==3:4😀0:1:6".as_bytes();
    for end in 0..=text_body.len() {
        let cut = Bytes::copy_from_slice(&text_body[..end]);
        if let Ok(p) = TextPayload::from_body(cut, 100) {
            assert!(p.count() <= 5);
        }
    }
    let mut binary_body = b"\x00\x06\xff4hello".to_vec();
    binary_body.extend_from_slice(&[1, 5, 0xff, 4, 1, 2, 3, 4]);
    for end in 0..=binary_body.len() {
        let p = BinaryPayload::new(Bytes::copy_from_slice(&binary_body[..end]), 100);
        assert!(p.count() <= 2);
    }
}

fn batch(binary_ok: bool, packets: &[Outgoing<'_>]) -> (Vec<u8>, bool) {
    let mut b = Batch::new(binary_ok);
    for p in packets {
        b.push_always(*p);
    }
    let len = b.len();
    let written = b.finish();
    assert_eq!(
        written.body.len(),
        len,
        "the computed length is the written one"
    );
    (written.body.to_vec(), written.binary)
}

#[test]
fn text_batches_as_node_writes_them() {
    let hello = Message::from("hello");
    let data = Message::from(vec![1u8, 2, 3, 4]);
    let emoji = Message::from("😀");
    let euro = Message::from("€");
    let m = Outgoing::Message;
    assert_eq!(batch(false, &[m(&hello)]).0, b"6:4hello");
    assert_eq!(
        batch(false, &[m(&hello), m(&data)]),
        (b"6:4hello10:b4AQIDBA==".to_vec(), false)
    );
    assert_eq!(batch(false, &[m(&emoji)]).0, "3:4😀".as_bytes());
    assert_eq!(batch(false, &[m(&euro)]).0, "2:4€".as_bytes());
    assert_eq!(batch(true, &[Outgoing::Noop]).0, b"1:6");
    assert_eq!(batch(true, &[Outgoing::Close]).0, b"1:1");
    assert_eq!(batch(true, &[Outgoing::Pong]).0, b"1:3");
    assert_eq!(batch(true, &[Outgoing::PongProbe]).0, b"6:3probe");
    assert_eq!(batch(true, &[Outgoing::Open("{}")]).0, b"3:0{}");
    // A client that reads binary gets text while no packet is binary.
    assert_eq!(
        batch(true, &[m(&hello), Outgoing::Noop]),
        (b"6:4hello1:6".to_vec(), false)
    );
}

#[test]
fn binary_batches_as_node_writes_them() {
    let data = Message::from(vec![1u8, 2, 3, 4]);
    let m = Outgoing::Message;
    let cases: [(&str, Vec<u8>); 4] = [
        ("hello", cat(b"\x00\x06\xff", "4hello")),
        ("é", cat(b"\x00\x03\xff", "4é")),
        ("😀", cat(b"\x00\x05\xff", "4😀")),
        // socketioxide #737: every packet of a batch holding binary is binary-framed.
        ("hello€", cat(b"\x00\x09\xff", "4hello€")),
    ];
    for (s, head) in cases {
        let text = Message::from(s.to_owned());
        let (body, is_binary) = batch(true, &[Outgoing::Message(&text), m(&data)]);
        assert!(is_binary);
        let mut expected = head;
        expected.extend_from_slice(&[1, 5, 0xff, 4, 1, 2, 3, 4]);
        assert_eq!(body, expected, "{s}");
    }
    let long = Message::from("x".repeat(49));
    let (body, _) = batch(true, &[Outgoing::Message(&long), m(&data)]);
    assert_eq!(&body[..4], &[0, 5, 0, 0xff]);
}

#[test]
fn batches_stop_at_the_limit_in_their_final_framing() {
    // socketioxide #738: the size was computed once, before the loop.
    let data = Message::from(vec![1u8, 2, 3, 4]);
    let text = Message::from("hello€");
    let max = "10:b4AQIDBA==".len();
    let mut first = Batch::new(false);
    assert!(first.push(Outgoing::Message(&data), max));
    assert!(!first.push(Outgoing::Message(&text), max));
    assert_eq!(&first.finish().body[..], b"10:b4AQIDBA==");
    let mut second = Batch::new(false);
    assert!(second.push(Outgoing::Message(&text), max));
    assert!(!second.push(Outgoing::Message(&text), max));
    assert_eq!(&second.finish().body[..], "7:4hello€".as_bytes());

    // A binary message turns the whole batch binary, which changes every packet's size:
    // checked against the binary size then.
    let small = Message::from("ab");
    let mut b = Batch::new(true);
    assert!(b.push(Outgoing::Message(&small), 100));
    let binary_size = 2 + 1 + 3 + 2 + 1 + 5; // 00 03 ff "4ab" + 01 05 ff 04 01 02 03 04
    assert!(!b.push(Outgoing::Message(&data), binary_size - 1));
    assert!(b.push(Outgoing::Message(&data), binary_size));
    assert_eq!(b.len(), binary_size);
    // A packet alone goes whatever its size.
    let mut alone = Batch::new(true);
    assert!(alone.push(Outgoing::Message(&data), 1));
}

#[test]
fn batches_read_back() {
    let messages = [
        Message::from("hello"),
        Message::from("😀 é€ 𝕊"),
        Message::from(vec![0u8, 1, 0xff, 4]),
        Message::from(""),
        Message::from(vec![]),
        Message::from("x".repeat(1000)),
    ];
    for binary_ok in [false, true] {
        let mut b = Batch::new(binary_ok);
        for m in &messages {
            b.push_always(Outgoing::Message(m));
        }
        b.push_always(Outgoing::Noop);
        let written = b.finish();
        let packets: Vec<Packet> = if written.binary {
            validated(BinaryPayload::new(written.body, usize::MAX))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        } else {
            validated(TextPayload::from_body(written.body, usize::MAX).unwrap())
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let mut expected: Vec<Packet> = messages
            .iter()
            .map(|m| match m {
                Message::Text(s) => Packet::Message(s.clone()),
                Message::Binary(b) => Packet::Binary(b.clone()),
            })
            .collect();
        expected.push(Packet::Noop);
        assert_eq!(packets, expected, "binary_ok {binary_ok}");
    }
}

#[test]
fn websocket_frames() {
    assert_eq!(
        decode_ws_binary(Bytes::from_static(&[4, 1, 2, 3, 4])),
        Ok(bin(&[1, 2, 3, 4]))
    );
    assert_eq!(decode_ws_binary(Bytes::from_static(&[4])), Ok(bin(&[])));
    assert_eq!(decode_ws_binary(Bytes::new()), Err(DecodeError::Empty));
    for junk in [&[9u8, 1][..], &[1], &[2], &[0x34, 0x68]] {
        assert_eq!(
            decode_ws_binary(Bytes::copy_from_slice(junk)),
            Err(DecodeError::UnknownType)
        );
    }
    assert_eq!(decode_packet(Str::from("b4AQID")), Ok(bin(&[1, 2, 3])));
    assert_eq!(decode_packet(Str::from("b4")), Ok(bin(&[])));
    assert_eq!(decode_packet(Str::from("4hello")), Ok(msg("hello")));
    assert_eq!(
        decode_packet(Str::from("abc")),
        Err(DecodeError::UnknownType)
    );
    assert_eq!(decode_packet(Str::from("")), Err(DecodeError::Empty));
    assert_eq!(decode_packet(Str::from("7")), Err(DecodeError::UnknownType));

    let data = Message::from(vec![1u8, 2, 3, 4]);
    assert_eq!(
        ws_frame(Outgoing::Message(&data), true),
        WsMessage::binary(vec![4u8, 1, 2, 3, 4])
    );
    assert_eq!(
        ws_frame(Outgoing::Message(&data), false),
        WsMessage::text("b4AQIDBA==")
    );
    assert_eq!(
        ws_frame(Outgoing::Message(&Message::from("hi")), true),
        WsMessage::text("4hi")
    );
    assert_eq!(ws_frame(Outgoing::Pong, true), WsMessage::text("3"));
}
