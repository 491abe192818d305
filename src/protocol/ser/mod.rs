//! Encoding side of the argument mapping and of binary attachments.
//!
//! Two serializer layers, both writing JSON text in one pass (no intermediate tree):
//!
//! - [`Intercept`] wraps any `Serializer` and forwards every call to it, except
//!   `serialize_bytes`, which becomes a `{"_placeholder":true,"num":N}` object while the
//!   bytes are recorded as attachment `N` (numbered in serialization order). Compound
//!   serializers are wrapped too, so bytes nested anywhere are found.
//! - [`Spread`] is the top-level serializer that maps one Rust value to the arguments of
//!   an event or ack: a tuple (or tuple struct) becomes several arguments, `()` becomes
//!   zero arguments, a newtype struct is transparent, anything else is one argument (a
//!   null value such as `Value::Null` or `None` included).
//!
//! [`intercept`] holds the first layer, [`spread`] the second. [`msgpack`] is the same
//! mapping for the MessagePack parser (no placeholders: binary stays inline).

mod intercept;
mod msgpack;
mod spread;

use std::cell::{Cell, RefCell};
use std::io;

use bytes::Bytes;
use serde::ser::{Serialize, Serializer};

pub(crate) use msgpack::write_msgpack_args;
use spread::Spread;

/// Binary attachments collected while serializing.
pub(crate) type Attachments = RefCell<Vec<Bytes>>;

/// An `io::Write` into a shared buffer, so that the argument separators can be written
/// between values while a `serde_json::Serializer` holds the writer.
pub(crate) struct CellWriter<'b>(pub(crate) &'b RefCell<Vec<u8>>);

impl io::Write for CellWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type JsonSer<'b> = serde_json::Serializer<CellWriter<'b>>;

/// Serializes the arguments of `data` as a JSON array into `buf`, preceded by `first`
/// (the event name) when given. Returns the number of arguments written (the event name
/// not counted) and the binary attachments in placeholder order.
pub(crate) fn write_args<T: Serialize + ?Sized>(
    buf: &RefCell<Vec<u8>>,
    first: Option<&str>,
    data: &T,
) -> Result<(usize, Vec<Bytes>), serde_json::Error> {
    buf.borrow_mut().push(b'[');
    let mut ser = serde_json::Serializer::new(CellWriter(buf));
    let count = Cell::new(0usize);
    if let Some(name) = first {
        (&mut ser).serialize_str(name)?;
        count.set(1);
    }
    let atts = RefCell::new(Vec::new());
    data.serialize(Spread {
        ser: &mut ser,
        buf,
        count: &count,
        atts: &atts,
        zero_sized: std::mem::size_of_val(data) == 0,
    })?;
    buf.borrow_mut().push(b']');
    Ok((
        count.get() - usize::from(first.is_some()),
        atts.into_inner(),
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::message::Str;
    use crate::protocol::{
        Args, Decoded, PacketData, PartialPacket, decode_text, encode_ack, encode_event,
    };

    fn received(text: &'static str, attachments: &[&'static [u8]]) -> Args {
        let packet = match decode_text(Str::from(text)).unwrap() {
            Decoded::Packet(p) => p,
            Decoded::Partial(mut p) => {
                let mut done = None;
                for a in attachments {
                    done = PartialPacket::push(&mut p, Bytes::from_static(a)).unwrap();
                }
                done.unwrap()
            }
        };
        match packet.inner {
            PacketData::Event { args, .. } => args,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn received_args_are_copied_as_text() {
        let args = received(r#"2["ev","a",{"b":[1,2]},3]"#, &[]);
        let e = encode_event("/", "back", &args, None).unwrap();
        assert_eq!(e.text().unwrap().as_str(), r#"2["back","a",{"b":[1,2]},3]"#);
        let e = encode_ack("/n", 7, &args).unwrap();
        assert_eq!(e.text().unwrap().as_str(), r#"3/n,7["a",{"b":[1,2]},3]"#);
        let none = received(r#"2["ev"]"#, &[]);
        assert_eq!(
            encode_event("/", "x", &none, None)
                .unwrap()
                .text()
                .unwrap()
                .as_str(),
            r#"2["x"]"#
        );
        assert_eq!(
            encode_ack("/", 1, &none).unwrap().text().unwrap().as_str(),
            "31[]"
        );
        // Copied, not re-serialized: even the spacing is kept.
        let spaced = received(r#"2["ev", "a" , 1 ]"#, &[]);
        let e = encode_event("/", "x", &spaced, None).unwrap();
        assert_eq!(e.text().unwrap().as_str(), r#"2["x","a" , 1 ]"#);
    }

    #[test]
    fn received_binary_args_keep_their_attachments() {
        let args = received(
            r#"51-["ev","f",{"_placeholder":true,"num":0}]"#,
            &[b"\x01\x02"],
        );
        let e = encode_event("/", "back", &args, None).unwrap();
        assert_eq!(
            e.text().unwrap().as_str(),
            r#"51-["back","f",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(e.attachments(), vec![Bytes::from_static(b"\x01\x02")]);
    }

    #[test]
    fn nested_args_are_serialized_as_values() {
        let args = received(r#"2["ev","a",1]"#, &[]);
        // Inside another value the arguments are one array, as before.
        let e = encode_event("/", "x", &(0, &args), None).unwrap();
        assert_eq!(e.text().unwrap().as_str(), r#"2["x",0,["a",1]]"#);
        assert_eq!(serde_json::to_string(&args).unwrap(), r#"["a",1]"#);
        // And as the whole data again after that.
        let e = encode_event("/", "x", &args, None).unwrap();
        assert_eq!(e.text().unwrap().as_str(), r#"2["x","a",1]"#);
    }
}
