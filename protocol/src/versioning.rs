//! §11 Versioning.

/// The relay protocol version of HELLO (§3.3).
pub const RELAY_VERSION: u16 = 2;
/// The peer protocol version of HELO (§4.2).
pub const PEER_VERSION: u16 = 3;
