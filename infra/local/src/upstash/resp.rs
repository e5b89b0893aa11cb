//! Just enough of a Redis client for the endpoint: RESP2 framing and a pool of connections.
//!
//! The endpoint forwards arbitrary commands and hands their replies to HTTP clients unchanged,
//! so it needs the raw reply tree (including server errors, which are answers to show the
//! caller, not failures of the endpoint) rather than the typed results a general-purpose Redis
//! crate would offer. RESP2 is small enough to speak directly.
//!
//! A connection is only trusted while every byte it carried was understood: after any I/O or
//! protocol error, or when the future using it is dropped half-way (an HTTP client went
//! away), it is simply not returned to the pool, so a later request can never read a reply
//! that belonged to someone else.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle connections kept for reuse; a burst above this opens extra connections that are closed
/// afterwards instead of lingering against Redis' client limit.
const MAX_IDLE: usize = 16;

/// One command: its name and arguments, each as raw bytes.
pub type Command = Vec<Vec<u8>>;

/// A RESP2 reply. `*-1` and `$-1` both become `Nil`: callers see them the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
    Nil,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("redis i/o: {0}")]
    Io(#[from] io::Error),
    #[error("redis protocol: {0}")]
    Protocol(String),
}

/// Appends `command` to `out` as an array of bulk strings, the only form Redis accepts for
/// binary-safe arguments.
pub fn encode(command: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
    for arg in command {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the front of `buf`. `Ok(None)` means the reply is not complete yet;
/// otherwise the reply and the number of bytes it used.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, Error> {
    let mut cursor = Cursor { buf, pos: 0 };
    match cursor.value() {
        Ok(value) => Ok(Some((value, cursor.pos))),
        Err(Incomplete::Incomplete) => Ok(None),
        Err(Incomplete::Invalid(message)) => Err(Error::Protocol(message)),
    }
}

enum Incomplete {
    Incomplete,
    Invalid(String),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn value(&mut self) -> Result<Value, Incomplete> {
        let kind = self.byte()?;
        let line = self.line()?;
        match kind {
            b'+' => Ok(Value::Simple(text(line))),
            b'-' => Ok(Value::Error(text(line))),
            b':' => Ok(Value::Integer(integer(line)?)),
            b'$' => self.bulk(integer(line)?),
            b'*' => self.array(integer(line)?),
            other => Err(invalid(format!("unexpected reply type byte {other:#04x}"))),
        }
    }

    fn bulk(&mut self, len: i64) -> Result<Value, Incomplete> {
        if len == -1 {
            return Ok(Value::Nil);
        }
        let len = usize::try_from(len).map_err(|_| invalid(format!("bulk length {len}")))?;
        let end = self.pos.saturating_add(len);
        if self.buf.len() < end.saturating_add(2) {
            return Err(Incomplete::Incomplete);
        }
        if &self.buf[end..end + 2] != b"\r\n" {
            return Err(invalid("bulk string not terminated by CRLF".into()));
        }
        let data = self.buf[self.pos..end].to_vec();
        self.pos = end + 2;
        Ok(Value::Bulk(data))
    }

    fn array(&mut self, len: i64) -> Result<Value, Incomplete> {
        if len == -1 {
            return Ok(Value::Nil);
        }
        let len = usize::try_from(len).map_err(|_| invalid(format!("array length {len}")))?;
        // Each element takes at least three bytes, so a huge declared length cannot make us
        // reserve memory the buffer could not possibly back.
        let mut items = Vec::with_capacity(len.min(self.buf.len() / 3));
        for _ in 0..len {
            items.push(self.value()?);
        }
        Ok(Value::Array(items))
    }

    fn byte(&mut self) -> Result<u8, Incomplete> {
        let byte = *self.buf.get(self.pos).ok_or(Incomplete::Incomplete)?;
        self.pos += 1;
        Ok(byte)
    }

    fn line(&mut self) -> Result<&'a [u8], Incomplete> {
        let rest = &self.buf[self.pos..];
        let end = rest
            .windows(2)
            .position(|pair| pair == b"\r\n")
            .ok_or(Incomplete::Incomplete)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }
}

fn invalid(message: String) -> Incomplete {
    Incomplete::Invalid(message)
}

/// Error lines can quote a caller's bytes (`unknown command '...'`), which need not be UTF-8;
/// a lossy message is still the right message.
fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

fn integer(line: &[u8]) -> Result<i64, Incomplete> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| {
            invalid(format!(
                "not an integer: {:?}",
                String::from_utf8_lossy(line)
            ))
        })
}

/// One TCP connection to Redis with its read buffer.
pub struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
}

impl Connection {
    pub async fn connect(addr: SocketAddr) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: BytesMut::with_capacity(4096),
        })
    }

    /// Writes all commands in one go and reads one reply per command: pipelining costs a
    /// single round trip however many commands there are.
    pub async fn execute(&mut self, commands: &[Command]) -> Result<Vec<Value>, Error> {
        let mut request = Vec::new();
        for command in commands {
            encode(command, &mut request);
        }
        self.stream.write_all(&request).await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(self.read_value().await?);
        }
        Ok(replies)
    }

    async fn read_value(&mut self) -> Result<Value, Error> {
        loop {
            if let Some((value, used)) = parse(&self.buffer)? {
                self.buffer.advance(used);
                return Ok(value);
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Whether Redis has closed this idle connection (its `timeout` setting, a restart) or
    /// sent something unasked. Checking before use, rather than retrying after a failure,
    /// means a command is never sent twice.
    fn is_stale(&self) -> bool {
        let mut probe = [0u8; 1];
        !self.buffer.is_empty()
            || !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// Idle connections to one Redis server.
pub struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `commands` pipelined on one connection. The connection goes back to the pool only
    /// if every reply was read.
    pub async fn execute(&self, commands: &[Command]) -> Result<Vec<Value>, Error> {
        let mut connection = self.checkout().await?;
        let replies = connection.execute(commands).await?;
        self.checkin(connection);
        Ok(replies)
    }

    async fn checkout(&self) -> Result<Connection, Error> {
        while let Some(connection) = self.pop_idle() {
            if !connection.is_stale() {
                return Ok(connection);
            }
        }
        Connection::connect(self.addr).await
    }

    fn pop_idle(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn checkin(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &[u8]) -> Value {
        let (value, used) = parse(input).expect("valid").expect("complete");
        assert_eq!(used, input.len(), "whole input consumed");
        value
    }

    #[test]
    fn encodes_commands_as_bulk_string_arrays() {
        let mut out = Vec::new();
        encode(
            &[b"SET".to_vec(), b"k".to_vec(), b"a\r\nb".to_vec()],
            &mut out,
        );
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn parses_scalar_replies() {
        assert_eq!(parsed(b"+OK\r\n"), Value::Simple("OK".into()));
        assert_eq!(
            parsed(b"-WRONGTYPE Operation against a key\r\n"),
            Value::Error("WRONGTYPE Operation against a key".into())
        );
        assert_eq!(parsed(b":-42\r\n"), Value::Integer(-42));
        assert_eq!(parsed(b"$5\r\nhello\r\n"), Value::Bulk(b"hello".to_vec()));
        assert_eq!(parsed(b"$0\r\n\r\n"), Value::Bulk(Vec::new()));
    }

    #[test]
    fn bulk_strings_are_binary_safe() {
        assert_eq!(
            parsed(b"$4\r\n\xff\r\n\x00\r\n"),
            Value::Bulk(b"\xff\r\n\x00".to_vec())
        );
    }

    #[test]
    fn parses_nulls() {
        assert_eq!(parsed(b"$-1\r\n"), Value::Nil);
        assert_eq!(parsed(b"*-1\r\n"), Value::Nil);
    }

    #[test]
    fn parses_nested_arrays_with_errors_inside() {
        assert_eq!(
            parsed(b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR boom\r\n"),
            Value::Array(vec![
                Value::Integer(1),
                Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Nil]),
                Value::Error("ERR boom".into()),
            ])
        );
        assert_eq!(parsed(b"*0\r\n"), Value::Array(Vec::new()));
    }

    #[test]
    fn reports_incomplete_input_at_every_split() {
        let full = b"*2\r\n$5\r\nhello\r\n:7\r\n";
        for split in 0..full.len() {
            assert!(
                parse(&full[..split]).expect("valid prefix").is_none(),
                "prefix of {split} bytes"
            );
        }
    }

    #[test]
    fn leaves_following_replies_in_the_buffer() {
        let (value, used) = parse(b"+OK\r\n:1\r\n").expect("valid").expect("complete");
        assert_eq!(value, Value::Simple("OK".into()));
        assert_eq!(used, 5);
    }

    #[test]
    fn rejects_malformed_input() {
        for input in [
            &b"?what\r\n"[..],
            b":12x\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-5\r\n",
        ] {
            assert!(
                matches!(parse(input), Err(Error::Protocol(_))),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn huge_declared_array_lengths_do_not_allocate_up_front() {
        assert!(parse(b"*9223372036854775807\r\n").expect("valid").is_none());
    }

    /// A fake Redis that answers one `+PONG` per connection and then hangs up, like a Redis
    /// whose `timeout` closed an idle client.
    async fn one_reply_per_connection() -> (SocketAddr, tokio::sync::mpsc::Receiver<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (hung_up, hang_ups) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 64];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(b"+PONG\r\n").await;
                drop(stream);
                let _ = hung_up.send(()).await;
            }
        });
        (addr, hang_ups)
    }

    #[tokio::test]
    async fn connections_closed_while_idle_are_replaced_without_resending() {
        let (addr, mut hang_ups) = one_reply_per_connection().await;
        let pool = Pool::new(addr);
        let ping = vec![b"PING".to_vec()];
        for _ in 0..3 {
            let replies = pool
                .execute(std::slice::from_ref(&ping))
                .await
                .expect("reply");
            assert_eq!(replies, vec![Value::Simple("PONG".into())]);
            hang_ups.recv().await.expect("server hung up");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
