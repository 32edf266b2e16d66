//! What the app remembers between runs (issue 15, item 14): the nickname, the relay address,
//! "host a relay" and the theme. Nothing secret: one `key = value` line each, in `settings` in
//! the app's configuration directory, written with [`crate::files::write_atomically`]. A file
//! that cannot be read is reported and left as it is: the app then remembers nothing this run
//! rather than overwrite it.

use std::fmt;
use std::path::{Path, PathBuf};

/// The remembered settings; `None` where nothing was chosen yet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The nickname last connected with.
    pub nick: Option<String>,
    /// The relay address last connected to.
    pub relay: Option<String>,
    /// Whether the app hosted a relay.
    pub host: bool,
    /// Dark (true) or light (false), when the person chose; else the system's.
    pub dark: Option<bool>,
    /// Lines of keys this version does not know (a newer one wrote them), kept as they were.
    pub other: Vec<String>,
}

/// Why the settings file could not be used.
#[derive(Debug)]
pub struct SettingsError {
    path: PathBuf,
    why: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Your saved settings in {} cannot be read ({}). They were left as they are, and \
             nothing is saved this time; move the file away to start afresh.",
            self.path.display(),
            self.why
        )
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// The default file: `settings` in the app's configuration directory.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "cryptully").map(|d| d.config_dir().join("settings"))
    }

    /// Reads `path`; a missing file is the defaults. Unknown keys are skipped (a newer version
    /// may write more); a line that is not `key = value`, or a value out of its range, is an
    /// error.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let fail = |why: String| SettingsError {
            path: path.into(),
            why,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(fail(e.to_string())),
        };
        let mut s = Self::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(fail(format!("line {} is not `key = value`", n + 1)));
            };
            let value = value.trim();
            let flag = |v: &str| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(fail(format!("line {}: {v:?} is not true or false", n + 1))),
            };
            match key.trim() {
                "nick" => s.nick = Some(value.to_string()),
                "relay" => s.relay = Some(value.to_string()),
                "host" => s.host = flag(value)?,
                "theme" => {
                    s.dark = match value {
                        "dark" => Some(true),
                        "light" => Some(false),
                        "system" => None,
                        other => {
                            return Err(fail(format!(
                                "line {}: theme {other:?} is not dark, light or system",
                                n + 1
                            )));
                        }
                    }
                }
                _ => s.other.push(line.to_string()),
            }
        }
        Ok(s)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = String::from("# Cryptully's remembered settings.\n");
        // Line breaks would end the value early: a typed value never has one, but be sure.
        let one_line = |v: &str| v.replace(['\n', '\r'], " ");
        if let Some(nick) = &self.nick {
            text.push_str(&format!("nick = {}\n", one_line(nick)));
        }
        if let Some(relay) = &self.relay {
            text.push_str(&format!("relay = {}\n", one_line(relay)));
        }
        text.push_str(&format!("host = {}\n", self.host));
        let theme = match self.dark {
            Some(true) => "dark",
            Some(false) => "light",
            None => "system",
        };
        text.push_str(&format!("theme = {theme}\n"));
        for line in &self.other {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Writes the settings to `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        crate::files::write_atomically(path, &self.to_text()).map_err(|e| SettingsError {
            path: path.into(),
            why: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cryptully-settings-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("settings")
    }

    #[test]
    fn settings_round_trip_and_a_missing_file_is_the_defaults() {
        let path = temp("round");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let s = Settings {
            nick: Some("alice".into()),
            relay: Some("tls://relay.example:9000#sha256=ab".into()),
            host: true,
            dark: Some(false),
            other: Vec::new(),
        };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_settings_file_is_an_error_that_names_it() {
        let path = temp("corrupt");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "nick = alice\ntheme = purple\n").unwrap();
        let e = Settings::load(&path).unwrap_err().to_string();
        assert!(e.contains("theme \"purple\""), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
        std::fs::write(&path, "just words\n").unwrap();
        assert!(Settings::load(&path).is_err());
        // Keys of a newer version are kept as they are.
        std::fs::write(&path, "nick = bob\nfuture = 1\n").unwrap();
        let s = Settings::load(&path).unwrap();
        assert_eq!(s.nick.as_deref(), Some("bob"));
        s.save(&path).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("\nfuture = 1\n")
        );
    }
}
