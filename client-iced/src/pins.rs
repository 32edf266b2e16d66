//! Remembered relay certificates (§15.3): once the person has connected to
//! `tls://HOST:PORT#sha256=PIN`, typing `tls://HOST:PORT` again uses the same pin, so a relay
//! whose certificate changed is refused ("this is not the relay you trusted") rather than
//! silently trusted. A pin the person types replaces a remembered one: that is their say.
//!
//! One line per relay, `HOST:PORT FINGERPRINT`, in the app's data directory; written whole to a
//! temporary file and renamed over the old one. A file that cannot be read is an error and is
//! never overwritten.

use cryptully_protocol::transport::{Fingerprint, RelayAddr, Security};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Remembered pins, by `HOST:PORT`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pins(BTreeMap<String, Fingerprint>);

/// Why the pin file could not be used.
#[derive(Debug)]
pub struct PinsError {
    path: PathBuf,
    why: String,
}

impl fmt::Display for PinsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the remembered relay certificates in {} cannot be used ({}); it was left as it is. \
             Move it away to start afresh",
            self.path.display(),
            self.why
        )
    }
}

impl std::error::Error for PinsError {}

fn key(addr: &RelayAddr) -> String {
    RelayAddr {
        security: Security::Plain,
        ..addr.clone()
    }
    .to_string()
}

impl Pins {
    /// The default file: `relay-pins` in the app's data directory.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "cryptully").map(|d| d.data_dir().join("relay-pins"))
    }

    /// Reads `path`; a missing file is no pins.
    pub fn load(path: &Path) -> Result<Self, PinsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(PinsError {
                    path: path.into(),
                    why: e.to_string(),
                });
            }
        };
        let mut pins = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(relay, pin)| {
                let fp = pin.trim().parse::<Fingerprint>().ok()?;
                let addr = relay.parse::<RelayAddr>().ok()?;
                Some((key(&addr), fp))
            });
            let Some((relay, fp)) = parsed else {
                return Err(PinsError {
                    path: path.into(),
                    why: format!("line {} is not HOST:PORT FINGERPRINT", n + 1),
                });
            };
            pins.insert(relay, fp);
        }
        Ok(Self(pins))
    }

    /// Writes all pins to `path` atomically (owner-only on Unix).
    pub fn save(&self, path: &Path) -> Result<(), PinsError> {
        let fail = |e: std::io::Error| PinsError {
            path: path.into(),
            why: e.to_string(),
        };
        let text: String = self
            .0
            .iter()
            .map(|(relay, fp)| format!("{relay} {fp}\n"))
            .collect();
        crate::files::write_atomically(path, &text).map_err(fail)
    }

    /// The address to connect to: `tls://` without a pin takes the remembered one.
    pub fn apply(&self, addr: RelayAddr) -> RelayAddr {
        match (addr.security, self.0.get(&key(&addr))) {
            (Security::Tls { pin: None }, Some(pin)) => RelayAddr {
                security: Security::Tls { pin: Some(*pin) },
                ..addr
            },
            _ => addr,
        }
    }

    /// Remembers the pin of `addr` after a connection succeeded with it; whether anything
    /// changed.
    pub fn remember(&mut self, addr: &RelayAddr) -> bool {
        let Security::Tls { pin: Some(pin) } = addr.security else {
            return false;
        };
        self.0.insert(key(addr), pin) != Some(pin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> RelayAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn pins_15_3_a_pin_used_once_is_used_again_and_a_typed_pin_wins() {
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        let mut pins = Pins::default();
        assert_eq!(
            pins.apply(addr("tls://r.example:9000")),
            addr("tls://r.example:9000")
        );
        assert!(pins.remember(&addr(&format!("tls://r.example:9000#sha256={a}"))));
        assert_eq!(
            pins.apply(addr("tls://r.example:9000")),
            addr(&format!("tls://r.example:9000#sha256={a}"))
        );
        // Another relay, or plain TCP, is not touched.
        assert_eq!(
            pins.apply(addr("tls://other:9000")),
            addr("tls://other:9000")
        );
        assert_eq!(pins.apply(addr("r.example:9000")), addr("r.example:9000"));
        // The person types another pin: it is used, and replaces the remembered one.
        let typed = addr(&format!("tls://r.example:9000#sha256={b}"));
        assert_eq!(pins.apply(typed.clone()), typed);
        assert!(pins.remember(&typed));
        assert!(!pins.remember(&typed), "nothing new");
    }

    #[test]
    fn pins_15_3_are_kept_across_runs_and_a_corrupt_file_is_an_error_left_alone() {
        let dir = std::env::temp_dir().join(format!("cryptully-pins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("relay-pins");
        assert_eq!(
            Pins::load(&path).expect("missing is empty"),
            Pins::default()
        );
        let mut pins = Pins::default();
        pins.remember(&addr(&format!(
            "tls://[::1]:9000#sha256={}",
            "cd".repeat(32)
        )));
        pins.save(&path).expect("saved");
        assert_eq!(Pins::load(&path).expect("loaded"), pins);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage\n").expect("written");
        let err = Pins::load(&path).expect_err("corrupt");
        assert!(err.to_string().contains("line 1"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "garbage\n");
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }
}
