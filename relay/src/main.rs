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
    if let Some(Command::Health {
        addr,
        timeout,
        tls_dir,
        tls_cert,
    }) = cli.command
    {
        return health(
            &addr,
            tls_dir.as_deref(),
            tls_cert.as_deref(),
            secs(timeout),
        );
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
        tls: None,
    };
    // §15: TLS unless the relay serves only this computer or the operator says --plain.
    let tls = if cryptully_relay::cli::wants_tls(&args) {
        let made = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                cryptully_relay::tls::Tls::load(cert, key).map(|t| (t, false))
            }
            _ => {
                let dir = cryptully_relay::cli::tls_dir(args.tls_dir.as_deref());
                cryptully_relay::tls::Tls::load_or_generate(&dir).inspect(|(_, made)| {
                    if *made {
                        tracing::info!("made a self-signed certificate in {}", dir.display());
                    }
                })
            }
        };
        match made {
            Ok((tls, _)) => Some(std::sync::Arc::new(tls)),
            Err(e) => {
                eprintln!("cryptully-relay: cannot serve TLS: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        if !args.listen.ip().is_loopback() {
            tracing::warn!(
                "serving plain TCP on {}: nicknames cross the network in clear (--plain)",
                args.listen
            );
        }
        None
    };
    let config = Config { tls, ..config };
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
        if let Some(tls) = &config.tls {
            let fp = tls.fingerprint();
            tracing::info!("TLS certificate fingerprint (SHA-256): {fp}");
            tracing::info!(
                "clients connect with tls://HOST:{}#sha256={fp}",
                bound.port()
            );
        }
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
fn health(
    addr: &str,
    tls_dir: Option<&std::path::Path>,
    tls_cert: Option<&std::path::Path>,
    timeout: std::time::Duration,
) -> ExitCode {
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
    match runtime.block_on(cryptully_relay::ops::health(
        addr, tls_dir, tls_cert, timeout,
    )) {
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
