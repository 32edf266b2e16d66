//! The command line of `cryptully-relay`, in the library so that `xtask` generates the man page
//! and shell completions from the same definitions (they never drift from `--help`).

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Host a Cryptully relay for end-to-end encrypted chat.
///
/// People register nicknames here and the relay forwards their end-to-end encrypted messages.
/// It cannot read them. Every option can also be set by the environment variable shown.
#[derive(Parser, Debug)]
#[command(
    name = "cryptully-relay",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Under systemd (Type=notify) the relay reports READY=1 once it listens.\n\nA cluster of three relays on one machine:\n  nats-server -js -sd /var/lib/nats &\n  cryptully-relay --listen 0.0.0.0:9000 --cluster nats://127.0.0.1:4222 &\n  cryptully-relay --listen 0.0.0.0:9001 --cluster nats://127.0.0.1:4222 &\n  cryptully-relay --listen 0.0.0.0:9002 --cluster nats://127.0.0.1:4222"
)]
pub struct Cli {
    /// Serve (the default).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Something other than serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Other things the binary does.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check that a relay answers: connect, say HELLO, PING, and wait for PONG. Exits 0 when it
    /// does, 1 otherwise (for container health checks and monitoring).
    Health {
        /// The relay's address: HOST:PORT, or tls://HOST:PORT (pinned to the certificate kept in
        /// --tls-dir when there is one), or tls://HOST:PORT#sha256=FINGERPRINT.
        #[arg(default_value = "127.0.0.1:9000")]
        addr: String,
        /// Where the relay keeps its certificate (as for serving).
        #[arg(long, env = "CRYPTULLY_TLS_DIR")]
        tls_dir: Option<std::path::PathBuf>,
        /// The relay's own certificate, when it was given one (as for serving): tls:// without a
        /// pin is then pinned to it.
        #[arg(long, env = "CRYPTULLY_TLS_CERT")]
        tls_cert: Option<std::path::PathBuf>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3.0)]
        timeout: f64,
    },
}

/// The options of a serving relay.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on. 127.0.0.1 serves only this computer; use 0.0.0.0:9000 to
    /// serve others on your network (then over TLS, unless --plain).
    #[arg(long, env = "CRYPTULLY_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// The TLS certificate chain (PEM), e.g. from Let's Encrypt. Clients then connect with
    /// tls://HOST:PORT and no pin.
    #[arg(
        long,
        env = "CRYPTULLY_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(
        long,
        env = "CRYPTULLY_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    pub tls_key: Option<PathBuf>,
    /// Where a relay without --tls-cert keeps the self-signed certificate it makes on first
    /// start (default: this user's data directory). Its fingerprint is printed at start; clients
    /// pin it with tls://HOST:PORT#sha256=FINGERPRINT.
    #[arg(long, env = "CRYPTULLY_TLS_DIR", value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Serve plain TCP even on an address other than loopback: nicknames, and who talks to whom,
    /// then cross the network in clear. Only for a network you trust.
    #[arg(long, env = "CRYPTULLY_PLAIN", conflicts_with = "tls_cert")]
    pub plain: bool,
    /// Most connections held at once; more are refused with SERVER_FULL.
    #[arg(long, env = "CRYPTULLY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Largest message in bytes (at most 65536); a larger one closes that connection.
    #[arg(long, env = "CRYPTULLY_MAX_FRAME", default_value_t = 65536)]
    pub max_frame: usize,
    /// Seconds a new connection has to register a nickname.
    #[arg(long, env = "CRYPTULLY_REGISTER_TIMEOUT", default_value_t = 10.0)]
    pub register_timeout: f64,
    /// Seconds without any message before a connection is closed. Clients ping every 60 s, so
    /// values under 120 are raised to 120 (§10.2).
    #[arg(long, env = "CRYPTULLY_IDLE_TIMEOUT", default_value_t = 120.0)]
    pub idle_timeout: f64,
    /// Seconds a frame may take to arrive whole once it has begun; a client stalled in the middle
    /// of one is closed.
    #[arg(long, env = "CRYPTULLY_FRAME_TIMEOUT", default_value_t = 30.0)]
    pub frame_timeout: f64,
    /// Messages per second one connection may send, on average.
    #[arg(long, env = "CRYPTULLY_RATE_MESSAGES", default_value_t = 200.0)]
    pub rate_messages: f64,
    /// Messages one connection may send in a burst.
    #[arg(long, env = "CRYPTULLY_RATE_BURST", default_value_t = 400.0)]
    pub rate_burst: f64,
    /// Bytes per second one connection may send, on average.
    #[arg(long, env = "CRYPTULLY_RATE_BYTES", default_value_t = 1_048_576.0)]
    pub rate_bytes: f64,
    /// Bytes one connection may send in a burst.
    #[arg(
        long,
        env = "CRYPTULLY_RATE_BYTES_BURST",
        default_value_t = 2_097_152.0
    )]
    pub rate_bytes_burst: f64,
    /// Bytes queued for a connection; frames for it beyond this are dropped and their senders
    /// told (SLOW_CONSUMER naming it).
    #[arg(long, env = "CRYPTULLY_QUEUE_BYTES", default_value_t = 1_048_576)]
    pub queue_bytes: usize,
    /// Seconds a connection with a full queue may take no bytes at all before it is dropped
    /// (SLOW_CONSUMER).
    #[arg(long, env = "CRYPTULLY_STALL_TIMEOUT", default_value_t = 10.0)]
    pub stall_timeout: f64,
    /// Worker threads (default: one per core). 1 runs everything on one thread, which suits a
    /// relay given a core of its own.
    #[arg(long, env = "CRYPTULLY_THREADS")]
    pub threads: Option<usize>,
    /// Join a relay cluster through this NATS server (nats://HOST:PORT; several separated by
    /// commas). Every relay started with the same NATS and --cluster-name acts as one relay:
    /// nicknames are unique across all of them and anyone can chat with anyone. NATS must run
    /// with JetStream (nats-server -js). Without this option the relay works alone.
    #[arg(long, env = "CRYPTULLY_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,
    /// Which cluster on that NATS to join (names its bucket and subjects).
    #[arg(long, env = "CRYPTULLY_CLUSTER_NAME", default_value = "cryptully")]
    pub cluster_name: String,
    /// Seconds a crashed relay's nicknames stay taken before others may register them. Every
    /// node of a cluster should use the same value.
    #[arg(long, env = "CRYPTULLY_CLUSTER_LEASE", default_value_t = 15.0)]
    pub cluster_lease: f64,
}

/// §15: whether a relay listening on `listen` serves TLS. Loopback stays plain (tests, a relay
/// for this computer only); any other address gets TLS unless the operator says --plain. (The
/// desktop app's built-in relay does not come through here: it stays plain, §15.4.)
pub fn wants_tls(args: &ServeArgs) -> bool {
    args.tls_cert.is_some() || (!args.plain && !args.listen.ip().is_loopback())
}

/// Where the relay keeps its generated certificate: `--tls-dir`, else this user's data
/// directory, else `cryptully-relay-tls` in the working directory.
pub fn tls_dir(given: Option<&std::path::Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_path_buf();
    }
    directories::ProjectDirs::from("", "", "cryptully-relay")
        .map(|d| d.data_dir().join("tls"))
        .unwrap_or_else(|| PathBuf::from("cryptully-relay-tls"))
}

/// §10.2 [10.2-2]: the least idle timeout a relay may use, twice the clients' ping interval.
pub const MIN_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The idle timeout for `--idle-timeout SECS`: at least [`MIN_IDLE_TIMEOUT`], and whether it was
/// raised to it.
pub fn idle_timeout(secs: f64) -> (std::time::Duration, bool) {
    if secs.is_nan() || secs < MIN_IDLE_TIMEOUT.as_secs_f64() {
        return (MIN_IDLE_TIMEOUT, true);
    }
    let asked = std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX);
    (asked, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_10_2_the_idle_timeout_is_never_below_twice_the_ping_interval() {
        assert_eq!(idle_timeout(30.0), (MIN_IDLE_TIMEOUT, true));
        assert_eq!(idle_timeout(-1.0), (MIN_IDLE_TIMEOUT, true));
        assert_eq!(idle_timeout(120.0), (MIN_IDLE_TIMEOUT, false));
        assert_eq!(
            idle_timeout(300.0),
            (std::time::Duration::from_secs(300), false)
        );
        assert!(
            MIN_IDLE_TIMEOUT >= 2 * cryptully_protocol::connection::PING_INTERVAL,
            "clients must be able to keep a connection open"
        );
    }
}
