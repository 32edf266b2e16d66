//! A `nats-server` child process for the cluster's tests, benchmarks and the conformance
//! runner's `--cluster` mode (§14). Not used by a relay in service.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server -js` on a free loopback port, with its JetStream store in a
/// directory of its own. Stopped (and the directory removed) when dropped.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    store: PathBuf,
    child: Option<Child>,
}

/// Why nats-server could not be started.
#[derive(Debug)]
pub enum NatsError {
    /// The program is not installed.
    Missing(std::io::Error),
    /// It started but did not listen within 10 seconds.
    NotListening(u16),
    /// A file or port could not be had.
    Io(std::io::Error),
}

impl std::fmt::Display for NatsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(e) => write!(
                f,
                "cannot run nats-server ({e}): install it with scripts/install-deps.sh \
                 (apt-get install nats-server)"
            ),
            Self::NotListening(p) => write!(f, "nats-server did not listen on port {p}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NatsError {}

impl NatsServer {
    /// Starts one; the program is `$NATS_SERVER` or `nats-server` on the PATH.
    pub fn start() -> Result<Self, NatsError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(NatsError::Io)?
            .port();
        let store =
            std::env::temp_dir().join(format!("cryptully-nats-{}-{port}", std::process::id()));
        let mut server = Self {
            port,
            store,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store (after [`NatsServer::kill`]).
    pub fn restart(&mut self) -> Result<(), NatsError> {
        self.kill();
        let program = std::env::var_os("NATS_SERVER").unwrap_or_else(|| "nats-server".into());
        let port = self.port.to_string();
        let spawn = |program: &std::ffi::OsStr| {
            Command::new(program)
                .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
                .arg(&self.store)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        // Debian installs it in /usr/sbin, which a user's PATH may lack.
        let child = spawn(&program)
            .or_else(|e| spawn("/usr/sbin/nats-server".as_ref()).map_err(|_| e))
            .map_err(NatsError::Missing)?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err(NatsError::NotListening(self.port))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
