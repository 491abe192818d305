//! A broadcast EVENT: one packet model, encoded once per wire format for every receiver.

use std::sync::OnceLock;

use serde::Serialize;

use super::parser::WireFormat;
use super::{Args, Codec, EncodeError, Encoded, Parser};
use crate::message::Str;

/// An EVENT for many sockets: the packet (namespace, event name, arguments, ack id) and its
/// encodings, each made once, the first time a receiver whose codec speaks that
/// [`WireFormat`] asks for it, then shared (the same reference-counted bytes go to every
/// receiver's queue).
///
/// Adapters receive it as it is: the local sockets ask it for their codec's encoding, and a
/// cluster adapter reads the model ([`event_name`](Self::event_name), [`args`](Self::args)) to put it
/// on its own wire.
///
/// The arguments are kept in one wire form ([`Args::parser`]): a server builds its
/// broadcasts in its own parser's form ([`event_with`](Self::event_with)), so its receivers
/// get them without conversion; an encoding for another wire format (a broadcast from
/// another server of a cluster) converts them once.
///
/// With connection state recovery, the adapter stores a broadcast with an
/// [`offset`](Self::offset) ([`with_offset`](Self::with_offset)): every receiver whose codec
/// [carries offsets](Codec::carries_offsets) gets it as the event's last argument, and they
/// all share one encoding, since the offset is the same for each; a receiver whose codec
/// does not (Socket.IO 2) gets the encoding without it.
///
/// ```
/// use tower_socketio::protocol::{BroadcastPacket, Codec};
///
/// let packet = BroadcastPacket::event("/", "news", &("a", 1), None).unwrap();
/// let one = packet.encoded(Codec::default());
/// let two = packet.encoded(Codec::default());
/// assert!(std::ptr::eq(one, two)); // encoded once
/// assert_eq!(one.text().unwrap().as_str(), r#"2["news","a",1]"#);
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastPacket {
    ns: Str,
    event: Str,
    args: Args,
    ack: Option<u64>,
    offset: Option<Str>,
    /// One slot per wire format without the offset, then one per wire format with it.
    encoded: [OnceLock<Encoded>; SLOTS],
}

/// Encodings a broadcast may need: each wire format, without and with an offset.
const SLOTS: usize = 2 * WireFormat::COUNT;

impl BroadcastPacket {
    /// An EVENT of `event` with the arguments of `data` (mapped as an emit's: a tuple is
    /// several arguments, bytes anywhere become binary).
    pub fn event<T: Serialize + ?Sized>(
        ns: impl Into<Str>,
        event: impl Into<Str>,
        data: &T,
        ack: Option<u64>,
    ) -> Result<Self, EncodeError> {
        Ok(Self::from_args(ns, event, Args::from_serialize(data)?, ack))
    }

    /// An EVENT whose arguments are built in the wire form of `parser` (the server's), so
    /// that receivers with that parser share bytes made without any conversion.
    ///
    /// ```
    /// use tower_socketio::protocol::{BroadcastPacket, Codec, Parser, Revision};
    ///
    /// let packet = BroadcastPacket::event_with(Parser::MsgPack, "/", "news", &("a", 1), None).unwrap();
    /// let encoded = packet.encoded(Codec::new(Parser::MsgPack, Revision::V5));
    /// assert!(encoded.text().is_none()); // one binary message
    /// assert!(encoded.attachments().is_empty());
    /// ```
    pub fn event_with<T: Serialize + ?Sized>(
        parser: Parser,
        ns: impl Into<Str>,
        event: impl Into<Str>,
        data: &T,
        ack: Option<u64>,
    ) -> Result<Self, EncodeError> {
        Ok(Self::from_args(
            ns,
            event,
            Args::from_serialize_with(parser, data)?,
            ack,
        ))
    }

    /// An EVENT with arguments already in packet form (received ones, or another server's).
    pub fn from_args(
        ns: impl Into<Str>,
        event: impl Into<Str>,
        args: Args,
        ack: Option<u64>,
    ) -> Self {
        BroadcastPacket {
            ns: ns.into(),
            event: event.into(),
            args,
            ack,
            offset: None,
            encoded: Default::default(),
        }
    }

    /// The same event carrying `offset`, the position connection state recovery gives a
    /// stored broadcast (an opaque, JSON-safe string chosen by the adapter). The copy shares
    /// the arguments and starts with no encoding.
    pub fn with_offset(&self, offset: impl Into<Str>) -> Self {
        BroadcastPacket {
            ns: self.ns.clone(),
            event: self.event.clone(),
            args: self.args.clone(),
            ack: self.ack,
            offset: Some(offset.into()),
            encoded: Default::default(),
        }
    }

    /// The offset of a broadcast stored for connection state recovery.
    pub fn offset(&self) -> Option<&str> {
        self.offset.as_ref().map(Str::as_str)
    }

    /// Roughly how many bytes the packet holds: its arguments (text and attachments), the
    /// encodings made so far and its strings. What connection state recovery counts
    /// against its byte budget, with a fixed cost per stored packet on top.
    pub fn held_bytes(&self) -> usize {
        let mut n = self.ns.len() + self.event.len() + self.args.raw().len();
        n += self.args.as_msgpack().map_or(0, |b| b.len());
        n += self.offset.as_ref().map_or(0, Str::len);
        let attachments: usize = self.args.attachments().iter().map(|a| a.len()).sum();
        n += attachments;
        for slot in &self.encoded {
            if let Some(e) = slot.get() {
                // Attachments are shared with the arguments: count the first message only.
                n += e.first().len();
            }
        }
        n
    }

    /// The namespace.
    pub fn ns(&self) -> &str {
        self.ns.as_str()
    }

    /// The event name.
    pub fn event_name(&self) -> &str {
        self.event.as_str()
    }

    /// The arguments.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// The acknowledgement id, for a broadcast with acknowledgements.
    pub fn ack(&self) -> Option<u64> {
        self.ack
    }

    /// The packet as `codec` sends it: encoded on the first call for the codec's wire
    /// format, the same value afterwards.
    pub fn encoded(&self, codec: Codec) -> &Encoded {
        let format = codec.wire_format().index();
        match &self.offset {
            Some(offset) if codec.carries_offsets() => self.encoded[WireFormat::COUNT + format]
                .get_or_init(|| {
                    codec.encode_event_args_with_offset(&self.ns, &self.event, &self.args, offset)
                }),
            _ => self.encoded[format].get_or_init(|| {
                codec.encode_event_args(&self.ns, &self.event, &self.args, self.ack)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::message::Message;
    use crate::protocol::encode_event;

    #[test]
    fn encoded_once_and_shared_by_every_receiver() {
        let data = ("a", Bytes::from_static(&[1, 2, 3]));
        let packet = BroadcastPacket::event("/chat", "ev", &data, Some(4)).unwrap();
        let codec = Codec::default();
        let first = packet.encoded(codec);
        assert!(std::ptr::eq(first, packet.encoded(codec)));
        // The same bytes as a direct encoding of the same event.
        assert_eq!(first, &encode_event("/chat", "ev", &data, Some(4)).unwrap());
        // Every receiver's messages share the one buffer.
        let one: Vec<Message> = first.messages().collect();
        let two: Vec<Message> = packet.encoded(codec).messages().collect();
        assert_eq!(one.len(), 2);
        for (a, b) in one.iter().zip(&two) {
            let (Message::Text(a), Message::Text(b)) = (a, b) else {
                let (Message::Binary(a), Message::Binary(b)) = (a, b) else {
                    panic!("messages differ in kind")
                };
                assert_eq!(a.as_ptr(), b.as_ptr());
                continue;
            };
            assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        }
        assert_eq!(packet.ns(), "/chat");
        assert_eq!(packet.event_name(), "ev");
        assert_eq!(packet.ack(), Some(4));
        assert_eq!(packet.args().len(), 2);
    }

    #[test]
    fn an_offset_goes_into_the_shared_encoding() {
        let packet = BroadcastPacket::event("/", "n", &(1,), None).unwrap();
        assert_eq!(packet.offset(), None);
        let stored = packet.with_offset("k.7");
        assert_eq!(stored.offset(), Some("k.7"));
        let codec = Codec::default();
        let one = stored.encoded(codec);
        assert_eq!(one.text().unwrap().as_str(), r#"2["n",1,"k.7"]"#);
        assert!(std::ptr::eq(one, stored.encoded(codec)));
        // The original is untouched.
        assert_eq!(
            packet.encoded(codec).text().unwrap().as_str(),
            r#"2["n",1]"#
        );
        assert!(stored.held_bytes() >= r#"2["n",1,"k.7"]"#.len() + 3);
    }

    #[test]
    fn from_args_keeps_received_arguments() {
        let args = Args::from_serialize(&(1, "x")).unwrap();
        let packet = BroadcastPacket::from_args("/", "n", args, None);
        assert_eq!(
            packet.encoded(Codec::default()).text().unwrap().as_str(),
            r#"2["n",1,"x"]"#
        );
    }
}
