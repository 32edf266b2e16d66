//! §2.2–§2.3 Decoding rules and field types: a borrowed cursor for reading and helpers for
//! writing, shared by every message of every layer.

use crate::nick::Nick;
use core::fmt;

/// Why a body could not be decoded (§2.2). Every decoder returns this, never panics.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The body was empty: there is no type byte.
    Empty,
    /// The type byte is not one of the messages of this layer.
    UnknownType(u8),
    /// The body ended before the named field did.
    Truncated(&'static str),
    /// Bytes were left after the last field.
    TrailingBytes,
    /// A nickname field broke §3.2.
    InvalidNick,
    /// A text field was not valid UTF-8.
    InvalidUtf8(&'static str),
    /// A field held a value outside its range or a non-canonical encoding.
    InvalidValue(&'static str),
}

impl DecodeError {
    /// The error's kind as the vectors name it (`spec/vectors/README.md`), normative under the
    /// reading order of §2.2.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnknownType(_) => "unknown_type",
            Self::Truncated(_) => "truncated",
            Self::TrailingBytes => "trailing_bytes",
            Self::InvalidNick => "invalid_nick",
            Self::InvalidUtf8(_) => "invalid_utf8",
            Self::InvalidValue(_) => "invalid_value",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty message: no type byte (§2.1)"),
            Self::UnknownType(t) => write!(f, "unknown message type 0x{t:02x} (§2.2)"),
            Self::Truncated(field) => write!(f, "message ends inside field `{field}` (§2.2)"),
            Self::TrailingBytes => write!(f, "unexpected bytes after the last field (§2.2)"),
            Self::InvalidNick => write!(
                f,
                "invalid nickname: use 1 to 32 characters of A-Z, a-z, 0-9, _ and - (§3.2)"
            ),
            Self::InvalidUtf8(field) => write!(f, "field `{field}` is not valid UTF-8 (§2.3)"),
            Self::InvalidValue(field) => {
                write!(f, "field `{field}` has a value outside its range (§2.2)")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over a message body. Every read checks its bounds.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Takes `n` bytes or fails naming `field`.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// `nick` (§2.3).
    pub(crate) fn nick(&mut self, field: &'static str) -> Result<Nick, DecodeError> {
        let len = usize::from(self.u8(field)?);
        Nick::from_bytes(self.take(len, field)?)
    }

    /// `nick?` (§2.3): length 0 is absent.
    pub(crate) fn optional_nick(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Nick>, DecodeError> {
        let len = usize::from(self.u8(field)?);
        if len == 0 {
            return Ok(None);
        }
        Nick::from_bytes(self.take(len, field)?).map(Some)
    }

    /// `text16` (§2.3) with inclusive bounds on the byte length.
    pub(crate) fn text16(
        &mut self,
        field: &'static str,
        min: usize,
        max: usize,
    ) -> Result<String, DecodeError> {
        let len = usize::from(self.u16(field)?);
        if len < min || len > max {
            return Err(DecodeError::InvalidValue(field));
        }
        let bytes = self.take(len, field)?;
        core::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8(field))
    }

    /// `rest` (§2.3): every remaining byte, at least one.
    pub(crate) fn rest_nonempty(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.is_empty() {
            return Err(DecodeError::Truncated(field));
        }
        Ok(core::mem::take(&mut self.buf))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The rest of the buffer, consumed.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Decoding a whole message ends here: nothing may be left (§2.2).
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Writes `nick` (§2.3).
pub(crate) fn put_nick(out: &mut Vec<u8>, nick: &Nick) {
    let bytes = nick.as_str().as_bytes();
    // A Nick holds at most 32 bytes (§3.2), so the length fits a byte.
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Writes `text16` (§2.3). Callers hold texts their constructors bounded below 64 KiB.
pub(crate) fn put_text16(out: &mut Vec<u8>, text: &str) {
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes().get(..usize::from(len)).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncated_field_by_name() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u32("seq"), Err(DecodeError::Truncated("seq")));
    }

    #[test]
    fn text16_rejects_invalid_utf8() {
        let mut r = Reader::new(&[0, 2, 0xff, 0xfe]);
        assert_eq!(
            r.text16("text", 0, 10),
            Err(DecodeError::InvalidUtf8("text"))
        );
    }
}
