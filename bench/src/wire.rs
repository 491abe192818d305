//! The client side of the wire, written for speed: WebSocket frames built once (masked
//! with a zero key, so the payload is sent as it is), a frame parser over one growing
//! buffer, the HTTP upgrade, and a minimal HTTP/1.1 client for long-polling.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long any single protocol step of a client may take before the run fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A client WebSocket text frame carrying `payload`, masked with the key `0000`.
pub fn text_frame(payload: &[u8]) -> Vec<u8> {
    frame(0x81, payload)
}

/// A client WebSocket binary frame carrying `payload` (a MessagePack packet).
pub fn binary_frame(payload: &[u8]) -> Vec<u8> {
    frame(0x82, payload)
}

fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(first);
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// `n` copies of `frame`, back to back, for pipelined writes.
pub fn repeated(frame: &[u8], n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(frame.len() * n);
    for _ in 0..n {
        v.extend_from_slice(frame);
    }
    v
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// A frame from the server: its opcode and where its payload sits in the buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef {
    pub opcode: u8,
    pub fin: bool,
    pub start: usize,
    pub end: usize,
}

/// A client connection: the stream and what was read but not consumed.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    pub fn new(stream: TcpStream, leftover: Vec<u8>) -> Self {
        Conn {
            stream,
            buf: leftover,
            pos: 0,
        }
    }

    /// Reads more bytes; `Ok(false)` at end of stream.
    ///
    /// A client with nothing left unread holds no buffer while it waits (100 000 idle
    /// clients would otherwise keep gigabytes of it): the buffer is taken only once the
    /// socket is readable, and given back when it is all consumed.
    pub async fn fill(&mut self) -> io::Result<bool> {
        if self.pos == self.buf.len() {
            self.pos = 0;
            if self.buf.capacity() > 4096 {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.is_empty() && self.buf.capacity() == 0 {
            loop {
                self.stream.readable().await?;
                let mut chunk = [0u8; 2048];
                match self.stream.try_read(&mut chunk) {
                    Ok(n) => {
                        self.buf.extend_from_slice(&chunk[..n]);
                        return Ok(n > 0);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(32 * 1024);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        Ok(n > 0)
    }

    /// The next complete frame in the buffer, if any (no reading).
    pub fn next_frame(&mut self) -> io::Result<Option<FrameRef>> {
        let b = &self.buf[self.pos..];
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        let opcode = b[0] & 0x0f;
        let masked = b[1] & 0x80 != 0;
        let (len, mut hdr) = match b[1] & 0x7f {
            126 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                (u16::from_be_bytes([b[2], b[3]]) as usize, 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(None);
                }
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(a) as usize, 10)
            }
            n => (n as usize, 2),
        };
        if masked {
            return Err(err("the server masked a frame"));
        }
        if len > 64 << 20 {
            return Err(err("frame too large"));
        }
        if b.len() < hdr + len {
            return Ok(None);
        }
        hdr += self.pos;
        self.pos = hdr + len;
        Ok(Some(FrameRef {
            opcode,
            fin,
            start: hdr,
            end: hdr + len,
        }))
    }

    /// The payload of a frame returned by [`Conn::next_frame`].
    pub fn payload(&self, f: FrameRef) -> &[u8] {
        &self.buf[f.start..f.end]
    }

    /// Reads until a whole data message is there; answers Engine.IO pings on the way
    /// when `eio` is set. Returns the message payload.
    pub async fn read_message(&mut self, eio: bool) -> io::Result<Vec<u8>> {
        let mut assembled: Vec<u8> = Vec::new();
        loop {
            while let Some(f) = self.next_frame()? {
                match f.opcode {
                    0x8 => return Err(err("the server closed the WebSocket")),
                    0x9 | 0xA => continue,
                    _ => {}
                }
                assembled.extend_from_slice(self.payload(f));
                if !f.fin {
                    continue;
                }
                if eio && assembled == b"2" {
                    self.stream.write_all(&text_frame(b"3")).await?;
                    assembled.clear();
                    continue;
                }
                return Ok(assembled);
            }
            if !self.fill().await? {
                return Err(err("connection closed"));
            }
        }
    }
}

/// The HTTP request that opens a WebSocket on `path`.
pub fn upgrade_request(port: u16, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How a client joins the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Engine.IO over WebSocket, then a Socket.IO CONNECT to `/`.
    SocketIo,
    /// A bare WebSocket (the transport floor).
    Raw,
    /// Engine.IO over WebSocket, then a CONNECT to `/` with the MessagePack parser (every
    /// Socket.IO packet a binary frame).
    MsgPack,
}

impl Handshake {
    /// Whether Engine.IO runs underneath (the client answers pings).
    pub fn eio(self) -> bool {
        self != Handshake::Raw
    }
}

/// A TCP connection to the server on 127.0.0.1, from `src` when given (bound before the
/// connect: each source address has its own range of ephemeral ports, so 100 000
/// connections to one port need several). The address reuse lets a port in TIME_WAIT
/// from an earlier run be bound again.
pub async fn tcp(port: u16, src: Option<SocketAddrV4>) -> io::Result<TcpStream> {
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = match src {
        None => TcpStream::connect(server).await?,
        Some(addr) => {
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            if socket.bind(addr.into()).is_err() {
                // Taken: any free port of that address.
                socket.bind(SocketAddr::from((*addr.ip(), 0)))?;
            }
            let stream = socket.connect(server).await?;
            // Many clients: a reset when they go, no TIME_WAIT left for the next run.
            stream.set_zero_linger()?;
            stream
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Opens a client: TCP, WebSocket upgrade, and for Socket.IO the open packet and the
/// namespace connection.
pub async fn connect(port: u16, handshake: Handshake, upgrade: &[u8]) -> io::Result<Conn> {
    connect_from(port, None, handshake, upgrade).await
}

/// [`connect`] from source address `src`.
pub async fn connect_from(
    port: u16,
    src: Option<SocketAddrV4>,
    handshake: Handshake,
    upgrade: &[u8],
) -> io::Result<Conn> {
    let step = async {
        let mut stream = tcp(port, src).await?;
        stream.write_all(upgrade).await?;
        let mut buf = Vec::with_capacity(512);
        let end = loop {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(err("closed during the upgrade"));
            }
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 16 * 1024 {
                return Err(err("upgrade response too long"));
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            return Err(err(format!(
                "upgrade refused: {}",
                String::from_utf8_lossy(&buf[..end.min(80)])
            )));
        }
        let mut conn = Conn::new(stream, buf.split_off(end));
        if handshake == Handshake::SocketIo {
            let open = conn.read_message(true).await?;
            if open.first() != Some(&b'0') {
                return Err(err("no Engine.IO open packet"));
            }
            conn.stream.write_all(&text_frame(b"40")).await?;
            let ok = conn.read_message(true).await?;
            if !ok.starts_with(b"40") {
                return Err(err(format!(
                    "namespace connection refused: {}",
                    String::from_utf8_lossy(&ok)
                )));
            }
        }
        if handshake == Handshake::MsgPack {
            let open = conn.read_message(true).await?;
            if open.first() != Some(&b'0') {
                return Err(err("no Engine.IO open packet"));
            }
            // {type: 0, nsp: "/"}
            conn.stream
                .write_all(&binary_frame(b"\x82\xa4type\x00\xa3nsp\xa1/"))
                .await?;
            let ok = conn.read_message(true).await?;
            if find(&ok, b"\xa4type\x00").is_none() {
                return Err(err(format!(
                    "namespace connection refused: {}",
                    String::from_utf8_lossy(&ok)
                )));
            }
        }
        Ok(conn)
    };
    match tokio::time::timeout(STEP_TIMEOUT, step).await {
        Ok(r) => r,
        Err(_) => Err(err("connect timed out")),
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 for long-polling.

/// One keep-alive HTTP/1.1 connection.
pub struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    pub async fn open(port: u16) -> io::Result<Http> {
        Self::open_from(port, None).await
    }

    /// A connection from source address `src` (see [`tcp`]).
    pub async fn open_from(port: u16, src: Option<SocketAddrV4>) -> io::Result<Http> {
        Ok(Http {
            stream: tcp(port, src).await?,
            buf: Vec::new(),
        })
    }

    /// Resets the connection when it is dropped (no TIME_WAIT left behind).
    pub fn reset_on_drop(&self) {
        let _ = self.stream.set_zero_linger();
    }

    /// Sends a request (already formatted) and returns the response body.
    pub async fn request(&mut self, req: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(req).await?;
        self.response().await
    }

    async fn more(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            // Nothing held while the request waits (a long-polling GET waits long).
            if self.buf.capacity() > 4096 {
                self.buf = Vec::new();
            }
            self.stream.readable().await?;
        }
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(err("HTTP connection closed"));
        }
        Ok(())
    }

    async fn response(&mut self) -> io::Result<Vec<u8>> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.more().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(err(format!(
                "HTTP error: {}",
                head.lines().next().unwrap_or("")
            )));
        }
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        if let Some(len) = header("content-length:") {
            let len: usize = len.parse().map_err(|_| err("bad content-length"))?;
            while self.buf.len() < head_end + len {
                self.more().await?;
            }
            let body = self.buf[head_end..head_end + len].to_vec();
            self.buf.drain(..head_end + len);
            return Ok(body);
        }
        if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            let mut pos = head_end;
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                        break pos + i;
                    }
                    self.more().await?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[pos..line_end]).to_string();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| err("bad chunk size"))?;
                let data = line_end + 2;
                while self.buf.len() < data + size + 2 {
                    self.more().await?;
                }
                body.extend_from_slice(&self.buf[data..data + size]);
                pos = data + size + 2;
                if size == 0 {
                    break;
                }
            }
            self.buf.drain(..pos);
            return Ok(body);
        }
        Err(err("HTTP response without a length"))
    }
}

/// A polling GET of session `sid` (empty: the handshake).
pub fn poll_get(port: u16, sid: &str) -> Vec<u8> {
    let sid = if sid.is_empty() {
        String::new()
    } else {
        format!("&sid={sid}")
    };
    format!(
        "GET /socket.io/?EIO=4&transport=polling{sid} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .into_bytes()
}

/// A polling POST of `body` to session `sid`.
pub fn poll_post(port: u16, sid: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The `sid` of an Engine.IO open packet (`0{"sid":"..",..}`).
pub fn open_sid(open: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(open).ok()?;
    let json: serde_json::Value = serde_json::from_str(text.strip_prefix('0')?).ok()?;
    json.get("sid")?.as_str().map(str::to_owned)
}
