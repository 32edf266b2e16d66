//! A second, minimal implementation of §5 (key schedule), §6 (records) and §8 (the SMP secret
//! and steps, with plain `modpow`: slow, and not constant time, which a test runner need not
//! be), written from the spec and calling the primitive crates directly. The peer runner
//! derives its keys and seals and opens its records with this, never with the protocol crate, so
//! that a shim built on that crate cannot pass because the runner shares its bug (a transcript
//! hash over the wrong nicknames, a chain that steps wrongly, a tag checked on fewer bytes).
//! Message encodings (§4.1, §7, the SMP message structs) still come from the protocol crate; the
//! vectors check those.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use cryptully_protocol::rand_core::RngCore;
use cryptully_protocol::records::Record;
use cryptully_protocol::smp::{Smp1, Smp2, Smp3, Smp4};
use hmac::{Hmac, Mac};
use num_bigint::BigUint;
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
    /// §5.2, for the IDENTITY MACs of §5.7.
    pub transcript_hash: [u8; 32],
}

/// §5.7: the IDENTITY MAC for the direction `label` (`"cryptully/3 identity i2r"` or `... r2i`),
/// from `dh = X25519(s_sender, E_receiver)`.
pub fn identity_mac(
    transcript_hash: &[u8; 32],
    dh: &[u8; 32],
    label: &str,
    identity: &[u8; 32],
) -> [u8; 32] {
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(transcript_hash), dh);
    let key: [u8; 32] = expand(&prk.into(), label);
    hmac_sha256(&key, identity)
}

/// §5.8: the 30 digits of two identities, without spaces.
pub fn identity_fingerprint(a: (&str, &[u8; 32]), b: (&str, &[u8; 32])) -> String {
    let (a, b) = (
        (a.0.to_ascii_lowercase(), a.1),
        (b.0.to_ascii_lowercase(), b.1),
    );
    let (a, b) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    let h = sha256(&[
        b"cryptully/3 identity fingerprint",
        &[a.0.len() as u8],
        a.0.as_bytes(),
        a.1,
        &[b.0.len() as u8],
        b.0.as_bytes(),
        b.1,
    ]);
    h.chunks(5)
        .take(6)
        .map(|c| {
            let v = c.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x));
            format!("{:05}", v % 100_000)
        })
        .collect()
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
        b"cryptully/3 transcript",
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
    let seed: [u8; 8] = expand(&prk, "cryptully/3 safety code");
    let fingerprint: [u8; 16] = expand(&prk, "cryptully/3 fingerprint");
    Schedule {
        i2r: expand(&prk, "cryptully/3 chain i2r"),
        r2i: expand(&prk, "cryptully/3 chain r2i"),
        session_id: expand(&prk, "cryptully/3 session id"),
        safety_code: format!("{:06}", u64::from_be_bytes(seed) % 1_000_000),
        fingerprint: fingerprint.iter().map(|b| format!("{b:02x}")).collect(),
        transcript_hash: th,
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
    let keys: [u8; 80] = expand(&mk, "cryptully/3 record keys");
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

/// The sending half of a direction (§6.2, §6.3). A clone seals with the same keys: the cases
/// that send a record the shim must refuse before opening it use one.
#[derive(Clone)]
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

// ---------------------------------------------------------------------------------------------
// §8.1, §8.3, §8.5: SMP with num-bigint's plain modpow, step by step as the spec writes it.

/// RFC 3526's 1536-bit prime, `p` of §8.1. Copied from the RFC on purpose, not read from the
/// protocol crate: the model must not share the code it checks.
const P_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

fn p() -> BigUint {
    BigUint::parse_bytes(P_HEX.as_bytes(), 16).unwrap_or_default()
}

/// `q = (p − 1) / 2`.
fn q() -> BigUint {
    (p() - 1u32) >> 1
}

/// `p` of §8.1.
pub fn prime() -> BigUint {
    p()
}

/// `q` of §8.1.
pub fn subgroup_order() -> BigUint {
    q()
}

fn g(e: &BigUint) -> BigUint {
    BigUint::from(2u32).modpow(e, &p())
}

fn pow(b: &BigUint, e: &BigUint) -> BigUint {
    b.modpow(e, &p())
}

fn mul(a: &BigUint, b: &BigUint) -> BigUint {
    (a * b) % p()
}

/// `a / b mod p` (Fermat: `b^(p−2)`).
fn div(a: &BigUint, b: &BigUint) -> BigUint {
    mul(a, &b.modpow(&(p() - 2u32), &p()))
}

/// `r − a·c mod q`.
fn proof(r: &BigUint, a: &BigUint, c: &BigUint) -> BigUint {
    let q = q();
    (r + &q - (a * c) % &q) % &q
}

/// A proof of §8.5 that the sender knows `a` in `g^a`: `(g^a, c, D)` with `c = h(v, g^r)` and
/// `D = r − a·c`. With `a = 0` the value is 1, outside the range of §8.1, and the proof still
/// holds: how a cheat gets a degenerate element past a peer that checks only the proof.
pub fn proof_of_knowledge(v: u8, a: &BigUint, r: &BigUint) -> (BigUint, BigUint, BigUint) {
    let c = h(v, &g(r), None);
    let d = proof(r, a, &c);
    (g(a), c, d)
}

/// `h(v, a[, b])` of §8.3: SHA-256 over the version byte and minimal MPIs.
fn h(v: u8, a: &BigUint, b: Option<&BigUint>) -> BigUint {
    let mut buf = vec![v];
    for x in [Some(a), b].into_iter().flatten() {
        let bytes = if *x == BigUint::ZERO {
            vec![]
        } else {
            x.to_bytes_be()
        };
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(&bytes);
    }
    BigUint::from_bytes_be(&sha256(&[&buf]))
}

/// §8.1: `2 ≤ x ≤ p − 2` and `x^q = 1`.
fn element(x: &BigUint, name: &str) -> Result<(), String> {
    let p = p();
    if *x < BigUint::from(2u32) || *x > &p - 2u32 {
        return Err(format!("{name} is out of range"));
    }
    if x.modpow(&q(), &p) != BigUint::from(1u32) {
        return Err(format!("{name} is outside the subgroup"));
    }
    Ok(())
}

/// §8.1: `1 ≤ d < q`.
fn exponent(d: &BigUint, name: &str) -> Result<(), String> {
    if *d == BigUint::ZERO || *d >= q() {
        return Err(format!("{name} is not an exponent"));
    }
    Ok(())
}

fn check(ok: bool, name: &str) -> Result<(), String> {
    ok.then_some(())
        .ok_or_else(|| format!("the proof {name} does not verify"))
}

/// A random exponent in `[1, q − 1]`.
fn draw(rng: &mut impl RngCore) -> BigUint {
    let mut bytes = [0u8; 208];
    rng.fill_bytes(&mut bytes);
    BigUint::from_bytes_be(&bytes) % (q() - 1u32) + 1u32
}

/// The secret of §8.2 as an integer.
pub fn secret_int(secret: &[u8; 32]) -> BigUint {
    BigUint::from_bytes_be(secret)
}

/// What the asker keeps after step 1.
pub struct Asker1 {
    x: BigUint,
    a2: BigUint,
    a3: BigUint,
}

/// What the answerer keeps after step 2.
pub struct Answerer2 {
    b3: BigUint,
    g3a: BigUint,
    g2: BigUint,
    g3: BigUint,
    pb: BigUint,
    qb: BigUint,
}

/// What the asker keeps after step 3.
pub struct Asker3 {
    a3: BigUint,
    g3b: BigUint,
    pa_pb: BigUint,
    qa_qb: BigUint,
}

/// §8.5 step 1.
pub fn smp_step1(x: BigUint, rng: &mut impl RngCore) -> (Asker1, Smp1) {
    let (a2, a3, r2, r3) = (draw(rng), draw(rng), draw(rng), draw(rng));
    let (c2, c3) = (h(1, &g(&r2), None), h(2, &g(&r3), None));
    let m = Smp1 {
        g2a: g(&a2),
        c2: c2.clone(),
        d2: proof(&r2, &a2, &c2),
        g3a: g(&a3),
        c3: c3.clone(),
        d3: proof(&r3, &a3, &c3),
    };
    (Asker1 { x, a2, a3 }, m)
}

/// §8.5 step 2: the checks of SMP1, then SMP2.
pub fn smp_step2(
    m: &Smp1,
    y: &BigUint,
    rng: &mut impl RngCore,
) -> Result<(Answerer2, Smp2), String> {
    element(&m.g2a, "g2a")?;
    element(&m.g3a, "g3a")?;
    exponent(&m.d2, "D2")?;
    exponent(&m.d3, "D3")?;
    check(
        m.c2 == h(1, &mul(&g(&m.d2), &pow(&m.g2a, &m.c2)), None),
        "c2",
    )?;
    check(
        m.c3 == h(2, &mul(&g(&m.d3), &pow(&m.g3a, &m.c3)), None),
        "c3",
    )?;
    let (b2, b3, r2, r3, r4, r5, r6) = (
        draw(rng),
        draw(rng),
        draw(rng),
        draw(rng),
        draw(rng),
        draw(rng),
        draw(rng),
    );
    let (g2, g3) = (pow(&m.g2a, &b2), pow(&m.g3a, &b3));
    let (c2, c3) = (h(3, &g(&r2), None), h(4, &g(&r3), None));
    let pb = pow(&g3, &r4);
    let qb = mul(&g(&r4), &pow(&g2, y));
    let cp = h(5, &pow(&g3, &r5), Some(&mul(&g(&r5), &pow(&g2, &r6))));
    let msg = Smp2 {
        g2b: g(&b2),
        c2: c2.clone(),
        d2: proof(&r2, &b2, &c2),
        g3b: g(&b3),
        c3: c3.clone(),
        d3: proof(&r3, &b3, &c3),
        pb: pb.clone(),
        qb: qb.clone(),
        cp: cp.clone(),
        d5: proof(&r5, &r4, &cp),
        d6: proof(&r6, y, &cp),
    };
    let state = Answerer2 {
        b3,
        g3a: m.g3a.clone(),
        g2,
        g3,
        pb,
        qb,
    };
    Ok((state, msg))
}

/// §8.5 step 3: the checks of SMP2, then SMP3.
pub fn smp_step3(s: Asker1, m: &Smp2, rng: &mut impl RngCore) -> Result<(Asker3, Smp3), String> {
    for (v, n) in [
        (&m.g2b, "g2b"),
        (&m.g3b, "g3b"),
        (&m.pb, "Pb"),
        (&m.qb, "Qb"),
    ] {
        element(v, n)?;
    }
    for (v, n) in [(&m.d2, "D2"), (&m.d3, "D3"), (&m.d5, "D5"), (&m.d6, "D6")] {
        exponent(v, n)?;
    }
    check(
        m.c2 == h(3, &mul(&g(&m.d2), &pow(&m.g2b, &m.c2)), None),
        "c2",
    )?;
    check(
        m.c3 == h(4, &mul(&g(&m.d3), &pow(&m.g3b, &m.c3)), None),
        "c3",
    )?;
    let (g2, g3) = (pow(&m.g2b, &s.a2), pow(&m.g3b, &s.a3));
    let left = mul(&pow(&g3, &m.d5), &pow(&m.pb, &m.cp));
    let right = mul(&mul(&g(&m.d5), &pow(&g2, &m.d6)), &pow(&m.qb, &m.cp));
    check(m.cp == h(5, &left, Some(&right)), "cP")?;
    let (r4, r5, r6, r7) = (draw(rng), draw(rng), draw(rng), draw(rng));
    let pa = pow(&g3, &r4);
    let qa = mul(&g(&r4), &pow(&g2, &s.x));
    let cp = h(6, &pow(&g3, &r5), Some(&mul(&g(&r5), &pow(&g2, &r6))));
    let qa_qb = div(&qa, &m.qb);
    let ra = pow(&qa_qb, &s.a3);
    let cr = h(7, &g(&r7), Some(&pow(&qa_qb, &r7)));
    let msg = Smp3 {
        pa: pa.clone(),
        qa,
        cp: cp.clone(),
        d5: proof(&r5, &r4, &cp),
        d6: proof(&r6, &s.x, &cp),
        ra,
        cr: cr.clone(),
        d7: proof(&r7, &s.a3, &cr),
    };
    let state = Asker3 {
        a3: s.a3,
        g3b: m.g3b.clone(),
        pa_pb: div(&pa, &m.pb),
        qa_qb,
    };
    Ok((state, msg))
}

/// §8.5 step 4: the checks of SMP3, whether the answers matched, and SMP4.
pub fn smp_step4(s: Answerer2, m: &Smp3, rng: &mut impl RngCore) -> Result<(bool, Smp4), String> {
    for (v, n) in [(&m.pa, "Pa"), (&m.qa, "Qa"), (&m.ra, "Ra")] {
        element(v, n)?;
    }
    for (v, n) in [(&m.d5, "D5"), (&m.d6, "D6"), (&m.d7, "D7")] {
        exponent(v, n)?;
    }
    let left = mul(&pow(&s.g3, &m.d5), &pow(&m.pa, &m.cp));
    let right = mul(&mul(&g(&m.d5), &pow(&s.g2, &m.d6)), &pow(&m.qa, &m.cp));
    check(m.cp == h(6, &left, Some(&right)), "cP")?;
    let qa_qb = div(&m.qa, &s.qb);
    let left = mul(&g(&m.d7), &pow(&s.g3a, &m.cr));
    let right = mul(&pow(&qa_qb, &m.d7), &pow(&m.ra, &m.cr));
    check(m.cr == h(7, &left, Some(&right)), "cR")?;
    let r7 = draw(rng);
    let rb = pow(&qa_qb, &s.b3);
    let cr = h(8, &g(&r7), Some(&pow(&qa_qb, &r7)));
    let msg = Smp4 {
        rb,
        cr: cr.clone(),
        d7: proof(&r7, &s.b3, &cr),
    };
    let matched = pow(&m.ra, &s.b3) == div(&m.pa, &s.pb);
    Ok((matched, msg))
}

/// §8.5 step 5: the checks of SMP4 and whether the answers matched.
pub fn smp_step5(s: Asker3, m: &Smp4) -> Result<bool, String> {
    element(&m.rb, "Rb")?;
    exponent(&m.d7, "D7")?;
    let left = mul(&g(&m.d7), &pow(&s.g3b, &m.cr));
    let right = mul(&pow(&s.qa_qb, &m.d7), &pow(&m.rb, &m.cr));
    check(m.cr == h(8, &left, Some(&right)), "cR")?;
    Ok(pow(&m.rb, &s.a3) == s.pa_pb)
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

    /// The model's SMP against the reference's, both ways, matching and not.
    #[test]
    fn model_8_5_interoperates_with_the_reference() {
        use cryptully_protocol::smp;
        let mut rng = crate::TestRng(3);
        let secret = |a: &str| smp_secret(&[1; 32], &[2; 32], &[3; 32], a);
        let reference = |a: &str| smp::secret(&[1; 32], &[2; 32], &[3; 32], a);
        for (asked, answered) in [("the lake", "the lake"), ("the lake", "the sea")] {
            // The model asks, the reference answers.
            let (asker, m1) = smp_step1(secret_int(&secret(asked)), &mut rng);
            let checked = smp::check_smp1(&m1).unwrap();
            let (answerer, m2) = smp::step2(
                &checked,
                reference(answered),
                smp::Step2Random::draw(&mut rng),
            );
            let (asker, m3) = smp_step3(asker, &m2, &mut rng).unwrap();
            let (b_matched, m4) =
                smp::step4(answerer, &m3, smp::Step4Random::draw(&mut rng)).unwrap();
            let a_matched = smp_step5(asker, &m4).unwrap();
            assert_eq!(
                (a_matched, b_matched),
                (asked == answered, asked == answered)
            );
            // The reference asks, the model answers.
            let (asker, m1) = smp::step1(reference(asked), smp::Step1Random::draw(&mut rng));
            let (answerer, m2) = smp_step2(&m1, &secret_int(&secret(answered)), &mut rng).unwrap();
            let (asker, m3) = smp::step3(asker, &m2, smp::Step3Random::draw(&mut rng)).unwrap();
            let (b_matched, m4) = smp_step4(answerer, &m3, &mut rng).unwrap();
            let a_matched = smp::step5(asker, &m4).unwrap();
            assert_eq!(
                (a_matched, b_matched),
                (asked == answered, asked == answered)
            );
        }
        // A forged proof is refused.
        let (_, mut m1) = smp_step1(secret_int(&secret("x")), &mut rng);
        m1.c2 += 1u32;
        assert!(smp_step2(&m1, &BigUint::from(5u32), &mut rng).is_err());
    }
}
