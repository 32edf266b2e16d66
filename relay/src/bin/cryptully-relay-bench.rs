//! `cryptully-relay-bench`: load for a running relay (BENCHMARKS.md).
//!
//! Pair mode: N pairs of registered clients; each direction sends M messages of S bytes with at
//! most W in flight (the receiver hands credit back in-process, so the wire carries only the
//! messages). Reports messages per second, p50/p99/max latency, lost messages and the relay's
//! peak memory. `--rate` paces the senders instead, for latency at a given load.
//!
//! Idle mode (`--idle K`): K registered connections that do nothing; reports the relay's memory
//! per connection.
//!
//! Start the relay with limits above the load, e.g. `cryptully-relay --rate-messages 1e9
//! --rate-burst 1e9 --rate-bytes 1e12 --rate-bytes-burst 1e12 --max-connections 100000`.

#![forbid(unsafe_code)]
#![allow(clippy::indexing_slicing, clippy::expect_used, clippy::unwrap_used)]

use bytes::BytesMut;
use clap::Parser;
use cryptully_protocol::Nick;
use cryptully_protocol::net::{FrameReader, put_frame, write_frame};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Notify;

/// Load a running Cryptully relay and measure it.
#[derive(Parser, Debug, Clone)]
#[command(name = "cryptully-relay-bench", version)]
struct Args {
    /// The relay's address.
    #[arg(long, default_value = "127.0.0.1:9000")]
    relay: SocketAddr,
    /// Speak IRC instead (NICK/USER, then PRIVMSG to the partner), to load an IRC server such
    /// as ngIRCd with the same pairs, window and timing as a relay (scripts/bench-irc.sh).
    #[arg(long)]
    irc: bool,
    /// The relay's certificate fingerprint: pair mode connects over TLS pinned to it (§15).
    #[arg(long)]
    pin: Option<cryptully_protocol::transport::Fingerprint>,
    /// Another node of the same cluster (§14): the second client of each pair registers there,
    /// so every message crosses between nodes.
    #[arg(long)]
    relay2: Option<SocketAddr>,
    /// Pairs of clients.
    #[arg(long, default_value_t = 10)]
    pairs: usize,
    /// Messages each client sends to its partner.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Payload bytes per message (at least 8: it carries its send time).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Messages in flight per direction.
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// Total messages per second to pace at (0: as fast as the window allows).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The relay's process id, to read its peak memory from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Idle mode: open this many registered connections and report memory per connection.
    #[arg(long)]
    idle: Option<usize>,
    /// Worker threads of the load tool. One leaves the other core to the relay.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Prefix for nicknames, so several runs can share a relay.
    #[arg(long, default_value = "b")]
    prefix: String,
}

/// A log-bucketed latency histogram: 64 sub-buckets per power of two (about 1.6% precision).
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; 64 * 64],
            max: 0,
        }
    }

    fn index(ns: u64) -> usize {
        if ns < 64 {
            return ns as usize;
        }
        let bits = 63 - ns.leading_zeros() as usize;
        let sub = ((ns >> (bits - 6)) & 63) as usize;
        (bits - 5) * 64 + sub
    }

    fn value(index: usize) -> u64 {
        if index < 64 {
            return index as u64;
        }
        let bits = index / 64 + 5;
        let sub = (index % 64) as u64;
        (64 + sub) << (bits - 6)
    }

    fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns).min(64 * 64 - 1)] += 1;
        self.max = self.max.max(ns);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max = self.max.max(other.max);
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn percentile(&self, p: f64) -> u64 {
        let target = ((self.total() as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target.max(1) {
                return Self::value(i);
            }
        }
        self.max
    }
}

fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// A connection to the relay: TCP, or TLS over TCP (§15).
type Stream = Box<dyn cryptully_protocol::transport::Io>;

async fn register(
    addr: SocketAddr,
    source: Option<IpAddr>,
    pin: Option<cryptully_protocol::transport::Fingerprint>,
    name: &str,
) -> std::io::Result<Stream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut stream: Stream = match pin {
        None => Box::new(tcp),
        Some(pin) => {
            let target = cryptully_protocol::transport::RelayAddr::pinned(addr, pin);
            cryptully_protocol::transport::over(tcp, &target)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .stream
        }
    };
    let mut out = BytesMut::new();
    put_frame(&mut out, &ClientMessage::Hello { version: 2 }.to_bytes());
    let nick = Nick::new(name).map_err(|e| std::io::Error::other(e.to_string()))?;
    put_frame(&mut out, &ClientMessage::Register { nick }.to_bytes());
    stream.write_all(&out).await?;
    let mut reader = FrameReader::new(&mut stream, 1024);
    let frame = reader
        .next_frame()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    match frame.map(|f| RelayMessage::decode(&f)) {
        Some(Ok(RelayMessage::Registered { .. })) => Ok(stream),
        other => Err(std::io::Error::other(format!(
            "registration failed: {other:?}"
        ))),
    }
}

/// Wakes the paced senders, a tenth of them every 100 µs, so that the offered load is spread
/// over each millisecond. (Tokio's timer has a resolution of 1 ms: senders sleeping on it all
/// wake on the same tick and send a millisecond's messages in one burst, and the latency
/// measured is then mostly that burst queueing in the tool and the relay.)
fn pacer(senders: Vec<Arc<Notify>>, done: &AtomicBool) {
    const SLOTS: usize = 10;
    let tick = Duration::from_micros(100);
    let mut next = Instant::now();
    let mut slot = 0;
    while !done.load(Ordering::Acquire) {
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for s in senders.iter().skip(slot).step_by(SLOTS) {
            s.notify_one();
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// One direction's flow control: the receiver returns credit to the sender.
struct Window {
    received: AtomicU64,
    credit: Notify,
}

async fn sender(
    mut w: tokio::io::WriteHalf<Stream>,
    to: String,
    args: Args,
    window: Arc<Window>,
    start: Instant,
    pace: Arc<Notify>,
) -> tokio::io::WriteHalf<Stream> {
    let nick = Nick::new(&to).unwrap();
    let header = if args.irc {
        format!("PRIVMSG {to} :").into_bytes()
    } else {
        let mut h = ClientMessage::Relay {
            destination: nick,
            payload: vec![0],
        }
        .to_bytes();
        h.pop();
        h
    };
    let frame_len = header.len() + args.size;
    let mut buf = BytesMut::with_capacity((frame_len + 4) * args.window as usize);
    let per_sender = if args.rate > 0.0 {
        args.rate / (2.0 * args.pairs as f64)
    } else {
        0.0
    };
    let mut sent = 0u64;
    while sent < args.messages {
        let mut allowed = args.window - (sent - window.received.load(Ordering::Acquire));
        if per_sender > 0.0 {
            let due = (start.elapsed().as_secs_f64() * per_sender) as u64;
            allowed = allowed.min(due.saturating_sub(sent));
            if allowed == 0 {
                pace.notified().await;
                continue;
            }
        }
        if allowed == 0 {
            let notified = window.credit.notified();
            if args.window - (sent - window.received.load(Ordering::Acquire)) == 0 {
                notified.await;
            }
            continue;
        }
        let n = allowed.min(args.messages - sent);
        buf.clear();
        let now = start.elapsed().as_nanos() as u64;
        for _ in 0..n {
            if args.irc {
                // The send time as 16 hex digits, padded to the same payload size.
                buf.extend_from_slice(&header);
                buf.extend_from_slice(format!("{now:016x}").as_bytes());
                buf.resize(buf.len() + args.size.saturating_sub(16), b'x');
                buf.extend_from_slice(b"\r\n");
                continue;
            }
            buf.extend_from_slice(&(frame_len as u32).to_be_bytes());
            buf.extend_from_slice(&header);
            buf.extend_from_slice(&now.to_be_bytes());
            buf.resize(buf.len() + args.size - 8, 0xab);
        }
        // flush: TLS holds what it encrypted until asked (a no-op for TCP).
        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
            break;
        }
        sent += n;
    }
    // Returned, not dropped: closing it would end the connection (§3.9) while the partner's
    // messages are still on their way to this client.
    w
}

/// The send time a DELIVER from the tool carries: `0x82 || len8(nick) || nick || time u64`.
/// Anything else (an ERROR, a frame cut short) is `None`, counted as an error, never a panic.
fn send_time(frame: &[u8]) -> Option<u64> {
    if frame.first() != Some(&0x82) {
        return None;
    }
    let skip = 2 + usize::from(*frame.get(1)?);
    Some(u64::from_be_bytes(
        frame.get(skip..skip + 8)?.try_into().ok()?,
    ))
}

async fn receiver(
    r: tokio::io::ReadHalf<Stream>,
    expected: u64,
    window: Arc<Window>,
    start: Instant,
) -> (u64, Histogram, u64) {
    let mut reader = FrameReader::new(r, 65536);
    let mut hist = Histogram::new();
    let mut got = 0u64;
    let mut errors = 0u64;
    while got < expected {
        // One timer per wait for the network, not per frame: the tool's own cost competes with
        // the relay for the same two cores.
        let first = match tokio::time::timeout(Duration::from_secs(10), reader.next_frame()).await {
            Ok(Ok(Some(f))) => f,
            other => {
                eprintln!("receiver stopped after {got} of {expected}: {other:?}");
                break;
            }
        };
        let now = start.elapsed().as_nanos() as u64;
        let mut frame = Some(first);
        while let Some(f) = frame {
            if let Some(ts) = send_time(&f) {
                hist.record(now.saturating_sub(ts));
                got += 1;
            } else {
                if errors == 0 {
                    eprintln!("receiver got {:?}", RelayMessage::decode(&f));
                }
                errors += 1;
            }
            frame = reader.try_frame().ok().flatten();
        }
        // Credit back once per batch read.
        window.received.store(got, Ordering::Release);
        window.credit.notify_one();
    }
    (got, hist, errors)
}

/// IRC: registers `name` (NICK, USER) and waits for the welcome (001).
async fn register_irc(addr: SocketAddr, name: &str) -> std::io::Result<Stream> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(format!("NICK {name}\r\nUSER {name} 0 * :bench\r\n").as_bytes())
        .await?;
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other(
                "the IRC server closed the connection",
            ));
        }
        seen.extend_from_slice(&chunk[..n]);
        if seen.windows(5).any(|w| w == b" 001 ") {
            // Whatever follows the welcome (MOTD, modes) is skipped by the receiver.
            return Ok(Box::new(tcp));
        }
    }
}

/// IRC: counts the PRIVMSGs that arrive and their latency. (Busy clients get no PING from the
/// server within a run; scripts/bench-irc.sh sets a long ping timeout.)
async fn irc_receiver(
    mut r: tokio::io::ReadHalf<Stream>,
    expected: u64,
    window: Arc<Window>,
    start: Instant,
) -> (u64, Histogram, u64) {
    let mut hist = Histogram::new();
    let (mut got, errors) = (0u64, 0u64);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while got < expected {
        let read = tokio::time::timeout(Duration::from_secs(10), r.read_buf(&mut buf)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            other => {
                eprintln!("receiver stopped after {got} of {expected}: {other:?}");
                break;
            }
        }
        let now = start.elapsed().as_nanos() as u64;
        while let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(end + 2);
            let text = &line[..end];
            let Some(at) = text.windows(8).position(|w| w == b"PRIVMSG ") else {
                continue;
            };
            let rest = &text[at..];
            let Some(colon) = rest.windows(2).position(|w| w == b" :") else {
                continue;
            };
            let ts = rest
                .get(colon + 2..colon + 18)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            if let Some(ts) = ts {
                hist.record(now.saturating_sub(ts));
                got += 1;
            }
        }
        window.received.store(got, Ordering::Release);
        window.credit.notify_one();
    }
    (got, hist, errors)
}

async fn pairs(args: Args) {
    let start = Instant::now();
    let mut streams = Vec::new();
    for i in 0..args.pairs {
        let a = format!("{}a{i}", args.prefix);
        let b = format!("{}b{i}", args.prefix);
        let (sa, sb) = match if args.irc {
            (
                register_irc(args.relay, &a).await,
                register_irc(args.relay2.unwrap_or(args.relay), &b).await,
            )
        } else {
            (
                register(args.relay, None, args.pin, &a).await,
                register(args.relay2.unwrap_or(args.relay), None, args.pin, &b).await,
            )
        } {
            (Ok(sa), Ok(sb)) => (sa, sb),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("cannot register {a} and {b} at {}: {e}", args.relay);
                std::process::exit(1);
            }
        };
        streams.push((a, sa, b, sb));
    }
    let mut tasks = Vec::new();
    let mut senders = Vec::new();
    let mut paces = Vec::new();
    let t0 = Instant::now();
    for (a, sa, b, sb) in streams {
        let (ra, wa) = tokio::io::split(sa);
        let (rb, wb) = tokio::io::split(sb);
        let a_to_b = Arc::new(Window {
            received: AtomicU64::new(0),
            credit: Notify::new(),
        });
        let b_to_a = Arc::new(Window {
            received: AtomicU64::new(0),
            credit: Notify::new(),
        });
        if args.irc {
            tasks.push(tokio::spawn(irc_receiver(
                rb,
                args.messages,
                a_to_b.clone(),
                start,
            )));
            tasks.push(tokio::spawn(irc_receiver(
                ra,
                args.messages,
                b_to_a.clone(),
                start,
            )));
        } else {
            tasks.push(tokio::spawn(receiver(
                rb,
                args.messages,
                a_to_b.clone(),
                start,
            )));
            tasks.push(tokio::spawn(receiver(
                ra,
                args.messages,
                b_to_a.clone(),
                start,
            )));
        }
        let (pa, pb) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        paces.push(pa.clone());
        paces.push(pb.clone());
        senders.push(tokio::spawn(sender(wa, b, args.clone(), a_to_b, start, pa)));
        senders.push(tokio::spawn(sender(wb, a, args.clone(), b_to_a, start, pb)));
    }
    let done = Arc::new(AtomicBool::new(false));
    let pacer = (args.rate > 0.0).then(|| {
        let done = done.clone();
        std::thread::spawn(move || pacer(paces, &done))
    });
    let mut hist = Histogram::new();
    let (mut got, mut errors) = (0, 0);
    for t in tasks {
        let (g, h, e) = t.await.expect("receiver");
        got += g;
        errors += e;
        hist.merge(&h);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Release);
    if let Some(p) = pacer {
        let _ = p.join();
    }
    let _write_halves: Vec<_> = senders;
    let expected = args.messages * 2 * args.pairs as u64;
    let us = |ns: u64| ns as f64 / 1000.0;
    println!(
        "pairs={} size={} window={} rate={} messages={} delivered={} lost={} errors={} elapsed={:.2}s \
         throughput={:.0} msg/s p50={:.1}us p99={:.1}us max={:.1}us",
        args.pairs,
        args.size,
        args.window,
        if args.rate > 0.0 {
            format!("{:.0}", args.rate)
        } else {
            "max".into()
        },
        expected,
        got,
        expected - got,
        errors,
        elapsed,
        got as f64 / elapsed,
        us(hist.percentile(0.50)),
        us(hist.percentile(0.99)),
        us(hist.max),
    );
    if let Some(pid) = args.pid {
        let peak = proc_status(pid, "VmHWM:").unwrap_or(0);
        println!(
            "relay peak memory (VmHWM): {:.1} MiB",
            peak as f64 / 1048576.0
        );
    }
}

async fn idle(args: Args, count: usize) {
    let pid = args.pid;
    let before = pid.and_then(|p| proc_status(p, "VmRSS:"));
    let mut held = Vec::with_capacity(count);
    let t0 = Instant::now();
    let mut failed = false;
    for chunk in 0..count.div_ceil(500) {
        if failed {
            break;
        }
        let mut batch = Vec::new();
        for i in chunk * 500..(chunk * 500 + 500).min(count) {
            // Spread over 127.0.0.x so 50 000 connections do not run out of ephemeral ports.
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % 200) as u8));
            let name = format!("{}i{i}", args.prefix);
            batch.push(tokio::spawn(async move {
                register(args.relay, Some(source), None, &name).await
            }));
        }
        for b in batch {
            match b.await.expect("task") {
                Ok(s) => held.push(s),
                Err(e) => {
                    if !failed {
                        println!("idle: connection {} failed: {e}", held.len());
                    }
                    failed = true;
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = pid.and_then(|p| proc_status(p, "VmRSS:"));
    println!(
        "idle: {} of {count} connections registered in {:.1}s",
        held.len(),
        t0.elapsed().as_secs_f64()
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "relay memory: {:.1} MiB before, {:.1} MiB after: {:.0} bytes per idle registered connection",
            b as f64 / 1048576.0,
            a as f64 / 1048576.0,
            (a.saturating_sub(b)) as f64 / held.len().max(1) as f64
        );
    }
    // Ask the relay to answer one PING on the last connection: it still serves.
    if let Some(s) = held.last_mut() {
        let _ = write_frame(s, &ClientMessage::Ping { token: 1 }.to_bytes()).await;
        let mut r = FrameReader::new(s, 1024);
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(5), r.next_frame()).await,
            Ok(Ok(Some(_)))
        );
        println!("relay still answers: {ok}");
    }
}

fn main() {
    let args = Args::parse();
    // One thread: a current-thread runtime, with no hand-offs between threads.
    let mut builder = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = builder.enable_all().build().expect("runtime");
    rt.block_on(async move {
        match args.idle {
            Some(k) => idle(args, k).await,
            None => pairs(args).await,
        }
    });
}
