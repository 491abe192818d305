//! Decoding entry points: configuration, the decoder, and packets waiting for their
//! binary attachments.

use bytes::Bytes;

use super::error::ProtocolError;
use super::{Codec, Packet, PacketData, Parser, Revision};
use crate::message::Str;

/// Limits applied to incoming packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecoderConfig {
    /// Most binary attachments one packet may announce (default 10, like the reference
    /// server). A larger count is a protocol error.
    pub max_attachments: usize,
    /// Deepest JSON nesting accepted in a payload, counting the outer array (default
    /// 127, the deepest serde_json deserializes). Raising it only moves the error from
    /// decoding to the handler; lowering it refuses deep payloads earlier.
    pub max_depth: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_attachments: 10,
            max_depth: 127,
        }
    }
}

impl DecoderConfig {
    /// Sets [`max_attachments`](Self::max_attachments).
    pub fn with_max_attachments(mut self, max: usize) -> Self {
        self.max_attachments = max;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    pub fn with_max_depth(mut self, max: usize) -> Self {
        self.max_depth = max;
        self
    }
}

/// Decodes incoming messages into packets. Stateless and cheap to copy: a packet that
/// waits for binary attachments is returned as a [`PartialPacket`] that the caller
/// keeps until its frames have arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoder {
    parser: Parser,
    config: DecoderConfig,
}

impl Decoder {
    /// A decoder for the default parser with these limits.
    pub fn new(config: DecoderConfig) -> Self {
        Decoder {
            parser: Parser::Json,
            config,
        }
    }

    /// A decoder for `parser` with these limits.
    pub fn with_parser(parser: Parser, config: DecoderConfig) -> Self {
        Decoder { parser, config }
    }

    /// The limits.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The parser.
    pub fn parser(&self) -> Parser {
        self.parser
    }

    /// Decodes a text message (Socket.IO protocol 5). A binary packet that announces
    /// attachments comes back as [`Decoded::Partial`]; feed it the following binary
    /// messages, or let a [`PacketReader`](super::PacketReader) do it.
    pub fn decode_text(&self, text: Str) -> Result<Decoded, ProtocolError> {
        Codec::new(self.parser, Revision::V5).decode_text(text, &self.config)
    }
}

/// Decodes a text message with the default parser and limits.
pub fn decode_text(text: Str) -> Result<Decoded, ProtocolError> {
    Decoder::default().decode_text(text)
}

/// The result of decoding a text message.
#[derive(Debug)]
pub enum Decoded {
    /// A complete packet.
    Packet(Packet),
    /// A binary packet waiting for its attachments.
    Partial(PartialPacket),
}

/// A binary packet whose attachments are still arriving.
///
/// The caller keeps it until [`push`](Self::push) returns the packet. The binary
/// messages must directly follow the text one: a text message arriving before the last
/// attachment, or a binary message when no packet waits for one, is a protocol error
/// for the caller to act on (the reference implementation closes the connection).
#[derive(Debug)]
pub struct PartialPacket {
    packet: Option<Packet>,
    expected: usize,
    received: usize,
}

impl PartialPacket {
    pub(crate) fn new(packet: Packet, expected: usize) -> Self {
        PartialPacket {
            packet: Some(packet),
            expected,
            received: 0,
        }
    }

    /// How many attachments the packet announced.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many attachments arrived so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Whether the packet was completed and handed out.
    pub fn is_complete(&self) -> bool {
        self.packet.is_none()
    }

    /// Adds the next binary message. Returns the packet once the last announced
    /// attachment arrived; a frame after that is an error.
    pub fn push(&mut self, data: Bytes) -> Result<Option<Packet>, ProtocolError> {
        let Some(packet) = self.packet.as_mut() else {
            return Err(ProtocolError::UnexpectedAttachment);
        };
        match &mut packet.inner {
            PacketData::Event { args, .. } | PacketData::EventAck { args, .. } => {
                args.push_attachment(data);
            }
            _ => return Err(ProtocolError::UnexpectedAttachment),
        }
        self.received += 1;
        if self.received >= self.expected {
            Ok(self.packet.take())
        } else {
            Ok(None)
        }
    }
}
