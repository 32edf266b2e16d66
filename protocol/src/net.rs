//! §2.1 frames over an async byte stream (feature `tokio`): the codec the relay and the clients
//! share. The sans-IO check of [`crate::framing`] runs before any body is buffered, so a bad
//! length prefix costs nothing.

use crate::framing::{FrameError, LENGTH_PREFIX, check_frame};
use bytes::{Bytes, BytesMut};
use core::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a frame could not be read or written.
#[non_exhaustive]
#[derive(Debug)]
pub enum NetError {
    /// The socket failed.
    Io(std::io::Error),
    /// A length prefix broke §2.1.
    Frame(FrameError),
    /// The stream ended in the middle of a frame (§2.1).
    Truncated,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "connection error: {e}"),
            Self::Frame(e) => e.fmt(f),
            Self::Truncated => {
                f.write_str("the connection closed in the middle of a message (§2.1)")
            }
        }
    }
}

impl std::error::Error for NetError {}

impl From<std::io::Error> for NetError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Reads whole frames from a byte stream (§2.1).
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames of at most `max` body bytes from `inner`.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            max,
        }
    }

    /// The next frame's body; `Ok(None)` when the stream ends cleanly between frames. Returns at
    /// once when a whole frame is already buffered.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, NetError> {
        loop {
            if let Some(body) = self.try_frame()? {
                return Ok(Some(body));
            }
            if self.buf.is_empty() {
                // Idle: hold no buffer while waiting (memory per idle connection).
                self.buf = BytesMut::new();
            }
            self.buf.reserve(4096);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(NetError::Truncated)
                };
            }
        }
    }

    /// A frame already buffered, without reading.
    pub fn try_frame(&mut self) -> Result<Option<Bytes>, NetError> {
        match check_frame(&self.buf, self.max).map_err(NetError::Frame)? {
            Some(len) => {
                let _ = self.buf.split_to(LENGTH_PREFIX);
                Ok(Some(self.buf.split_to(len).freeze()))
            }
            None => Ok(None),
        }
    }

    /// The underlying stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Appends `body` as one frame (§2.1) to `out`.
pub fn put_frame(out: &mut BytesMut, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
}

/// Writes one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), NetError> {
    let mut out = BytesMut::with_capacity(body.len() + LENGTH_PREFIX);
    put_frame(&mut out, body);
    w.write_all(&out).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::MAX_FRAME;

    #[tokio::test]
    async fn net_2_1_reads_frames_split_across_reads() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut r = FrameReader::new(b, MAX_FRAME);
        tokio::spawn(async move {
            let mut out = BytesMut::new();
            put_frame(&mut out, b"hello");
            put_frame(&mut out, &[7; 100]);
            for chunk in out.chunks(3) {
                a.write_all(chunk).await.unwrap();
            }
        });
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &b"hello"[..]);
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &[7u8; 100][..]);
        assert!(r.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn net_2_1_oversize_prefix_fails_before_the_body_arrives() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut r = FrameReader::new(b, MAX_FRAME);
        a.write_all(&[0, 1, 0, 1]).await.unwrap();
        assert!(matches!(r.next_frame().await, Err(NetError::Frame(_))));
    }

    #[tokio::test]
    async fn net_2_1_stream_ending_mid_frame_is_truncated() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut r = FrameReader::new(b, MAX_FRAME);
        a.write_all(&[0, 0, 0, 5, 1, 2]).await.unwrap();
        drop(a);
        assert!(matches!(r.next_frame().await, Err(NetError::Truncated)));
    }
}
