//! Replays the relay fuzz target's committed inputs (fuzz/seeds, fuzz/regressions) in process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn fuzz_relay_stream_3() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join("relay_stream")) else {
            continue;
        };
        for entry in dir {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            cryptully_relay::fuzzing::relay_stream(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no relay_stream inputs under fuzz/");
}
