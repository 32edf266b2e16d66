//! Fixtures shared by the client's tests and benchmarks: a chat that is already secure, fed
//! through the model without a network.

#![allow(dead_code, clippy::unwrap_used)]

use cryptully_client_iced::app::{App, Screen};
use cryptully_client_iced::screen::chats;
use cryptully_protocol::Nick;
use cryptully_protocol::connection::ConnEvent;
use cryptully_protocol::key_schedule::KeySchedule;
use cryptully_protocol::session::Event;

pub(crate) fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

/// The friend `peer` did `event` (as the connection would report it).
pub(crate) fn from(app: &mut App, peer: &str, event: Event) {
    app.model.apply(
        ConnEvent::Peer {
            peer: nick(peer),
            event,
        },
        "10:01",
    );
}

/// The friend `peer` sent message number `seq` saying `text`.
pub(crate) fn says(app: &mut App, peer: &str, seq: u64, text: impl Into<String>) {
    from(
        app,
        peer,
        Event::Message {
            seq,
            text: text.into(),
        },
    );
}

/// An app on the chats screen with a secure chat with `peer`, on screen.
pub(crate) fn secure_chat(peer: &str) -> App {
    let (mut app, _) = App::boot();
    app.screen = Screen::Chats(chats::State::default());
    app.model.open(&nick(peer), "10:00");
    let ks = KeySchedule::derive(&[1; 32], &[2; 32]).unwrap();
    let event = Event::Established {
        safety_code: ks.safety_code(),
        fingerprint: ks.fingerprint(),
        peer_identity: [7; 32],
        identity_fingerprint: cryptully_protocol::IdentityFingerprint::of(
            (&nick("alice"), &[6; 32]),
            (&nick(peer), &[7; 32]),
        ),
    };
    app.model.apply(
        ConnEvent::Peer {
            peer: nick(peer),
            event,
        },
        "10:00",
    );
    app
}
