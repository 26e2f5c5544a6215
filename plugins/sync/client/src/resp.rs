//! Just enough RESP for the subscription connection: commands out, RESP2 (and RESP3 push)
//! values in.

use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// A value read from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` (`None`: `$-1`).
    Bulk(Option<Bytes>),
    /// `*n` or `>n` (`None`: `*-1`).
    Array(Option<Vec<Value>>),
}

/// The bytes of a command.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

async fn line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if !buf.ends_with(b"\r\n") {
        return Err(bad("line without CRLF"));
    }
    buf.truncate(buf.len() - 2);
    String::from_utf8(buf).map_err(|_| bad("non-UTF-8 line"))
}

/// Reads one value.
pub fn read_value<'a, R: AsyncBufRead + Unpin + Send>(
    r: &'a mut R,
) -> Pin<Box<dyn Future<Output = io::Result<Value>> + Send + 'a>> {
    Box::pin(async move {
        let mut kind = [0u8; 1];
        r.read_exact(&mut kind).await?;
        let head = line(r).await?;
        let number = || head.parse::<i64>().map_err(|_| bad("bad length"));
        match kind[0] {
            b'+' => Ok(Value::Simple(head)),
            b'-' => Ok(Value::Error(head)),
            b':' => Ok(Value::Int(number()?)),
            b'_' => Ok(Value::Bulk(None)),
            b'$' => {
                let n = number()?;
                if n < 0 {
                    return Ok(Value::Bulk(None));
                }
                let mut data = vec![0u8; n as usize + 2];
                r.read_exact(&mut data).await?;
                data.truncate(n as usize);
                Ok(Value::Bulk(Some(Bytes::from(data))))
            }
            b'*' | b'>' => {
                let n = number()?;
                if n < 0 {
                    return Ok(Value::Array(None));
                }
                let mut items = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    items.push(read_value(r).await?);
                }
                Ok(Value::Array(Some(items)))
            }
            _ => Err(bad("unknown RESP type")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_nested_values() {
        let data = b"*5\r\n$4\r\nsync\r\n$1\r\nk\r\n$-1\r\n+v\r\n:7\r\n>1\r\n-ERR x\r\n";
        let mut r = tokio::io::BufReader::new(&data[..]);
        let v = read_value(&mut r).await.unwrap();
        assert_eq!(
            v,
            Value::Array(Some(vec![
                Value::Bulk(Some(Bytes::from_static(b"sync"))),
                Value::Bulk(Some(Bytes::from_static(b"k"))),
                Value::Bulk(None),
                Value::Simple("v".into()),
                Value::Int(7),
            ]))
        );
        let v = read_value(&mut r).await.unwrap();
        assert_eq!(v, Value::Array(Some(vec![Value::Error("ERR x".into())])));
        assert!(read_value(&mut r).await.is_err());
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            command(&[b"SYNC.GET", b"k"]),
            b"*2\r\n$8\r\nSYNC.GET\r\n$1\r\nk\r\n".to_vec()
        );
    }
}
