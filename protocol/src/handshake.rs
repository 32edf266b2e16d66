//! §4 Peer handshake: the peer messages carried in RELAY / DELIVER payloads (§4.1).
//!
//! ```text
//! HELO     | 0x10 | version: u16 | commitment: 32 |
//! REDY     | 0x11 | responder public key: 32     |
//! REJ      | 0x12 | reason: u8                   |
//! PUB_KEY  | 0x13 | initiator public key: 32     |
//! RECORD   | 0x20 | seq: u64 | ciphertext | tag: 32 |   (§6.3)
//! ```

use crate::codec::{DecodeError, Reader};
use crate::errors::RejectReason;
use crate::records::{RECORD_TYPE, Record};

mod ty {
    pub(super) const HELO: u8 = 0x10;
    pub(super) const REDY: u8 = 0x11;
    pub(super) const REJ: u8 = 0x12;
    pub(super) const PUB_KEY: u8 = 0x13;
}

/// A peer message (§4.1), in spec order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    /// §4.2 HELO: the initiator's version and commitment.
    Helo {
        /// The peer protocol version, [`crate::versioning::PEER_VERSION`].
        version: u16,
        /// `SHA-256(initiator public key)`.
        commitment: [u8; 32],
    },
    /// §4.3 REDY: the responder's public key.
    Redy {
        /// X25519 public key.
        public_key: [u8; 32],
    },
    /// §4.3 REJ: the responder declined.
    Rej {
        /// Why (§9.2).
        reason: RejectReason,
    },
    /// §4.4 PUB_KEY: the initiator's public key, opening the commitment.
    PubKey {
        /// X25519 public key.
        public_key: [u8; 32],
    },
    /// §6.3 RECORD.
    Record(Record),
}

impl PeerMessage {
    /// Decodes one RELAY / DELIVER payload (§2.2).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let msg = match r.u8("type").map_err(|_| DecodeError::Empty)? {
            ty::HELO => Self::Helo {
                version: r.u16("version")?,
                commitment: r.array("commitment")?,
            },
            ty::REDY => Self::Redy {
                public_key: r.array("public key")?,
            },
            ty::REJ => Self::Rej {
                reason: RejectReason::from_u8(r.u8("reason")?)?,
            },
            ty::PUB_KEY => Self::PubKey {
                public_key: r.array("public key")?,
            },
            RECORD_TYPE => Self::Record(Record::read(&mut r)?),
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    /// Appends the payload encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Helo {
                version,
                commitment,
            } => {
                out.push(ty::HELO);
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(commitment);
            }
            Self::Redy { public_key } => {
                out.push(ty::REDY);
                out.extend_from_slice(public_key);
            }
            Self::Rej { reason } => {
                out.push(ty::REJ);
                out.push(reason.to_u8());
            }
            Self::PubKey { public_key } => {
                out.push(ty::PUB_KEY);
                out.extend_from_slice(public_key);
            }
            Self::Record(record) => record.write(out),
        }
    }

    /// The payload as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// The spec's name of the message, e.g. `PUB_KEY`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Helo { .. } => "HELO",
            Self::Redy { .. } => "REDY",
            Self::Rej { .. } => "REJ",
            Self::PubKey { .. } => "PUB_KEY",
            Self::Record(_) => "RECORD",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_4_2_helo_layout() {
        let m = PeerMessage::Helo {
            version: 2,
            commitment: [0xab; 32],
        };
        let b = m.to_bytes();
        assert_eq!(b.len(), 35);
        assert_eq!(b[..3], [0x10, 0, 2]);
        assert_eq!(PeerMessage::decode(&b), Ok(m));
        assert_eq!(
            PeerMessage::decode(&b[..34]),
            Err(DecodeError::Truncated("commitment"))
        );
    }

    #[test]
    fn handshake_4_3_rej_reason_must_be_known() {
        assert_eq!(
            PeerMessage::decode(&[0x12, 9]),
            Err(DecodeError::InvalidValue("reject reason"))
        );
    }

    #[test]
    fn records_6_3_ciphertext_length_must_be_64k_plus_16() {
        for ct_len in [0usize, 16, 64, 79, 81, 96, 144 + 1] {
            let mut b = vec![0x20];
            b.extend_from_slice(&[0; 8]);
            b.extend(std::iter::repeat_n(0, ct_len + 32));
            assert_eq!(
                PeerMessage::decode(&b),
                Err(DecodeError::InvalidValue("ciphertext length")),
                "{ct_len}"
            );
        }
    }
}
