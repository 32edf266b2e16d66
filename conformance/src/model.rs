//! A second, minimal implementation of §5 (key schedule), §6 (records) and §8.2 (the SMP
//! secret), written from the spec and calling the primitive crates directly. The peer runner
//! derives its keys and seals and opens its records with this, never with the protocol crate, so
//! that a shim built on that crate cannot pass because the runner shares its bug (a transcript
//! hash over the wrong nicknames, a chain that steps wrongly, a tag checked on fewer bytes).
//! Message encodings (§4.1, §7) still come from the protocol crate; the vectors check those.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use cryptully_protocol::records::Record;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// MAX_SKIP (§10.1).
const MAX_SKIP: u64 = 1000;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    mac.update(data);
    mac
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    hmac(key, data).finalize().into_bytes().into()
}

fn expand<const L: usize>(prk: &[u8; 32], label: &str) -> [u8; L] {
    let mut out = [0u8; L];
    if let Ok(hk) = hkdf::Hkdf::<Sha256>::from_prk(prk) {
        // L is at most 80 here, far below HKDF's bound.
        let _ = hk.expand(label.as_bytes(), &mut out);
    }
    out
}

/// An X25519 key pair of the runner's (§5.1).
pub struct KeyPair {
    private: [u8; 32],
    public: [u8; 32],
}

impl KeyPair {
    /// The pair of a private key.
    pub fn from_private(private: [u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(private);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Self { private, public }
    }

    /// The public key.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// `SHA-256(public)`, the HELO commitment (§4.2).
    pub fn commitment(&self) -> [u8; 32] {
        commitment(&self.public)
    }

    /// X25519 with a peer's key; all zero is refused (§5.3).
    pub fn shared(&self, peer: &[u8; 32]) -> Result<[u8; 32], String> {
        let secret = x25519_dalek::StaticSecret::from(self.private);
        let shared = secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*peer))
            .to_bytes();
        if shared == [0; 32] {
            return Err("X25519 gave all zeros: a low-order key (§5.3)".into());
        }
        Ok(shared)
    }
}

/// `SHA-256(public)` (§4.2).
pub fn commitment(public: &[u8; 32]) -> [u8; 32] {
    sha256(&[public])
}

/// Everything §5.2–§5.6 gives one side.
pub struct Schedule {
    /// First chain key, initiator → responder.
    pub i2r: [u8; 32],
    /// First chain key, responder → initiator.
    pub r2i: [u8; 32],
    /// §5.4.
    pub session_id: [u8; 32],
    /// §5.5, six digits.
    pub safety_code: String,
    /// §5.6, 32 lowercase hex digits.
    pub fingerprint: String,
}

/// §5.2–§5.6. Nicknames are canonicalised here (§3.2: ASCII lowercase), whatever the caller
/// passes.
pub fn schedule(
    initiator: &str,
    responder: &str,
    initiator_public: &[u8; 32],
    responder_public: &[u8; 32],
    shared: &[u8; 32],
) -> Schedule {
    let (i, r) = (
        initiator.to_ascii_lowercase(),
        responder.to_ascii_lowercase(),
    );
    let th = sha256(&[
        b"cryptully/2 transcript",
        &[i.len() as u8],
        i.as_bytes(),
        &[r.len() as u8],
        r.as_bytes(),
        &commitment(initiator_public),
        responder_public,
        initiator_public,
    ]);
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(&th), shared);
    let prk: [u8; 32] = prk.into();
    let seed: [u8; 8] = expand(&prk, "cryptully/2 safety code");
    let fingerprint: [u8; 16] = expand(&prk, "cryptully/2 fingerprint");
    Schedule {
        i2r: expand(&prk, "cryptully/2 chain i2r"),
        r2i: expand(&prk, "cryptully/2 chain r2i"),
        session_id: expand(&prk, "cryptully/2 session id"),
        safety_code: format!("{:06}", u64::from_be_bytes(seed) % 1_000_000),
        fingerprint: fingerprint.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// `(MK_i, CK_{i+1})` and the record keys of §6.2.
struct Step {
    next: [u8; 32],
    enc: [u8; 32],
    mac: [u8; 32],
    iv: [u8; 16],
}

fn step(ck: &[u8; 32]) -> Step {
    let mk = hmac_sha256(ck, &[0x01]);
    let keys: [u8; 80] = expand(&mk, "cryptully/2 record keys");
    let mut s = Step {
        next: hmac_sha256(ck, &[0x02]),
        enc: [0; 32],
        mac: [0; 32],
        iv: [0; 16],
    };
    s.enc.copy_from_slice(&keys[..32]);
    s.mac.copy_from_slice(&keys[32..64]);
    s.iv.copy_from_slice(&keys[64..]);
    s
}

fn tag_input(seq: u64, ciphertext: &[u8]) -> Vec<u8> {
    [&[0x20u8][..], &seq.to_be_bytes(), ciphertext].concat()
}

/// The sending half of a direction (§6.2, §6.3).
pub struct SendChain {
    ck: [u8; 32],
    next_seq: u64,
}

impl SendChain {
    /// Starts at sequence number 0.
    pub fn new(ck: [u8; 32]) -> Self {
        Self { ck, next_seq: 0 }
    }

    /// Seals a padded inner message.
    pub fn seal(&mut self, padded: &[u8]) -> Result<Record, String> {
        let s = step(&self.ck);
        let ciphertext = cbc::Encryptor::<aes::Aes256>::new_from_slices(&s.enc, &s.iv)
            .map_err(|e| e.to_string())?
            .encrypt_padded_vec_mut::<Pkcs7>(padded);
        let seq = self.next_seq;
        let tag = hmac_sha256(&s.mac, &tag_input(seq, &ciphertext));
        self.ck = s.next;
        self.next_seq += 1;
        Ok(Record {
            seq,
            ciphertext,
            tag,
        })
    }
}

/// An opened record (§6.4 step 5).
pub struct Opened {
    /// The padded inner message.
    pub plaintext: Vec<u8>,
    /// Records skipped over.
    pub deleted: u64,
}

/// The receiving half of a direction (§6.4).
pub struct ReceiveChain {
    ck: [u8; 32],
    next_seq: u64,
}

impl ReceiveChain {
    /// Expects sequence number 0 first.
    pub fn new(ck: [u8; 32]) -> Self {
        Self { ck, next_seq: 0 }
    }

    /// §6.4: replays and records too far ahead are refused, the whole 32-byte tag is checked in
    /// constant time before decryption, and nothing moves unless the record opens.
    pub fn open(&mut self, r: &Record) -> Result<Opened, String> {
        let n = self.next_seq;
        if r.seq < n {
            return Err(format!("record {} replayed (expected {n})", r.seq));
        }
        if r.seq - n > MAX_SKIP || r.seq == u64::MAX {
            return Err(format!("record {} is too far ahead of {n}", r.seq));
        }
        let mut ck = self.ck;
        for _ in n..r.seq {
            ck = step(&ck).next;
        }
        let s = step(&ck);
        let expected = hmac_sha256(&s.mac, &tag_input(r.seq, &r.ciphertext));
        if !bool::from(expected.ct_eq(&r.tag)) {
            return Err(format!("record {}: bad tag", r.seq));
        }
        let plaintext = cbc::Decryptor::<aes::Aes256>::new_from_slices(&s.enc, &s.iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_vec_mut::<Pkcs7>(&r.ciphertext)
            .map_err(|_| format!("record {}: bad PKCS#7 padding", r.seq))?;
        self.ck = s.next;
        self.next_seq = r.seq + 1;
        Ok(Opened {
            plaintext,
            deleted: r.seq - n,
        })
    }
}

/// The SMP secret of §8.2 as a big-endian 256-bit integer:
/// `SHA-256(0x01 || SHA-256(I) || SHA-256(R) || session id || answer)`. The runner's answers
/// are ASCII, for which the normalisation of §8.2 (trim, then NFC) is a trim.
pub fn smp_secret(
    initiator_public: &[u8; 32],
    responder_public: &[u8; 32],
    session_id: &[u8; 32],
    answer: &str,
) -> [u8; 32] {
    debug_assert!(answer.is_ascii(), "the runner's answers are ASCII");
    sha256(&[
        &[0x01],
        &sha256(&[initiator_public]),
        &sha256(&[responder_public]),
        session_id,
        answer.trim().as_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptully_protocol::key_schedule::{EphemeralKeyPair, KeySchedule, Transcript};
    use cryptully_protocol::records::{self, ChainKey};

    /// The model and the reference agree on a handshake with mixed-case nicknames, record by
    /// record (both are also checked against spec/vectors by their own runs).
    #[test]
    fn model_5_6_agrees_with_the_reference() {
        let (a, b) = (
            KeyPair::from_private([0x41; 32]),
            KeyPair::from_private([0x42; 32]),
        );
        let shared = a.shared(b.public()).unwrap();
        let m = schedule("Alice", "BOB", a.public(), b.public(), &shared);
        let ra = EphemeralKeyPair::from_private_bytes([0x41; 32]);
        let t = Transcript {
            initiator: cryptully_protocol::Nick::new("Alice").unwrap(),
            responder: cryptully_protocol::Nick::new("BOB").unwrap(),
            commitment: ra.commitment(),
            responder_public: *b.public(),
            initiator_public: *ra.public(),
        };
        let ks = KeySchedule::derive(&t.hash(), &ra.diffie_hellman(b.public()).unwrap()).unwrap();
        assert_eq!(ks.dangerous_chain_keys(), (&m.i2r, &m.r2i));
        assert_eq!(ks.session_id(), &m.session_id);
        assert_eq!(ks.safety_code().digits(), m.safety_code);
        let mut tx = records::SendChain::new(ChainKey::new(m.i2r));
        let mut rx = ReceiveChain::new(m.i2r);
        for i in 0..3u8 {
            let r = tx.seal(&[i; 64]).unwrap();
            assert_eq!(rx.open(&r).unwrap().plaintext, vec![i; 64]);
        }
        let mut bad = tx.seal(&[9; 64]).unwrap();
        bad.tag[31] ^= 1;
        assert!(rx.open(&bad).is_err(), "a tag wrong in its last byte");
    }
}
