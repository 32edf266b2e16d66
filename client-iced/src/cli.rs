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
}

/// The application id (Wayland) and window class (X11), as in the `.desktop` file.
pub const APP_ID: &str = "cryptully";
