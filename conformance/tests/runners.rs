//! The runners detect what they claim to: they pass the reference and fail broken targets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_conformance::{Selection, Verdict, relay, report, vectors};
use cryptully_protocol::transport::RelayAddr;
use std::path::PathBuf;
use std::time::Duration;

fn spec_vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

#[test]
fn vectors_pass_on_the_committed_files() {
    let outcomes = vectors::run(&spec_vectors(), &Selection::default());
    assert!(outcomes.len() > 90, "{} vectors", outcomes.len());
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn vectors_name_each_vector_that_another_implementation_gets_wrong() {
    let dir = std::env::temp_dir().join(format!("cryptully-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(spec_vectors()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    // An implementation that derives a different safety code and gets one record wrong.
    let hs = std::fs::read_to_string(dir.join("handshakes.json")).unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&hs).unwrap()["handshakes"][0]["output"]["safety_code"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(
        dir.join("handshakes.json"),
        hs.replacen(&format!("\"{code}\""), "\"000000\"", 1),
    )
    .unwrap();
    let rec = std::fs::read_to_string(dir.join("records.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&rec).unwrap();
    let record = v["initiator_to_responder"][2]["record_hex"]
        .as_str()
        .unwrap()
        .to_string();
    let mut broken = record.clone();
    broken.replace_range(40..42, if &record[40..42] == "00" { "01" } else { "00" });
    std::fs::write(dir.join("records.json"), rec.replace(&record, &broken)).unwrap();

    let outcomes = vectors::run(&dir, &Selection::default());
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail(_)))
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(failed, vec!["VEC-5-HANDSHAKE-1", "VEC-6-RECORDS-I2R"]);
    let table = report::table("vectors", &outcomes);
    assert!(
        table.contains("safety_code: expected \"000000\""),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_cases_pass_against_the_reference_relay() {
    every_relay_case_passes_against_the_reference().await;
}

/// A reference relay in this process, with every relay case run against it.
async fn every_relay_case_passes_against_the_reference() {
    // A short registration timeout, so that the cases that wait for it run here too.
    let config = cryptully_relay::Config {
        register_timeout: SHORT_REGISTRATION,
        ..cryptully_relay::Config::default()
    };
    let handle = cryptully_relay::spawn("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let target = relay::Target::single(handle.local_addr(), SHORT_REGISTRATION, true);
    every_relay_case_passes(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_cases_14_pass_against_a_three_node_cluster_with_clients_spread_over_it() {
    let nats = cryptully_relay::natsd::NatsServer::start().unwrap_or_else(|e| panic!("{e}"));
    let opts = cryptully_relay::cluster::ClusterOptions::new(nats.url());
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let config = cryptully_relay::Config::default();
        let node = cryptully_relay::spawn_cluster("127.0.0.1:0".parse().unwrap(), config, &opts);
        nodes.push(node.await.unwrap());
    }
    let target = relay::Target {
        addrs: nodes
            .iter()
            .map(|n| RelayAddr::plain(n.local_addr()))
            .collect(),
        register_timeout: Duration::from_secs(10),
        spawned: true,
        tls: None,
    };
    every_relay_case_passes(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_cases_15_pass_over_tls_against_the_reference_relay() {
    let tls = std::sync::Arc::new(cryptully_relay::tls::Tls::ephemeral().unwrap());
    let config = cryptully_relay::Config {
        tls: Some(tls.clone()),
        ..cryptully_relay::Config::default()
    };
    let handle = cryptully_relay::spawn("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let target = relay::Target {
        addrs: vec![RelayAddr::pinned(handle.local_addr(), tls.fingerprint())],
        register_timeout: Duration::from_secs(10),
        spawned: true,
        tls: Some(tls),
    };
    every_relay_case_passes(&target).await;
}

#[tokio::test]
async fn relay_cases_14_fail_against_relays_that_are_not_one_cluster() {
    // Three relays that do not know of each other, tested as if they were one.
    let mut relays = Vec::new();
    for _ in 0..3 {
        let config = cryptully_relay::Config::default();
        relays.push(
            cryptully_relay::spawn("127.0.0.1:0".parse().unwrap(), config)
                .await
                .unwrap(),
        );
    }
    let target = relay::Target {
        addrs: relays
            .iter()
            .map(|r| RelayAddr::plain(r.local_addr()))
            .collect(),
        register_timeout: Duration::from_secs(10),
        spawned: false,
        tls: None,
    };
    let selection = Selection {
        only: vec!["RELAY-3.4-NICK-IN-USE".into(), "RELAY-3.5-ORDER".into()],
        skip: vec![],
    };
    let outcomes = relay::run(&target, &selection).await;
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.verdict, Verdict::Fail(_))),
        "{outcomes:#?}"
    );
}

#[tokio::test]
async fn relay_cases_fail_against_a_relay_that_ignores_the_protocol() {
    // A "relay" that accepts connections and answers every frame with PONG 0.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0
                        || s.write_all(&[0, 0, 0, 9, 0x84, 0, 0, 0, 0, 0, 0, 0, 0])
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let target = relay::Target::single(addr, Duration::from_secs(1), false);
    let selection = Selection {
        only: vec![
            "RELAY-3.4-*".into(),
            "RELAY-3.5-SOURCE*".into(),
            "RELAY-3.8-SHUTDOWN".into(),
        ],
        skip: vec![],
    };
    let outcomes = relay::run(&target, &selection).await;
    assert!(
        outcomes
            .iter()
            .filter(|o| o.id != "RELAY-3.8-SHUTDOWN")
            .all(|o| matches!(o.verdict, Verdict::Fail(_))),
        "{outcomes:#?}"
    );
    let shutdown = outcomes
        .iter()
        .find(|o| o.id == "RELAY-3.8-SHUTDOWN")
        .unwrap();
    assert!(matches!(shutdown.verdict, Verdict::Unimplemented(_)));
    let junit = report::junit("relay", &outcomes);
    assert!(
        junit.contains("<failure message=") && junit.contains("<skipped message="),
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&report::json("relay", &outcomes)).unwrap();
    assert_eq!(
        json["failed"].as_u64().unwrap() as usize,
        outcomes.len() - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_cases_pass_against_the_reference_shim() {
    use cryptully_conformance::peer;
    let shim = vec![env!("CARGO_BIN_EXE_cryptully-peer").to_string()];
    // A few quick ones here; .ci/run runs the whole suite through the binary.
    let selection = Selection {
        only: vec![
            "PEER-4-INITIATOR".into(),
            "PEER-4-RESPONDER".into(),
            "PEER-6.4-BAD-TAG".into(),
            "PEER-8-SMP-MATCH".into(),
            "PEER-1.3-*".into(),
        ],
        skip: vec![],
    };
    let outcomes = peer::run(shim, &selection).await;
    assert_eq!(outcomes.len(), 5);
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_cases_fail_or_report_unimplemented_for_broken_shims() {
    use cryptully_conformance::peer;
    let selection = Selection {
        only: vec!["PEER-4-INITIATOR".into(), "PEER-6.4-REPLAY".into()],
        skip: vec![],
    };
    // A shim that registers and then cannot do anything: status 89, unimplemented (§13.3).
    let unimplemented = vec![
        "sh".to_string(),
        "-c".to_string(),
        r#"read l; echo '{"event":"registered","nick":"alice"}'; read l; exit 89"#.to_string(),
    ];
    let outcomes = peer::run(unimplemented, &selection).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.verdict, Verdict::Unimplemented(_))),
        "{outcomes:#?}"
    );
    // A shim that claims a chat it never had: the runner sees no HELO and fails the case.
    let liar = vec![
        "sh".to_string(),
        "-c".to_string(),
        r#"read l; echo '{"event":"registered","nick":"alice"}'; read l; echo '{"event":"established","peer":"bob","safety_code":"000000"}'; sleep 30"#.to_string(),
    ];
    let outcomes = peer::run(liar, &selection).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.verdict, Verdict::Fail(_))),
        "{outcomes:#?}"
    );
}

/// The test command of `scripts/mutants.sh` (issue 12): the relay and peer suites alone, every
/// case but the 10-second registration timeout, against the reference relay and shim as built
/// from the (mutated) tree. A mutant this test does not catch is one that an outside
/// implementation's conformance run would not catch either.
///
/// `CRYPTULLY_SUITES=peer` leaves the relay suite out: the script sets it for mutants of the
/// client's protocol code (records, session, SMP...), which the relay never runs. The peer cases
/// run four at a time, each with its own shim and relay, as they are independent, and the test
/// stops at the first that fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by scripts/mutants.sh; CI runs the same suites through the binaries"]
async fn conformance_suites_alone() {
    use cryptully_conformance::peer;
    if std::env::var("CRYPTULLY_SUITES").as_deref() != Ok("peer") {
        every_relay_case_passes_against_the_reference().await;
    }
    let shim = vec![env!("CARGO_BIN_EXE_cryptully-peer").to_string()];
    let ids: Vec<String> = peer::cases().iter().map(|c| c.id.to_string()).collect();
    let groups = 4;
    let mut runs = tokio::task::JoinSet::new();
    for g in 0..groups {
        let only: Vec<String> = ids.iter().skip(g).step_by(groups).cloned().collect();
        let shim = shim.clone();
        // Case by case, so that the first failure ends the test: a mutant is caught as soon as
        // one case fails, without waiting for the others' time-outs.
        runs.spawn(async move {
            let mut ran = 0;
            for id in only {
                let selection = Selection {
                    only: vec![id],
                    skip: vec![],
                };
                for o in peer::run(shim.clone(), &selection).await {
                    ran += 1;
                    if o.verdict != Verdict::Pass {
                        return Err(format!("{}: {:?}", o.id, o.verdict));
                    }
                }
            }
            Ok(ran)
        });
    }
    let mut ran = 0;
    while let Some(group) = runs.join_next().await {
        match group.expect("a group of peer cases ran to its end") {
            Ok(n) => ran += n,
            // Dropping the other groups stops them and kills their shims (kill_on_drop).
            Err(failed) => panic!("a peer case failed (the first to fail): {failed}"),
        }
    }
    assert_eq!(ran, ids.len(), "every peer case ran once");
}

/// The registration timeout of the relay [`every_relay_case_passes_against_the_reference`]
/// spawns.
const SHORT_REGISTRATION: Duration = Duration::from_secs(2);

/// Runs every relay case against `target` and asserts that each passes. The cases that wait for
/// the registration timeout are left out when it is longer than [`SHORT_REGISTRATION`] (the
/// default is 10 s); .ci/run runs the whole suite through the binary.
async fn every_relay_case_passes(target: &relay::Target) {
    let waits = "*REGISTRATION-TIMEOUT";
    let short = target.register_timeout <= SHORT_REGISTRATION;
    let selection = Selection {
        only: vec![],
        skip: if short { vec![] } else { vec![waits.into()] },
    };
    let outcomes = relay::run(target, &selection).await;
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let left_out = relay::cases()
        .iter()
        .filter(|c| !short && cryptully_conformance::matches(waits, c.id))
        .count();
    assert_eq!(outcomes.len(), relay::cases().len() - left_out);
}
