//! Snapshots of each screen (iced_test, tiny-skia): a visual change shows as a changed hash in
//! review. After an intended change: `ICED_TEST_UPDATE=1 cargo test -p cryptully-client-iced --test
//! snapshots` rewrites the hashes, and the images next to them show what changed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_client_iced::app::{App, Message, Screen};
use cryptully_client_iced::screen::{chats, connect};
use cryptully_protocol::connection::ConnEvent;
use cryptully_protocol::session::Event;
use std::path::PathBuf;

mod common;
use common::nick;

fn check(app: &App, name: &str, theme: &iced::Theme) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut ui = iced_test::simulator(app.view());
    let snapshot = ui.snapshot(theme).unwrap();
    if std::env::var_os("ICED_TEST_UPDATE").is_some() {
        // iced_test names the files after the renderer.
        for ext in ["sha256", "png"] {
            let _ = std::fs::remove_file(dir.join(format!("{name}-tiny-skia.{ext}")));
        }
        let _ = snapshot.matches_image(&path).unwrap();
    }
    assert!(
        snapshot.matches_hash(&path).unwrap(),
        "{name} looks different: see tests/snapshots/{name}-tiny-skia.png; if intended, rerun with ICED_TEST_UPDATE=1"
    );
}

fn chatting() -> App {
    let mut app = common::secure_chat("bob");
    common::says(&mut app, "bob", 0, "Hi alice, it is really me");
    let id = app
        .model
        .send(&nick("bob"), "Hello bob! Let us compare the code.", "10:02")
        .unwrap();
    app.model.apply(
        ConnEvent::Sent {
            peer: nick("bob"),
            id,
            seq: 0,
        },
        "10:02",
    );
    common::from(&mut app, "bob", Event::Delivered { seq: 0 });
    common::from(
        &mut app,
        "bob",
        Event::Warning(cryptully_protocol::session::Warning::Replayed { seq: 0 }),
    );
    app
}

#[test]
fn snapshot_connect_screen() {
    let (mut app, _) = App::boot();
    let _ = app.update(Message::Connect(connect::Message::Nick("alice".into())));
    check(&app, "connect", &cryptully_client_iced::theme::light());
}

#[test]
fn snapshot_chat_light_and_dark() {
    let app = chatting();
    check(&app, "chat-light", &cryptully_client_iced::theme::light());
    check(&app, "chat-dark", &cryptully_client_iced::theme::dark());
}

#[test]
fn snapshot_request_and_ask_dialog() {
    let (mut app, _) = App::boot();
    app.screen = Screen::Chats(chats::State::default());
    app.model.apply(
        ConnEvent::Peer {
            peer: nick("carol"),
            event: Event::Request {
                peer: nick("carol"),
            },
        },
        "10:00",
    );
    check(&app, "request", &cryptully_client_iced::theme::light());
    let mut app = chatting();
    let _ = app.update(Message::Chats(chats::Message::AskOpen));
    check(&app, "ask-dialog", &cryptully_client_iced::theme::light());
}

#[test]
fn snapshot_connect_screen_with_an_error() {
    let (mut app, _) = App::boot();
    let _ = app.update(Message::Connect(connect::Message::Nick("alice".into())));
    let _ = app.update(Message::Net(cryptully_client_iced::net::NetEvent::Failed(
        "Someone on this relay already uses the nickname alice. Pick another.".into(),
    )));
    check(
        &app,
        "connect-error",
        &cryptully_client_iced::theme::light(),
    );
}

#[test]
fn snapshot_answer_dialog_and_verified_chat_with_a_link() {
    let mut app = chatting();
    common::from(
        &mut app,
        "bob",
        Event::SmpQuestion {
            question: "Where did we first meet?".into(),
        },
    );
    let _ = app.update(Message::Chats(chats::Message::AnswerOpen));
    check(
        &app,
        "answer-dialog",
        &cryptully_client_iced::theme::light(),
    );

    let mut app = chatting();
    common::from(
        &mut app,
        "bob",
        Event::SmpResult(cryptully_protocol::SmpOutcome::Matched),
    );
    common::says(
        &mut app,
        "bob",
        1,
        "The photos are at https://example.org/lake (the second album).",
    );
    check(
        &app,
        "verified-link",
        &cryptully_client_iced::theme::light(),
    );
}

/// §12.5: a verified friend's identity changed: the warning, the blocked message box, and the
/// sidebar's contact saying the same.
#[test]
fn snapshot_identity_changed() {
    use cryptully_protocol::contacts::{Contacts, Recognition};
    let mut app = common::secure_chat("bob");
    let mut contacts = Contacts::default();
    contacts.mark_verified(&nick("bob"), &[1; 32], 1_773_273_600);
    app.model
        .apply(ConnEvent::ContactsChanged(contacts), "10:01");
    app.model.apply(
        ConnEvent::Contact {
            peer: nick("bob"),
            recognition: Recognition::Changed {
                was_verified: Some(1_773_273_600),
            },
        },
        "10:01",
    );
    common::says(&mut app, "bob", 1, "it's me, I reinstalled the app");
    check(
        &app,
        "identity-changed",
        &cryptully_client_iced::theme::light(),
    );
}
