//! §6.2, §12.3: after a chat ends, none of its secrets are left in the process's memory.
//!
//! Tested the way vodozemac tests its zeroization: from outside. This test starts itself again as
//! a child process, which holds a chat between two in-process sessions, ends it and drops
//! everything, then waits. The parent reads the child's writable memory (heap, stacks, anonymous
//! mappings) through `/proc/PID/mem` and looks for every secret of that chat, which it recomputes
//! on its own from the public messages the child printed and the child's known random source:
//! both private keys, the shared secret, the PRK, every chain key, message key, AES key, HMAC key
//! and IV of every record, and every message text. Linux only: other systems have no `/proc`.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::process::{Command, Stdio};

use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::InnerMessage;
use cryptully_protocol::key_schedule::{
    EphemeralKeyPair, IdentityKeyPair, KeySchedule, Transcript,
};
use cryptully_protocol::nick::Nick;
use cryptully_protocol::primitives;
use cryptully_protocol::records::{ChainKey, ReceiveChain, dangerous_key_material};
use cryptully_protocol::session::{Event, Session};
use cryptully_protocol::smp;
use num_bigint::BigUint;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

const CHILD_ENV: &str = "CRYPTULLY_ERASURE_CHILD";
/// Messages sent each way.
const MESSAGES: usize = 6;

/// A random source whose every output the parent can recompute: block `i` is
/// `SHA-256(label ‖ i)`. It keeps no output buffer, so it leaves no key bytes behind itself.
struct KnownRng {
    label: u8,
    counter: u64,
}

impl KnownRng {
    /// The source labelled `label`, `counter` blocks in.
    fn at(label: u8, counter: u64) -> Self {
        Self { label, counter }
    }

    fn block(label: u8, counter: u64) -> [u8; 32] {
        Sha256::new()
            .chain_update([label])
            .chain_update(counter.to_be_bytes())
            .finalize()
            .into()
    }
}

impl RngCore for KnownRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let mut block = Self::block(self.label, self.counter);
            self.counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
            block.zeroize();
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for KnownRng {}

fn text(from: &str, i: usize) -> String {
    format!("{from} says: erasure probe message number {i:03}, please forget me")
}

/// The answer both give to the question (§8): as secret as a key.
fn answer() -> String {
    format!("the name of our first cat was {}", "whiskers")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn print(from: char, m: &PeerMessage) {
    println!("WIRE {from} {}", hex(&m.to_bytes()));
}

/// What the application does with events: it reads the texts and lets them go, erased.
fn consume(events: Vec<Event>) {
    for e in events {
        if let Event::Message { mut text, .. } = e {
            text.zeroize();
        }
    }
}

/// Two sessions in one process, and what is in flight between them.
struct Chat {
    alice: Session,
    bob: Session,
    rng_a: KnownRng,
    rng_b: KnownRng,
    to_alice: Vec<PeerMessage>,
    to_bob: Vec<PeerMessage>,
}

impl Chat {
    /// Delivers until nothing is in flight, printing what crosses.
    fn pump(&mut self) {
        while !self.to_alice.is_empty() || !self.to_bob.is_empty() {
            for m in std::mem::take(&mut self.to_alice) {
                print('b', &m);
                let step = self.alice.handle(m, &mut self.rng_a).unwrap();
                consume(step.events);
                self.to_bob.extend(step.send);
            }
            for m in std::mem::take(&mut self.to_bob) {
                print('a', &m);
                let step = self.bob.handle(m, &mut self.rng_b).unwrap();
                consume(step.events);
                self.to_alice.extend(step.send);
            }
        }
    }
}

/// The child's side: a whole chat, then nothing but waiting. Every message that crosses is
/// printed as `WIRE a|b HEX` (`a`: from alice).
fn run_chat() {
    let mut rng_a = KnownRng::at(b'a', 0);
    let mut rng_b = KnownRng::at(b'b', 0);
    let (alice_nick, bob_nick) = (Nick::new("alice").unwrap(), Nick::new("bob").unwrap());
    // §5.7: identities from known sources of their own, so the parent can look for them too.
    let (alice_id, bob_id) = (identity(b'A'), identity(b'B'));
    let (alice, helo) =
        Session::initiate(alice_nick.clone(), bob_nick.clone(), alice_id, &mut rng_a);
    print('a', &helo);
    let (mut bob, step) = Session::respond(bob_nick, alice_nick, bob_id, &helo);
    consume(step.events);
    let to_alice = bob.accept(&mut rng_b).unwrap().send;
    let mut c = Chat {
        alice,
        bob,
        rng_a,
        rng_b,
        to_alice,
        to_bob: Vec::new(),
    };
    c.pump();
    for i in 0..MESSAGES {
        let mut t = text("alice", i);
        c.to_bob.push(c.alice.send_message(&t).unwrap().1);
        t.zeroize();
        let mut t = text("bob", i);
        c.to_alice.push(c.bob.send_message(&t).unwrap().1);
        t.zeroize();
        c.pump();
    }
    // A question answered right (§8): the answer and the SMP secret must go too.
    let mut a = answer();
    let step = c
        .alice
        .start_smp("our first cat?", &a, &mut c.rng_a)
        .unwrap();
    c.to_bob.extend(step.send);
    c.pump();
    let step = c.bob.answer_smp(&a, &mut c.rng_b).unwrap();
    a.zeroize();
    c.to_alice.extend(step.send);
    c.pump();
    let step = c.alice.end().unwrap();
    consume(step.events);
    c.to_bob.extend(step.send);
    c.pump();
    drop(c);
}

/// Run by the parent in a child process only (see the module docs).
#[test]
#[ignore = "the child half of erasure_6_2_no_secret_of_an_ended_chat_is_left_in_memory"]
fn erasure_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    run_chat();
    println!("READY");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// What the parent looks for, recomputed from the wire and the known random sources.
fn secrets(wire: &[(char, PeerMessage)]) -> Vec<(String, Vec<u8>)> {
    let alice_key = EphemeralKeyPair::from_private_bytes(KnownRng::block(b'a', 0));
    let bob_key = EphemeralKeyPair::from_private_bytes(KnownRng::block(b'b', 0));
    let find = |want: fn(&PeerMessage) -> Option<[u8; 32]>| {
        wire.iter()
            .find_map(|(_, m)| want(m))
            .expect("the handshake crossed")
    };
    let commitment = find(|m| match m {
        PeerMessage::Helo { commitment, .. } => Some(*commitment),
        _ => None,
    });
    let responder_public = find(|m| match m {
        PeerMessage::Redy { public_key } => Some(*public_key),
        _ => None,
    });
    let initiator_public = find(|m| match m {
        PeerMessage::PubKey { public_key } => Some(*public_key),
        _ => None,
    });
    assert_eq!(
        alice_key.public(),
        &initiator_public,
        "alice's key is known"
    );
    assert_eq!(bob_key.public(), &responder_public, "bob's key is known");
    let shared = alice_key.diffie_hellman(&responder_public).unwrap();
    let transcript = Transcript {
        initiator: Nick::new("alice").unwrap(),
        responder: Nick::new("bob").unwrap(),
        commitment,
        responder_public,
        initiator_public,
    };
    let schedule = KeySchedule::derive(&transcript.hash(), &shared).unwrap();
    let mut out = vec![
        (
            "alice's private key".into(),
            KnownRng::block(b'a', 0).to_vec(),
        ),
        (
            "bob's private key".into(),
            KnownRng::block(b'b', 0).to_vec(),
        ),
        ("the shared secret".into(), shared.to_vec()),
        (
            "the PRK".into(),
            KeySchedule::dangerous_prk(&transcript.hash(), &shared).to_vec(),
        ),
    ];
    // The SMP secret (§8.2) in each form it takes: the digest (big-endian) and the number
    // (little-endian limbs).
    let x = smp::secret(
        &initiator_public,
        &responder_public,
        schedule.session_id(),
        &answer(),
    );
    let mut x_le = x.dangerous_value().to_bytes_le();
    x_le.resize(32, 0);
    let mut x_be = x_le.clone();
    x_be.reverse();
    out.push(("the SMP secret (digest)".into(), x_be));
    out.push(("the SMP secret (number)".into(), x_le));
    out.push(("the answer".into(), answer().into_bytes()));
    let (i2r, r2i) = schedule.dangerous_chain_keys();
    let (i2r, r2i) = (*i2r, *r2i);
    for (dir, first, from) in [("alice→bob", i2r, 'a'), ("bob→alice", r2i, 'b')] {
        let records = wire
            .iter()
            .filter(|(f, m)| *f == from && matches!(m, PeerMessage::Record(_)))
            .count();
        assert!(records > MESSAGES, "{dir}: the messages and ACKs crossed");
        let mut chain = first;
        for i in 0..records {
            let k = dangerous_key_material(&chain);
            out.push((format!("{dir} chain key {i}"), chain.to_vec()));
            out.push((format!("{dir} message key {i}"), k.message_key.to_vec()));
            out.push((format!("{dir} AES key {i}"), k.enc_key.to_vec()));
            out.push((format!("{dir} HMAC key {i}"), k.mac_key.to_vec()));
            out.push((format!("{dir} IV {i}"), k.iv.to_vec()));
            chain = k.next_chain_key;
        }
        // The chain key the session held last, for the record it never sent or received.
        out.push((
            format!("{dir} chain key {records} (the live one)"),
            chain.to_vec(),
        ));
    }
    out.push(("the session id".into(), schedule.session_id().to_vec()));
    // §5.7: the identity private keys (dropped with the sessions here), each direction's
    // identity X25519 output and its MAC key.
    let th = transcript.hash();
    for (who, label, receiver, first, dir) in [
        ("alice", b'A', &bob_key, i2r, "i2r"),
        ("bob", b'B', &alice_key, r2i, "r2i"),
    ] {
        let id = IdentityKeyPair::from_private_bytes(KnownRng::block(label, 0));
        let from = if who == "alice" { 'a' } else { 'b' };
        match inner_messages(wire, from, &first).first() {
            Some(InnerMessage::Identity { identity_key, .. }) if identity_key == id.public() => {}
            other => panic!("{who}'s first record is not its known IDENTITY: {other:?}"),
        }
        let dh = receiver.diffie_hellman(id.public()).unwrap();
        let prk = primitives::hkdf_extract(&th, &*dh);
        let mut key = [0u8; 32];
        primitives::hkdf_expand(
            &*prk,
            format!("cryptully/3 identity {dir}").as_bytes(),
            &mut key,
        )
        .unwrap();
        out.push((
            format!("{who}'s identity private key"),
            KnownRng::block(label, 0).to_vec(),
        ));
        out.push((format!("the identity X25519 output {dir}"), dh.to_vec()));
        out.push((format!("the IDENTITY MAC key {dir}"), key.to_vec()));
    }
    out.extend(smp_exponents(wire, &i2r, &r2i));
    for i in 0..MESSAGES {
        for from in ["alice", "bob"] {
            out.push((format!("{from}'s message {i}"), text(from, i).into_bytes()));
        }
    }
    out
}

/// Every inner message of one direction, opened with its first chain key.
fn inner_messages(wire: &[(char, PeerMessage)], from: char, first: &[u8; 32]) -> Vec<InnerMessage> {
    let mut rx = ReceiveChain::new(ChainKey::new(*first));
    wire.iter()
        .filter(|(f, _)| *f == from)
        .filter_map(|(_, m)| match m {
            PeerMessage::Record(r) => Some(r),
            _ => None,
        })
        .map(|r| InnerMessage::decode_padded(&rx.open(r).unwrap().plaintext).unwrap())
        .collect()
}

/// The SMP exponents both sides drew (§8.5), in both forms (little-endian limbs, as numbers are
/// kept, and big-endian). Each random source gave its first block to the handshake key, then
/// its exponents in the order of §8.5; the test checks this against the SMP messages on the
/// wire, so a wrong guess fails instead of looking for values that never existed.
fn smp_exponents(
    wire: &[(char, PeerMessage)],
    i2r: &[u8; 32],
    r2i: &[u8; 32],
) -> Vec<(String, Vec<u8>)> {
    let mut rng_a = KnownRng::at(b'a', 1);
    let mut rng_b = KnownRng::at(b'b', 1);
    let s1 = smp::Step1Random::draw(&mut rng_a);
    let s3 = smp::Step3Random::draw(&mut rng_a);
    let s2 = smp::Step2Random::draw(&mut rng_b);
    let s4 = smp::Step4Random::draw(&mut rng_b);
    let g = |e: &smp::SecretInt| BigUint::from(2u32).modpow(&e.dangerous_value(), &smp::prime());
    let smp1 = inner_messages(wire, 'a', i2r)
        .into_iter()
        .find_map(|m| {
            if let InnerMessage::Smp1(m) = m {
                Some(m)
            } else {
                None
            }
        })
        .expect("SMP1 crossed");
    let smp2 = inner_messages(wire, 'b', r2i)
        .into_iter()
        .find_map(|m| {
            if let InnerMessage::Smp2(m) = m {
                Some(m)
            } else {
                None
            }
        })
        .expect("SMP2 crossed");
    assert_eq!(g(&s1.a2), smp1.g2a, "alice's SMP exponents are known");
    assert_eq!(g(&s2.b2), smp2.g2b, "bob's SMP exponents are known");
    let named = [
        ("a2", &s1.a2),
        ("a3", &s1.a3),
        ("asker r2", &s1.r2),
        ("asker r3", &s1.r3),
        ("asker r4", &s3.r4),
        ("asker r5", &s3.r5),
        ("asker r6", &s3.r6),
        ("asker r7", &s3.r7),
        ("b2", &s2.b2),
        ("b3", &s2.b3),
        ("answerer r2", &s2.r2),
        ("answerer r3", &s2.r3),
        ("answerer r4", &s2.r4),
        ("answerer r5", &s2.r5),
        ("answerer r6", &s2.r6),
        ("answerer r7", &s4.r7),
    ];
    let mut out = Vec::new();
    for (name, e) in named {
        // The low 32 bytes: enough to be unique, and present whatever the number's width.
        let mut le = e.dangerous_value().to_bytes_le();
        le.truncate(32);
        let mut be = e.dangerous_value().to_bytes_be();
        be.truncate(32);
        out.push((format!("SMP exponent {name} (number)"), le));
        out.push((format!("SMP exponent {name} (big-endian)"), be));
    }
    out
}

/// The child's writable mappings: `(start, end, name)`.
fn writable_mappings(pid: u32) -> Vec<(u64, u64, String)> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let name = fields.nth(3).unwrap_or("[anonymous]").to_string();
            let (start, end) = range.split_once('-')?;
            (perms.starts_with("rw")).then(|| {
                (
                    u64::from_str_radix(start, 16).unwrap(),
                    u64::from_str_radix(end, 16).unwrap(),
                    name,
                )
            })
        })
        .collect()
}

#[test]
fn erasure_6_2_no_secret_of_an_ended_chat_is_left_in_memory() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["erasure_child", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut wire = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the child reports READY").unwrap();
        // libtest may print "test erasure_child ... " at the start of the first line.
        if line.ends_with("READY") {
            break;
        }
        if let Some((_, rest)) = line.split_once("WIRE ") {
            let (from, hex) = rest.split_at(1);
            let msg = PeerMessage::decode(&unhex(hex.trim())).unwrap();
            wire.push((from.chars().next().unwrap(), msg));
        }
    }
    let needles = secrets(&wire);

    let pid = child.id();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut found = Vec::new();
    let mut scanned = 0usize;
    for (start, end, name) in writable_mappings(pid) {
        let mut buf = vec![0u8; (end - start) as usize];
        // Some special mappings cannot be read; they hold no data of ours.
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut buf).is_err() {
            continue;
        }
        scanned += buf.len();
        // One pass over the mapping: a table of the needles' first two bytes filters positions.
        let mut first = vec![false; 1 << 16];
        for (_, n) in &needles {
            first[usize::from(u16::from_le_bytes([n[0], n[1]]))] = true;
        }
        for at in 0..buf.len().saturating_sub(1) {
            if !first[usize::from(u16::from_le_bytes([buf[at], buf[at + 1]]))] {
                continue;
            }
            for (what, needle) in &needles {
                if buf[at..].starts_with(needle) {
                    found.push(format!(
                        "{what} in {name} ({start:#x}-{end:#x}) at {:#x}",
                        start + at as u64
                    ));
                    // ERASURE_DUMP=1 shows the bytes around a find, to tell what held it.
                    if std::env::var_os("ERASURE_DUMP").is_some() {
                        let lo = at.saturating_sub(96);
                        eprintln!("{what}: {}", hex(&buf[lo..(at + 128).min(buf.len())]));
                    }
                }
            }
        }
    }
    let _ = child.stdin.take().map(|mut s| s.write_all(b"done\n"));
    let _ = child.wait();
    assert!(scanned > 0, "the child's memory was read");
    assert!(
        found.is_empty(),
        "{} of {} secrets are still in memory after END:\n{}",
        found.len(),
        needles.len(),
        found.join("\n")
    );
}

/// The long-term identity (§5.7) drawn from the known source `label`.
fn identity(label: u8) -> std::sync::Arc<IdentityKeyPair> {
    std::sync::Arc::new(IdentityKeyPair::generate(&mut KnownRng::at(label, 0)))
}
