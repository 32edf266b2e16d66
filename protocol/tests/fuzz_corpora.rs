//! Replays every committed fuzz input (fuzz/seeds and fuzz/regressions) through the fuzz targets'
//! own entry points, so CI checks them without cargo-fuzz. A regression input is a finding that
//! was fixed: it must never fail again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::fuzzing;
use std::path::PathBuf;

fn replay(target: &str, entry: fn(&[u8])) {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for entry_path in dir {
            let path = entry_path.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| entry(&data));
            assert!(result.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "{target}: no inputs found under fuzz/");
}

#[test]
fn fuzz_frames_2_1() {
    replay("frames", fuzzing::frames);
}

#[test]
fn fuzz_relay_messages_3() {
    replay("relay_messages", fuzzing::relay_messages);
}

#[test]
fn fuzz_peer_messages_4_1() {
    replay("peer_messages", fuzzing::peer_messages);
}

#[test]
fn fuzz_inner_messages_7() {
    replay("inner_messages", fuzzing::inner_messages);
}

#[test]
fn fuzz_round_trip_2_2() {
    replay("round_trip", fuzzing::round_trip);
}

#[test]
fn fuzz_record_open_6_4() {
    replay("record_open", fuzzing::record_open);
}

#[test]
fn fuzz_smp_steps_8_5() {
    replay("smp_steps", fuzzing::smp_steps);
}

#[test]
fn fuzz_session_4_5() {
    replay("session", fuzzing::session);
}
