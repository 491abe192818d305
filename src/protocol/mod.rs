//! Socket.IO packet codecs: pure and synchronous.
