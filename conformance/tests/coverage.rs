//! Every MUST of spec/ has a checker, every checker exists, and spec/coverage.md is up to date.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_conformance::{coverage, matches, relay, vectors};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn coverage_every_must_has_a_checker_that_exists() {
    let musts = coverage::musts(&root().join("spec")).unwrap();
    assert!(musts.len() >= 70, "{} MUSTs found", musts.len());
    let ids: BTreeSet<&str> = musts.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), musts.len(), "MUST ids are unique");
    let map = coverage::checkers();
    let vector_ids: Vec<String> = vectors::case_ids(&root().join("spec/vectors"))
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let case_ids: BTreeSet<&str> = relay::cases()
        .iter()
        .map(|c| c.id)
        .chain(cryptully_conformance::peer::cases().iter().map(|c| c.id))
        .collect();
    let fuzz_targets = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    let mut problems = Vec::new();
    for m in &musts {
        if map.get(&m.id).is_none_or(Vec::is_empty) {
            problems.push(format!(
                "MUST [{}] in {} has no checker: {}",
                m.id, m.file, m.text
            ));
        }
    }
    for (id, checks) in &map {
        if !ids.contains(id.as_str()) {
            problems.push(format!("checker for unknown MUST [{id}]"));
        }
        for c in checks {
            let ok = match c.split_once(':') {
                Some(("case", id)) => case_ids.contains(id),
                Some(("vector", pattern)) => vector_ids.iter().any(|v| matches(pattern, v)),
                Some(("fuzz", target)) => fuzz_targets.contains(&format!("name = \"{target}\"")),
                Some(("test", path)) => {
                    let (file, name) = path.split_once("::").unwrap_or((path, ""));
                    std::fs::read_to_string(root().join(file))
                        .is_ok_and(|src| src.contains(&format!("fn {name}(")))
                }
                Some(("review", place)) => root()
                    .join(place.split(' ').next().unwrap_or_default())
                    .exists(),
                _ => false,
            };
            if !ok {
                problems.push(format!("[{id}]: checker `{c}` does not exist"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn coverage_table_in_spec_is_up_to_date() {
    let musts = coverage::musts(&root().join("spec")).unwrap();
    let text = coverage::render(&musts);
    let path = root().join("spec/coverage.md");
    if std::env::var_os("UPDATE_COVERAGE").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        text,
        "spec/coverage.md is stale: run UPDATE_COVERAGE=1 cargo test -p cryptully-conformance --test coverage"
    );
}
