//! Desktop notifications (issue 15, item 13): a request, a message or a question that arrives
//! while the window is not in front is announced by the desktop, without the message's content
//! (the lock screen and the notification history are not the chat's), and the window asks for
//! attention.

use cryptully_protocol::connection::ConnEvent;
use cryptully_protocol::session::Event;

/// What the desktop says for `event`, when the window is not focused; `None` when it says
/// nothing.
pub fn text_for(event: &ConnEvent, focused: bool) -> Option<String> {
    if focused {
        return None;
    }
    let ConnEvent::Peer { peer, event } = event else {
        return None;
    };
    match event {
        Event::Request { .. } => Some(format!("{peer} wants to chat.")),
        Event::Message { .. } => Some(format!("New message from {peer}.")),
        Event::SmpQuestion { .. } => Some(format!("{peer} asks you a question to verify you.")),
        _ => None,
    }
}

/// Shows `body` as a desktop notification from Cryptully, on a thread of its own: the
/// desktop's notification service may be slow or missing, and then there is simply none.
pub fn show(body: String) {
    std::thread::spawn(move || {
        let _ = notify_rust::Notification::new()
            .appname("Cryptully")
            .summary("Cryptully")
            .body(&body)
            .show();
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cryptully_protocol::Nick;

    fn from_bob(event: Event) -> ConnEvent {
        ConnEvent::Peer {
            peer: Nick::new("bob").unwrap(),
            event,
        }
    }

    #[test]
    fn notifications_only_when_away_and_never_with_the_message() {
        let msg = from_bob(Event::Message {
            seq: 0,
            text: "the secret plan".into(),
        });
        assert_eq!(
            text_for(&msg, true),
            None,
            "not while the window is in front"
        );
        let shown = text_for(&msg, false).unwrap();
        assert_eq!(shown, "New message from bob.");
        assert!(!shown.contains("secret"));
        let req = from_bob(Event::Request {
            peer: Nick::new("bob").unwrap(),
        });
        assert_eq!(text_for(&req, false).unwrap(), "bob wants to chat.");
        assert_eq!(
            text_for(
                &from_bob(Event::Typing(cryptully_protocol::TypingState::Typing)),
                false
            ),
            None
        );
    }
}
