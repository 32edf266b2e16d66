//! Benchmarks for issue 2's targets, with their baselines measured in the same run.
//!
//! `cargo bench -p cryptully-protocol` prints one line per case: the median time per operation
//! over interleaved rounds (so that a noisy, shared machine slows both sides of a ratio alike),
//! throughput where it applies, and the ratio against the baseline.
//!
//! Cases (see BENCHMARKS.md): record seal+open vs bare AES-256-CBC + HMAC-SHA256 (§6); one full
//! handshake, both sides (§4–§5); one full SMP run, both sides on one thread (§8), against plain
//! `modpow` for every exponentiation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use cryptully_protocol::inner::InnerMessage;
use cryptully_protocol::nick::Nick;
use cryptully_protocol::primitives::{cbc_decrypt, cbc_encrypt, hmac_sha256, hmac_sha256_verify};
use cryptully_protocol::rand_core::SeedableRng;
use cryptully_protocol::records::{ChainKey, ReceiveChain, SendChain};
use cryptully_protocol::session::Session;
use cryptully_protocol::smp;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 15;

/// Runs `f` `iters` times per round for ROUNDS rounds, each round alternating the cases, and
/// returns the median seconds per call of each case.
fn interleaved(iters: usize, cases: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    for case in cases.iter_mut() {
        for _ in 0..iters.div_ceil(4) {
            case();
        }
    }
    let mut samples = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for (i, case) in cases.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..iters {
                case();
            }
            samples[i].push(start.elapsed().as_secs_f64() / iters as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn fmt_time(secs: f64) -> String {
    let d = Duration::from_secs_f64(secs);
    if d.as_micros() >= 1000 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.2} µs", secs * 1e6)
    }
}

fn records() {
    println!(
        "## §6 records: seal + open vs bare AES-256-CBC + HMAC-SHA256 (same bytes, both sides)"
    );
    for size in [64usize, 1024, 16 * 1024] {
        let text = "x".repeat(size);
        let inner = InnerMessage::Msg { text };
        let padded = inner.encode_padded();
        let mut tx = SendChain::new(ChainKey::new([7; 32]));
        let mut rx = ReceiveChain::new(ChainKey::new([7; 32]));
        let (key, mac_key, iv) = ([1u8; 32], [2u8; 32], [3u8; 16]);
        let mut protocol = || {
            // What a session does per MSG: pad, seal, open, unpad and decode.
            let record = tx.seal(&inner.encode_padded()).unwrap();
            let opened = rx.open(&record).unwrap();
            black_box(InnerMessage::decode_padded(&opened.plaintext).unwrap());
        };
        let mut bare = || {
            // The primitives alone over the same padded bytes: encrypt + MAC, verify + decrypt.
            let ct = cbc_encrypt::<aes::Aes256>(&key, &iv, &padded).unwrap();
            let tag = hmac_sha256(&mac_key, &[&ct]);
            assert!(hmac_sha256_verify(&mac_key, &[&ct], &tag[..]));
            black_box(cbc_decrypt::<aes::Aes256>(&key, &iv, &ct).unwrap());
        };
        let iters = (2_000_000 / (size + 256)).max(20);
        let t = interleaved(iters, &mut [&mut protocol, &mut bare]);
        let mbps = |s: f64| size as f64 / s / 1e6;
        println!(
            "record {:>6} B: seal+open {:>10} ({:>7.1} MB/s) | bare {:>10} ({:>7.1} MB/s) | ratio {:.1}%",
            size,
            fmt_time(t[0]),
            mbps(t[0]),
            fmt_time(t[1]),
            mbps(t[1]),
            100.0 * t[1] / t[0]
        );
    }
}

fn handshake() {
    println!(
        "## §4-§5, §4.7 one full handshake, both sides (HELO, REDY, PUB_KEY, both IDENTITYs; 8 X25519 operations)"
    );
    let alice = Nick::new("alice").unwrap();
    let bob = Nick::new("bob").unwrap();
    // A device's identity is made once, not per chat.
    let (alice_id, bob_id) = (id(), id());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut full = || {
        let (mut a, helo) =
            Session::initiate(alice.clone(), bob.clone(), alice_id.clone(), &mut rng);
        let (mut b, _) = Session::respond(bob.clone(), alice.clone(), bob_id.clone(), &helo);
        let redy = b.accept(&mut rng).unwrap().send.pop().unwrap();
        let mut to_b = a.handle(redy, &mut rng).unwrap().send;
        let a_identity = to_b.pop().unwrap();
        let pub_key = to_b.pop().unwrap();
        let b_identity = b.handle(pub_key, &mut rng).unwrap().send.pop().unwrap();
        let _ = black_box(b.handle(a_identity, &mut rng).unwrap());
        let _ = black_box(a.handle(b_identity, &mut rng).unwrap());
        assert!(a.is_established() && b.is_established());
    };
    let mut rng2 = ChaCha20Rng::seed_from_u64(2);
    let mut dh_only = || {
        // Version 2's floor: two key generations and two X25519 agreements.
        use cryptully_protocol::key_schedule::EphemeralKeyPair;
        let a = EphemeralKeyPair::generate(&mut rng2);
        let b = EphemeralKeyPair::generate(&mut rng2);
        black_box(a.diffie_hellman(b.public()).unwrap());
        black_box(b.diffie_hellman(a.public()).unwrap());
    };
    // §5.7: what identities add, four X25519 agreements: each side's own MAC key and its check
    // of the friend's.
    use cryptully_protocol::key_schedule::EphemeralKeyPair;
    let (ea, eb) = (
        EphemeralKeyPair::from_private_bytes([3; 32]),
        EphemeralKeyPair::from_private_bytes([4; 32]),
    );
    let (sa, sb) = (
        EphemeralKeyPair::from_private_bytes([5; 32]),
        EphemeralKeyPair::from_private_bytes([6; 32]),
    );
    let mut identity_dh = || {
        black_box(sa.diffie_hellman(eb.public()).unwrap());
        black_box(eb.diffie_hellman(sa.public()).unwrap());
        black_box(sb.diffie_hellman(ea.public()).unwrap());
        black_box(ea.diffie_hellman(sb.public()).unwrap());
    };
    let t = interleaved(300, &mut [&mut full, &mut dh_only, &mut identity_dh]);
    println!(
        "handshake: {} per full handshake | 4 bare X25519 ops of version 2 {} | 4 identity X25519 ops {} | protocol overhead {}",
        fmt_time(t[0]),
        fmt_time(t[1]),
        fmt_time(t[2]),
        fmt_time(t[0] - t[1] - t[2])
    );
}

fn smp_run() {
    println!("## §8 one full SMP run, both sides on one thread");
    let secret = |a: &str| smp::secret(&[1; 32], &[2; 32], &[3; 32], a);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    // The comb of g is compiled in (build.rs), so the first run pays no table build.
    let start = Instant::now();
    let _ = smp::step1(secret("warm"), smp::Step1Random::draw(&mut rng));
    println!(
        "first step 1 in this process: {}",
        fmt_time(start.elapsed().as_secs_f64())
    );
    let mut run = || {
        let (a, m1) = smp::step1(secret("Paris"), smp::Step1Random::draw(&mut rng));
        let checked = smp::check_smp1(&m1).unwrap();
        let (b, m2) = smp::step2(&checked, secret("Paris"), smp::Step2Random::draw(&mut rng));
        let (a, m3) = smp::step3(a, &m2, smp::Step3Random::draw(&mut rng)).unwrap();
        let (matched, m4) = smp::step4(b, &m3, smp::Step4Random::draw(&mut rng)).unwrap();
        assert!(matched && smp::step5(a, &m4).unwrap());
    };
    let e = smp::SecretInt::random_exponent(&mut ChaCha20Rng::seed_from_u64(4));
    let e = e.dangerous_value();
    let mut table = || {
        black_box(smp::__bench_pow_g(&e, true));
    };
    let mut plain = || {
        black_box(smp::__bench_pow_g(&e, false));
    };
    let t = interleaved(3, &mut [&mut run, &mut table, &mut plain]);
    println!(
        "smp: {} per full run (both sides) | constant-time g^e: compiled comb {} vs 4-bit window {}",
        fmt_time(t[0]),
        fmt_time(t[1]),
        fmt_time(t[2]),
    );
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if want("records") {
        records();
    }
    if want("handshake") {
        handshake();
    }
    if want("smp") {
        smp_run();
    }
}

/// A fresh long-term identity (§5.7) for one side of a test chat.
fn id() -> std::sync::Arc<cryptully_protocol::IdentityKeyPair> {
    std::sync::Arc::new(cryptully_protocol::IdentityKeyPair::generate(
        &mut rand_core::OsRng,
    ))
}
