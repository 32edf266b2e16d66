//! `cryptully-conformance`: check a relay, a client or a set of vectors against `spec/`.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use cryptully_conformance::{Outcome, Selection, peer, relay, report, vectors};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Conformance checks for Cryptully implementations. Every case has a stable id tied to its spec
/// section; the exit status is 1 when any selected case fails.
#[derive(Parser, Debug)]
#[command(name = "cryptully-conformance", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Run only cases whose id matches one of these patterns (`*` is a wildcard).
    #[arg(long, global = true)]
    only: Vec<String>,
    /// Skip cases whose id matches one of these patterns.
    #[arg(long, global = true)]
    skip: Vec<String>,
    /// Also write a JSON report here.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long, global = true)]
    junit: Option<PathBuf>,
    /// List the cases and exit.
    #[arg(long, global = true)]
    list: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check vector files (spec/vectors' schema) against the reference implementation.
    Vectors {
        /// The folder of vector files (default: spec/vectors of this checkout).
        dir: Option<PathBuf>,
    },
    /// Run black-box cases against a client implementation through its shim (spec §13), e.g.
    /// `peer -- target/debug/cryptully-peer`.
    Peer {
        /// The shim command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        shim: Vec<String>,
    },
    /// Run black-box cases against a relay.
    Relay {
        /// The relay's address (omit with --spawn): HOST:PORT, or tls://HOST:PORT[#sha256=PIN]
        /// (§15). For a cluster, give every node's: clients are spread over them in turn (§14).
        addr: Vec<cryptully_protocol::transport::RelayAddr>,
        /// With --spawn or --spawn-cluster: the relays serve TLS with a fresh self-signed
        /// certificate, and the cases connect over TLS pinned to it (§15).
        #[arg(long)]
        tls: bool,
        /// Start the reference relay in process and test it (also runs SHUTDOWN and SERVER_FULL).
        #[arg(long)]
        spawn: bool,
        /// Start a nats-server and a cluster of N reference relay nodes in process, and test
        /// them as one relay with clients spread over the nodes (§14; needs nats-server).
        #[arg(long, value_name = "N", conflicts_with = "spawn")]
        spawn_cluster: Option<usize>,
        /// The relay's registration timeout in seconds (§10.2).
        #[arg(long, default_value_t = 10.0)]
        register_timeout: f64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cryptully-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let (suite, outcomes) = match args.command {
        Command::Vectors { dir } => {
            let dir = dir.unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
            });
            if args.list {
                return list(
                    vectors::case_ids(&dir)
                        .into_iter()
                        .map(|(id, d)| (id, String::new(), d)),
                );
            }
            ("vectors", vectors::run(&dir, &selection))
        }
        Command::Peer { shim } => {
            if args.list {
                return list(peer::cases().into_iter().map(|c| {
                    (
                        c.id.to_string(),
                        c.covers.join(","),
                        c.description.to_string(),
                    )
                }));
            }
            if shim.is_empty() {
                eprintln!("give the shim command after --, e.g. peer -- cryptully-peer");
                return ExitCode::from(2);
            }
            ("peer", runtime.block_on(peer::run(shim, &selection)))
        }
        Command::Relay {
            addr,
            spawn,
            spawn_cluster,
            register_timeout,
            tls,
        } => {
            if args.list {
                return list(relay::cases().into_iter().map(|c| {
                    (
                        c.id.to_string(),
                        c.covers.join(","),
                        c.description.to_string(),
                    )
                }));
            }
            let outcomes = runtime.block_on(async {
                let register_timeout = Duration::try_from_secs_f64(register_timeout)
                    .unwrap_or(Duration::from_secs(10));
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let tls = if tls {
                    match cryptully_relay::tls::Tls::ephemeral() {
                        Ok(t) => Some(std::sync::Arc::new(t)),
                        Err(e) => {
                            eprintln!("cannot make a certificate: {e}");
                            return None;
                        }
                    }
                } else {
                    None
                };
                let config = || cryptully_relay::Config {
                    tls: tls.clone(),
                    ..cryptully_relay::Config::default()
                };
                // Kept until the cases are done: the cluster's NATS and every spawned relay.
                let mut nats = None;
                let mut handles = Vec::new();
                if spawn {
                    match cryptully_relay::spawn(any, config()).await {
                        Ok(h) => handles.push(h),
                        Err(e) => {
                            eprintln!("cannot start the reference relay: {e}");
                            return None;
                        }
                    }
                }
                if let Some(n) = spawn_cluster {
                    let server = match cryptully_relay::natsd::NatsServer::start() {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!("cannot start the cluster: {e}");
                            return None;
                        }
                    };
                    let opts = cryptully_relay::cluster::ClusterOptions::new(server.url());
                    for _ in 0..n.max(1) {
                        match cryptully_relay::spawn_cluster(any, config(), &opts).await {
                            Ok(h) => handles.push(h),
                            Err(e) => {
                                eprintln!("cannot start a cluster node: {e}");
                                return None;
                            }
                        }
                    }
                    nats = Some(server);
                }
                let addrs: Vec<_> = if handles.is_empty() {
                    addr
                } else {
                    use cryptully_protocol::transport::RelayAddr;
                    let at = |a| match &tls {
                        Some(t) => RelayAddr::pinned(a, t.fingerprint()),
                        None => RelayAddr::plain(a),
                    };
                    handles.iter().map(|h| at(h.local_addr())).collect()
                };
                if addrs.is_empty() {
                    eprintln!("give the relay's HOST:PORT, or --spawn, or --spawn-cluster N");
                    return None;
                }
                let target = relay::Target {
                    addrs,
                    register_timeout,
                    spawned: !handles.is_empty(),
                    tls,
                };
                let outcomes = relay::run(&target, &selection).await;
                drop(nats);
                Some(outcomes)
            });
            let Some(outcomes) = outcomes else {
                return ExitCode::from(2);
            };
            ("relay", outcomes)
        }
    };
    finish(suite, &outcomes, args.json, args.junit)
}

/// `--list`: each case's id, the MUST ids it fails when broken (spec/coverage.md credits a case
/// only with these), and what it checks.
fn list(cases: impl Iterator<Item = (String, String, String)>) -> ExitCode {
    println!("{:<44} {:<24} WHAT", "CASE", "CAN FAIL MUST");
    for (id, musts, description) in cases {
        let musts = if musts.is_empty() {
            "-".to_string()
        } else {
            musts
        };
        println!("{id:<44} {musts:<24} {description}");
    }
    ExitCode::SUCCESS
}

fn finish(
    suite: &str,
    outcomes: &[Outcome],
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
) -> ExitCode {
    print!("{}", report::table(suite, outcomes));
    for (path, text) in [
        (json, report::json(suite, outcomes)),
        (junit, report::junit(suite, outcomes)),
    ] {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let (_, failed, _) = report::totals(outcomes);
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
