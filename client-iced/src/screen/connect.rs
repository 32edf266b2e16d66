//! The first screen: nickname, relay address, host a relay, Connect.

use crate::net::{DEFAULT_RELAY, Target};
use crate::widget::{button, focusable};
use iced::widget::{checkbox, column, container, text, text_input};
use iced::{Element, Length};

/// What the person typed.
#[derive(Debug, Clone)]
pub struct State {
    /// Nickname.
    pub nick: String,
    /// HOST:PORT.
    pub relay: String,
    /// Host a relay inside the app.
    pub host: bool,
    /// The last error, shown under the form.
    pub error: Option<String>,
    /// Waiting for the relay.
    pub connecting: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            nick: String::new(),
            relay: DEFAULT_RELAY.into(),
            host: false,
            error: None,
            connecting: false,
        }
    }
}

/// The connect screen's messages.
#[derive(Debug, Clone)]
pub enum Message {
    /// Nickname edited.
    Nick(String),
    /// Relay address edited.
    Relay(String),
    /// Host toggled.
    Host(bool),
    /// Connect pressed.
    Submit,
}

/// The input box's id, focused at start.
pub const NICK_ID: &str = "connect-nick";

impl State {
    /// Applies a message; `Some(target)` when the person asked to connect.
    pub fn update(&mut self, message: Message) -> Option<Target> {
        match message {
            // An error about what the person is now changing is out of date.
            Message::Nick(n) => {
                self.nick = n;
                self.error = None;
            }
            Message::Relay(r) => {
                self.relay = r;
                self.error = None;
            }
            Message::Host(h) => self.host = h,
            Message::Submit => {
                if cryptully_protocol::Nick::new(self.nick.trim()).is_err() {
                    self.error = Some(crate::model::NICK_RULES.into());
                    return None;
                }
                self.error = None;
                self.connecting = true;
                return Some(Target {
                    relay: self.relay.clone(),
                    nick: self.nick.trim().to_string(),
                    host: self.host,
                    attempt: 0,
                });
            }
        }
        None
    }

    /// The form.
    pub fn view(&self) -> Element<'_, Message> {
        let submit = (!self.connecting).then_some(Message::Submit);
        let form = column![
            text("Cryptully").size(32),
            text("End-to-end encrypted chat for two. Pick a nickname; your friend types it to chat with you."),
            text_input("Your nickname", &self.nick).id(NICK_ID).on_input(Message::Nick).on_submit_maybe(submit.clone()).padding(8),
            text_input("Relay address", &self.relay).on_input(Message::Relay).on_submit_maybe(submit.clone()).padding(8),
            focusable(checkbox(self.host).label("Host a relay on this computer (for friends on your network)").on_toggle(Message::Host)),
            button(text(if self.connecting { "Connecting…" } else { "Connect" })).on_press_maybe(submit).padding([8, 24]),
        ]
        .spacing(14)
        .max_width(460);
        let error = self.error.as_ref().map(|e| {
            container(text(e.clone()))
                .style(container::danger)
                .padding(10)
                .width(Length::Fill)
        });
        container(column![form].push(error).spacing(14).max_width(460))
            .center(Length::Fill)
            .into()
    }
}
