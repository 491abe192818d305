//! The argument mapping (tuples spread both ways) and binary data nested anywhere.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;
use serde_json::value::RawValue;
use tower_socketio::engine::Str;
use tower_socketio::protocol::{
    Args, Decoded, Decoder, DecoderConfig, Encoded, Packet, PacketData, Value, decode_text,
    encode_ack, encode_event,
};

/// Decodes an encoded packet, attachments included (more than the default 10 allowed).
fn decode(encoded: &Encoded) -> Packet {
    let decoder = Decoder::new(DecoderConfig::default().with_max_attachments(64));
    match decoder
        .decode_text(encoded.text().unwrap().clone())
        .unwrap()
    {
        Decoded::Packet(p) => {
            assert!(encoded.attachments().is_empty());
            p
        }
        Decoded::Partial(mut partial) => {
            assert_eq!(partial.expected(), encoded.attachments().len());
            let mut done = None;
            for a in encoded.attachments() {
                assert!(done.is_none());
                done = partial.push(a.clone()).unwrap();
            }
            done.expect("complete")
        }
    }
}

fn event_args(text: &str) -> Args {
    match decode_text(Str::from(text.to_owned())).unwrap() {
        Decoded::Packet(Packet {
            inner: PacketData::Event { args, .. },
            ..
        }) => args,
        other => panic!("{other:?}"),
    }
}

/// Encodes `data` as an event, decodes it back and returns its arguments.
fn through_the_wire<T: Serialize + ?Sized>(data: &T) -> (Encoded, Args) {
    let encoded = encode_event("/", "ev", data, None).unwrap();
    match decode(&encoded).inner {
        PacketData::Event { args, .. } => (encoded, args),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Decoding side of the mapping.

/// A number reads as exactly the double JavaScript wrote: `JSON.stringify` gives the
/// shortest text of a double, and the text must read back as that double (the exact
/// reading of `str::parse`), not one a unit in the last place away.
#[test]
fn numbers_read_as_the_exact_double_javascript_sent() {
    for text in [
        "0.00009669883002061397",
        "1.120034148471959e+23",
        "0.1",
        "2.2250738585072014e-308",
        "1.7976931348623157e+308",
        "5e-324",
        "0.30000000000000004",
        "123456789.12345679",
    ] {
        let args = event_args(&format!(r#"2["e",{text}]"#));
        let got: f64 = args.deserialize().unwrap();
        assert_eq!(
            got.to_bits(),
            text.parse::<f64>().unwrap().to_bits(),
            "{text}"
        );
    }
}

#[test]
fn non_tuple_types_receive_the_first_argument() {
    let args = event_args(r#"2["ev","a","b",3]"#);
    assert_eq!(args.len(), 3);
    assert_eq!(args.deserialize::<String>().unwrap(), "a");
    assert_eq!(args.deserialize::<Value>().unwrap(), Value::from("a"));
    assert_eq!(
        args.deserialize::<Option<String>>().unwrap().as_deref(),
        Some("a")
    );

    let args = event_args(r#"2["ev",[1,2,3],"ignored"]"#);
    assert_eq!(args.deserialize::<Vec<u32>>().unwrap(), vec![1, 2, 3]);

    #[derive(Deserialize, Debug, PartialEq)]
    struct Msg {
        text: String,
        n: u8,
    }
    let args = event_args(r#"2["ev",{"text":"hi","n":2},{"other":1}]"#);
    assert_eq!(
        args.deserialize::<Msg>().unwrap(),
        Msg {
            text: "hi".into(),
            n: 2
        }
    );
}

#[test]
fn tuples_receive_the_arguments_in_order() {
    let args = event_args(r#"2["ev",1,"2",{"3":[false]}]"#);
    let (a, b, c): (u8, String, serde_json::Value) = args.deserialize().unwrap();
    assert_eq!((a, b.as_str(), c), (1, "2", json!({"3": [false]})));

    // Extra arguments are ignored, missing ones are null-like.
    let (a,): (u8,) = args.deserialize().unwrap();
    assert_eq!(a, 1);
    let (_, _, _, d): (u8, String, Value, Option<u8>) = args.deserialize().unwrap();
    assert_eq!(d, None);
    let err = args.deserialize::<(u8, String, Value, u8)>().unwrap_err();
    assert!(err.to_string().contains("u8"), "{err}");

    #[derive(Deserialize, Debug, PartialEq)]
    struct Pair(u8, String);
    assert_eq!(args.deserialize::<Pair>().unwrap(), Pair(1, "2".into()));

    // A newtype struct is transparent.
    #[derive(Deserialize, Debug, PartialEq)]
    struct Wrapper((u8, String));
    assert_eq!(
        args.deserialize::<Wrapper>().unwrap(),
        Wrapper((1, "2".into()))
    );

    // All arguments as one sequence.
    let all: Vec<Value> = args.deserialize_all().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1], Value::from("2"));
}

#[test]
fn zero_arguments() {
    let args = event_args(r#"2["ev"]"#);
    assert!(args.is_empty());
    assert_eq!(args.raw(), "");
    args.deserialize::<()>().unwrap();
    assert_eq!(args.deserialize::<Option<u8>>().unwrap(), None);
    assert_eq!(args.deserialize::<Value>().unwrap(), Value::Null);
    assert_eq!(
        args.deserialize::<(Option<u8>, Option<String>)>().unwrap(),
        (None, None)
    );
    assert!(args.deserialize::<u8>().is_err());
    assert!(args.deserialize::<String>().is_err());
    assert_eq!(
        args.deserialize_all::<Vec<Value>>().unwrap(),
        Vec::<Value>::new()
    );
    // `()` accepts any arguments.
    event_args(r#"2["ev",1,2]"#).deserialize::<()>().unwrap();
    assert_eq!(Args::new(), args);
}

#[test]
fn arguments_can_be_borrowed_from_the_frame() {
    // Deserializing straight from the received text (no intermediate tree) is what
    // lets a handler borrow strings from it.
    let text = Str::from(r#"2["ev","hello",{"who":"world"}]"#.to_owned());
    let range = text.as_bytes().as_ptr_range();
    let args = match decode_text(text.clone()).unwrap() {
        Decoded::Packet(Packet {
            inner: PacketData::Event { args, .. },
            ..
        }) => args,
        other => panic!("{other:?}"),
    };
    #[derive(Deserialize)]
    struct Who<'a> {
        who: &'a str,
    }
    let (hello, who): (&str, Who<'_>) = args.deserialize().unwrap();
    assert_eq!((hello, who.who), ("hello", "world"));
    assert!(range.contains(&hello.as_ptr()));
    assert!(range.contains(&who.who.as_ptr()));

    let raw: Box<RawValue> = args.deserialize().unwrap();
    assert_eq!(raw.get(), r#""hello""#);
    let (a, b): (&RawValue, &RawValue) = args.deserialize().unwrap();
    assert_eq!((a.get(), b.get()), (r#""hello""#, r#"{"who":"world"}"#));
    assert!(range.contains(&b.get().as_ptr()));
}

// ---------------------------------------------------------------------------------------
// Encoding side of the mapping.

fn text_of<T: Serialize + ?Sized>(data: &T) -> String {
    encode_event("/", "ev", data, None)
        .unwrap()
        .text()
        .unwrap()
        .to_string()
}

#[test]
fn encoding_spreads_tuples() {
    assert_eq!(text_of(&()), r#"2["ev"]"#);
    assert_eq!(text_of(&(1, "2")), r#"2["ev",1,"2"]"#);
    assert_eq!(text_of(&(1,)), r#"2["ev",1]"#);
    assert_eq!(text_of(&((1, 2), 3)), r#"2["ev",[1,2],3]"#);
    assert_eq!(text_of(&vec![1, 2]), r#"2["ev",[1,2]]"#);
    assert_eq!(text_of(&[1, 2][..]), r#"2["ev",[1,2]]"#);
    assert_eq!(text_of("x"), r#"2["ev","x"]"#);
    assert_eq!(text_of(&Some(1)), r#"2["ev",1]"#);
    assert_eq!(text_of(&None::<u8>), r#"2["ev",null]"#);
    assert_eq!(text_of(&json!({"a": 1})), r#"2["ev",{"a":1}]"#);
    assert_eq!(text_of(&json!([1, 2])), r#"2["ev",[1,2]]"#);

    #[derive(Serialize)]
    struct Pair(u8, &'static str);
    assert_eq!(text_of(&Pair(1, "a")), r#"2["ev",1,"a"]"#);
    #[derive(Serialize)]
    struct Wrapper((u8, u8));
    assert_eq!(text_of(&Wrapper((1, 2))), r#"2["ev",1,2]"#);
    #[derive(Serialize)]
    struct Unit;
    assert_eq!(text_of(&Unit), r#"2["ev",null]"#);
    #[derive(Serialize)]
    enum E {
        A,
        B(u8),
        C { x: u8 },
        D(u8, u8),
    }
    assert_eq!(
        text_of(&(E::A, E::B(1), E::C { x: 2 }, E::D(3, 4))),
        r#"2["ev","A",{"B":1},{"C":{"x":2}},{"D":[3,4]}]"#
    );

    assert_eq!(
        encode_ack("/", 1, &()).unwrap().text().unwrap().to_string(),
        "31[]"
    );
    assert_eq!(
        encode_ack("/", 1, &("a", 2))
            .unwrap()
            .text()
            .unwrap()
            .to_string(),
        r#"31["a",2]"#
    );
}

#[test]
fn a_null_value_is_one_argument_and_unit_none() {
    let ack = |data: &dyn erased::Data| data.ack();
    assert_eq!(ack(&Value::Null), "30[null]");
    assert_eq!(ack(&serde_json::Value::Null), "30[null]");
    assert_eq!(ack(&None::<u8>), "30[null]");
    assert_eq!(ack(&None::<Value>), "30[null]");
    assert_eq!(ack(&Some(Value::Null)), "30[null]");
    assert_eq!(ack(&()), "30[]");
    assert_eq!(text_of(&Value::Null), r#"2["ev",null]"#);
    assert_eq!(text_of(&serde_json::Value::Null), r#"2["ev",null]"#);
    assert_eq!(text_of(&()), r#"2["ev"]"#);
    assert_eq!(text_of(&(Value::Null,)), r#"2["ev",null]"#);
    assert_eq!(text_of(&(Value::Null, ())), r#"2["ev",null,null]"#);
    #[derive(Serialize)]
    struct Wrapper<T>(T);
    assert_eq!(text_of(&Wrapper(Value::Null)), r#"2["ev",null]"#);
    assert_eq!(text_of(&Wrapper(())), r#"2["ev"]"#);
    // Read back: one argument that is null.
    let (_, args) = through_the_wire(&Value::Null);
    assert_eq!(args.len(), 1);
    assert_eq!(args.deserialize::<Value>().unwrap(), Value::Null);
}

/// Object-safe helper so the assertions above read as one table.
mod erased {
    pub(super) trait Data {
        fn ack(&self) -> String;
    }
    impl<T: serde::Serialize> Data for T {
        fn ack(&self) -> String {
            tower_socketio::protocol::encode_ack("/", 0, self)
                .unwrap()
                .text()
                .unwrap()
                .to_string()
        }
    }
}

#[test]
fn mapping_is_symmetric() {
    let (_, args) = through_the_wire(&(1u8, "two", vec![3u8]));
    let back: (u8, String, Vec<u8>) = args.deserialize().unwrap();
    assert_eq!(back, (1, "two".into(), vec![3]));

    let (_, args) = through_the_wire(&vec![1, 2]);
    assert_eq!(args.len(), 1);
    assert_eq!(args.deserialize::<Vec<u8>>().unwrap(), vec![1, 2]);

    let (_, args) = through_the_wire(&());
    assert_eq!(args.len(), 0);
    args.deserialize::<()>().unwrap();

    let args = Args::from_serialize(&("a", 1)).unwrap();
    assert_eq!(args.len(), 2);
    assert_eq!(args.raw(), r#""a",1"#);
    assert_eq!(args.to_json_array(), r#"["a",1]"#);
    assert_eq!(args.deserialize::<(String, u8)>().unwrap(), ("a".into(), 1));
    assert_eq!(args, event_args(r#"2["x","a",1]"#));
    assert_eq!(Args::from_serialize(&()).unwrap(), Args::new());
}

#[test]
fn encoding_errors_are_reported() {
    let mut bad = HashMap::new();
    bad.insert(vec![1u8], 1u8);
    let err = encode_event("/", "ev", &bad, None).unwrap_err();
    assert!(err.to_string().contains("key must be a string"), "{err}");
    assert!(Args::from_serialize(&bad).is_err());
}

// ---------------------------------------------------------------------------------------
// Binary data.

/// A byte buffer that (de)serializes as bytes, like `serde_bytes::ByteBuf`.
#[derive(Debug, Clone, PartialEq)]
struct ByteBuf(Vec<u8>);

impl Serialize for ByteBuf {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

fn b(data: &'static [u8]) -> Bytes {
    Bytes::from_static(data)
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Shape {
    Unit,
    Raw(Bytes),
    Pair(u8, Bytes),
    Named { data: Bytes, tag: String },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Nested {
    name: String,
    data: Bytes,
    list: Vec<Bytes>,
    map: HashMap<String, Bytes>,
    by_id: BTreeMap<u32, Bytes>,
    maybe: Option<Bytes>,
    none: Option<Bytes>,
    buf: ByteBuf,
    shapes: Vec<Shape>,
    inner: Inner,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Inner {
    num: u32,
    _placeholder: bool,
    deep: Vec<Vec<Option<Bytes>>>,
}

fn nested() -> Nested {
    Nested {
        name: "n".into(),
        data: b(&[0]),
        list: vec![b(&[1]), b(&[]), b(&[2, 2])],
        map: HashMap::from([("k".to_owned(), b(&[3]))]),
        by_id: BTreeMap::from([(7, b(&[4])), (9, b(&[5]))]),
        maybe: Some(b(&[6])),
        none: None,
        buf: ByteBuf(vec![7, 7]),
        shapes: vec![
            Shape::Unit,
            Shape::Raw(b(&[8])),
            Shape::Pair(1, b(&[9])),
            Shape::Named {
                data: b(&[10]),
                tag: "t".into(),
            },
        ],
        inner: Inner {
            num: 5,
            _placeholder: false,
            deep: vec![vec![None, Some(b(&[11]))]],
        },
    }
}

#[test]
fn nested_binary_round_trips() {
    let value = nested();
    let (encoded, args) = through_the_wire(&value);
    assert_eq!(encoded.attachments().len(), 13);
    assert!(encoded.text().unwrap().starts_with("513-[\"ev\","));
    // Numbered in serialization order.
    assert_eq!(encoded.attachments()[0], b(&[0]));
    assert_eq!(encoded.attachments()[12], b(&[11]));
    assert_eq!(args.attachments().len(), 13);
    assert_eq!(args.deserialize::<Nested>().unwrap(), value);

    // The same data as untyped values, and back.
    let untyped: Value = args.deserialize().unwrap();
    assert_eq!(untyped.get("data"), Some(&Value::Binary(b(&[0]))));
    assert_eq!(
        untyped.get("inner").and_then(|i| i.get("num")),
        Some(&Value::from(5u64))
    );
    let (again, _) = through_the_wire(&untyped);
    let (_, args2) = through_the_wire(&untyped);
    assert_eq!(args2.deserialize::<Nested>().unwrap(), value);
    assert_eq!(again.attachments().len(), 13);
}

#[test]
fn binary_tuples_and_ack() {
    let data = (b(b"a"), "text", vec![b(b"b"), b(b"c")]);
    let encoded = encode_ack("/nsp", 4, &data).unwrap();
    assert_eq!(
        encoded.text().unwrap().to_string(),
        r#"63-/nsp,4[{"_placeholder":true,"num":0},"text",[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]]"#
    );
    let PacketData::EventAck { args, ack: 4 } = decode(&encoded).inner else {
        panic!()
    };
    let back: (Bytes, String, Vec<Bytes>) = args.deserialize().unwrap();
    assert_eq!(back, (b(b"a"), "text".into(), vec![b(b"b"), b(b"c")]));
}

#[test]
fn binary_targets() {
    let args = {
        let (_, args) = through_the_wire(&(b(&[1, 2, 3]), ByteBuf(vec![4])));
        args
    };
    // `Bytes`, a bytes buffer type, plain `Vec<u8>`, a borrowed slice and `Value`.
    let (a, c): (Bytes, ByteBuf) = args.deserialize().unwrap();
    assert_eq!((&a[..], c.0.as_slice()), (&[1, 2, 3][..], &[4][..]));
    let (v, _): (Vec<u8>, Value) = args.deserialize().unwrap();
    assert_eq!(v, vec![1, 2, 3]);
    let (s, _): (&[u8], Value) = args.deserialize().unwrap();
    assert_eq!(s, &[1, 2, 3]);
    assert!(std::ptr::eq(s.as_ptr(), args.attachments()[0].as_ptr()));
    let values: Vec<Value> = args.deserialize_all().unwrap();
    assert_eq!(
        values,
        vec![Value::Binary(b(&[1, 2, 3])), Value::Binary(b(&[4]))]
    );
    // A placeholder is not a string or a number.
    assert!(args.deserialize::<u32>().is_err());
    assert!(args.deserialize::<BTreeMap<String, u8>>().is_err());

    // An untagged enum buffers the value and still sees bytes.
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Bin(Bytes),
    }
    let (x, y): (Either, Either) = {
        let (_, args) = through_the_wire(&(b(&[0xff]), "t"));
        args.deserialize().unwrap()
    };
    assert_eq!((x, y), (Either::Bin(b(&[0xff])), Either::Text("t".into())));
}

#[test]
fn objects_read_ahead_are_replayed() {
    // In a binary packet, the first members of every object are read ahead to spot
    // placeholders; they must reach the target unchanged, whatever it is.
    let text = concat!(
        r#"51-["ev","#,
        r#"{"num":1,"name":"n"},"#,
        r#"{"_placeholder":false,"num":2},"#,
        r#"{"num":3},"#,
        r#"{"12":"a","34":"b"},"#,
        r#"{"e\u0073c":1},"#,
        r#"{},"#,
        r#"{"num":{"_placeholder":true,"num":0}},"#,
        r#"{"_placeholder":[1],"x":{"num":[2]}}"#,
        "]"
    );
    let args = match decode_text(Str::from(text)).unwrap() {
        Decoded::Partial(mut p) => match p.push(b(b"!")).unwrap().unwrap().inner {
            PacketData::Event { args, .. } => args,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };

    #[derive(Deserialize, Debug, PartialEq)]
    struct A {
        num: u32,
        name: String,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct B {
        _placeholder: bool,
        num: u32,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct C {
        num: Option<u32>,
        other: Option<u32>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Esc {
        esc: u8,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Holder {
        num: Bytes,
    }
    #[allow(clippy::type_complexity)]
    let parsed: (
        A,
        B,
        C,
        HashMap<u32, String>,
        Esc,
        BTreeMap<String, u8>,
        Holder,
        serde_json::Value,
    ) = args.deserialize().unwrap();
    assert_eq!(
        parsed.0,
        A {
            num: 1,
            name: "n".into()
        }
    );
    assert_eq!(
        parsed.1,
        B {
            _placeholder: false,
            num: 2
        }
    );
    assert_eq!(
        parsed.2,
        C {
            num: Some(3),
            other: None
        }
    );
    assert_eq!(
        parsed.3,
        HashMap::from([(12, "a".into()), (34, "b".into())])
    );
    assert_eq!(parsed.4, Esc { esc: 1 });
    assert!(parsed.5.is_empty());
    assert_eq!(parsed.6, Holder { num: b(b"!") });
    assert_eq!(parsed.7, json!({"_placeholder":[1],"x":{"num":[2]}}));
}

#[test]
fn plain_vec_u8_is_an_array_and_bytes_are_binary() {
    // Without a bytes type, `Vec<u8>` is a JSON array of numbers (as serde sees it).
    let e = encode_event("/", "ev", &vec![1u8, 2], None).unwrap();
    assert_eq!(e.text().unwrap().to_string(), r#"2["ev",[1,2]]"#);
    assert!(e.attachments().is_empty());
    let e = encode_event("/", "ev", &b(&[1, 2]), None).unwrap();
    assert_eq!(
        e.text().unwrap().to_string(),
        r#"51-["ev",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(e.attachments(), vec![b(&[1, 2])]);
    let e = encode_event("/", "ev", &Value::Binary(b(&[3])), None).unwrap();
    assert_eq!(e.attachments(), vec![b(&[3])]);
}

#[test]
fn echo_of_binary_arguments_needs_no_reparse() {
    let (encoded, args) = through_the_wire(&(b(b"x"), json!({"k": [1]}), b(b"y")));
    let echo = tower_socketio::protocol::encode_event_args("/", "back", &args, Some(3));
    assert_eq!(
        echo.text().unwrap().to_string(),
        r#"52-3["back",{"_placeholder":true,"num":0},{"k":[1]},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(echo.attachments(), encoded.attachments());
}

#[test]
fn value_conversions() {
    let v = Value::from(serde_json::json!({"a": [1, -2, 1.5, true, null, "s"]}));
    let a = v.get("a").and_then(Value::as_array).unwrap();
    assert_eq!(a[0].as_u64(), Some(1));
    assert_eq!(a[1].as_i64(), Some(-2));
    assert_eq!(a[2].as_f64(), Some(1.5));
    assert_eq!(a[3].as_bool(), Some(true));
    assert!(a[4].is_null());
    assert_eq!(a[5].as_str(), Some("s"));
    assert_eq!(Value::from(f64::NAN), Value::Null);
    assert_eq!(Value::from(b(b"z")).as_binary(), Some(&b(b"z")));
    assert!(v.as_object().is_some());
    // Without binary, a Value serializes to the same JSON as serde_json's.
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"a":[1,-2,1.5,true,null,"s"]}"#
    );
    let back: Value = serde_json::from_str(r#"{"a":[1,-2,1.5,true,null,"s"]}"#).unwrap();
    assert_eq!(back, v);
}

#[test]
fn nesting_under_read_ahead_members_is_bounded() {
    // `{"num":{"num":..}}` is read ahead level by level and replayed through fresh
    // JSON deserializers; the wrapper's own depth count still bounds the recursion.
    fn nest(levels: usize) -> Value {
        let mut v = Value::Binary(b(b"x"));
        for _ in 0..levels {
            v = Value::Object(BTreeMap::from([("num".to_owned(), v)]));
        }
        v
    }
    let shallow = Args::from_serialize(&nest(100)).unwrap();
    assert_eq!(shallow.deserialize::<Value>().unwrap(), nest(100));
    let deep = Args::from_serialize(&nest(300)).unwrap();
    let Err(err) = deep.deserialize::<Value>() else {
        panic!("300 levels accepted")
    };
    assert!(err.to_string().contains("recursion limit"), "{err}");

    // Such a packet is refused when it is decoded anyway.
    let encoded = encode_event("/", "ev", &nest(300), None).unwrap();
    let decoder = Decoder::new(DecoderConfig::default().with_max_depth(100_000));
    assert!(
        decoder
            .decode_text(encoded.text().unwrap().clone())
            .is_err()
    );
}
