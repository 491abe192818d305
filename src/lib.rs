//! A Socket.IO server as a tower `Layer`/`Service`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engine;
pub mod protocol;
