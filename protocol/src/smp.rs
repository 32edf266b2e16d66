//! §8 Socialist Millionaire Protocol, as in OTR version 3, with the secret bound to the session
//! (§8.2).
//!
//! The steps of §8.5 are pure functions with their random exponents passed in, so golden vectors
//! can fix them; [`Smp`] is the per-session state machine of §8.6 that draws them from the
//! injected random source.

mod group;

use crate::codec::{DecodeError, Reader};
use crate::inner::InnerMessage;
use crate::limits::MAX_MPI;
use crate::primitives::sha256;
use core::fmt;
use group::group;
use num_bigint::BigUint;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Why an SMP run was aborted (§8.6). None of these end the session.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmpError {
    /// A value that must be a group element is outside `[2, p-2]` (§8.1).
    InvalidGroupElement(&'static str),
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
}

impl fmt::Display for SmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidGroupElement(v) => write!(
                f,
                "verification failed: the friend's {v} is invalid; someone may be in the middle (§8.1)"
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
        }
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

/// `h(v, a[, b]) = SHA-256(v || MPI(a) [|| MPI(b)])` as an integer (§8.3).
fn hash(version: u8, a: &BigUint, b: Option<&BigUint>) -> BigUint {
    let mut buf = vec![version];
    put_mpi(&mut buf, a);
    if let Some(b) = b {
        put_mpi(&mut buf, b);
    }
    BigUint::from_bytes_be(&sha256(&[&buf]))
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

/// `2^e mod p` through the fixed-base table (`table`) or plain `modpow`: for the benchmark that
/// compares the two in one run. Not part of the API.
#[doc(hidden)]
pub fn __bench_pow_g(e: &BigUint, table: bool) -> BigUint {
    if table {
        group().pow_g(e)
    } else {
        group().pow(&BigUint::from(2u32), e)
    }
}

// ---------------------------------------------------------------------------------------------
// §8.2 Secret, §8.1 exponents

/// A secret integer: the SMP secret or an exponent. num-bigint cannot zeroize, so on drop the
/// digits are overwritten in place, best effort (§12.3).
#[derive(Clone)]
pub struct SecretInt(BigUint);

impl SecretInt {
    /// Wraps a value (vectors and tests fix exponents this way).
    pub fn new(v: BigUint) -> Self {
        Self(v)
    }

    /// A uniform exponent in `[1, q-1]`: 208 random bytes, `1 + r mod (q-1)` (§8.1).
    pub fn random_exponent(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 208]);
        rng.fill_bytes(&mut *bytes);
        let q_minus_1 = &group().q - 1u32;
        Self((BigUint::from_bytes_be(&*bytes) % q_minus_1) + 1u32)
    }

    /// The value. Secret.
    pub fn dangerous_value(&self) -> &BigUint {
        &self.0
    }
}

impl Drop for SecretInt {
    fn drop(&mut self) {
        let digits = usize::try_from(self.0.bits().div_ceil(32)).unwrap_or(0);
        // Rewrites the same buffer with zeros before it is freed.
        self.0.assign_from_slice(&vec![0u32; digits]);
    }
}

impl fmt::Debug for SecretInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretInt(<redacted>)")
    }
}

/// The SMP secret of §8.2: `SHA-256(0x01 || SHA-256(I) || SHA-256(R) || session id || answer)`,
/// with the answer trimmed of surrounding white space.
pub fn secret(
    initiator_public: &[u8; 32],
    responder_public: &[u8; 32],
    session_id: &[u8; 32],
    answer: &str,
) -> SecretInt {
    let digest = Zeroizing::new(sha256(&[
        &[0x01],
        &sha256(&[initiator_public]),
        &sha256(&[responder_public]),
        session_id,
        answer.trim().as_bytes(),
    ]));
    SecretInt(BigUint::from_bytes_be(&*digest))
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

/// An SMP1 that passed the checks of step 2, kept until the answerer's person answers.
#[derive(Clone, Debug)]
pub struct CheckedSmp1 {
    g2a: BigUint,
    g3a: BigUint,
}

/// What the answerer keeps after step 2.
#[derive(Clone, Debug)]
pub struct AnswererAfterSmp2 {
    b3: SecretInt,
    g2: BigUint,
    g3: BigUint,
    g3a: BigUint,
    pb: BigUint,
    qb: BigUint,
}

/// What the asker keeps after step 3.
#[derive(Clone, Debug)]
pub struct AskerAfterSmp3 {
    a3: SecretInt,
    g3b: BigUint,
    pa_over_pb: BigUint,
    qa_over_qb: BigUint,
}

fn element(v: &BigUint, name: &'static str) -> Result<(), SmpError> {
    if group().is_element(v) {
        Ok(())
    } else {
        Err(SmpError::InvalidGroupElement(name))
    }
}

fn exponent(v: &BigUint, name: &'static str) -> Result<(), SmpError> {
    if group().is_exponent(v) {
        Ok(())
    } else {
        Err(SmpError::InvalidExponent(name))
    }
}

fn proof(ok: bool, name: &'static str) -> Result<(), SmpError> {
    if ok {
        Ok(())
    } else {
        Err(SmpError::BadProof(name))
    }
}

fn div(a: &BigUint, b: &BigUint, name: &'static str) -> Result<BigUint, SmpError> {
    group().div(a, b).ok_or(SmpError::InvalidGroupElement(name))
}

/// Constant-time equality of two group elements (§12.4).
fn ct_equal(a: &BigUint, b: &BigUint) -> bool {
    let pad = |v: &BigUint| {
        let bytes = v.to_bytes_be();
        let mut out = [0u8; 193];
        let start = out.len().saturating_sub(bytes.len());
        if let Some(dst) = out.get_mut(start..) {
            dst.copy_from_slice(bytes.get(..dst.len()).unwrap_or_default());
        }
        out
    };
    bool::from(pad(a).ct_eq(&pad(b)))
}

/// Checks `c == h(v, g1^D · X^c)`, a proof of knowledge of `log X` (§8.5).
fn check_log_proof(version: u8, x: &BigUint, c: &BigUint, d: &BigUint) -> bool {
    let g = group();
    let v = g.mul(&g.pow_g(d), &g.pow(x, c));
    *c == hash(version, &v, None)
}

/// `(c, D)` with `c = h(v, g1^r)`, `D = r - a·c` (§8.5).
fn log_proof(version: u8, a: &SecretInt, r: &SecretInt) -> (BigUint, BigUint) {
    let g = group();
    let c = hash(version, &g.pow_g(&r.0), None);
    let d = g.proof_exponent(&r.0, &a.0, &c);
    (c, d)
}

/// Step 1, asker: SMP1 (§8.5).
pub fn step1(x: SecretInt, rand: Step1Random) -> (AskerAfterSmp1, Smp1) {
    let g = group();
    let (c2, d2) = log_proof(1, &rand.a2, &rand.r2);
    let (c3, d3) = log_proof(2, &rand.a3, &rand.r3);
    let msg = Smp1 {
        g2a: g.pow_g(&rand.a2.0),
        c2,
        d2,
        g3a: g.pow_g(&rand.a3.0),
        c3,
        d3,
    };
    (
        AskerAfterSmp1 {
            x,
            a2: rand.a2,
            a3: rand.a3,
        },
        msg,
    )
}

/// Step 2 checks, answerer: run as soon as SMP1 arrives (§8.5).
pub fn check_smp1(m: &Smp1) -> Result<CheckedSmp1, SmpError> {
    element(&m.g2a, "g2a")?;
    element(&m.g3a, "g3a")?;
    exponent(&m.d2, "D2")?;
    exponent(&m.d3, "D3")?;
    proof(check_log_proof(1, &m.g2a, &m.c2, &m.d2), "c2")?;
    proof(check_log_proof(2, &m.g3a, &m.c3, &m.d3), "c3")?;
    Ok(CheckedSmp1 {
        g2a: m.g2a.clone(),
        g3a: m.g3a.clone(),
    })
}

/// Step 2, answerer, once its person answered: SMP2 (§8.5).
pub fn step2(m: &CheckedSmp1, y: SecretInt, rand: Step2Random) -> (AnswererAfterSmp2, Smp2) {
    let g = group();
    let (c2, d2) = log_proof(3, &rand.b2, &rand.r2);
    let (c3, d3) = log_proof(4, &rand.b3, &rand.r3);
    let g2 = g.pow(&m.g2a, &rand.b2.0);
    let g3 = g.pow(&m.g3a, &rand.b3.0);
    let pb = g.pow(&g3, &rand.r4.0);
    let qb = g.mul(&g.pow_g(&rand.r4.0), &g.pow(&g2, &y.0));
    let cp = hash(
        5,
        &g.pow(&g3, &rand.r5.0),
        Some(&g.mul(&g.pow_g(&rand.r5.0), &g.pow(&g2, &rand.r6.0))),
    );
    let d5 = g.proof_exponent(&rand.r5.0, &rand.r4.0, &cp);
    let d6 = g.proof_exponent(&rand.r6.0, &y.0, &cp);
    let msg = Smp2 {
        g2b: g.pow_g(&rand.b2.0),
        c2,
        d2,
        g3b: g.pow_g(&rand.b3.0),
        c3,
        d3,
        pb: pb.clone(),
        qb: qb.clone(),
        cp,
        d5,
        d6,
    };
    let state = AnswererAfterSmp2 {
        b3: rand.b3,
        g2,
        g3,
        g3a: m.g3a.clone(),
        pb,
        qb,
    };
    (state, msg)
}

/// Step 3, asker: checks SMP2 and answers SMP3 (§8.5).
pub fn step3(
    s: AskerAfterSmp1,
    m: &Smp2,
    rand: Step3Random,
) -> Result<(AskerAfterSmp3, Smp3), SmpError> {
    let g = group();
    element(&m.g2b, "g2b")?;
    element(&m.g3b, "g3b")?;
    element(&m.pb, "Pb")?;
    element(&m.qb, "Qb")?;
    for (d, name) in [(&m.d2, "D2"), (&m.d3, "D3"), (&m.d5, "D5"), (&m.d6, "D6")] {
        exponent(d, name)?;
    }
    proof(check_log_proof(3, &m.g2b, &m.c2, &m.d2), "c2")?;
    proof(check_log_proof(4, &m.g3b, &m.c3, &m.d3), "c3")?;
    let g2 = g.pow(&m.g2b, &s.a2.0);
    let g3 = g.pow(&m.g3b, &s.a3.0);
    let expected_cp = hash(
        5,
        &g.mul(&g.pow(&g3, &m.d5), &g.pow(&m.pb, &m.cp)),
        Some(&g.mul(
            &g.mul(&g.pow_g(&m.d5), &g.pow(&g2, &m.d6)),
            &g.pow(&m.qb, &m.cp),
        )),
    );
    proof(expected_cp == m.cp, "cP")?;

    let pa = g.pow(&g3, &rand.r4.0);
    let qa = g.mul(&g.pow_g(&rand.r4.0), &g.pow(&g2, &s.x.0));
    let cp = hash(
        6,
        &g.pow(&g3, &rand.r5.0),
        Some(&g.mul(&g.pow_g(&rand.r5.0), &g.pow(&g2, &rand.r6.0))),
    );
    let d5 = g.proof_exponent(&rand.r5.0, &rand.r4.0, &cp);
    let d6 = g.proof_exponent(&rand.r6.0, &s.x.0, &cp);
    let qa_over_qb = div(&qa, &m.qb, "Qb")?;
    let ra = g.pow(&qa_over_qb, &s.a3.0);
    let cr = hash(
        7,
        &g.pow_g(&rand.r7.0),
        Some(&g.pow(&qa_over_qb, &rand.r7.0)),
    );
    let d7 = g.proof_exponent(&rand.r7.0, &s.a3.0, &cr);
    let pa_over_pb = div(&pa, &m.pb, "Pb")?;
    let msg = Smp3 {
        pa,
        qa,
        cp,
        d5,
        d6,
        ra,
        cr,
        d7,
    };
    let state = AskerAfterSmp3 {
        a3: s.a3,
        g3b: m.g3b.clone(),
        pa_over_pb,
        qa_over_qb,
    };
    Ok((state, msg))
}

/// Step 4, answerer: checks SMP3, answers SMP4 and learns whether the answers matched (§8.5).
pub fn step4(s: AnswererAfterSmp2, m: &Smp3, rand: Step4Random) -> Result<(bool, Smp4), SmpError> {
    let g = group();
    element(&m.pa, "Pa")?;
    element(&m.qa, "Qa")?;
    element(&m.ra, "Ra")?;
    for (d, name) in [(&m.d5, "D5"), (&m.d6, "D6"), (&m.d7, "D7")] {
        exponent(d, name)?;
    }
    let expected_cp = hash(
        6,
        &g.mul(&g.pow(&s.g3, &m.d5), &g.pow(&m.pa, &m.cp)),
        Some(&g.mul(
            &g.mul(&g.pow_g(&m.d5), &g.pow(&s.g2, &m.d6)),
            &g.pow(&m.qa, &m.cp),
        )),
    );
    proof(expected_cp == m.cp, "cP")?;
    let qa_over_qb = div(&m.qa, &s.qb, "Qa")?;
    let expected_cr = hash(
        7,
        &g.mul(&g.pow_g(&m.d7), &g.pow(&s.g3a, &m.cr)),
        Some(&g.mul(&g.pow(&qa_over_qb, &m.d7), &g.pow(&m.ra, &m.cr))),
    );
    proof(expected_cr == m.cr, "cR")?;

    let rb = g.pow(&qa_over_qb, &s.b3.0);
    let cr = hash(
        8,
        &g.pow_g(&rand.r7.0),
        Some(&g.pow(&qa_over_qb, &rand.r7.0)),
    );
    let d7 = g.proof_exponent(&rand.r7.0, &s.b3.0, &cr);
    let rab = g.pow(&m.ra, &s.b3.0);
    let matched = ct_equal(&rab, &div(&m.pa, &s.pb, "Pa")?);
    Ok((matched, Smp4 { rb, cr, d7 }))
}

/// Step 5, asker: checks SMP4 and learns whether the answers matched (§8.5).
pub fn step5(s: AskerAfterSmp3, m: &Smp4) -> Result<bool, SmpError> {
    let g = group();
    element(&m.rb, "Rb")?;
    exponent(&m.d7, "D7")?;
    let expected_cr = hash(
        8,
        &g.mul(&g.pow_g(&m.d7), &g.pow(&s.g3b, &m.cr)),
        Some(&g.mul(&g.pow(&s.qa_over_qb, &m.d7), &g.pow(&m.rb, &m.cr))),
    );
    proof(expected_cr == m.cr, "cR")?;
    let rab = g.pow(&m.rb, &s.a3.0);
    Ok(ct_equal(&rab, &s.pa_over_pb))
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
    /// This side aborted because of the error given (a failed check, a message out of order).
    Aborted(SmpError),
}

/// The per-session SMP state machine (§8.6).
#[derive(Debug, Default)]
pub enum Smp {
    /// No run.
    #[default]
    Idle,
    /// Answerer: got SMP0, waiting for SMP1.
    ExpectSmp1 {
        /// The question shown.
        question: String,
    },
    /// Answerer: got a checked SMP1, waiting for the person's answer.
    ExpectAnswer {
        /// The question shown.
        question: String,
        /// The checked SMP1.
        smp1: CheckedSmp1,
    },
    /// Asker: sent SMP0 and SMP1.
    ExpectSmp2(AskerAfterSmp1),
    /// Answerer: sent SMP2.
    ExpectSmp3(AnswererAfterSmp2),
    /// Asker: sent SMP3.
    ExpectSmp4(AskerAfterSmp3),
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

impl Smp {
    /// The state's name, as in §8.6.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::ExpectSmp1 { .. } => "ExpectSmp1",
            Self::ExpectAnswer { .. } => "ExpectAnswer",
            Self::ExpectSmp2(_) => "ExpectSmp2",
            Self::ExpectSmp3(_) => "ExpectSmp3",
            Self::ExpectSmp4(_) => "ExpectSmp4",
        }
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        !matches!(self, Self::Idle)
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
        *self = Self::ExpectSmp2(state);
        Ok(SmpOutput {
            send: vec![InnerMessage::Smp0 { question }, InnerMessage::Smp1(smp1)],
            ..SmpOutput::default()
        })
    }

    /// The person answered the question (§8.5 step 2): SMP2.
    pub fn answer(
        &mut self,
        y: SecretInt,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SmpOutput, SmpError> {
        let Self::ExpectAnswer { smp1, .. } = &*self else {
            return Err(SmpError::NotNow("answer: no question is waiting"));
        };
        let (state, smp2) = step2(smp1, y, Step2Random::draw(rng));
        *self = Self::ExpectSmp3(state);
        Ok(SmpOutput {
            send: vec![InnerMessage::Smp2(smp2)],
            ..SmpOutput::default()
        })
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

    /// An SMP inner message from the peer (SMP0..SMP4, SMP_ABORT). Failures abort the run and
    /// are reported in the outcome; they never end the session (§8.6).
    pub fn receive(&mut self, msg: &InnerMessage, rng: &mut impl CryptoRngCore) -> SmpOutput {
        let state = core::mem::take(self);
        match self.step(state, msg, rng) {
            Ok(out) => out,
            Err(e) => {
                *self = Self::Idle;
                SmpOutput {
                    send: vec![InnerMessage::SmpAbort],
                    question: None,
                    outcome: Some(SmpOutcome::Aborted(e)),
                }
            }
        }
    }

    fn step(
        &mut self,
        state: Smp,
        msg: &InnerMessage,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SmpOutput, SmpError> {
        let unexpected = |state: &Smp| SmpError::Unexpected {
            expected: match state {
                Self::Idle => "SMP0",
                Self::ExpectSmp1 { .. } => "SMP1",
                Self::ExpectAnswer { .. } => "the person's answer",
                Self::ExpectSmp2(_) => "SMP2",
                Self::ExpectSmp3(_) => "SMP3",
                Self::ExpectSmp4(_) => "SMP4",
            },
            got: msg.name(),
        };
        let done = |outcome| SmpOutput {
            outcome: Some(outcome),
            ..SmpOutput::default()
        };
        match (state, msg) {
            (Self::Idle, InnerMessage::SmpAbort) => Ok(SmpOutput::default()),
            (_, InnerMessage::SmpAbort) => Ok(done(SmpOutcome::AbortedByPeer)),
            (Self::Idle, InnerMessage::Smp0 { question }) => {
                *self = Self::ExpectSmp1 {
                    question: question.clone(),
                };
                Ok(SmpOutput::default())
            }
            (Self::ExpectSmp1 { question }, InnerMessage::Smp1(m)) => {
                let smp1 = check_smp1(m)?;
                *self = Self::ExpectAnswer {
                    question: question.clone(),
                    smp1,
                };
                Ok(SmpOutput {
                    question: Some(question),
                    ..SmpOutput::default()
                })
            }
            (Self::ExpectSmp2(s), InnerMessage::Smp2(m)) => {
                let (next, smp3) = step3(s, m, Step3Random::draw(rng))?;
                *self = Self::ExpectSmp4(next);
                Ok(SmpOutput {
                    send: vec![InnerMessage::Smp3(smp3)],
                    ..SmpOutput::default()
                })
            }
            (Self::ExpectSmp3(s), InnerMessage::Smp3(m)) => {
                let (matched, smp4) = step4(s, m, Step4Random::draw(rng))?;
                Ok(SmpOutput {
                    send: vec![InnerMessage::Smp4(smp4)],
                    question: None,
                    outcome: Some(if matched {
                        SmpOutcome::Matched
                    } else {
                        SmpOutcome::Mismatched
                    }),
                })
            }
            (Self::ExpectSmp4(s), InnerMessage::Smp4(m)) => {
                let matched = step5(s, m)?;
                Ok(done(if matched {
                    SmpOutcome::Matched
                } else {
                    SmpOutcome::Mismatched
                }))
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

    #[test]
    fn smp_8_6_smp0_during_a_run_aborts_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut asker = Smp::default();
        let x = secret(&[1; 32], &[2; 32], &[3; 32], "a");
        let _ = asker.start("q".into(), x, &mut rng).unwrap();
        let out = asker.receive(
            &InnerMessage::Smp0 {
                question: "mine?".into(),
            },
            &mut rng,
        );
        assert_eq!(out.send, vec![InnerMessage::SmpAbort]);
        assert!(matches!(
            out.outcome,
            Some(SmpOutcome::Aborted(SmpError::Unexpected { .. }))
        ));
        assert!(!asker.is_running());
    }

    #[test]
    fn smp_8_1_random_exponents_are_in_range() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for _ in 0..50 {
            let e = SecretInt::random_exponent(&mut rng);
            assert!(group().is_exponent(e.dangerous_value()));
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
