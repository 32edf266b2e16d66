//! §8 Socialist Millionaire Protocol, as in OTR version 3, with the secret bound to the session
//! (§8.2).
//!
//! The steps of §8.5 are pure functions with their random exponents passed in, so golden vectors
//! can fix them; [`Smp`] is the per-session state machine of §8.6 that draws them from the
//! injected random source.

mod group;

use crate::codec::{DecodeError, Reader};
use crate::inner::InnerMessage;
use crate::limits::{self, MAX_MPI};
use crate::primitives::{erased, sha256};
use core::fmt;
use group::{Comb, Elem, NotElement, Num, group};
use num_bigint::BigUint;
use rand_core::CryptoRngCore;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Why an SMP run was aborted (§8.6). None of these end the session.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmpError {
    /// A value that must be a group element is outside `[2, p-2]` (§8.1).
    InvalidGroupElement(&'static str),
    /// A value that must be a group element is in range but outside the subgroup of order `q`
    /// (§8.1): a peer that tries to learn a bit of the secret.
    NotInSubgroup(&'static str),
    /// An exponent is outside `[1, q)` (§8.1).
    InvalidExponent(&'static str),
    /// A zero-knowledge proof did not verify: a cheating peer or someone in the middle (§8.5).
    BadProof(&'static str),
    /// An SMP message arrived in a state that does not accept it (§8.6).
    Unexpected {
        /// What the state waits for.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// The person asked to answer or start while the state does not allow it.
    NotNow(&'static str),
    /// The run waited longer than §8.6 allows for the friend's next message.
    TimedOut {
        /// What it waited for.
        waiting_for: &'static str,
    },
}

impl fmt::Display for SmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidGroupElement(v) => write!(
                f,
                "verification failed: the friend's {v} is invalid; someone may be in the middle (§8.1)"
            ),
            Self::NotInSubgroup(v) => write!(
                f,
                "verification failed: the friend's {v} is not in the group; someone may be trying to learn the answer (§8.1)"
            ),
            Self::InvalidExponent(v) => write!(
                f,
                "verification failed: the friend's {v} is invalid; someone may be in the middle (§8.1)"
            ),
            Self::BadProof(v) => write!(
                f,
                "verification failed: the friend's proof {v} does not check out; someone may be in the middle (§8.5)"
            ),
            Self::Unexpected { expected, got } => {
                write!(
                    f,
                    "verification aborted: got {got} while waiting for {expected} (§8.6)"
                )
            }
            Self::NotNow(what) => write!(f, "cannot {what} now (§8.6)"),
            Self::TimedOut { waiting_for } => write!(
                f,
                "verification stopped: the friend's side did not send {waiting_for} in time"
            ),
        }
    }
}

impl SmpError {
    /// Whether a check of a received value failed (§8.1, §8.5), as opposed to a message out of
    /// order or a request at the wrong time.
    pub fn is_check_failure(&self) -> bool {
        matches!(
            self,
            Self::InvalidGroupElement(_)
                | Self::NotInSubgroup(_)
                | Self::InvalidExponent(_)
                | Self::BadProof(_)
        )
    }
}

impl std::error::Error for SmpError {}

// ---------------------------------------------------------------------------------------------
// §8.3 Payload encoding

fn read_mpis<const N: usize>(r: &mut Reader<'_>) -> Result<[BigUint; N], DecodeError> {
    let count = r.u32("mpi count")?;
    if usize::try_from(count).ok() != Some(N) {
        return Err(DecodeError::InvalidValue("mpi count"));
    }
    let mut out = Vec::with_capacity(N);
    for _ in 0..N {
        let len = usize::try_from(r.u32("mpi length")?).unwrap_or(usize::MAX);
        if len > MAX_MPI {
            return Err(DecodeError::InvalidValue("mpi length"));
        }
        let bytes = r.take(len, "mpi")?;
        if bytes.first() == Some(&0) {
            return Err(DecodeError::InvalidValue("mpi leading zero"));
        }
        out.push(BigUint::from_bytes_be(bytes));
    }
    <[BigUint; N]>::try_from(out).map_err(|_| DecodeError::InvalidValue("mpi count"))
}

fn put_mpi(out: &mut Vec<u8>, v: &BigUint) {
    let bytes = if v.bits() == 0 {
        Vec::new()
    } else {
        v.to_bytes_be()
    };
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
}

fn put_mpis(out: &mut Vec<u8>, values: &[&BigUint]) {
    out.extend_from_slice(&(values.len() as u32).to_be_bytes());
    for v in values {
        put_mpi(out, v);
    }
}

/// `h(v, a[, b]) = SHA-256(v || MPI(a) [|| MPI(b)])` as an integer (§8.3). The MPI encoding drops
/// leading zero bytes, so its length follows the value; OTR fixes that encoding.
fn hash(version: u8, a: &Elem, b: Option<&Elem>) -> Num {
    let mut buf = Zeroizing::new(vec![version]);
    put_mpi_bytes(&mut buf, &a.retrieve().to_be_bytes());
    if let Some(b) = b {
        put_mpi_bytes(&mut buf, &b.retrieve().to_be_bytes());
    }
    group::num_from_be(&sha256(&[&buf])).unwrap_or(Num::ZERO)
}

/// MPI encoding of a big-endian value: its length without leading zero bytes, then its bytes.
fn put_mpi_bytes(out: &mut Vec<u8>, be: &[u8]) {
    let start = be.iter().position(|&byte| byte != 0).unwrap_or(be.len());
    let bytes = be.get(start..).unwrap_or_default();
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

macro_rules! smp_message {
    ($(#[$doc:meta])* $name:ident, $count:literal, [$($field:ident),+]) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub struct $name { $(pub $field: BigUint),+ }

        impl $name {
            pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let [$($field),+] = read_mpis::<$count>(r)?;
                Ok(Self { $($field),+ })
            }

            pub(crate) fn write(&self, out: &mut Vec<u8>) {
                put_mpis(out, &[$(&self.$field),+]);
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &format_args!("{:x}", self.$field)))+
                    .finish()
            }
        }
    };
}

smp_message!(
    /// §8.4 SMP1, sent by the asker: `g2a, c2, D2, g3a, c3, D3`.
    Smp1, 6, [g2a, c2, d2, g3a, c3, d3]
);
smp_message!(
    /// §8.4 SMP2, sent by the answerer: `g2b, c2, D2, g3b, c3, D3, Pb, Qb, cP, D5, D6`.
    Smp2, 11, [g2b, c2, d2, g3b, c3, d3, pb, qb, cp, d5, d6]
);
smp_message!(
    /// §8.4 SMP3, sent by the asker: `Pa, Qa, cP, D5, D6, Ra, cR, D7`.
    Smp3, 8, [pa, qa, cp, d5, d6, ra, cr, d7]
);
smp_message!(
    /// §8.4 SMP4, sent by the answerer: `Rb, cR, D7`.
    Smp4, 3, [rb, cr, d7]
);

/// The prime `p` of §8.1.
pub fn prime() -> BigUint {
    group::to_biguint(group().p.modulus().as_ref())
}

/// The subgroup order `q = (p - 1) / 2` of §8.1.
pub fn subgroup_order() -> BigUint {
    group::to_biguint(group().q.modulus().as_ref())
}

/// `2^e mod p` through the compiled comb of g (`table`) or a plain fixed-window power, both
/// constant time: for the benchmark that compares the two in one run. Not part of the API.
#[doc(hidden)]
pub fn __bench_pow_g(e: &BigUint, table: bool) -> BigUint {
    let g = group();
    let e = group::from_biguint(e).unwrap_or(Num::ZERO);
    let power = if table {
        g.pow_g(&e, group::BITS)
    } else {
        group::pow(&Elem::new(&Num::from_u8(2), &g.p), &e)
    };
    group::to_biguint(&power.retrieve())
}

// ---------------------------------------------------------------------------------------------
// §8.2 Secret, §8.1 exponents

/// A secret integer below `2^1536`: the SMP secret or an exponent. Erased when dropped (§12.3).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretInt(Num);

impl SecretInt {
    /// Wraps a value, reduced mod `q` (vectors and tests fix exponents this way).
    pub fn new(v: BigUint) -> Self {
        let q = group::to_biguint(group().q.modulus().as_ref());
        Self(group::from_biguint(&(v % q)).unwrap_or(Num::ZERO))
    }

    /// A uniform exponent in `[1, q-1]`: 208 random bytes, `1 + r mod (q-1)` (§8.1).
    pub fn random_exponent(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 208]);
        rng.fill_bytes(&mut *bytes);
        Self(group().exponent_from_bytes(&bytes))
    }

    /// The value. Secret.
    pub fn dangerous_value(&self) -> BigUint {
        group::to_biguint(&self.0)
    }

    /// `self · other mod q`, constant time.
    fn times(&self, other: &Num) -> Num {
        group().mul_q(&self.0, other)
    }
}

impl fmt::Debug for SecretInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretInt(<redacted>)")
    }
}

/// An answer as §8.2 hashes it: leading and trailing Unicode `White_Space` removed, then
/// Unicode Normalization Form C, so "Zürich" typed precomposed or decomposed is the same answer.
/// Case and inner spacing still count.
pub fn normalize_answer(answer: &str) -> Zeroizing<String> {
    // `str::trim` removes exactly the characters with the White_Space property.
    // Sized once: a string that grows leaves copies of the answer in the buffers it outgrew.
    // NFC output is at most three times the input (UAX #15, "Stream-Safe Text Format").
    let mut out = Zeroizing::new(String::with_capacity(answer.len() * 3));
    out.extend(answer.trim().nfc());
    out
}

/// The SMP secret of §8.2: `SHA-256(0x01 || SHA-256(I) || SHA-256(R) || session id || answer)`,
/// with the answer normalized by [`normalize_answer`].
pub fn secret(
    initiator_public: &[u8; 32],
    responder_public: &[u8; 32],
    session_id: &[u8; 32],
    answer: &str,
) -> SecretInt {
    erased(|| {
        let answer = normalize_answer(answer);
        let digest = Zeroizing::new(sha256(&[
            &[0x01],
            &sha256(&[initiator_public]),
            &sha256(&[responder_public]),
            session_id,
            answer.as_bytes(),
        ]));
        SecretInt(group::num_from_be(&*digest).unwrap_or(Num::ZERO))
    })
}

// ---------------------------------------------------------------------------------------------
// §8.5 Steps

/// The asker's random exponents for step 1.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Step1Random {
    pub a2: SecretInt,
    pub a3: SecretInt,
    pub r2: SecretInt,
    pub r3: SecretInt,
}

/// The answerer's random exponents for step 2.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Step2Random {
    pub b2: SecretInt,
    pub b3: SecretInt,
    pub r2: SecretInt,
    pub r3: SecretInt,
    pub r4: SecretInt,
    pub r5: SecretInt,
    pub r6: SecretInt,
}

/// The asker's random exponents for step 3.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Step3Random {
    pub r4: SecretInt,
    pub r5: SecretInt,
    pub r6: SecretInt,
    pub r7: SecretInt,
}

/// The answerer's random exponent for step 4.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Step4Random {
    pub r7: SecretInt,
}

impl Step1Random {
    /// Draws every exponent from `rng`.
    pub fn draw(rng: &mut impl CryptoRngCore) -> Self {
        let mut e = || SecretInt::random_exponent(rng);
        Self {
            a2: e(),
            a3: e(),
            r2: e(),
            r3: e(),
        }
    }
}

impl Step2Random {
    /// Draws every exponent from `rng`.
    pub fn draw(rng: &mut impl CryptoRngCore) -> Self {
        let mut e = || SecretInt::random_exponent(rng);
        Self {
            b2: e(),
            b3: e(),
            r2: e(),
            r3: e(),
            r4: e(),
            r5: e(),
            r6: e(),
        }
    }
}

impl Step3Random {
    /// Draws every exponent from `rng`.
    pub fn draw(rng: &mut impl CryptoRngCore) -> Self {
        let mut e = || SecretInt::random_exponent(rng);
        Self {
            r4: e(),
            r5: e(),
            r6: e(),
            r7: e(),
        }
    }
}

impl Step4Random {
    /// Draws the exponent from `rng`.
    pub fn draw(rng: &mut impl CryptoRngCore) -> Self {
        Self {
            r7: SecretInt::random_exponent(rng),
        }
    }
}

/// What the asker keeps after step 1.
#[derive(Clone, Debug)]
pub struct AskerAfterSmp1 {
    x: SecretInt,
    a2: SecretInt,
    a3: SecretInt,
}

/// An SMP1 that passed the checks of step 2, kept until the answerer's person answers: the
/// combs of `g2a` and `g3a`, which the answerer raises to all its exponents.
#[derive(Clone, Debug)]
pub struct CheckedSmp1 {
    g2a: Comb,
    g3a: Comb,
}

/// What the answerer keeps after step 2.
#[derive(Clone, Debug)]
pub struct AnswererAfterSmp2 {
    b2: SecretInt,
    b3: SecretInt,
    /// `g2 = g2a^b2` is never formed: `g2^e = g2a^(b2·e mod q)`, as `g2a` has order `q`.
    g2a: Comb,
    /// Likewise `g3 = g3a^b3`.
    g3a: Comb,
    pb: Elem,
    qb: Elem,
}

/// What the asker keeps after step 3.
#[derive(Clone, Debug)]
pub struct AskerAfterSmp3 {
    a3: SecretInt,
    g3b: Comb,
    pa_over_pb: Elem,
    qa_over_qb: Comb,
}

/// A received group element: in range and in the subgroup of order `q` (§8.1).
fn element(v: &BigUint, name: &'static str) -> Result<Elem, SmpError> {
    group().element(v).map_err(|e| match e {
        NotElement::Range => SmpError::InvalidGroupElement(name),
        NotElement::Subgroup => SmpError::NotInSubgroup(name),
    })
}

/// A received exponent in `[1, q)` (§8.1).
fn exponent(v: &BigUint, name: &'static str) -> Result<Num, SmpError> {
    group().exponent(v).ok_or(SmpError::InvalidExponent(name))
}

/// A received hash value `c`; one that does not fit cannot equal a hash output.
fn challenge(v: &BigUint, name: &'static str) -> Result<Num, SmpError> {
    group::from_biguint(v).ok_or(SmpError::BadProof(name))
}

fn proof(ok: bool, name: &'static str) -> Result<(), SmpError> {
    if ok {
        Ok(())
    } else {
        Err(SmpError::BadProof(name))
    }
}

fn div(a: &Elem, b: &Elem, name: &'static str) -> Result<Elem, SmpError> {
    group()
        .div_public(a, b)
        .ok_or(SmpError::InvalidGroupElement(name))
}

/// Checks `c == h(v, g1^D · X^c)`, a proof of knowledge of `log X`, where `x` is the comb of the
/// received `X` (§8.5). Everything here is public.
fn check_log_proof(version: u8, x: &Comb, c: &Num, d: &Num) -> bool {
    let v = group().pow_g_vartime(d).mul(&x.pow_vartime(c));
    *c == hash(version, &v, None)
}

/// `(c, D)` with `c = h(v, g1^r)`, `D = r - a·c` (§8.5).
fn log_proof(version: u8, a: &SecretInt, r: &SecretInt) -> (Num, Num) {
    let g = group();
    let c = hash(version, &g.pow_g(&r.0, FULL), None);
    let d = g.proof_exponent(&r.0, &a.0, &c);
    (c, d)
}

/// The public bound on every secret exponent: `2^1536`.
const FULL: u32 = group::BITS;

fn big(n: &Num) -> BigUint {
    group::to_biguint(n)
}

fn big_elem(e: &Elem) -> BigUint {
    group::to_biguint(&e.retrieve())
}

/// Step 1, asker: SMP1 (§8.5).
pub fn step1(x: SecretInt, rand: Step1Random) -> (AskerAfterSmp1, Smp1) {
    erased(|| {
        let g = group();
        let (c2, d2) = log_proof(1, &rand.a2, &rand.r2);
        let (c3, d3) = log_proof(2, &rand.a3, &rand.r3);
        let msg = Smp1 {
            g2a: big_elem(&g.pow_g(&rand.a2.0, FULL)),
            c2: big(&c2),
            d2: big(&d2),
            g3a: big_elem(&g.pow_g(&rand.a3.0, FULL)),
            c3: big(&c3),
            d3: big(&d3),
        };
        (
            AskerAfterSmp1 {
                x,
                a2: rand.a2,
                a3: rand.a3,
            },
            msg,
        )
    })
}

/// Step 2 checks, answerer: run as soon as SMP1 arrives (§8.5).
pub fn check_smp1(m: &Smp1) -> Result<CheckedSmp1, SmpError> {
    erased(|| {
        let g = group();
        let g2a = element(&m.g2a, "g2a")?;
        let g3a = element(&m.g3a, "g3a")?;
        let d2 = exponent(&m.d2, "D2")?;
        let d3 = exponent(&m.d3, "D3")?;
        let c2 = challenge(&m.c2, "c2")?;
        let c3 = challenge(&m.c3, "c3")?;
        let (g2a, g3a) = (g.comb(&g2a), g.comb(&g3a));
        proof(check_log_proof(1, &g2a, &c2, &d2), "c2")?;
        proof(check_log_proof(2, &g3a, &c3, &d3), "c3")?;
        Ok(CheckedSmp1 { g2a, g3a })
    })
}

/// Step 2, answerer, once its person answered: SMP2 (§8.5).
pub fn step2(m: &CheckedSmp1, y: SecretInt, rand: Step2Random) -> (AnswererAfterSmp2, Smp2) {
    erased(|| {
        let g = group();
        let (c2, d2) = log_proof(3, &rand.b2, &rand.r2);
        let (c3, d3) = log_proof(4, &rand.b3, &rand.r3);
        // g3^r4 = g3a^(b3·r4), g2^y = g2a^(b2·y) and so on.
        let pb = m.g3a.pow(&rand.b3.times(&rand.r4.0), FULL);
        let qb = g
            .pow_g(&rand.r4.0, FULL)
            .mul(&m.g2a.pow(&rand.b2.times(&y.0), FULL));
        let cp = hash(
            5,
            &m.g3a.pow(&rand.b3.times(&rand.r5.0), FULL),
            Some(
                &g.pow_g(&rand.r5.0, FULL)
                    .mul(&m.g2a.pow(&rand.b2.times(&rand.r6.0), FULL)),
            ),
        );
        let d5 = g.proof_exponent(&rand.r5.0, &rand.r4.0, &cp);
        let d6 = g.proof_exponent(&rand.r6.0, &y.0, &cp);
        let msg = Smp2 {
            g2b: big_elem(&g.pow_g(&rand.b2.0, FULL)),
            c2: big(&c2),
            d2: big(&d2),
            g3b: big_elem(&g.pow_g(&rand.b3.0, FULL)),
            c3: big(&c3),
            d3: big(&d3),
            pb: big_elem(&pb),
            qb: big_elem(&qb),
            cp: big(&cp),
            d5: big(&d5),
            d6: big(&d6),
        };
        let state = AnswererAfterSmp2 {
            b2: rand.b2,
            b3: rand.b3,
            g2a: m.g2a.clone(),
            g3a: m.g3a.clone(),
            pb,
            qb,
        };
        (state, msg)
    })
}

/// Step 3, asker: checks SMP2 and answers SMP3 (§8.5).
pub fn step3(
    s: AskerAfterSmp1,
    m: &Smp2,
    rand: Step3Random,
) -> Result<(AskerAfterSmp3, Smp3), SmpError> {
    erased(|| {
        let g = group();
        let g2b = element(&m.g2b, "g2b")?;
        let g3b = element(&m.g3b, "g3b")?;
        let pb = element(&m.pb, "Pb")?;
        let qb = element(&m.qb, "Qb")?;
        let d2 = exponent(&m.d2, "D2")?;
        let d3 = exponent(&m.d3, "D3")?;
        let d5 = exponent(&m.d5, "D5")?;
        let d6 = exponent(&m.d6, "D6")?;
        let (c2, c3, cp) = (
            challenge(&m.c2, "c2")?,
            challenge(&m.c3, "c3")?,
            challenge(&m.cp, "cP")?,
        );
        let (g2b, g3b) = (g.comb(&g2b), g.comb(&g3b));
        proof(check_log_proof(3, &g2b, &c2, &d2), "c2")?;
        proof(check_log_proof(4, &g3b, &c3, &d3), "c3")?;
        // g3 = g3b^a3 and g2 = g2b^a2 are never formed: g3^e = g3b^(a3·e mod q).
        let expected_cp = hash(
            5,
            &g3b.pow(&s.a3.times(&d5), FULL).mul(&pb.pow_vartime(&cp)),
            Some(
                &g.pow_g_vartime(&d5)
                    .mul(&g2b.pow(&s.a2.times(&d6), FULL))
                    .mul(&qb.pow_vartime(&cp)),
            ),
        );
        proof(expected_cp == cp, "cP")?;

        let pa = g3b.pow(&s.a3.times(&rand.r4.0), FULL);
        let qa = g
            .pow_g(&rand.r4.0, FULL)
            .mul(&g2b.pow(&s.a2.times(&s.x.0), FULL));
        let cp = hash(
            6,
            &g3b.pow(&s.a3.times(&rand.r5.0), FULL),
            Some(
                &g.pow_g(&rand.r5.0, FULL)
                    .mul(&g2b.pow(&s.a2.times(&rand.r6.0), FULL)),
            ),
        );
        let d5 = g.proof_exponent(&rand.r5.0, &rand.r4.0, &cp);
        let d6 = g.proof_exponent(&rand.r6.0, &s.x.0, &cp);
        let qa_over_qb = g.comb(&div(&qa, &qb, "Qb")?);
        let ra = qa_over_qb.pow(&s.a3.0, FULL);
        let cr = hash(
            7,
            &g.pow_g(&rand.r7.0, FULL),
            Some(&qa_over_qb.pow(&rand.r7.0, FULL)),
        );
        let d7 = g.proof_exponent(&rand.r7.0, &s.a3.0, &cr);
        let pa_over_pb = div(&pa, &pb, "Pb")?;
        let msg = Smp3 {
            pa: big_elem(&pa),
            qa: big_elem(&qa),
            cp: big(&cp),
            d5: big(&d5),
            d6: big(&d6),
            ra: big_elem(&ra),
            cr: big(&cr),
            d7: big(&d7),
        };
        let state = AskerAfterSmp3 {
            a3: s.a3,
            g3b,
            pa_over_pb,
            qa_over_qb,
        };
        Ok((state, msg))
    })
}

/// Step 4, answerer: checks SMP3, answers SMP4 and learns whether the answers matched (§8.5).
pub fn step4(s: AnswererAfterSmp2, m: &Smp3, rand: Step4Random) -> Result<(bool, Smp4), SmpError> {
    erased(|| {
        let g = group();
        let pa = element(&m.pa, "Pa")?;
        let qa = element(&m.qa, "Qa")?;
        let ra = element(&m.ra, "Ra")?;
        let d5 = exponent(&m.d5, "D5")?;
        let d6 = exponent(&m.d6, "D6")?;
        let d7 = exponent(&m.d7, "D7")?;
        let (cp, cr) = (challenge(&m.cp, "cP")?, challenge(&m.cr, "cR")?);
        let expected_cp = hash(
            6,
            &s.g3a.pow(&s.b3.times(&d5), FULL).mul(&pa.pow_vartime(&cp)),
            Some(
                &g.pow_g_vartime(&d5)
                    .mul(&s.g2a.pow(&s.b2.times(&d6), FULL))
                    .mul(&qa.pow_vartime(&cp)),
            ),
        );
        proof(expected_cp == cp, "cP")?;
        let qa_over_qb = g.comb(&div(&qa, &s.qb, "Qa")?);
        let expected_cr = hash(
            7,
            &g.pow_g_vartime(&d7).mul(&s.g3a.pow_vartime(&cr)),
            Some(&qa_over_qb.pow_vartime(&d7).mul(&ra.pow_vartime(&cr))),
        );
        proof(expected_cr == cr, "cR")?;

        let rb = qa_over_qb.pow(&s.b3.0, FULL);
        let cr = hash(
            8,
            &g.pow_g(&rand.r7.0, FULL),
            Some(&qa_over_qb.pow(&rand.r7.0, FULL)),
        );
        let d7 = g.proof_exponent(&rand.r7.0, &s.b3.0, &cr);
        let rab = group::pow(&ra, &s.b3.0);
        let matched = group::ct_equal(&rab, &div(&pa, &s.pb, "Pa")?);
        Ok((
            matched,
            Smp4 {
                rb: big_elem(&rb),
                cr: big(&cr),
                d7: big(&d7),
            },
        ))
    })
}

/// Step 5, asker: checks SMP4 and learns whether the answers matched (§8.5).
pub fn step5(s: AskerAfterSmp3, m: &Smp4) -> Result<bool, SmpError> {
    erased(|| {
        let g = group();
        let rb = element(&m.rb, "Rb")?;
        let d7 = exponent(&m.d7, "D7")?;
        let cr = challenge(&m.cr, "cR")?;
        let expected_cr = hash(
            8,
            &g.pow_g_vartime(&d7).mul(&s.g3b.pow_vartime(&cr)),
            Some(&s.qa_over_qb.pow_vartime(&d7).mul(&rb.pow_vartime(&cr))),
        );
        proof(expected_cr == cr, "cR")?;
        let rab = group::pow(&rb, &s.a3.0);
        Ok(group::ct_equal(&rab, &s.pa_over_pb))
    })
}

// ---------------------------------------------------------------------------------------------
// §8.6 States

/// How an SMP run ended, as reported to the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmpOutcome {
    /// Both typed the same answer in this very session: nobody is in the middle.
    Matched,
    /// The answers differ, or someone sits in the middle (§8.2).
    Mismatched,
    /// The friend aborted.
    AbortedByPeer,
    /// A check of the friend's SMP message failed (§8.1, §8.5): a value out of range or outside
    /// the group, or a proof that does not hold. Honest software never sends that: the friend's
    /// software cheats, or someone in the middle tampers. Not a cancel.
    Failed(SmpError),
    /// This side aborted: a message out of order (§8.6).
    Aborted(SmpError),
    /// Both asked at once and the friend's question goes first (§8.6): this side's question was
    /// dropped and the friend's is shown instead.
    Crossed,
}

/// The per-session SMP state machine (§8.6).
#[derive(Debug, Default)]
pub enum Smp {
    /// No run.
    #[default]
    Idle,
    /// Answerer: got SMP0 (the question is shown), waiting for SMP1.
    ExpectSmp1 {
        /// The question shown.
        question: String,
        /// An answer the person gave before SMP1 arrived: used as soon as it does (§8.6).
        answer: Option<SecretInt>,
    },
    /// Answerer: got a checked SMP1, waiting for the person's answer.
    ExpectAnswer {
        /// The question shown.
        question: String,
        /// The checked SMP1.
        smp1: CheckedSmp1,
    },
    /// Asker: sent SMP0 and SMP1.
    ExpectSmp2 {
        /// What step 1 keeps.
        asker: Box<AskerAfterSmp1>,
        /// Both asked at once and this side's run won: the friend's SMP1 is still on its way and
        /// is dropped when it comes (§8.6).
        drop_smp1: bool,
    },
    /// Answerer: sent SMP2.
    ExpectSmp3(Box<AnswererAfterSmp2>),
    /// Asker: sent SMP3.
    ExpectSmp4(Box<AskerAfterSmp3>),
}

/// What one SMP input produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SmpOutput {
    /// Inner messages to send, in order.
    pub send: Vec<InnerMessage>,
    /// A question to show the person, who should answer it.
    pub question: Option<String>,
    /// The end of a run.
    pub outcome: Option<SmpOutcome>,
}

/// Which side's run goes on when both ask at once (§8.6): the side whose canonical nickname is
/// lower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TieBreak {
    /// This side's run goes on; the friend's question is dropped.
    Win,
    /// The friend's run goes on; this side's question is dropped.
    Lose,
}

impl Smp {
    /// The state's name, as in §8.6.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::ExpectSmp1 { .. } => "ExpectSmp1",
            Self::ExpectAnswer { .. } => "ExpectAnswer",
            Self::ExpectSmp2 { .. } => "ExpectSmp2",
            Self::ExpectSmp3(_) => "ExpectSmp3",
            Self::ExpectSmp4(_) => "ExpectSmp4",
        }
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        !matches!(self, Self::Idle)
    }

    /// How long §8.6 lets this state wait for the friend, and for what: a person answering
    /// (SMP2) gets [`limits::SMP_ANSWER_TIMEOUT`], software (SMP1, SMP3, SMP4)
    /// [`limits::SMP_STEP_TIMEOUT`]. `None` where nothing is awaited from the friend.
    pub fn timeout(&self) -> Option<(core::time::Duration, &'static str)> {
        match self {
            Self::ExpectSmp1 { .. } => Some((limits::SMP_STEP_TIMEOUT, "SMP1")),
            Self::ExpectSmp2 { .. } => Some((limits::SMP_ANSWER_TIMEOUT, "SMP2")),
            Self::ExpectSmp3(_) => Some((limits::SMP_STEP_TIMEOUT, "SMP3")),
            Self::ExpectSmp4(_) => Some((limits::SMP_STEP_TIMEOUT, "SMP4")),
            Self::Idle | Self::ExpectAnswer { .. } => None,
        }
    }

    /// The run waited too long (§8.6): SMP_ABORT and [`SmpOutcome::Aborted`] with
    /// [`SmpError::TimedOut`].
    pub fn time_out(&mut self, waiting_for: &'static str) -> SmpOutput {
        if !self.is_running() {
            return SmpOutput::default();
        }
        *self = Self::Idle;
        SmpOutput {
            send: vec![InnerMessage::SmpAbort],
            question: None,
            outcome: Some(SmpOutcome::Aborted(SmpError::TimedOut { waiting_for })),
        }
    }

    /// The question the person should answer: shown from SMP0 on until they answer (§8.6).
    pub fn pending_question(&self) -> Option<&str> {
        match self {
            Self::ExpectSmp1 {
                question,
                answer: None,
            }
            | Self::ExpectAnswer { question, .. } => Some(question),
            _ => None,
        }
    }

    /// The person asks `question` with their answer's secret (§8.5 step 1): SMP0 then SMP1.
    pub fn start(
        &mut self,
        question: String,
        x: SecretInt,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SmpOutput, SmpError> {
        if self.is_running() {
            return Err(SmpError::NotNow(
                "start a verification while one is running",
            ));
        }
        let (state, smp1) = step1(x, Step1Random::draw(rng));
        *self = Self::ExpectSmp2 {
            asker: Box::new(state),
            drop_smp1: false,
        };
        Ok(SmpOutput {
            send: vec![InnerMessage::Smp0 { question }, InnerMessage::Smp1(smp1)],
            ..SmpOutput::default()
        })
    }

    /// The person answered the question (§8.5 step 2): SMP2, or, when SMP1 has not arrived yet,
    /// the answer is kept and SMP2 goes out when it does (§8.6).
    pub fn answer(
        &mut self,
        y: SecretInt,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SmpOutput, SmpError> {
        match core::mem::take(self) {
            Self::ExpectAnswer { smp1, .. } => {
                let (state, smp2) = step2(&smp1, y, Step2Random::draw(rng));
                *self = Self::ExpectSmp3(Box::new(state));
                Ok(SmpOutput {
                    send: vec![InnerMessage::Smp2(smp2)],
                    ..SmpOutput::default()
                })
            }
            Self::ExpectSmp1 { question, .. } => {
                *self = Self::ExpectSmp1 {
                    question,
                    answer: Some(y),
                };
                Ok(SmpOutput::default())
            }
            other => {
                *self = other;
                Err(SmpError::NotNow("answer: no question is waiting"))
            }
        }
    }

    /// The person aborts: SMP_ABORT, unless nothing runs.
    pub fn abort(&mut self) -> SmpOutput {
        if !self.is_running() {
            return SmpOutput::default();
        }
        *self = Self::Idle;
        SmpOutput {
            send: vec![InnerMessage::SmpAbort],
            ..SmpOutput::default()
        }
    }

    /// An SMP inner message from the peer (SMP0..SMP4, SMP_ABORT). A failed check ends the run
    /// as [`SmpOutcome::Failed`], a message out of order as [`SmpOutcome::Aborted`]; both send
    /// SMP_ABORT and never end the session (§8.6). `tie` settles SMP0 crossing this side's own.
    pub fn receive(
        &mut self,
        msg: &InnerMessage,
        tie: TieBreak,
        rng: &mut impl CryptoRngCore,
    ) -> SmpOutput {
        let state = core::mem::take(self);
        match self.step(state, msg, tie, rng) {
            Ok(out) => out,
            Err(e) => {
                *self = Self::Idle;
                SmpOutput {
                    send: vec![InnerMessage::SmpAbort],
                    question: None,
                    outcome: Some(if e.is_check_failure() {
                        SmpOutcome::Failed(e)
                    } else {
                        SmpOutcome::Aborted(e)
                    }),
                }
            }
        }
    }

    fn step(
        &mut self,
        state: Smp,
        msg: &InnerMessage,
        tie: TieBreak,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SmpOutput, SmpError> {
        let unexpected = |state: &Smp| SmpError::Unexpected {
            expected: match state {
                Self::Idle => "SMP0",
                Self::ExpectSmp1 { .. } => "SMP1",
                Self::ExpectAnswer { .. } => "the person's answer",
                Self::ExpectSmp2 { .. } => "SMP2",
                Self::ExpectSmp3(_) => "SMP3",
                Self::ExpectSmp4(_) => "SMP4",
            },
            got: msg.name(),
        };
        let done = |outcome| SmpOutput {
            outcome: Some(outcome),
            ..SmpOutput::default()
        };
        let result = |matched| {
            if matched {
                SmpOutcome::Matched
            } else {
                SmpOutcome::Mismatched
            }
        };
        match (state, msg) {
            // Nothing runs: a stray SMP message belongs to a run that already ended (aborted,
            // timed out, or dropped in a tie). Ignored without a report or an SMP_ABORT.
            (Self::Idle, InnerMessage::SmpAbort) => Ok(SmpOutput::default()),
            (_, InnerMessage::SmpAbort) => Ok(done(SmpOutcome::AbortedByPeer)),
            (Self::Idle, InnerMessage::Smp0 { question }) => {
                *self = Self::ExpectSmp1 {
                    question: question.clone(),
                    answer: None,
                };
                Ok(SmpOutput {
                    question: Some(question.clone()),
                    ..SmpOutput::default()
                })
            }
            (Self::Idle, _) => Ok(SmpOutput::default()),
            // Both asked at once (§8.6).
            (Self::ExpectSmp2 { asker, .. }, InnerMessage::Smp0 { question }) => match tie {
                TieBreak::Win => {
                    *self = Self::ExpectSmp2 {
                        asker,
                        drop_smp1: true,
                    };
                    Ok(SmpOutput::default())
                }
                TieBreak::Lose => {
                    *self = Self::ExpectSmp1 {
                        question: question.clone(),
                        answer: None,
                    };
                    Ok(SmpOutput {
                        send: Vec::new(),
                        question: Some(question.clone()),
                        outcome: Some(SmpOutcome::Crossed),
                    })
                }
            },
            (
                Self::ExpectSmp2 {
                    asker,
                    drop_smp1: true,
                },
                InnerMessage::Smp1(_),
            ) => {
                *self = Self::ExpectSmp2 {
                    asker,
                    drop_smp1: false,
                };
                Ok(SmpOutput::default())
            }
            (Self::ExpectSmp1 { question, answer }, InnerMessage::Smp1(m)) => {
                let smp1 = check_smp1(m)?;
                match answer {
                    Some(y) => {
                        let (state, smp2) = step2(&smp1, y, Step2Random::draw(rng));
                        *self = Self::ExpectSmp3(Box::new(state));
                        Ok(SmpOutput {
                            send: vec![InnerMessage::Smp2(smp2)],
                            ..SmpOutput::default()
                        })
                    }
                    None => {
                        *self = Self::ExpectAnswer { question, smp1 };
                        Ok(SmpOutput::default())
                    }
                }
            }
            (Self::ExpectSmp2 { asker, .. }, InnerMessage::Smp2(m)) => {
                // Copied out, never moved out: moving a value out of its box frees the box
                // without erasing it, which left the secret in freed memory (tests/erasure.rs).
                // The box is dropped, and erased, here.
                let (next, smp3) = step3(AskerAfterSmp1::clone(&asker), m, Step3Random::draw(rng))?;
                *self = Self::ExpectSmp4(Box::new(next));
                Ok(SmpOutput {
                    send: vec![InnerMessage::Smp3(smp3)],
                    ..SmpOutput::default()
                })
            }
            (Self::ExpectSmp3(s), InnerMessage::Smp3(m)) => {
                let (matched, smp4) =
                    step4(AnswererAfterSmp2::clone(&s), m, Step4Random::draw(rng))?;
                Ok(SmpOutput {
                    send: vec![InnerMessage::Smp4(smp4)],
                    question: None,
                    outcome: Some(result(matched)),
                })
            }
            (Self::ExpectSmp4(s), InnerMessage::Smp4(m)) => {
                Ok(done(result(step5(AskerAfterSmp3::clone(&s), m)?)))
            }
            (state, _) => Err(unexpected(&state)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn run(x: &str, y: &str) -> (bool, bool) {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let secret = |a: &str| super::secret(&[1; 32], &[2; 32], &[3; 32], a);
        let (a, m1) = step1(secret(x), Step1Random::draw(&mut rng));
        let checked = check_smp1(&m1).unwrap();
        let (b, m2) = step2(&checked, secret(y), Step2Random::draw(&mut rng));
        let (a, m3) = step3(a, &m2, Step3Random::draw(&mut rng)).unwrap();
        let (bob, m4) = step4(b, &m3, Step4Random::draw(&mut rng)).unwrap();
        (step5(a, &m4).unwrap(), bob)
    }

    #[test]
    fn smp_8_5_equal_answers_match_on_both_sides() {
        assert_eq!(run("Paris", "  Paris "), (true, true));
    }

    #[test]
    fn smp_8_5_different_answers_do_not_match() {
        assert_eq!(run("Paris", "paris"), (false, false));
    }

    #[test]
    fn smp_8_5_forged_proof_is_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (_, mut m1) = step1(
            secret(&[1; 32], &[2; 32], &[3; 32], "a"),
            Step1Random::draw(&mut rng),
        );
        m1.c2 += 1u32;
        assert_eq!(check_smp1(&m1).unwrap_err(), SmpError::BadProof("c2"));
    }

    /// The attack of §8.1: `-g2a` is a non-residue, and its proof still verifies when `c2` is even.
    #[test]
    fn smp_8_1_non_residue_with_a_valid_proof_is_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let x = || secret(&[1; 32], &[2; 32], &[3; 32], "a");
        let forged = loop {
            let (_, m1) = step1(x(), Step1Random::draw(&mut rng));
            if !m1.c2.bit(0) {
                break Smp1 {
                    g2a: prime() - &m1.g2a,
                    ..m1
                };
            }
        };
        assert_eq!(
            check_smp1(&forged).unwrap_err(),
            SmpError::NotInSubgroup("g2a")
        );
    }

    #[test]
    fn smp_8_1_rejects_out_of_range_elements() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (_, mut m1) = step1(
            secret(&[1; 32], &[2; 32], &[3; 32], "a"),
            Step1Random::draw(&mut rng),
        );
        m1.g2a = BigUint::from(1u32);
        assert_eq!(
            check_smp1(&m1).unwrap_err(),
            SmpError::InvalidGroupElement("g2a")
        );
    }

    fn x(answer: &str) -> SecretInt {
        secret(&[1; 32], &[2; 32], &[3; 32], answer)
    }

    /// Delivers each message to `to`, collecting what it sends back and its outputs.
    fn deliver(
        to: &mut Smp,
        msgs: &[InnerMessage],
        tie: TieBreak,
        rng: &mut ChaCha20Rng,
    ) -> Vec<SmpOutput> {
        msgs.iter().map(|m| to.receive(m, tie, rng)).collect()
    }

    fn sent(outs: &[SmpOutput]) -> Vec<InnerMessage> {
        outs.iter().flat_map(|o| o.send.clone()).collect()
    }

    fn outcomes(outs: &[SmpOutput]) -> Vec<SmpOutcome> {
        outs.iter().filter_map(|o| o.outcome).collect()
    }

    #[test]
    fn smp_8_6_smp0_during_an_answerers_run_aborts_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut asker = Smp::default();
        let mut answerer = Smp::default();
        let start = asker.start("q".into(), x("a"), &mut rng).unwrap();
        let _ = deliver(&mut answerer, &start.send, TieBreak::Win, &mut rng);
        assert_eq!(answerer.name(), "ExpectAnswer");
        let out = answerer.receive(
            &InnerMessage::Smp0 {
                question: "again?".into(),
            },
            TieBreak::Win,
            &mut rng,
        );
        assert_eq!(out.send, vec![InnerMessage::SmpAbort]);
        assert!(matches!(
            out.outcome,
            Some(SmpOutcome::Aborted(SmpError::Unexpected { .. }))
        ));
        assert!(!answerer.is_running());
    }

    #[test]
    fn smp_8_6_both_asking_at_once_the_winner_goes_on_and_both_finish() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (mut alice, mut bob) = (Smp::default(), Smp::default());
        // alice's nickname is the lower one: she wins the tie.
        let from_alice = alice.start("pet?".into(), x("rex"), &mut rng).unwrap();
        let from_bob = bob.start("town?".into(), x("ely"), &mut rng).unwrap();
        let at_alice = deliver(&mut alice, &from_bob.send, TieBreak::Win, &mut rng);
        assert_eq!(sent(&at_alice), vec![], "the winner sends nothing back");
        assert_eq!(outcomes(&at_alice), vec![], "and reports nothing");
        assert_eq!(alice.name(), "ExpectSmp2");
        let at_bob = deliver(&mut bob, &from_alice.send, TieBreak::Lose, &mut rng);
        assert_eq!(outcomes(&at_bob), vec![SmpOutcome::Crossed]);
        assert_eq!(bob.pending_question(), Some("pet?"));
        // bob answers alice's question; the run completes on both sides.
        let smp2 = bob.answer(x("rex"), &mut rng).unwrap();
        let at_alice = deliver(&mut alice, &smp2.send, TieBreak::Win, &mut rng);
        let at_bob = deliver(&mut bob, &sent(&at_alice), TieBreak::Lose, &mut rng);
        let at_alice = deliver(&mut alice, &sent(&at_bob), TieBreak::Win, &mut rng);
        assert_eq!(outcomes(&at_bob), vec![SmpOutcome::Matched]);
        assert_eq!(outcomes(&at_alice), vec![SmpOutcome::Matched]);
    }

    #[test]
    fn smp_8_6_smp_messages_in_idle_are_ignored_silently() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let mut asker = Smp::default();
        let start = asker.start("q".into(), x("a"), &mut rng).unwrap();
        let mut idle = Smp::default();
        // SMP1 without SMP0, and SMP_ABORT: no SMP_ABORT back, no report, still Idle.
        for m in [start.send[1].clone(), InnerMessage::SmpAbort] {
            assert_eq!(
                idle.receive(&m, TieBreak::Win, &mut rng),
                SmpOutput::default()
            );
            assert!(!idle.is_running());
        }
    }

    #[test]
    fn smp_8_6_an_answer_given_before_smp1_arrives_is_used() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (mut asker, mut answerer) = (Smp::default(), Smp::default());
        let start = asker.start("pet?".into(), x("rex"), &mut rng).unwrap();
        // SMP0 alone: the question is shown at once.
        let out = answerer.receive(&start.send[0], TieBreak::Win, &mut rng);
        assert_eq!(out.question.as_deref(), Some("pet?"));
        assert_eq!(answerer.pending_question(), Some("pet?"));
        // The person answers before SMP1 arrives: kept, nothing sent yet.
        assert_eq!(
            answerer.answer(x("rex"), &mut rng).unwrap(),
            SmpOutput::default()
        );
        assert_eq!(answerer.pending_question(), None);
        // SMP1 arrives: SMP2 goes out, and the run completes.
        let smp2 = answerer.receive(&start.send[1], TieBreak::Win, &mut rng);
        assert!(matches!(smp2.send.as_slice(), [InnerMessage::Smp2(_)]));
        let at_asker = deliver(&mut asker, &smp2.send, TieBreak::Lose, &mut rng);
        let at_answerer = deliver(&mut answerer, &sent(&at_asker), TieBreak::Win, &mut rng);
        let at_asker = deliver(&mut asker, &sent(&at_answerer), TieBreak::Lose, &mut rng);
        assert_eq!(outcomes(&at_answerer), vec![SmpOutcome::Matched]);
        assert_eq!(outcomes(&at_asker), vec![SmpOutcome::Matched]);
    }

    #[test]
    fn smp_8_6_a_failed_check_is_reported_as_failed_not_as_a_cancel() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let mut asker = Smp::default();
        let mut start = asker.start("q".into(), x("a"), &mut rng).unwrap();
        if let Some(InnerMessage::Smp1(m)) = start.send.get_mut(1) {
            m.c2 += 1u32;
        }
        let mut answerer = Smp::default();
        let outs = deliver(&mut answerer, &start.send, TieBreak::Win, &mut rng);
        assert_eq!(
            outcomes(&outs),
            vec![SmpOutcome::Failed(SmpError::BadProof("c2"))]
        );
        assert_eq!(sent(&outs), vec![InnerMessage::SmpAbort]);
    }

    #[test]
    fn smp_8_2_answers_are_trimmed_and_normalized_to_nfc() {
        let same = |a: &str, b: &str| x(a).dangerous_value() == x(b).dangerous_value();
        // "Zürich" precomposed (U+00FC) and decomposed (u + U+0308).
        assert!(same("Z\u{fc}rich", "Zu\u{308}rich"));
        // U+0085 (NEXT LINE) is White_Space and is trimmed; U+001F and U+200B are not.
        assert!(same("\u{85}rex\u{85}", "rex"));
        assert!(!same("\u{1f}rex", "rex"));
        assert!(!same("\u{200b}rex", "rex"));
        // Case counts.
        assert!(!same("Rex", "rex"));
    }

    #[test]
    fn smp_8_1_random_exponents_are_in_range() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for _ in 0..50 {
            let e = SecretInt::random_exponent(&mut rng);
            assert!(group().exponent(&e.dangerous_value()).is_some());
        }
    }

    #[test]
    fn smp_8_3_rejects_leading_zero_and_wrong_count() {
        let mut r = Reader::new(&[0, 0, 0, 3, 0, 0, 0, 1, 0]);
        assert_eq!(
            Smp4::read(&mut r),
            Err(DecodeError::InvalidValue("mpi leading zero"))
        );
        let mut r = Reader::new(&[0, 0, 0, 2]);
        assert_eq!(
            Smp4::read(&mut r),
            Err(DecodeError::InvalidValue("mpi count"))
        );
        let mut r = Reader::new(&[0, 0, 0, 3, 0, 0, 0, 193]);
        assert_eq!(
            Smp4::read(&mut r),
            Err(DecodeError::InvalidValue("mpi length"))
        );
    }
}
