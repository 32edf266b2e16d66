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

#[test]
fn fuzz_cluster_wire_14() {
    use cryptully_relay::cluster::Wire;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/cluster_wire");
    let mut parsed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        // The fuzz target's property: what parses re-encodes to the same messages.
        if let Some(batch) = Wire::parse_batch(&bytes::Bytes::from(data)) {
            assert_eq!(Wire::parse_batch(&Wire::encode_batch(&batch)), Some(batch));
            parsed += 1;
        }
    }
    assert!(parsed >= 3, "the committed seeds are well-formed batches");
}
