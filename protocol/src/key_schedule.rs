//! §5 Key schedule: ephemeral keys, the transcript hash, the PRK and everything derived from it.

use crate::codec::put_nick;
use crate::nick::Nick;
use crate::primitives::{self, CryptoError, erased, sha256};
use core::fmt;
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// §5.2 transcript label.
const TRANSCRIPT_LABEL: &[u8] = b"cryptully/3 transcript";
/// §5.4 labels.
const LABEL_CHAIN_I2R: &[u8] = b"cryptully/3 chain i2r";
const LABEL_CHAIN_R2I: &[u8] = b"cryptully/3 chain r2i";
const LABEL_SESSION_ID: &[u8] = b"cryptully/3 session id";
const LABEL_SAFETY_CODE: &[u8] = b"cryptully/3 safety code";
const LABEL_FINGERPRINT: &[u8] = b"cryptully/3 fingerprint";
/// §5.7 labels of the IDENTITY MAC keys, one per direction.
const LABEL_IDENTITY_I2R: &[u8] = b"cryptully/3 identity i2r";
const LABEL_IDENTITY_R2I: &[u8] = b"cryptully/3 identity r2i";
/// §5.8 label of the identity fingerprint.
const LABEL_IDENTITY_FINGERPRINT: &[u8] = b"cryptully/3 identity fingerprint";

/// An ephemeral X25519 key pair (§5.1). The private half is erased on drop. Cloneable only with
/// the `fuzzing` feature, so the fuzz targets can reuse one key instead of computing it per input.
#[derive(Zeroize, ZeroizeOnDrop)]
#[cfg_attr(feature = "fuzzing", derive(Clone))]
pub struct EphemeralKeyPair {
    /// On the heap, so that moving the pair (or the session holding it) copies a pointer and
    /// leaves no copy of the key behind (§12.3; `tests/erasure.rs` found one).
    private: Box<[u8; 32]>,
    #[zeroize(skip)]
    public: [u8; 32],
}

impl EphemeralKeyPair {
    /// Draws a fresh key pair from `rng` (§5.1).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        erased(|| {
            let mut private = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut *private);
            Self::from_private_bytes(*private)
        })
    }

    /// The key pair with this private key, as drawn by another random source (vectors, tests).
    pub fn from_private_bytes(private: [u8; 32]) -> Self {
        erased(|| {
            let public = primitives::x25519_public(&private);
            Self {
                private: Box::new(private),
                public,
            }
        })
    }

    /// The public key.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The HELO commitment to this key, `SHA-256(public)` (§4.2).
    pub fn commitment(&self) -> [u8; 32] {
        commitment(&self.public)
    }

    /// `X25519(private, peer)`, refusing the all-zero result (§4.4).
    pub fn diffie_hellman(&self, peer: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        erased(|| primitives::x25519(&self.private, peer))
    }
}

impl fmt::Debug for EphemeralKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKeyPair")
            .field("private", &"<redacted>")
            .field("public", &Hex(&self.public))
            .finish()
    }
}

/// A long-term X25519 identity key pair (§5.7), made once per device and kept by the
/// application. The same key material as an ephemeral pair, kept for longer: the private half is
/// erased on drop and leaves this type only through
/// [`IdentityKeyPair::dangerous_private_bytes`], for the application's key file.
pub struct IdentityKeyPair(EphemeralKeyPair);

impl IdentityKeyPair {
    /// Draws a fresh identity from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(EphemeralKeyPair::generate(rng))
    }

    /// The identity with this private key (a key file, vectors, tests).
    pub fn from_private_bytes(private: [u8; 32]) -> Self {
        Self(EphemeralKeyPair::from_private_bytes(private))
    }

    /// The public key, which the friend's client remembers (§12.5).
    pub fn public(&self) -> &[u8; 32] {
        self.0.public()
    }

    /// The private key, for the application to store or export. Secret.
    pub fn dangerous_private_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.0.private)
    }

    /// `X25519(identity private, peer's ephemeral public)`, refusing the all-zero result (§5.7).
    pub(crate) fn diffie_hellman(
        &self,
        peer: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        self.0.diffie_hellman(peer)
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("private", &"<redacted>")
            .field("public", &Hex(self.public()))
            .finish()
    }
}

/// Which way an IDENTITY travels (§5.7): its MAC key has a label per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the initiator.
    InitiatorToResponder,
    /// Sent by the responder.
    ResponderToInitiator,
}

/// The MAC of an IDENTITY (§5.7):
/// `K = HKDF(salt = TH, IKM = X25519(s_sender, E_receiver), info = label, 32)`,
/// `mac = HMAC-SHA256(K, identity_public)`. `dh` is that X25519 output, which the sender computes
/// from its identity key and the receiver from its ephemeral key.
pub fn identity_mac(
    transcript_hash: &[u8; 32],
    dh: &[u8; 32],
    direction: Direction,
    identity_public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    erased(|| {
        let prk = primitives::hkdf_extract(transcript_hash, dh);
        let mut key = Zeroizing::new([0u8; 32]);
        let label = match direction {
            Direction::InitiatorToResponder => LABEL_IDENTITY_I2R,
            Direction::ResponderToInitiator => LABEL_IDENTITY_R2I,
        };
        primitives::hkdf_expand(&*prk, label, &mut *key)?;
        Ok(primitives::hmac_sha256(&*key, &[identity_public]))
    })
}

/// The identity fingerprint of two people (§5.8): the same 30 digits on both screens, from both
/// identity keys, the lower canonical nickname's first. Unlike the safety code it does not change
/// from chat to chat, so it can be compared once, in person or over another channel.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityFingerprint([u32; 6]);

impl IdentityFingerprint {
    /// §5.8: `SHA-256(label || len8(nick_a) || nick_a || S_a || len8(nick_b) || nick_b || S_b)`
    /// with `nick_a < nick_b` canonical; six groups of five digits, each the big-endian value of
    /// five hash bytes mod 100 000.
    pub fn of(one: (&Nick, &[u8; 32]), other: (&Nick, &[u8; 32])) -> Self {
        let (a, b) = if one.0.canonical() <= other.0.canonical() {
            (one, other)
        } else {
            (other, one)
        };
        let mut nicks_a = Vec::with_capacity(33);
        put_nick(&mut nicks_a, &a.0.canonical());
        let mut nicks_b = Vec::with_capacity(33);
        put_nick(&mut nicks_b, &b.0.canonical());
        let hash = sha256(&[LABEL_IDENTITY_FINGERPRINT, &nicks_a, a.1, &nicks_b, b.1]);
        let mut groups = [0u32; 6];
        for (group, chunk) in groups.iter_mut().zip(hash.chunks(5)) {
            let value = chunk.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
            *group = (value % 100_000) as u32;
        }
        Self(groups)
    }

    /// The 30 digits without spaces.
    pub fn digits(&self) -> String {
        self.0.iter().map(|g| format!("{g:05}")).collect()
    }
}

impl fmt::Display for IdentityFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for IdentityFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityFingerprint({self})")
    }
}

/// `SHA-256(public key)`: the HELO commitment (§4.2).
pub fn commitment(public: &[u8; 32]) -> [u8; 32] {
    sha256(&[public])
}

/// The public inputs of the transcript hash (§5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// The initiator's nickname; canonicalised when hashed.
    pub initiator: Nick,
    /// The responder's nickname; canonicalised when hashed.
    pub responder: Nick,
    /// From HELO.
    pub commitment: [u8; 32],
    /// From REDY.
    pub responder_public: [u8; 32],
    /// From PUB_KEY.
    pub initiator_public: [u8; 32],
}

impl Transcript {
    /// `TH` (§5.2).
    pub fn hash(&self) -> [u8; 32] {
        let mut nicks = Vec::with_capacity(66);
        put_nick(&mut nicks, &self.initiator.canonical());
        put_nick(&mut nicks, &self.responder.canonical());
        sha256(&[
            TRANSCRIPT_LABEL,
            &nicks,
            &self.commitment,
            &self.responder_public,
            &self.initiator_public,
        ])
    }
}

/// Everything §5.4 derives from one handshake. Secrets are erased on drop; the session moves the
/// chain keys out and drops the rest. The PRK is not kept at all: it lives only inside
/// [`KeySchedule::derive`] (a kept copy was found in freed memory after END, `tests/erasure.rs`).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeySchedule {
    chain_i2r: [u8; 32],
    chain_r2i: [u8; 32],
    session_id: [u8; 32],
    #[zeroize(skip)]
    safety_code: SafetyCode,
    #[zeroize(skip)]
    fingerprint: Fingerprint,
}

impl KeySchedule {
    /// §5.3–§5.4: `PRK = HKDF-Extract(TH, shared)`, then every output.
    pub fn derive(transcript_hash: &[u8; 32], shared: &[u8; 32]) -> Result<Self, CryptoError> {
        erased(|| {
            let prk = Self::dangerous_prk(transcript_hash, shared);
            let expand = |label: &[u8], out: &mut [u8]| primitives::hkdf_expand(&*prk, label, out);
            let mut ks = KeySchedule {
                chain_i2r: [0; 32],
                chain_r2i: [0; 32],
                session_id: [0; 32],
                safety_code: SafetyCode(0),
                fingerprint: Fingerprint([0; 16]),
            };
            expand(LABEL_CHAIN_I2R, &mut ks.chain_i2r)?;
            expand(LABEL_CHAIN_R2I, &mut ks.chain_r2i)?;
            expand(LABEL_SESSION_ID, &mut ks.session_id)?;
            let mut seed = [0u8; 8];
            expand(LABEL_SAFETY_CODE, &mut seed)?;
            // §5.5: the bias of 2^64 mod 10^6 is below 10^-13.
            ks.safety_code = SafetyCode((u64::from_be_bytes(seed) % 1_000_000) as u32);
            expand(LABEL_FINGERPRINT, &mut ks.fingerprint.0)?;
            Ok(ks)
        })
    }

    /// The 32-byte session id (§5.4), public to the two peers; SMP binds to it (§8.2).
    pub fn session_id(&self) -> &[u8; 32] {
        &self.session_id
    }

    /// The safety code (§5.5).
    pub fn safety_code(&self) -> SafetyCode {
        self.safety_code
    }

    /// The fingerprint (§5.6).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// `PRK = HKDF-Extract(TH, shared)` (§5.3), as [`KeySchedule::derive`] computes it. Secret:
    /// only for golden vectors and their tests.
    pub fn dangerous_prk(transcript_hash: &[u8; 32], shared: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        primitives::hkdf_extract(transcript_hash, shared)
    }

    /// The first chain keys `(i2r, r2i)`. Secret: only for golden vectors and their tests.
    pub fn dangerous_chain_keys(&self) -> (&[u8; 32], &[u8; 32]) {
        (&self.chain_i2r, &self.chain_r2i)
    }
}

impl fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySchedule")
            .field("chain_i2r", &"<redacted>")
            .field("chain_r2i", &"<redacted>")
            .field("session_id", &Hex(&self.session_id))
            .field("safety_code", &self.safety_code)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// The 6-digit safety code people read aloud (§5.5), shown as `"042 917"`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SafetyCode(u32);

impl SafetyCode {
    /// The number, 0 to 999 999.
    pub fn value(self) -> u32 {
        self.0
    }

    /// Six digits without the space, e.g. `"042917"`.
    pub fn digits(self) -> String {
        format!("{:06}", self.0)
    }
}

impl fmt::Display for SafetyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} {:03}", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Debug for SafetyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyCode({self})")
    }
}

/// The 128-bit fingerprint for auditors (§5.6), shown as 8 groups of 4 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for b in pair {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Lowercase hex for `Debug` of public values.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_schedule_5_5_safety_code_keeps_leading_zeros() {
        assert_eq!(SafetyCode(42_917).to_string(), "042 917");
        assert_eq!(SafetyCode(7).digits(), "000007");
    }

    #[test]
    fn key_schedule_5_2_transcript_binds_canonical_nicknames() {
        let t = |i: &str| Transcript {
            initiator: Nick::new(i).unwrap(),
            responder: Nick::new("bob").unwrap(),
            commitment: [1; 32],
            responder_public: [2; 32],
            initiator_public: [3; 32],
        };
        assert_eq!(t("Alice").hash(), t("alice").hash());
        assert_ne!(t("alice").hash(), t("alicf").hash());
    }
}
