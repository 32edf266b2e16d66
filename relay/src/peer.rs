//! One connection as others see it: its nickname, its outbound queue and its contacts.
//!
//! The outbound queue is one byte buffer (§10.2 "outbound queue"): senders append whole frames
//! under a short lock. A connection that routes frames here writes them straight to the socket
//! once it has handled everything it read ([`Peer::flush`]), when the socket takes them; what the
//! socket does not take, and everything while a write is pending, is left to the connection's
//! writer task, which swaps the buffer out and writes everything queued in one call. So a frame
//! costs one write (batched per read) and no task wake-up in the common case, and the memory a
//! reader that stops reading can make the relay hold is bounded: past the limit the connection is
//! dropped with ERROR SLOW_CONSUMER and nobody else is affected.

use crate::tls::WriteSide;
use bytes::{Buf, BytesMut};
use cryptully_protocol::Nick;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::net::put_frame;
use cryptully_protocol::relay::RelayMessage;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Room beyond the queue limit for the relay's own messages to a connection (§10.2).
const CONTROL_SLACK: usize = 64 * 1024;

/// Why a frame could not be queued for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The connection is closing.
    Closed,
    /// The queue would exceed its limit.
    Full,
}

struct Outbox {
    buf: BytesMut,
    /// Bytes at the front of `buf` that finish a frame already begun on the socket (after a
    /// partial direct write). A frame boundary is where this is 0.
    front_skip: usize,
    closing: bool,
    /// Written after everything queued, then the connection closes.
    last: Option<BytesMut>,
    /// The socket, when no write is pending on it; the writer task holds it while one is.
    /// Frames are only written while holding this lock or the socket, so they stay in order.
    socket: Option<WriteSide>,
}

/// A connection anywhere in a cluster (§14): the node it is on (0 for a relay of one process)
/// and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whom {
    /// The relay node.
    pub node: u64,
    /// The connection's id on that node.
    pub id: u64,
}

/// The shared handle of one connection.
pub struct Peer {
    id: u64,
    nick: OnceLock<Nick>,
    limit: usize,
    out: Mutex<Outbox>,
    wake_writer: Notify,
    closed: AtomicBool,
    closed_notify: Notify,
    aborted: AtomicBool,
    abort_notify: Notify,
    /// Nicknames this connection exchanged frames with, and their connections (§3.9).
    contacts: Mutex<HashMap<Nick, Whom>>,
    /// Counts writes that the socket took: no clock on the hot path (§10.2).
    progress: AtomicU64,
    /// When a full queue was first seen with the `progress` count it had then: if the count
    /// has not moved by the stall timeout, the connection is a slow consumer (§10.2).
    stall_mark: Mutex<Option<(std::time::Instant, u64)>>,
    /// How long a full queue may wait on a socket that takes nothing (§10.2).
    stall_timeout: Duration,
}

impl Peer {
    pub(crate) fn new(
        id: u64,
        limit: usize,
        stall_timeout: Duration,
        socket: WriteSide,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            nick: OnceLock::new(),
            limit,
            out: Mutex::new(Outbox {
                buf: BytesMut::new(),
                front_skip: 0,
                closing: false,
                last: None,
                socket: Some(socket),
            }),
            wake_writer: Notify::new(),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            aborted: AtomicBool::new(false),
            abort_notify: Notify::new(),
            contacts: Mutex::new(HashMap::new()),
            progress: AtomicU64::new(0),
            stall_mark: Mutex::new(None),
            stall_timeout,
        })
    }

    fn made_progress(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Called when a frame did not fit: how long the queue has been full with the socket
    /// taking nothing (§10.2). Zero when it took something since the last call.
    pub(crate) fn stalled_for(&self, now: std::time::Instant) -> Duration {
        let count = self.progress.load(Ordering::Relaxed);
        let Ok(mut mark) = self.stall_mark.lock() else {
            return Duration::ZERO;
        };
        match *mark {
            Some((since, seen)) if seen == count => now.saturating_duration_since(since),
            _ => {
                *mark = Some((now, count));
                Duration::ZERO
            }
        }
    }

    /// When a write blocked since `blocked_since` makes this connection a slow consumer
    /// (§10.2): the stall timeout after the later of that moment and the first frame refused
    /// since the socket last took a byte. `None` while no frame was refused since, or when the
    /// moment lies beyond the clock (a stall timeout of "never").
    fn stalled_at(&self, blocked_since: std::time::Instant) -> Option<std::time::Instant> {
        let count = self.progress.load(Ordering::Relaxed);
        match self.stall_mark.lock().ok().and_then(|m| *m) {
            Some((since, seen)) if seen == count => {
                since.max(blocked_since).checked_add(self.stall_timeout)
            }
            _ => None,
        }
    }

    /// Returns once a write blocked since `blocked_since` has made this connection a slow
    /// consumer: the stall timeout runs on the relay's clock, whether or not anyone still sends
    /// to it, so a connection that reads nothing does not keep its nickname because its senders
    /// fell silent once its queue was full.
    async fn stalled(&self, blocked_since: std::time::Instant) {
        // A refused frame can come at any moment while the write waits: look again soon.
        let recheck = (self.stall_timeout / 4).min(Duration::from_secs(1));
        loop {
            let now = std::time::Instant::now();
            match self.stalled_at(blocked_since) {
                Some(at) if at <= now => return,
                Some(at) => {
                    tokio::time::sleep(at.saturating_duration_since(now).min(recheck)).await
                }
                None => tokio::time::sleep(recheck).await,
            }
        }
    }

    /// A number unique to this connection within the relay process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The canonical nickname, once registered.
    pub fn nick(&self) -> Option<&Nick> {
        self.nick.get()
    }

    pub(crate) fn set_nick(&self, nick: Nick) {
        let _ = self.nick.set(nick);
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once the connection is closing.
    pub(crate) async fn closed(&self) {
        let notified = self.closed_notify.notified();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    /// Resolves once the connection is closed with its queue discarded.
    async fn aborted(&self) {
        let notified = self.abort_notify.notified();
        if self.aborted.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Queues `len` bytes written by `write` (one or more whole frames), for the caller to
    /// [`Peer::flush`] once it has queued everything it read: nothing is sent until then.
    pub(crate) fn push_deferred(
        &self,
        len: usize,
        write: impl FnOnce(&mut BytesMut),
    ) -> Result<(), PushError> {
        self.append(len, write).map(|_| ())
    }

    /// Writes what is queued straight to the socket if no write is pending and the socket takes
    /// it without waiting; hands the rest to the writer task.
    pub(crate) fn flush(&self) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        if out.closing || out.buf.is_empty() {
            return;
        }
        // The writer task holds the socket: it writes what is queued when its write completes.
        let Some(socket) = &out.socket else {
            return;
        };
        match socket.try_write(&out.buf) {
            Ok(n) if n == out.buf.len() => {
                out.buf.clear();
                out.front_skip = 0;
                self.made_progress();
                return;
            }
            Ok(n) => {
                if n > 0 {
                    self.made_progress();
                }
                out.front_skip = unfinished(&out.buf, out.front_skip, n);
                out.buf.advance(n);
            }
            // WouldBlock waits for the writer task; an error is met and handled there.
            Err(_) => {}
        }
        drop(out);
        self.wake_writer.notify_one();
    }

    /// Appends under the lock; whether the queue was empty before.
    fn append(&self, len: usize, write: impl FnOnce(&mut BytesMut)) -> Result<bool, PushError> {
        self.append_within(self.limit, len, write)
    }

    /// Queues a relay message of the relay's own (PONG, ERROR, PEER_GONE): up to
    /// [`CONTROL_SLACK`] beyond the limit, so that a queue filled by other people's frames
    /// never costs a reader its PONG or the news that a friend left (§10.2).
    pub(crate) fn push_control(&self, msg: &RelayMessage) -> Result<(), PushError> {
        let body = msg.to_bytes();
        if self.append_within(self.limit + CONTROL_SLACK, body.len() + 4, |buf| {
            put_frame(buf, &body)
        })? {
            self.wake_writer.notify_one();
        }
        Ok(())
    }

    fn append_within(
        &self,
        limit: usize,
        len: usize,
        write: impl FnOnce(&mut BytesMut),
    ) -> Result<bool, PushError> {
        let was_empty = {
            let Ok(mut out) = self.out.lock() else {
                return Err(PushError::Closed);
            };
            if out.closing {
                return Err(PushError::Closed);
            }
            if out.buf.len() + len > limit {
                return Err(PushError::Full);
            }
            let was_empty = out.buf.is_empty();
            out.buf.reserve(len);
            write(&mut out.buf);
            was_empty
        };
        Ok(was_empty)
    }

    /// Starts closing: `last` (if any) is written after what is queued, unless `discard` drops
    /// the queue first (a slow consumer's queue is dropped: it would not be read in time).
    pub(crate) fn close(&self, last: Option<&RelayMessage>, discard: bool) {
        // Closed before the writer can see `closing` and shut the socket: a client that saw the
        // close finds its nickname free (§3.8; MemoryRouter::register takes over a closed one).
        self.closed.store(true, Ordering::Release);
        if let Ok(mut out) = self.out.lock() {
            if !out.closing {
                out.closing = true;
                if discard {
                    // Keep only the rest of a frame the socket has begun, so that `last` (a
                    // SLOW_CONSUMER) starts at a frame boundary and can be read (§10.2).
                    let keep = out.front_skip;
                    out.buf.truncate(keep);
                }
                out.last = last.map(|m| {
                    let mut b = BytesMut::new();
                    put_frame(&mut b, &m.to_bytes());
                    b
                });
            }
        }
        if discard {
            self.aborted.store(true, Ordering::Release);
            self.abort_notify.notify_waiters();
        }
        self.closed_notify.notify_waiters();
        self.wake_writer.notify_one();
    }

    /// Records that this connection and `other` exchanged frames (§3.9).
    pub(crate) fn add_contact(&self, nick: &Nick, whom: Whom) {
        if let Ok(mut c) = self.contacts.lock() {
            if c.get(nick) != Some(&whom) {
                c.insert(nick.clone(), whom);
            }
        }
    }

    /// Forgets `nick` if it was the connection `whom`; whether it was (§3.9 across nodes).
    pub(crate) fn remove_contact_if(&self, nick: &Nick, whom: Whom) -> bool {
        let Ok(mut c) = self.contacts.lock() else {
            return false;
        };
        if c.get(nick) == Some(&whom) {
            c.remove(nick);
            return true;
        }
        false
    }

    /// Forgets every contact on cluster node `node` and returns their nicknames (§14).
    pub(crate) fn remove_contacts_on(&self, node: u64) -> Vec<Nick> {
        let Ok(mut c) = self.contacts.lock() else {
            return Vec::new();
        };
        let gone: Vec<Nick> = c
            .iter()
            .filter(|(_, w)| w.node == node)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &gone {
            c.remove(n);
        }
        gone
    }

    pub(crate) fn take_contacts(&self) -> HashMap<Nick, Whom> {
        self.contacts
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Writes what [`Peer::flush`] could not, until the connection closes. Runs as the
    /// connection's writer task.
    pub(crate) async fn write_loop(self: Arc<Self>) {
        let mut batch = BytesMut::new();
        // Bytes at the front of `batch` that finish a frame begun before it.
        let mut batch_skip = 0;
        // The socket, taken from the outbox while a write is pending.
        let mut held: Option<WriteSide> = None;
        loop {
            if held.is_none() {
                self.wake_writer.notified().await;
            }
            let closing_with = {
                let Ok(mut out) = self.out.lock() else { return };
                if held.is_none() {
                    held = out.socket.take();
                }
                if !out.buf.is_empty() {
                    std::mem::swap(&mut out.buf, &mut batch);
                    batch_skip = std::mem::take(&mut out.front_skip);
                    None
                } else if out.closing {
                    Some(out.last.take())
                } else {
                    // Everything is written: the socket goes back for direct writes.
                    out.socket = held.take();
                    continue;
                }
            };
            let Some(w) = held.as_mut() else { return };
            if let Some(last) = closing_with {
                if let Some(last) = last {
                    // The peer may not be reading (a slow consumer): do not wait for it long.
                    let _ = tokio::time::timeout(Duration::from_secs(2), w.write_all(&last)).await;
                }
                // Bounded: over TLS, shutdown waits for a reader that may never read.
                let _ = tokio::time::timeout(Duration::from_secs(2), w.shutdown()).await;
                return;
            }
            // Written piece by piece, so that an abort knows where in a frame it stopped.
            let mut pos = 0;
            while pos < batch.len() && !self.aborted.load(Ordering::Acquire) {
                let blocked_since = std::time::Instant::now();
                tokio::select! {
                    // A write that can go wins over a stall that expired meanwhile.
                    biased;
                    written = w.write(batch.get(pos..).unwrap_or_default()) => match written {
                        Ok(n) if n > 0 => {
                            pos += n;
                            self.made_progress();
                        }
                        _ => {
                            self.close(None, true);
                            return;
                        }
                    },
                    // A slow consumer blocks this write; dropping it is the point.
                    () = self.aborted() => {},
                    () = self.stalled(blocked_since) => self.close(Some(&slow_consumer()), true),
                }
            }
            // Over TLS, what rustls took is sent by the flush (a no-op for TCP); the stall
            // timeout watches it too, as a TLS write returns before the socket takes anything.
            if pos == batch.len() {
                let blocked_since = std::time::Instant::now();
                tokio::select! {
                    biased;
                    flushed = w.flush() => match flushed {
                        Ok(()) => self.made_progress(),
                        Err(_) => {
                            self.close(None, true);
                            return;
                        }
                    },
                    () = self.aborted() => {},
                    () = self.stalled(blocked_since) => self.close(Some(&slow_consumer()), true),
                }
            }
            if self.aborted.load(Ordering::Acquire) {
                // §10.2: SLOW_CONSUMER only at a frame boundary: finish the frame begun (if the
                // reader takes it within the grace), else close without it.
                let rest = unfinished(&batch, batch_skip, pos);
                let finish = batch.get(pos..pos + rest).unwrap_or_default();
                let grace = Duration::from_secs(2);
                let at_boundary = rest == 0
                    || matches!(
                        tokio::time::timeout(grace, w.write_all(finish)).await,
                        Ok(Ok(()))
                    );
                let last = self.out.lock().ok().and_then(|mut o| {
                    // The rest of a frame begun by a direct write, kept by `close`.
                    let kept = std::mem::take(&mut o.buf);
                    o.last.take().map(|last| (kept, last))
                });
                if let (true, Some((kept, last))) = (at_boundary, last) {
                    let _ = tokio::time::timeout(grace, async {
                        w.write_all(&kept).await?;
                        w.write_all(&last).await
                    })
                    .await;
                }
                // Bounded: over TLS, shutdown waits for a reader that may never read.
                let _ = tokio::time::timeout(Duration::from_secs(2), w.shutdown()).await;
                return;
            }
            batch_skip = 0;
            batch.clear();
            if batch.capacity() > 64 * 1024 {
                batch = BytesMut::new();
            }
        }
    }
}

/// How many bytes of the frame that a write of `written` bytes from the start of `buf` cut
/// short are still to send: 0 when the write ended on a frame boundary. `buf` holds whole
/// length-prefixed frames after its first `skip` bytes, which finish a frame begun earlier.
fn unfinished(buf: &[u8], skip: usize, written: usize) -> usize {
    if written < skip {
        return skip - written;
    }
    let mut start = skip;
    while start < written {
        let len = buf
            .get(start..start + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u32::from_be_bytes(b) as usize);
        let end = start + 4 + len;
        if end > written {
            return end - written;
        }
        start = end;
    }
    0
}

/// The ERROR a slow connection gets before it is dropped (§9.1 SLOW_CONSUMER, no nick).
pub(crate) fn slow_consumer() -> RelayMessage {
    RelayMessage::Error {
        code: ErrorCode::SlowConsumer,
        nick: None,
    }
}

#[cfg(test)]
mod tests {
    use super::unfinished;

    #[test]
    fn peer_10_2_frame_boundaries_are_found_after_partial_writes() {
        // Two frames: 4+3 bytes and 4+2 bytes.
        let buf = [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 2, 9, 9];
        assert_eq!(unfinished(&buf, 0, 0), 0);
        assert_eq!(unfinished(&buf, 0, 5), 2, "inside the first frame");
        assert_eq!(unfinished(&buf, 0, 7), 0, "between the frames");
        assert_eq!(unfinished(&buf, 0, 9), 4, "inside the second's prefix");
        assert_eq!(unfinished(&buf, 0, 13), 0);
        // With 3 bytes at the front finishing an earlier frame.
        let tail = [7, 7, 7, 0, 0, 0, 1, 5];
        assert_eq!(unfinished(&tail, 3, 1), 2);
        assert_eq!(unfinished(&tail, 3, 3), 0);
        assert_eq!(unfinished(&tail, 3, 6), 2);
    }
}
