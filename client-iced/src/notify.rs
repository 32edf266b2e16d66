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

/// The same notification is not repeated within this time: a friend who writes fast, or a
/// relay that floods, makes one notification, not hundreds.
pub const QUIET: std::time::Duration = std::time::Duration::from_secs(30);

/// When each notification text was last shown.
#[derive(Debug, Default)]
pub struct Recent(std::collections::HashMap<String, std::time::Instant>);

impl Recent {
    /// Whether `body` may be shown at `now` (and records it if so).
    pub fn allow(&mut self, body: &str, now: std::time::Instant) -> bool {
        if self
            .0
            .get(body)
            .is_some_and(|at| now.saturating_duration_since(*at) < QUIET)
        {
            return false;
        }
        // Bounded: old entries go once there are many friends' worth.
        if self.0.len() > 256 {
            self.0
                .retain(|_, at| now.saturating_duration_since(*at) < QUIET);
        }
        self.0.insert(body.to_string(), now);
        true
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
    fn notifications_are_not_repeated_within_the_quiet_time() {
        let mut recent = Recent::default();
        let t0 = std::time::Instant::now();
        assert!(recent.allow("New message from bob.", t0));
        assert!(!recent.allow("New message from bob.", t0 + QUIET / 2));
        assert!(recent.allow("New message from carol.", t0 + QUIET / 2));
        assert!(recent.allow("New message from bob.", t0 + QUIET));
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
