//! §10 Limits fixed by the wire format (§10.1).

use core::time::Duration;

/// The largest frame body (§2.1).
pub const MAX_FRAME: usize = 65536;
/// The longest nickname (§3.2).
pub const MAX_NICK: usize = 32;
/// The largest RELAY payload (§3.5): the DELIVER it becomes, with a source nickname of any
/// length, still fits in a frame (1 type byte, 1 length byte, up to 32 nickname bytes).
pub const MAX_RELAY_PAYLOAD: usize = MAX_FRAME - 2 - MAX_NICK;
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

/// §4.5: how long an initiator waits for REDY (the friend's person deciding).
pub const HANDSHAKE_DECISION_TIMEOUT: Duration = Duration::from_secs(300);
/// §4.5: how long a responder waits for PUB_KEY after REDY (software only).
pub const HANDSHAKE_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// §8.6: how long an asker waits for SMP2 (the friend's person answering).
pub const SMP_ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// §8.6: how long a run waits for SMP1, SMP3 or SMP4 (software only).
pub const SMP_STEP_TIMEOUT: Duration = Duration::from_secs(60);
