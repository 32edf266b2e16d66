//! §10 Limits fixed by the wire format (§10.1).

/// The largest frame body (§2.1).
pub const MAX_FRAME: usize = 65536;
/// The longest nickname (§3.2).
pub const MAX_NICK: usize = 32;
/// The longest MSG text, in bytes of UTF-8 (§7.3).
pub const MAX_MSG_TEXT: usize = 16384;
/// The longest SMP question, in bytes of UTF-8 (§8.4).
pub const MAX_SMP_QUESTION: usize = 1024;
/// The longest MPI magnitude (§8.3).
pub const MAX_MPI: usize = 192;
/// The longest padded inner message: 257 · 64 (§6.3, §7.1).
pub const MAX_PADDED_INNER: usize = 257 * 64;
/// The most records a receiver skips over to open a later one (§6.4).
pub const MAX_SKIP: u64 = 1000;
/// Records in a row more than [`MAX_SKIP`] ahead after which a session ends as
/// [`crate::session::EndReason::MessagesLost`] (§6.4).
pub const MAX_TOO_FAR: u32 = 8;
/// Inner messages are padded to a multiple of this (§7.1).
pub const PADDING_BLOCK: usize = 64;
