//! The command line of `cryptully`, in the library so that `xtask` generates the man page and
//! shell completions from the same definitions.

use clap::Parser;

/// End-to-end encrypted chat between two people.
///
/// Pick a nickname, type your friend's nickname, chat; read the 6-digit safety code aloud, or
/// ask a question only your friend can answer. Without options the app opens its connect screen. When no relay answers at the default
/// address (127.0.0.1:9000), it starts one itself.
#[derive(Parser, Debug, Default, Clone)]
#[command(name = "cryptully", version)]
pub struct Args {
    /// Fill in this nickname on the connect screen.
    #[arg(long, value_name = "NICK")]
    pub nick: Option<String>,
    /// Fill in this relay address on the connect screen: HOST:PORT, or tls://HOST:PORT, or
    /// tls://HOST:PORT#sha256=FINGERPRINT as the relay's operator gave it.
    #[arg(long, value_name = "ADDRESS")]
    pub relay: Option<String>,
    /// Print this device's identity key (what friends' apps remember of you) and where it is
    /// kept, then exit.
    #[arg(long, group = "identity_action")]
    pub show_identity: bool,
    /// Write this device's identity (its private key) to FILE, to move it to another device,
    /// then exit.
    #[arg(long, value_name = "FILE", group = "identity_action")]
    pub export_identity: Option<std::path::PathBuf>,
    /// Replace this device's identity by the one in FILE (written by --export-identity), then
    /// exit.
    #[arg(long, value_name = "FILE", group = "identity_action")]
    pub import_identity: Option<std::path::PathBuf>,
    /// Make a new identity, then exit. Friends who verified you will be warned once.
    #[arg(long, group = "identity_action")]
    pub reset_identity: bool,
}

/// What to do with the identity instead of opening the window (§12.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityAction {
    /// `--show-identity`.
    Show,
    /// `--export-identity FILE`.
    Export(std::path::PathBuf),
    /// `--import-identity FILE`.
    Import(std::path::PathBuf),
    /// `--reset-identity`.
    Reset,
}

impl Args {
    /// The identity option given, if any.
    pub fn identity_action(&self) -> Option<IdentityAction> {
        if self.show_identity {
            Some(IdentityAction::Show)
        } else if let Some(f) = &self.export_identity {
            Some(IdentityAction::Export(f.clone()))
        } else if let Some(f) = &self.import_identity {
            Some(IdentityAction::Import(f.clone()))
        } else if self.reset_identity {
            Some(IdentityAction::Reset)
        } else {
            None
        }
    }
}

/// The application id (Wayland) and window class (X11), as in the `.desktop` file.
pub const APP_ID: &str = "cryptully";
