//! Files the app keeps for its person (relay pins, settings, identity, contacts): written whole
//! to a temporary file readable by this user only, then renamed over the old one, so a crash
//! never leaves half a file. One implementation, shared with the terminal chat (§12.5).

pub use cryptully_protocol::storage::write_atomically;
