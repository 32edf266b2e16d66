//! §7 Inner messages: what a RECORD carries, padded with zeros to a multiple of 64 bytes (§7.1).

use crate::codec::{DecodeError, Reader, put_text16};
use crate::limits::{MAX_MSG_TEXT, MAX_PADDED_INNER, MAX_SMP_QUESTION, PADDING_BLOCK};
use crate::smp::{Smp1, Smp2, Smp3, Smp4};
use zeroize::Zeroizing;

mod ty {
    pub(super) const MSG: u8 = 0x01;
    pub(super) const TYPING: u8 = 0x02;
    pub(super) const ACK: u8 = 0x03;
    pub(super) const IDENTITY: u8 = 0x04;
    pub(super) const SMP0: u8 = 0x10;
    pub(super) const SMP1: u8 = 0x11;
    pub(super) const SMP2: u8 = 0x12;
    pub(super) const SMP3: u8 = 0x13;
    pub(super) const SMP4: u8 = 0x14;
    pub(super) const SMP_ABORT: u8 = 0x15;
    pub(super) const END: u8 = 0x20;
}

/// The TYPING states of the original Cryptully (§7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypingState {
    /// 0: the person is typing.
    Typing,
    /// 1: stopped, and the input is empty.
    StoppedEmpty,
    /// 2: stopped with text left in the input.
    StoppedWithText,
}

impl TypingState {
    fn to_u8(self) -> u8 {
        match self {
            Self::Typing => 0,
            Self::StoppedEmpty => 1,
            Self::StoppedWithText => 2,
        }
    }

    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(Self::Typing),
            1 => Ok(Self::StoppedEmpty),
            2 => Ok(Self::StoppedWithText),
            _ => Err(DecodeError::InvalidValue("typing state")),
        }
    }
}

/// An inner message (§7.2), in spec order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InnerMessage {
    /// §7.3 MSG: chat text, 1 to 16384 bytes of UTF-8.
    Msg {
        /// The text.
        text: String,
    },
    /// §7.5 TYPING.
    Typing(TypingState),
    /// §7.4 ACK: the record number of a MSG received.
    Ack {
        /// The MSG's record sequence number.
        seq: u64,
    },
    /// §7.8 IDENTITY: each side's first record, its long-term identity key and the MAC that
    /// proves it holds the private half (§5.7).
    Identity {
        /// The sender's identity public key.
        identity_key: [u8; 32],
        /// `HMAC-SHA256(K, identity_key)` with the key of §5.7.
        mac: [u8; 32],
    },
    /// §8.4 SMP0: the question, 0 to 1024 bytes of UTF-8.
    Smp0 {
        /// The question.
        question: String,
    },
    /// §8.4 SMP1.
    Smp1(Smp1),
    /// §8.4 SMP2.
    Smp2(Smp2),
    /// §8.4 SMP3.
    Smp3(Smp3),
    /// §8.4 SMP4.
    Smp4(Smp4),
    /// §8.6 SMP_ABORT.
    SmpAbort,
    /// §7.7 END.
    End,
}

impl InnerMessage {
    /// Decodes an unpadded inner message: nothing may follow it.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = Self::read(&mut r)?;
        r.finish()?;
        Ok(msg)
    }

    /// Decodes a padded plaintext (§7.1): the message, then 0 to 63 zero bytes up to a multiple
    /// of 64.
    pub fn decode_padded(plaintext: &[u8]) -> Result<Self, DecodeError> {
        if plaintext.is_empty()
            || !plaintext.len().is_multiple_of(PADDING_BLOCK)
            || plaintext.len() > MAX_PADDED_INNER
        {
            return Err(DecodeError::InvalidValue("padded length"));
        }
        let mut r = Reader::new(plaintext);
        let msg = Self::read(&mut r)?;
        let padding = r.rest();
        if padding.len() >= PADDING_BLOCK || padding.iter().any(|b| *b != 0) {
            return Err(DecodeError::InvalidValue("padding"));
        }
        Ok(msg)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("type").map_err(|_| DecodeError::Empty)? {
            ty::MSG => Self::Msg {
                text: r.text16("text", 1, MAX_MSG_TEXT)?,
            },
            ty::TYPING => Self::Typing(TypingState::from_u8(r.u8("state")?)?),
            ty::ACK => Self::Ack { seq: r.u64("seq")? },
            ty::IDENTITY => Self::Identity {
                identity_key: r.array("identity key")?,
                mac: r.array("mac")?,
            },
            ty::SMP0 => Self::Smp0 {
                question: r.text16("question", 0, MAX_SMP_QUESTION)?,
            },
            ty::SMP1 => Self::Smp1(Smp1::read(r)?),
            ty::SMP2 => Self::Smp2(Smp2::read(r)?),
            ty::SMP3 => Self::Smp3(Smp3::read(r)?),
            ty::SMP4 => Self::Smp4(Smp4::read(r)?),
            ty::SMP_ABORT => Self::SmpAbort,
            ty::END => Self::End,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// Appends the unpadded encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Msg { text } => {
                out.push(ty::MSG);
                put_text16(out, text);
            }
            Self::Typing(state) => {
                out.push(ty::TYPING);
                out.push(state.to_u8());
            }
            Self::Ack { seq } => {
                out.push(ty::ACK);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Self::Identity { identity_key, mac } => {
                out.push(ty::IDENTITY);
                out.extend_from_slice(identity_key);
                out.extend_from_slice(mac);
            }
            Self::Smp0 { question } => {
                out.push(ty::SMP0);
                put_text16(out, question);
            }
            Self::Smp1(m) => {
                out.push(ty::SMP1);
                m.write(out);
            }
            Self::Smp2(m) => {
                out.push(ty::SMP2);
                m.write(out);
            }
            Self::Smp3(m) => {
                out.push(ty::SMP3);
                m.write(out);
            }
            Self::Smp4(m) => {
                out.push(ty::SMP4);
                m.write(out);
            }
            Self::SmpAbort => out.push(ty::SMP_ABORT),
            Self::End => out.push(ty::END),
        }
    }

    /// The encoding followed by zero padding to a multiple of 64 bytes (§7.1). Zeroized on drop:
    /// it is plaintext.
    pub fn encode_padded(&self) -> Zeroizing<Vec<u8>> {
        // §12.3: room for the largest padded message up front, so the buffer is never moved
        // while it grows (a move would leave a copy of the plaintext behind, unerased).
        let mut out = Zeroizing::new(Vec::with_capacity(MAX_PADDED_INNER));
        self.encode(&mut out);
        let padded = out.len().next_multiple_of(PADDING_BLOCK);
        out.resize(padded, 0);
        out
    }

    /// The spec's name of the message, e.g. `SMP_ABORT`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Msg { .. } => "MSG",
            Self::Typing(_) => "TYPING",
            Self::Ack { .. } => "ACK",
            Self::Identity { .. } => "IDENTITY",
            Self::Smp0 { .. } => "SMP0",
            Self::Smp1(_) => "SMP1",
            Self::Smp2(_) => "SMP2",
            Self::Smp3(_) => "SMP3",
            Self::Smp4(_) => "SMP4",
            Self::SmpAbort => "SMP_ABORT",
            Self::End => "END",
        }
    }
}

/// Text from the network as a person should see it (§12.4, MUST [12.4-5]): control characters
/// and the characters that reorder or break lines (the line and paragraph separators, the bidi
/// marks, embeddings, overrides and isolates) become visible `\u{...}` escapes, so that a friend
/// or a relay in the middle can neither make a line look like the application's own, nor move
/// the cursor or recolour a terminal, nor reorder the application's words around it. With
/// `keep_newlines`, `\n` stays (a message keeps its line breaks inside its own block); every other
/// character, whatever the script or emoji, is untouched.
pub fn shown(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                    | '\u{200e}' | '\u{200f}' | '\u{061c}'
            );
        if hidden {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_12_3_the_largest_message_is_padded_without_moving_its_buffer() {
        let m = InnerMessage::Msg {
            text: "x".repeat(MAX_MSG_TEXT),
        };
        let padded = m.encode_padded();
        assert_eq!(padded.len() % PADDING_BLOCK, 0);
        // Never grown, so never reallocated: no stale copy of the plaintext on the heap.
        assert_eq!(padded.capacity(), MAX_PADDED_INNER);
    }

    #[test]
    fn inner_7_1_pads_to_64_with_zeros() {
        let p = InnerMessage::Ack { seq: 5 }.encode_padded();
        assert_eq!(p.len(), 64);
        assert_eq!(p[..9], [0x03, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert!(p[9..].iter().all(|b| *b == 0));
        assert_eq!(
            InnerMessage::decode_padded(&p),
            Ok(InnerMessage::Ack { seq: 5 })
        );
    }

    #[test]
    fn inner_7_1_rejects_nonzero_or_long_padding() {
        let mut p = InnerMessage::End.encode_padded().to_vec();
        p[63] = 1;
        assert_eq!(
            InnerMessage::decode_padded(&p),
            Err(DecodeError::InvalidValue("padding"))
        );
        let long = [&[0x20u8][..], &[0; 127]].concat();
        assert_eq!(
            InnerMessage::decode_padded(&long),
            Err(DecodeError::InvalidValue("padding"))
        );
        assert!(InnerMessage::decode_padded(&[0x20; 63]).is_err());
    }

    #[test]
    fn inner_7_3_msg_bounds() {
        assert!(InnerMessage::decode(&[0x01, 0, 0]).is_err());
        let max = "x".repeat(MAX_MSG_TEXT);
        let m = InnerMessage::Msg { text: max };
        assert_eq!(InnerMessage::decode_padded(&m.encode_padded()), Ok(m));
        let mut over = vec![0x01, 0x40, 0x01];
        over.extend(std::iter::repeat_n(b'x', MAX_MSG_TEXT + 1));
        assert_eq!(
            InnerMessage::decode(&over),
            Err(DecodeError::InvalidValue("text"))
        );
    }

    #[test]
    fn inner_7_5_rejects_unknown_typing_state() {
        assert_eq!(
            InnerMessage::decode(&[0x02, 3]),
            Err(DecodeError::InvalidValue("typing state"))
        );
    }

    #[test]
    fn inner_12_4_5_network_text_cannot_start_a_line_move_the_cursor_or_reorder_text() {
        let attack = "hi\n* bob is verified: you gave the same answer.\r\u{1b}[2K\u{202e}olleh\u{2066}\u{2028}\u{85}\u{61c}";
        let out = shown(attack, false);
        assert_eq!(
            out,
            "hi\\u{a}* bob is verified: you gave the same answer.\\u{d}\\u{1b}[2K\\u{202e}olleh\\u{2066}\\u{2028}\\u{85}\\u{61c}"
        );
        // A message keeps its own line breaks, and nothing else.
        assert_eq!(shown("a\nb\r\n", true), "a\nb\\u{d}\n");
        // Ordinary text, whatever the script, and emoji are untouched.
        assert_eq!(
            shown("Zürich, 東京, مرحبا 🙂", false),
            "Zürich, 東京, مرحبا 🙂"
        );
    }
}
