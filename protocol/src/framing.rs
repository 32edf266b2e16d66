//! §2.1 Frames: a u32 big-endian length, then a body of 1 to 65536 bytes.
//!
//! Decoding is two steps, as in mini-redis: [`check_frame`] tells whether a whole frame is
//! buffered (and rejects a bad length before anything is allocated), then the body is handed to
//! the message decoder of its layer.
//!
//! ```text
//! +----------------+---------------------------+
//! | length: u32 BE | body: length bytes        |
//! +----------------+---------------------------+
//! ```

pub use crate::limits::MAX_FRAME;
use core::fmt;

/// The size of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// A frame whose length prefix is not allowed (§2.1).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is 0 or larger than the limit; nothing was allocated for it.
    Length {
        /// The length the prefix announced.
        length: u32,
        /// The largest length accepted.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { length: 0, .. } => write!(f, "empty frame: a length of 0 (§2.1)"),
            Self::Length { length, max } => {
                write!(
                    f,
                    "frame of {length} bytes exceeds the limit of {max} (§2.1)"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Checks the start of `buf` for a whole frame of at most `max` body bytes (§2.1).
///
/// Returns `Ok(Some(body_len))` when the prefix and the whole body are in `buf`, `Ok(None)` when
/// more bytes are needed, and an error as soon as the prefix shows a bad length.
pub fn check_frame(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.first_chunk::<LENGTH_PREFIX>() else {
        return Ok(None);
    };
    let length = u32::from_be_bytes(*prefix);
    let body_len = usize::try_from(length).unwrap_or(usize::MAX);
    if length == 0 || body_len > max.min(MAX_FRAME) {
        return Err(FrameError::Length {
            length,
            max: max.min(MAX_FRAME),
        });
    }
    if buf.len() - LENGTH_PREFIX < body_len {
        return Ok(None);
    }
    Ok(Some(body_len))
}

/// One frame's body and the bytes after it.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// Splits one whole frame off the front of `buf`: `(body, rest)`, or `None` when incomplete.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<Split<'_>>, FrameError> {
    Ok(check_frame(buf, max)?.and_then(|len| {
        let after_prefix = buf.get(LENGTH_PREFIX..)?;
        Some(after_prefix.split_at(len))
    }))
}

/// Appends `body` as one frame to `out`. Bodies are produced by this crate's encoders, which
/// never exceed [`MAX_FRAME`].
pub fn encode_frame(body: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_2_1_waits_for_a_whole_frame() {
        assert_eq!(check_frame(&[0, 0], MAX_FRAME), Ok(None));
        assert_eq!(check_frame(&[0, 0, 0, 3, 1, 2], MAX_FRAME), Ok(None));
        assert_eq!(
            check_frame(&[0, 0, 0, 3, 1, 2, 3, 9], MAX_FRAME),
            Ok(Some(3))
        );
        assert_eq!(
            split_frame(&[0, 0, 0, 1, 7, 9], MAX_FRAME),
            Ok(Some((&[7u8][..], &[9u8][..])))
        );
    }

    #[test]
    fn framing_2_1_rejects_zero_and_oversize_lengths_from_the_prefix_alone() {
        assert_eq!(
            check_frame(&[0, 0, 0, 0], MAX_FRAME),
            Err(FrameError::Length {
                length: 0,
                max: MAX_FRAME
            })
        );
        assert_eq!(
            check_frame(&[0, 1, 0, 1], MAX_FRAME),
            Err(FrameError::Length {
                length: 65537,
                max: MAX_FRAME
            })
        );
        assert_eq!(
            check_frame(&[0xff, 0xff, 0xff, 0xff], MAX_FRAME),
            Err(FrameError::Length {
                length: u32::MAX,
                max: MAX_FRAME
            })
        );
        assert_eq!(check_frame(&[0, 1, 0, 0], MAX_FRAME), Ok(None));
        assert!(check_frame(&[0, 0, 0, 17], 16).is_err());
    }

    #[test]
    fn framing_2_1_encode_then_split_round_trips() {
        let mut out = Vec::new();
        encode_frame(b"abc", &mut out);
        assert_eq!(out, [0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            split_frame(&out, MAX_FRAME),
            Ok(Some((&b"abc"[..], &[][..])))
        );
    }
}
