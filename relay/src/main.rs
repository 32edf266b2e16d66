//! `cryptully-relay`: host a Cryptully relay. It forwards encrypted messages between nicknames;
//! it never sees what people write.

#![forbid(unsafe_code)]

use clap::Parser;
use cryptully_relay::Config;
use cryptully_relay::cli::{Cli, Command};
use std::process::ExitCode;
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Health { addr, timeout }) = cli.command {
        return health(&addr, secs(timeout));
    }
    let args = cli.serve;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (idle_timeout, raised) = cryptully_relay::cli::idle_timeout(args.idle_timeout);
    if raised {
        tracing::warn!(
            "--idle-timeout {} is below the least a relay may use (§10.2); using {} s",
            args.idle_timeout,
            idle_timeout.as_secs()
        );
    }
    // §10.2: past the file limit new connections would hang without SERVER_FULL.
    let mut max_connections = args.max_connections;
    if let Some(nofile) = cryptully_relay::ops::raise_file_limit() {
        tracing::info!("open-file limit: {nofile}");
        let fits = cryptully_relay::ops::connections_within(max_connections, nofile);
        if fits < max_connections {
            tracing::warn!(
                "--max-connections {max_connections} lowered to {fits}: the open-file limit is {nofile} (raise it with ulimit -n or LimitNOFILE=)"
            );
            max_connections = fits;
        }
    }
    let config = Config {
        max_frame: args.max_frame.min(cryptully_protocol::limits::MAX_FRAME),
        max_connections,
        register_timeout: secs(args.register_timeout),
        idle_timeout,
        frame_timeout: secs(args.frame_timeout),
        rate_messages: args.rate_messages,
        rate_messages_burst: args.rate_burst,
        rate_bytes: args.rate_bytes,
        rate_bytes_burst: args.rate_bytes_burst,
        queue_bytes: args.queue_bytes,
        stall_timeout: secs(args.stall_timeout),
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
        // A node joins its cluster before it listens, so that it never takes a client it
        // cannot route (§14).
        let cluster = match &args.cluster {
            None => None,
            Some(url) => {
                let opts = cryptully_relay::cluster::ClusterOptions {
                    url: url.clone(),
                    name: args.cluster_name.clone(),
                    lease: secs(args.cluster_lease),
                };
                match cryptully_relay::cluster::Cluster::join(&opts, &config).await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        eprintln!("cryptully-relay: cannot join the cluster at {url}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
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
        if cryptully_relay::ops::notify_ready() {
            tracing::info!("told systemd the relay is ready");
        }
        let served = match cluster {
            Some(c) => cryptully_relay::serve_cluster(listener, config, c, stop_signal()).await,
            None => cryptully_relay::serve(listener, config, stop_signal()).await,
        };
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cryptully-relay: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `cryptully-relay health ADDR`: 0 when the relay answers, 1 with the reason otherwise.
fn health(addr: &str, timeout: std::time::Duration) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cryptully-relay health: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cryptully_relay::ops::health(addr, timeout)) {
        Ok(()) => {
            println!("{addr}: a Cryptully relay answered");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cryptully-relay health: {e}");
            ExitCode::FAILURE
        }
    }
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
