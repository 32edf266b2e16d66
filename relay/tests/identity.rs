//! Issue 14, §12.5, end to end through real relays: a verification carries over from one chat
//! to the next, and a relay in the middle of a later chat is caught on both sides without a
//! code read aloud. The identities and contacts live in files, as the apps keep them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cryptully_protocol::connection::{
    CONNECT_TIMEOUT, Command, ConnEvent, Handle, Profile, connect_as,
};
use cryptully_protocol::contacts::Recognition;
use cryptully_protocol::session::Event;
use cryptully_protocol::{Nick, storage};
use cryptully_relay::{Config, RelayHandle, spawn};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

async fn relay() -> RelayHandle {
    spawn(SocketAddr::from(([127, 0, 0, 1], 0)), Config::default())
        .await
        .unwrap()
}

/// A person's data directory, fresh for this test.
fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cryptully-identity-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One run of the app: the identity and contacts read from `dir`, contacts written back as
/// they change (what the desktop app and the terminal chat do).
struct App {
    handle: Handle,
    events: UnboundedReceiver<ConnEvent>,
    dir: PathBuf,
}

impl App {
    async fn start(relay: SocketAddr, name: &str, dir: &Path) -> Self {
        let identity =
            storage::load_or_create_identity(&dir.join("identity"), &mut rand_core::OsRng).unwrap();
        let contacts = storage::load_contacts(&dir.join("contacts")).unwrap();
        let profile = Profile {
            identity: std::sync::Arc::new(identity),
            contacts,
        };
        // The app that quit just before waited for the relay to close its connection, so
        // the nickname is free (§3.8; chat_3_8_after_quitting_the_nickname_is_free_at_once).
        let (handle, events) = connect_as(
            relay,
            nick(name),
            profile,
            rand_core::OsRng,
            CONNECT_TIMEOUT,
        )
        .await
        .unwrap();
        App {
            handle,
            events,
            dir: dir.into(),
        }
    }

    /// Events until one satisfies `want`; contacts are saved on the way.
    async fn until(&mut self, what: &str, want: impl Fn(&ConnEvent) -> bool) -> ConnEvent {
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("connection alive");
            if let ConnEvent::ContactsChanged(c) = &e {
                storage::save_contacts(&self.dir.join("contacts"), c).unwrap();
            }
            if want(&e) {
                return e;
            }
        }
    }

    async fn contact(&mut self) -> Recognition {
        match self
            .until("the contact", |e| matches!(e, ConnEvent::Contact { .. }))
            .await
        {
            ConnEvent::Contact { recognition, .. } => recognition,
            _ => unreachable!(),
        }
    }

    async fn quit(mut self) {
        self.handle.send(Command::Quit);
        // Whatever is still to save is saved.
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await
        {
            if let ConnEvent::ContactsChanged(c) = &e {
                storage::save_contacts(&self.dir.join("contacts"), c).unwrap();
            }
            if matches!(e, ConnEvent::Disconnected { .. }) {
                break;
            }
        }
    }
}

/// `from` opens a chat with `to`, which accepts; both see what the identity means.
async fn chat(
    from: &mut App,
    from_name: &str,
    to: &mut App,
    to_name: &str,
) -> (Recognition, Recognition) {
    from.handle.send(Command::Open {
        peer: nick(to_name),
    });
    to.until("the request", |e| {
        matches!(
            e,
            ConnEvent::Peer {
                event: Event::Request { .. },
                ..
            }
        )
    })
    .await;
    to.handle.send(Command::Accept {
        peer: nick(from_name),
    });
    (from.contact().await, to.contact().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_12_5_verify_once_then_verified_after_reconnecting_and_a_relay_in_the_middle_blocks_both()
 {
    let r = relay().await;
    let (alice_dir, bob_dir) = (home("alice"), home("bob"));

    // First run: a first chat, verified by the safety code on both sides.
    let mut alice = App::start(r.local_addr(), "alice", &alice_dir).await;
    let mut bob = App::start(r.local_addr(), "bob", &bob_dir).await;
    let (a, b) = chat(&mut alice, "alice", &mut bob, "bob").await;
    assert_eq!((a, b), (Recognition::New, Recognition::New));
    alice
        .handle
        .send(Command::MarkVerified { peer: nick("bob") });
    bob.handle.send(Command::MarkVerified {
        peer: nick("alice"),
    });
    assert!(matches!(
        alice.contact().await,
        Recognition::Verified { .. }
    ));
    assert!(matches!(bob.contact().await, Recognition::Verified { .. }));
    alice.quit().await;
    bob.quit().await;

    // Second run, the apps restarted: verified at once, with no action.
    let mut alice = App::start(r.local_addr(), "alice", &alice_dir).await;
    let mut bob = App::start(r.local_addr(), "bob", &bob_dir).await;
    let (a, b) = chat(&mut alice, "alice", &mut bob, "bob").await;
    assert!(matches!(a, Recognition::Verified { .. }), "{a:?}");
    assert!(matches!(b, Recognition::Verified { .. }), "{b:?}");
    alice.quit().await;
    bob.quit().await;

    // Third run: alice and bob reach each other only through mallory, a relay in the middle
    // that runs a handshake with each (two relays and two connections of mallory's stand for
    // one hostile relay).
    let (r1, r2) = (relay().await, relay().await);
    let mut alice = App::start(r1.local_addr(), "alice", &alice_dir).await;
    let mut bob = App::start(r2.local_addr(), "bob", &bob_dir).await;
    let mallory_dir = home("mallory");
    let mut m_as_bob = App::start(r1.local_addr(), "bob", &mallory_dir).await;
    let mut m_as_alice = App::start(r2.local_addr(), "alice", &mallory_dir).await;
    let (a, _) = chat(&mut alice, "alice", &mut m_as_bob, "bob").await;
    let (_, b) = chat(&mut m_as_alice, "alice", &mut bob, "bob").await;
    for (who, seen) in [("alice", a), ("bob", b)] {
        assert!(
            matches!(
                seen,
                Recognition::Changed {
                    was_verified: Some(_)
                }
            ),
            "{who} must be warned: {seen:?}"
        );
        assert!(seen.blocks());
    }
    // Blocking: nothing alice writes leaves.
    alice.handle.send(Command::Send {
        peer: nick("bob"),
        id: 1,
        text: "my address is...".into(),
    });
    let refused = alice
        .until("the refusal", |e| {
            matches!(e, ConnEvent::NotSent { .. } | ConnEvent::Sent { .. })
        })
        .await;
    assert!(
        matches!(&refused, ConnEvent::NotSent { reason, .. } if reason.starts_with("this may not be bob")),
        "{refused:?}"
    );
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Some(ConnEvent::Peer {
                event: Event::Message { .. },
                ..
            }) = m_as_bob.events.recv().await
            {
                return;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "mallory received a message");
    // The verified identities were kept: the contacts files still hold them.
    let contacts = storage::load_contacts(&alice_dir.join("contacts")).unwrap();
    let bob_key = storage::read_identity(&bob_dir.join("identity")).unwrap();
    let remembered = contacts.get(&nick("bob")).unwrap();
    assert_eq!(
        &remembered.identity,
        bob_key.public(),
        "still bob's own key"
    );
    assert!(remembered.verified_at.is_some());
    for dir in [alice_dir, bob_dir, mallory_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
