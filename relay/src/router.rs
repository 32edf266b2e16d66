//! Routing: which connection holds which nickname (§3.4, §3.5).
//!
//! Behind a small trait so that a cluster backend (Redis pub/sub, NATS) can replace the in-memory
//! map without touching the connection code.

use crate::peer::Peer;
use cryptully_protocol::Nick;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, RwLock};

/// Maps canonical nicknames to live connections.
pub trait Router: Send + Sync + 'static {
    /// Claims `nick` for `peer`; `false` when another live connection holds it (§3.4).
    fn register(&self, nick: &Nick, peer: &Arc<Peer>) -> bool;
    /// Releases `nick` if `peer` still holds it.
    fn unregister(&self, nick: &Nick, peer: &Arc<Peer>);
    /// The connection holding `nick`.
    fn lookup(&self, nick: &Nick) -> Option<Arc<Peer>>;
    /// Every registered connection (a cluster node that dies makes their partners be told, §14).
    fn peers(&self) -> Vec<Arc<Peer>>;
    /// How many nicknames are registered.
    fn len(&self) -> usize;
    /// Whether none is.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-memory router of a single relay process.
///
/// One `RwLock` is enough: connections cache what they look up (see `peer::Conn`), so the lock
/// is taken on registration, on first contact and on disconnect, not per message.
#[derive(Default)]
pub struct MemoryRouter {
    map: RwLock<HashMap<Nick, Arc<Peer>>>,
}

impl Router for MemoryRouter {
    fn register(&self, nick: &Nick, peer: &Arc<Peer>) -> bool {
        let Ok(mut map) = self.map.write() else {
            return false;
        };
        match map.entry(nick.canonical()) {
            Entry::Occupied(mut e) if e.get().is_closed() => {
                e.insert(peer.clone());
                true
            }
            Entry::Occupied(_) => false,
            Entry::Vacant(e) => {
                e.insert(peer.clone());
                true
            }
        }
    }

    fn unregister(&self, nick: &Nick, peer: &Arc<Peer>) {
        if let Ok(mut map) = self.map.write() {
            if map.get(nick).is_some_and(|p| p.id() == peer.id()) {
                map.remove(nick);
            }
        }
    }

    fn lookup(&self, nick: &Nick) -> Option<Arc<Peer>> {
        self.map
            .read()
            .ok()?
            .get(nick)
            // A connection whose registration is still being checked across a cluster (§14)
            // holds the name here but takes no frames until it is REGISTERED.
            .filter(|p| !p.is_closed() && p.nick().is_some())
            .cloned()
    }

    fn peers(&self) -> Vec<Arc<Peer>> {
        self.map
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }
}
