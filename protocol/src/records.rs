//! §6 Record protection: the per-direction KDF chain, sealing and opening of RECORD.
//!
//! ```text
//! RECORD  +------+----------+----------------------+-----------+
//!         | 0x20 | seq: u64 | ciphertext (64k+16)  | tag (32)  |
//!         +------+----------+----------------------+-----------+
//! tag = HMAC-SHA256(mac_key, 0x20 || seq || ciphertext)
//! ```

use crate::codec::{DecodeError, Reader};
use crate::limits::{MAX_PADDED_INNER, MAX_SKIP};
use crate::primitives::{self, erased, hmac_sha256};
use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The RECORD type byte (§4.1), also the first byte under the tag (§6.3).
pub(crate) const RECORD_TYPE: u8 = 0x20;
const RECORD_KEYS_LABEL: &[u8] = b"cryptully/3 record keys";
const TAG_LEN: usize = 32;

/// Why a record could not be sealed or opened (§6.4).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// §6.4 step 1: a sequence number below the expected one.
    Replayed {
        /// The record's number.
        seq: u64,
        /// The next number expected.
        expected: u64,
    },
    /// §6.4 step 2: more than MAX_SKIP records ahead; it cannot be checked.
    TooFarAhead {
        /// The record's number.
        seq: u64,
        /// The next number expected.
        expected: u64,
    },
    /// §6.4 step 4: the tag does not match; someone changed the record.
    BadTag {
        /// The record's number.
        seq: u64,
    },
    /// §6.4 step 6: the tag matched but the padding did not.
    BadPadding,
    /// §6.2: the sending direction used up its sequence numbers.
    SequenceExhausted,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Replayed { seq, expected } => write!(
                f,
                "record {seq} arrived again or out of order (expected {expected}): dropped (§6.4)"
            ),
            Self::TooFarAhead { seq, expected } => write!(
                f,
                "record {seq} is too far ahead of {expected} to be checked: dropped (§6.4)"
            ),
            Self::BadTag { seq } => {
                write!(f, "record {seq} was changed in transit: dropped (§6.4)")
            }
            Self::BadPadding => write!(f, "the peer sent a record with invalid padding (§6.4)"),
            Self::SequenceExhausted => {
                write!(
                    f,
                    "this session sent the most records it can; start a new one (§6.2)"
                )
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// A RECORD peer message (§6.3).
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The sequence number.
    pub seq: u64,
    /// AES-256-CBC ciphertext, `64·k + 16` bytes.
    pub ciphertext: Vec<u8>,
    /// The HMAC-SHA256 tag.
    pub tag: [u8; 32],
}

impl Record {
    /// Decodes the fields after the type byte (§6.3).
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let seq = r.u64("seq")?;
        let ct_len = r
            .remaining()
            .checked_sub(TAG_LEN)
            .ok_or(DecodeError::Truncated("tag"))?;
        // §6.3: c = 64k + 16, 1 <= k <= 257.
        let valid = (80..=MAX_PADDED_INNER + 16).contains(&ct_len) && (ct_len - 16) % 64 == 0;
        if !valid {
            return Err(DecodeError::InvalidValue("ciphertext length"));
        }
        let ciphertext = r.take(ct_len, "ciphertext")?.to_vec();
        let tag = r.array("tag")?;
        Ok(Self {
            seq,
            ciphertext,
            tag,
        })
    }

    /// Appends the whole RECORD, type byte included.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(RECORD_TYPE);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
        out.extend_from_slice(&self.tag);
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("seq", &self.seq)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// A chain key `CK_i` (§6.2). Erased on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChainKey([u8; 32]);

impl ChainKey {
    /// Wraps the first chain key of a direction (§5.4).
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// `(MK_i, CK_{i+1})` (§6.2).
    fn step(&self) -> (Zeroizing<[u8; 32]>, ChainKey) {
        let mk = hmac_sha256(&self.0, &[&[0x01]]);
        let next = hmac_sha256(&self.0, &[&[0x02]]);
        (mk, ChainKey(*next))
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// The one-use keys of one record (§6.2).
#[derive(Zeroize, ZeroizeOnDrop)]
struct RecordKeys {
    enc: [u8; 32],
    mac: [u8; 32],
    iv: [u8; 16],
}

impl RecordKeys {
    fn from_message_key(mk: &[u8; 32]) -> Self {
        let mut okm = Zeroizing::new([0u8; 80]);
        // 80 bytes from a 32-byte PRK is always within HKDF's bounds.
        let _ = primitives::hkdf_expand(mk, RECORD_KEYS_LABEL, &mut *okm);
        let mut keys = RecordKeys {
            enc: [0; 32],
            mac: [0; 32],
            iv: [0; 16],
        };
        let (enc, rest) = okm.split_at(32);
        let (mac, iv) = rest.split_at(32);
        keys.enc.copy_from_slice(enc);
        keys.mac.copy_from_slice(mac);
        keys.iv.copy_from_slice(iv);
        keys
    }

    fn tag(&self, seq: u64, ciphertext: &[u8]) -> [u8; 32] {
        *hmac_sha256(&self.mac, &[&[RECORD_TYPE], &seq.to_be_bytes(), ciphertext])
    }
}

/// Every value §6.2 derives from one chain key. All secret: for golden vectors, and for people
/// debugging another implementation against them.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DangerousKeyMaterial {
    /// `MK_i`.
    pub message_key: [u8; 32],
    /// `CK_{i+1}`.
    pub next_chain_key: [u8; 32],
    /// The AES-256 key.
    pub enc_key: [u8; 32],
    /// The HMAC-SHA256 key.
    pub mac_key: [u8; 32],
    /// The CBC IV.
    pub iv: [u8; 16],
}

/// §6.2 for one chain key, through the same code that seals and opens records.
pub fn dangerous_key_material(chain_key: &[u8; 32]) -> DangerousKeyMaterial {
    let (mk, next) = ChainKey(*chain_key).step();
    let keys = RecordKeys::from_message_key(&mk);
    DangerousKeyMaterial {
        message_key: *mk,
        next_chain_key: next.0,
        enc_key: keys.enc,
        mac_key: keys.mac,
        iv: keys.iv,
    }
}

/// The sending half of a direction (§6.2).
#[derive(Debug)]
pub struct SendChain {
    next_seq: u64,
    chain: ChainKey,
}

impl SendChain {
    /// Starts at sequence number 0 with the direction's first chain key.
    pub fn new(chain: ChainKey) -> Self {
        Self { next_seq: 0, chain }
    }

    /// The sequence number the next record will carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Seals a padded inner message (§6.2–§6.3), advancing the chain and erasing the used keys.
    pub fn seal(&mut self, padded_plaintext: &[u8]) -> Result<Record, RecordError> {
        erased(|| {
            let seq = self.next_seq;
            // §6.2: 2^64 - 1 is never sent.
            if seq == u64::MAX {
                return Err(RecordError::SequenceExhausted);
            }
            let (mk, next) = self.chain.step();
            let keys = RecordKeys::from_message_key(&mk);
            let ciphertext =
                primitives::cbc_encrypt::<aes::Aes256>(&keys.enc, &keys.iv, padded_plaintext)
                    .map_err(|_| RecordError::BadPadding)?;
            let tag = keys.tag(seq, &ciphertext);
            self.chain = next;
            self.next_seq = seq + 1;
            Ok(Record {
                seq,
                ciphertext,
                tag,
            })
        })
    }
}

/// An opened record: its plaintext and how many records before it were lost (§6.4 step 5).
#[derive(Debug)]
pub struct Opened {
    /// The padded inner message.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Records skipped over: deleted in transit.
    pub deleted: u64,
}

/// The receiving half of a direction (§6.4).
#[derive(Debug)]
pub struct ReceiveChain {
    next_seq: u64,
    chain: ChainKey,
}

impl ReceiveChain {
    /// Expects sequence number 0 first.
    pub fn new(chain: ChainKey) -> Self {
        Self { next_seq: 0, chain }
    }

    /// The next sequence number expected.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Opens a record per §6.4. On any error the chain is unchanged.
    pub fn open(&mut self, record: &Record) -> Result<Opened, RecordError> {
        erased(|| {
            let expected = self.next_seq;
            // §6.2: no honest sender uses 2^64 - 1, so such a record is a forgery.
            if record.seq == u64::MAX {
                return Err(RecordError::BadTag { seq: record.seq });
            }
            let Some(skip) = record.seq.checked_sub(expected) else {
                return Err(RecordError::Replayed {
                    seq: record.seq,
                    expected,
                });
            };
            if skip > MAX_SKIP {
                return Err(RecordError::TooFarAhead {
                    seq: record.seq,
                    expected,
                });
            }
            // Walk forward on copies: nothing changes until the tag has been checked.
            let mut chain = self.chain.clone();
            for _ in 0..skip {
                chain = chain.step().1;
            }
            let (mk, next) = chain.step();
            let keys = RecordKeys::from_message_key(&mk);
            let tag_ok = primitives::hmac_sha256_verify(
                &keys.mac,
                &[
                    &[RECORD_TYPE],
                    &record.seq.to_be_bytes(),
                    &record.ciphertext,
                ],
                &record.tag,
            );
            // Under cargo-fuzz only (`cfg(fuzzing)`, never set in normal builds) a bad tag is let
            // through, so that the fuzzer reaches the decryption and inner-message parsers behind it.
            if !tag_ok && !cfg!(fuzzing) {
                return Err(RecordError::BadTag { seq: record.seq });
            }
            let plaintext =
                primitives::cbc_decrypt::<aes::Aes256>(&keys.enc, &keys.iv, &record.ciphertext)
                    .map_err(|_| RecordError::BadPadding)?;
            self.chain = next;
            self.next_seq = record.seq.saturating_add(1);
            Ok(Opened {
                plaintext,
                deleted: skip,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (SendChain, ReceiveChain) {
        (
            SendChain::new(ChainKey::new([9; 32])),
            ReceiveChain::new(ChainKey::new([9; 32])),
        )
    }

    #[test]
    fn records_6_4_open_in_order() {
        let (mut tx, mut rx) = pair();
        for i in 0..3u8 {
            let rec = tx.seal(&[i; 64]).unwrap();
            assert_eq!(rec.seq, u64::from(i));
            assert_eq!(rec.ciphertext.len(), 80);
            let opened = rx.open(&rec).unwrap();
            assert_eq!(&opened.plaintext[..], &[i; 64][..]);
            assert_eq!(opened.deleted, 0);
        }
    }

    #[test]
    fn records_6_4_bad_tag_does_not_advance_the_chain() {
        let (mut tx, mut rx) = pair();
        let rec = tx.seal(&[1; 64]).unwrap();
        let mut bad = rec.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(rx.open(&bad).unwrap_err(), RecordError::BadTag { seq: 0 });
        let mut bad = rec.clone();
        bad.tag[31] ^= 1;
        assert_eq!(rx.open(&bad).unwrap_err(), RecordError::BadTag { seq: 0 });
        assert_eq!(rx.next_seq(), 0);
        assert!(rx.open(&rec).is_ok());
    }

    #[test]
    fn records_6_4_replay_is_reported() {
        let (mut tx, mut rx) = pair();
        let rec = tx.seal(&[1; 64]).unwrap();
        rx.open(&rec).unwrap();
        assert_eq!(
            rx.open(&rec).unwrap_err(),
            RecordError::Replayed {
                seq: 0,
                expected: 1
            }
        );
    }

    #[test]
    fn records_6_4_gap_reports_deleted_count() {
        let (mut tx, mut rx) = pair();
        let _lost1 = tx.seal(&[1; 64]).unwrap();
        let _lost2 = tx.seal(&[2; 64]).unwrap();
        let third = tx.seal(&[3; 64]).unwrap();
        assert_eq!(rx.open(&third).unwrap().deleted, 2);
        assert_eq!(
            rx.open(&_lost1).unwrap_err(),
            RecordError::Replayed {
                seq: 0,
                expected: 3
            }
        );
    }

    #[test]
    fn records_6_2_the_last_sequence_number_is_never_sent() {
        let mut tx = SendChain {
            next_seq: u64::MAX - 1,
            chain: ChainKey::new([1; 32]),
        };
        assert_eq!(tx.seal(&[0; 64]).unwrap().seq, u64::MAX - 1);
        assert_eq!(
            tx.seal(&[0; 64]).unwrap_err(),
            RecordError::SequenceExhausted
        );
    }

    #[test]
    fn records_6_2_a_record_numbered_2_64_minus_1_is_refused_as_tampered() {
        let mut tx = SendChain {
            next_seq: u64::MAX - 1,
            chain: ChainKey::new([1; 32]),
        };
        let mut rx = ReceiveChain {
            next_seq: u64::MAX - 1,
            chain: ChainKey::new([1; 32]),
        };
        let mut last = tx.seal(&[0; 64]).unwrap();
        last.seq = u64::MAX;
        assert_eq!(
            rx.open(&last).unwrap_err(),
            RecordError::BadTag { seq: u64::MAX }
        );
        assert_eq!(rx.next_seq(), u64::MAX - 1, "the chain did not move");
    }

    #[test]
    fn records_6_4_too_far_ahead_is_refused_without_moving() {
        let (_, mut rx) = pair();
        let rec = Record {
            seq: MAX_SKIP + 1,
            ciphertext: vec![0; 80],
            tag: [0; 32],
        };
        assert_eq!(
            rx.open(&rec).unwrap_err(),
            RecordError::TooFarAhead {
                seq: MAX_SKIP + 1,
                expected: 0
            }
        );
        assert_eq!(rx.next_seq(), 0);
    }
}
