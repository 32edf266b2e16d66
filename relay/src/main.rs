//! `cryptully-relay`: host a Cryptully relay. It forwards encrypted messages between nicknames;
//! it never sees what people write.

#![forbid(unsafe_code)]

use clap::Parser;
use cryptully_relay::Config;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Host a Cryptully relay: people register nicknames here and it forwards their end-to-end
/// encrypted messages. It cannot read them. Every option can also be set by the environment
/// variable shown.
#[derive(Parser, Debug)]
#[command(name = "cryptully-relay", version)]
struct Args {
    /// Address and port to listen on. 127.0.0.1 serves only this computer; use 0.0.0.0:9000 to
    /// serve others on your network.
    #[arg(long, env = "CRYPTULLY_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Most connections held at once; more are refused with SERVER_FULL.
    #[arg(long, env = "CRYPTULLY_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Largest message in bytes (at most 65536); a larger one closes that connection.
    #[arg(long, env = "CRYPTULLY_MAX_FRAME", default_value_t = 65536)]
    max_frame: usize,
    /// Seconds a new connection has to register a nickname.
    #[arg(long, env = "CRYPTULLY_REGISTER_TIMEOUT", default_value_t = 10.0)]
    register_timeout: f64,
    /// Seconds without any message before a connection is closed (clients ping every 60 s).
    #[arg(long, env = "CRYPTULLY_IDLE_TIMEOUT", default_value_t = 120.0)]
    idle_timeout: f64,
    /// Messages per second one connection may send, on average.
    #[arg(long, env = "CRYPTULLY_RATE_MESSAGES", default_value_t = 200.0)]
    rate_messages: f64,
    /// Messages one connection may send in a burst.
    #[arg(long, env = "CRYPTULLY_RATE_BURST", default_value_t = 400.0)]
    rate_burst: f64,
    /// Bytes per second one connection may send, on average.
    #[arg(long, env = "CRYPTULLY_RATE_BYTES", default_value_t = 1_048_576.0)]
    rate_bytes: f64,
    /// Bytes one connection may send in a burst.
    #[arg(
        long,
        env = "CRYPTULLY_RATE_BYTES_BURST",
        default_value_t = 2_097_152.0
    )]
    rate_bytes_burst: f64,
    /// Bytes queued for a connection that does not read before it is dropped (SLOW_CONSUMER).
    #[arg(long, env = "CRYPTULLY_QUEUE_BYTES", default_value_t = 1_048_576)]
    queue_bytes: usize,
    /// Worker threads (default: one per core). 1 runs everything on one thread, which suits a
    /// relay given a core of its own.
    #[arg(long, env = "CRYPTULLY_THREADS")]
    threads: Option<usize>,
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = Config {
        max_frame: args.max_frame.min(cryptully_protocol::limits::MAX_FRAME),
        max_connections: args.max_connections,
        register_timeout: secs(args.register_timeout),
        idle_timeout: secs(args.idle_timeout),
        rate_messages: args.rate_messages,
        rate_messages_burst: args.rate_burst,
        rate_bytes: args.rate_bytes,
        rate_bytes_burst: args.rate_bytes_burst,
        queue_bytes: args.queue_bytes,
    };
    let mut builder = match args.threads {
        // One thread: everything on it, with no hand-offs between threads.
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cryptully-relay: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match cryptully_relay::bind(args.listen) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cryptully-relay: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        // The bound address, not the requested one: with port 0 the system picks the port.
        let bound = listener.local_addr().unwrap_or(args.listen);
        tracing::info!("listening on {bound}");
        match cryptully_relay::serve(listener, config, stop_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cryptully-relay: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Ctrl-C on every platform; SIGTERM too where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
