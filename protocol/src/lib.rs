//! # cryptully-protocol
//!
//! The Cryptully wire protocol (relay version 2, peer version 3), as specified in `spec/`. Each module is one section of
//! the spec, named after it; every public item cites its section.
//!
//! | § | Module |
//! |---|--------|
//! | 2 | [`framing`], [`codec`] (decoding rules) |
//! | 3 | [`relay`], [`nick`] |
//! | 4 | [`handshake`] (peer messages), [`session`] (states) |
//! | 5 | [`key_schedule`] |
//! | 6 | [`records`] |
//! | 7 | [`inner`] |
//! | 8 | [`smp`] |
//! | 9 | [`errors`] |
//! | 10 | [`limits`] |
//! | 11 | [`versioning`] |
//! | 12.5 | [`contacts`], [`storage`] (files, feature `tokio`) |
//!
//! With the `tokio` feature, `net` reads and writes frames over async streams and `connection`
//! is the client side of §3 and §4 over TCP; the core modules stay free of I/O.
//!
//! The crate is sans-IO: no sockets, no clock, no threads, and no hidden randomness. Functions
//! that need randomness take a [`rand_core::CryptoRngCore`], so tests and golden vectors are
//! deterministic. Nothing here panics on any input.

#![forbid(unsafe_code)]

pub mod codec;
#[cfg(feature = "tokio")]
pub mod connection;
pub mod contacts;
pub mod errors;
pub mod framing;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod inner;
pub mod key_schedule;
pub mod limits;
#[cfg(feature = "tokio")]
pub mod net;
pub mod nick;
pub mod primitives;
pub mod records;
pub mod relay;
pub mod session;
pub mod smp;
#[cfg(feature = "tokio")]
pub mod storage;
#[cfg(feature = "tokio")]
pub mod transport;
pub mod versioning;

pub use codec::DecodeError;
pub use errors::{ErrorCode, RejectReason};
pub use framing::FrameError;
pub use handshake::PeerMessage;
pub use inner::{InnerMessage, TypingState};
pub use key_schedule::{Fingerprint, IdentityFingerprint, IdentityKeyPair, SafetyCode};
pub use nick::Nick;
pub use rand_core;
pub use records::RecordError;
pub use relay::{ClientMessage, RelayMessage};
pub use session::{Event, Session, SessionError, Warning};
pub use smp::{SmpError, SmpOutcome};
