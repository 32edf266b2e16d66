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

pub mod coverage;
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
