//! # cryptully-conformance
//!
//! Black-box checks of any Cryptully implementation against `spec/`, in the manner of Autobahn
//! TestSuite and h2spec: every case has a stable id that names its spec section
//! (`RELAY-3.4-NICK-IN-USE`), a one-line description and a verdict. Reports come as a readable
//! table, JSON or JUnit XML.
//!
//! - [`relay`]: cases against a relay, speaking only the wire protocol (§3, §9, §10).
//! - [`peer`]: cases against a client implementation through its shim (§13).
//! - [`vectors`]: checks vector files in `spec/vectors`' schema against the reference crate.

#![forbid(unsafe_code)]

/// Declares a [`Case`] whose body returns `Result<(), String>`; an error starting
/// `unimplemented: ` becomes [`Verdict::Unimplemented`].
macro_rules! case {
    ($id:literal, $desc:literal, [$($c:literal),*], |$ctx:ident| $body:block) => {
        $crate::Case {
            id: $id,
            description: $desc,
            covers: &[$($c),*],
            run: |$ctx| Box::pin(async move { $crate::verdict(async move $body.await) }),
        }
    };
}

pub mod coverage;
pub mod model;
pub mod peer;
pub mod relay;
pub mod report;
pub mod vectors;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The implementation did what the spec requires.
    Pass,
    /// It did not; the text says what was expected and what came.
    Fail(String),
    /// The case could not run against this target (a feature it lacks, an operator step).
    Unimplemented(String),
}

impl Verdict {
    /// The short name: `pass`, `fail`, `unimplemented`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail(_) => "fail",
            Self::Unimplemented(_) => "unimplemented",
        }
    }
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The stable id, e.g. `RELAY-3.5-SOURCE-REWRITTEN`.
    pub id: String,
    /// What the case checks, in one line.
    pub description: String,
    /// The verdict.
    pub verdict: Verdict,
    /// How long it took.
    pub duration: Duration,
}

/// A boxed future, for case functions.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One black-box case against a target described by `C`.
pub struct Case<C> {
    /// Stable id, e.g. `RELAY-3.4-NICK-IN-USE`.
    pub id: &'static str,
    /// One line.
    pub description: &'static str,
    /// The MUSTs of the spec it checks (ids of `spec/coverage.md`).
    pub covers: &'static [&'static str],
    run: for<'a> fn(&'a C) -> CaseFuture<'a>,
}

/// Maps a case's result to its verdict: an error starting `unimplemented: ` is not a failure.
pub(crate) fn verdict(r: Result<(), String>) -> Verdict {
    match r {
        Ok(()) => Verdict::Pass,
        Err(e) => match e.strip_prefix("unimplemented: ") {
            Some(why) => Verdict::Unimplemented(why.to_string()),
            None => Verdict::Fail(e),
        },
    }
}

/// Runs the selected cases one after another (they share the target). `settle` may revise a
/// verdict with what the runner learned meanwhile (a shim that exited with 89).
pub(crate) async fn run_cases<C>(
    cases: Vec<Case<C>>,
    ctx: &C,
    selection: &Selection,
    before: impl Fn(&C),
    settle: impl Fn(&C, Verdict) -> Verdict,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for case in cases.into_iter().filter(|c| selection.selects(c.id)) {
        let start = std::time::Instant::now();
        before(ctx);
        let verdict = settle(ctx, (case.run)(ctx).await);
        out.push(Outcome {
            id: case.id.to_string(),
            description: case.description.to_string(),
            verdict,
            duration: start.elapsed(),
        });
    }
    out
}

/// A deterministic random source (splitmix64) for the runners' own keys and SMP exponents:
/// they belong to a test peer, and nothing they protect is secret.
pub(crate) struct TestRng(pub(crate) u64);

impl cryptully_protocol::rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
        }
    }
    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> Result<(), cryptully_protocol::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl cryptully_protocol::rand_core::CryptoRng for TestRng {}

/// Whether `id` matches `pattern`, where `*` matches any run of characters (case-insensitive).
pub fn matches(pattern: &str, id: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, s.get(i..).unwrap_or_default())),
            Some((c, rest)) => s
                .split_first()
                .is_some_and(|(d, srest)| c.eq_ignore_ascii_case(d) && go(rest, srest)),
        }
    }
    go(pattern.as_bytes(), id.as_bytes())
}

/// Which cases to run: all matching one of `only` (or all when empty), none matching `skip`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Patterns to include.
    pub only: Vec<String>,
    /// Patterns to exclude.
    pub skip: Vec<String>,
}

impl Selection {
    /// Whether the case `id` is selected.
    pub fn selects(&self, id: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| matches(p, id)))
            && !self.skip.iter().any(|p| matches(p, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_ids_with_wildcards() {
        assert!(matches("RELAY-3.4-*", "RELAY-3.4-NICK-IN-USE"));
        assert!(matches("*replay*", "PEER-6.4-REPLAY"));
        assert!(!matches("RELAY-3.5-*", "RELAY-3.4-NICK-IN-USE"));
        let s = Selection {
            only: vec!["RELAY-*".into()],
            skip: vec!["*TIMEOUT*".into()],
        };
        assert!(
            s.selects("RELAY-3.4-X") && !s.selects("RELAY-10.2-TIMEOUT") && !s.selects("VEC-1")
        );
    }
}
