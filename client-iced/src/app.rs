//! The application: which screen is up, the model, the connection handle, the theme. Screens
//! update themselves and hand back what the connection should do; nothing here blocks.

use crate::links;
use crate::model::Model;
use crate::net::{self, NetEvent, Target};
use crate::screen::{chats, connect};
use cryptully_protocol::connection::{ConnEvent, Handle};
use iced::keyboard::{self, Key, key::Named};
use iced::theme::Mode;
use iced::{Element, Subscription, Task, Theme};
use std::time::Instant;

/// Which screen is up.
#[derive(Debug)]
pub enum Screen {
    /// Nickname and relay.
    Connect(connect::State),
    /// Chatting.
    Chats(chats::State),
}

/// The whole application state.
#[derive(Debug)]
pub struct App {
    /// The screen.
    pub screen: Screen,
    /// Chats, lines, verification.
    pub model: Model,
    /// Set while a connection is wanted: the subscription runs for it.
    pub target: Option<Target>,
    /// Commands to the connection.
    pub handle: Option<Handle>,
    /// The system's light or dark preference.
    pub system: Mode,
    /// The person's choice, over the system's.
    pub dark: Option<bool>,
}

/// Everything that can happen.
#[derive(Debug, Clone)]
pub enum Message {
    /// On the connect screen.
    Connect(connect::Message),
    /// On the chats screen.
    Chats(chats::Message),
    /// From the network.
    Net(NetEvent),
    /// The system theme changed.
    System(Mode),
    /// Light / dark toggle.
    ToggleTheme,
    /// Ctrl+N: new chat.
    NewChatShortcut,
    /// Ctrl+W: close chat.
    CloseShortcut,
    /// Esc: close a dialog.
    Escape,
    /// Focus an input, once the view that holds it is built.
    Focus(&'static str),
    /// The window came back to the front: put the cursor back where typing goes.
    WindowFocused,
}

/// Focuses `id` after the next view: a widget that the current update creates does not exist
/// until then.
fn focus(id: &'static str) -> Task<Message> {
    Task::done(Message::Focus(id))
}

/// "14:05", the person's local time (the system's time zone).
pub fn clock() -> String {
    chrono::Local::now().format("%H:%M").to_string()
}

impl App {
    /// The first state: the connect screen, the nickname box focused, the system theme asked.
    pub fn boot() -> (Self, Task<Message>) {
        Self::boot_with(&crate::cli::Args::default())
    }

    /// The first state, with the connect screen filled in from the command line.
    pub fn boot_with(args: &crate::cli::Args) -> (Self, Task<Message>) {
        let mut form = connect::State::default();
        if let Some(nick) = &args.nick {
            form.nick = nick.clone();
        }
        if let Some(relay) = &args.relay {
            form.relay = relay.clone();
        }
        let app = App {
            screen: Screen::Connect(form),
            model: Model::default(),
            target: None,
            handle: None,
            system: Mode::Light,
            dark: None,
        };
        let tasks = Task::batch([
            iced::system::theme().map(Message::System),
            iced::widget::operation::focus(connect::NICK_ID),
        ]);
        (app, tasks)
    }

    /// The window title, with the unread count.
    pub fn title(&self) -> String {
        match self.model.unread() {
            0 => "Cryptully".into(),
            n => format!("Cryptully ({n})"),
        }
    }

    /// Applies a message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Connect(m) => {
                if let Screen::Connect(state) = &mut self.screen {
                    if let Some(target) = state.update(m) {
                        self.target = Some(target);
                    }
                }
            }
            Message::Chats(m) => {
                if let chats::Message::OpenLink(url) = &m {
                    if let Err(e) = links::open(url) {
                        self.model.notice = Some(format!("Could not open {url}: {e}"));
                    }
                    return Task::none();
                }
                if let Screen::Chats(state) = &mut self.screen {
                    let jump = matches!(m, chats::Message::JumpToEnd);
                    let target = match m {
                        chats::Message::Select(_)
                        | chats::Message::Open
                        | chats::Message::Accept => Some(chats::INPUT_ID),
                        chats::Message::AskOpen | chats::Message::AnswerOpen => {
                            Some(chats::DIALOG_FIRST_ID)
                        }
                        chats::Message::DialogNext => Some(chats::DIALOG_ANSWER_ID),
                        chats::Message::SubmitDialog | chats::Message::DismissDialog => {
                            Some(chats::INPUT_ID)
                        }
                        _ => None,
                    };
                    for command in state.update(&mut self.model, m, Instant::now(), &clock()) {
                        if let Some(h) = &self.handle {
                            h.send(command);
                        }
                    }
                    if let Some(id) = target {
                        return focus(id);
                    }
                    if jump {
                        return iced::widget::operation::snap_to_end(chats::MESSAGES_ID);
                    }
                }
            }
            Message::Net(NetEvent::Connected { handle, hosting }) => {
                self.model = Model::default();
                self.model.notice = hosting;
                self.handle = Some(handle);
                self.screen = Screen::Chats(chats::State::default());
                return focus(chats::NEW_CHAT_ID);
            }
            Message::Net(NetEvent::Failed(error)) => {
                self.target = None;
                self.handle = None;
                let mut state = match std::mem::replace(
                    &mut self.screen,
                    Screen::Connect(connect::State::default()),
                ) {
                    Screen::Connect(s) => s,
                    Screen::Chats(_) => connect::State::default(),
                };
                state.connecting = false;
                state.error = Some(error);
                self.screen = Screen::Connect(state);
            }
            Message::Net(NetEvent::Event(e)) => {
                let disconnected = matches!(e, ConnEvent::Disconnected { .. });
                let secure_here = matches!(&e, ConnEvent::Peer { peer, event: cryptully_protocol::session::Event::Established { .. } } if self.model.selected.as_ref() == Some(peer));
                let message_here = matches!(&e, ConnEvent::Peer { peer, event: cryptully_protocol::session::Event::Message { .. } } if self.model.selected.as_ref() == Some(peer));
                if let (true, Screen::Chats(state)) = (message_here, &mut self.screen) {
                    state.incoming();
                }
                self.model.apply(e, &clock());
                if disconnected {
                    self.handle = None;
                }
                if secure_here {
                    return focus(chats::INPUT_ID);
                }
            }
            Message::Focus(id) => return iced::widget::operation::focus(id),
            Message::WindowFocused => {
                let id = match &self.screen {
                    Screen::Connect(_) => connect::NICK_ID,
                    Screen::Chats(state) if state.dialog.is_some() => chats::DIALOG_FIRST_ID,
                    Screen::Chats(_) if self.model.current().is_some() => chats::INPUT_ID,
                    Screen::Chats(_) => chats::NEW_CHAT_ID,
                };
                return focus(id);
            }
            Message::System(mode) => self.system = mode,
            Message::ToggleTheme => self.dark = Some(!self.is_dark()),
            Message::NewChatShortcut => return focus(chats::NEW_CHAT_ID),
            Message::CloseShortcut => return self.update(Message::Chats(chats::Message::Close)),
            Message::Escape => return self.update(Message::Chats(chats::Message::DismissDialog)),
        }
        Task::none()
    }

    fn is_dark(&self) -> bool {
        self.dark.unwrap_or(self.system == Mode::Dark)
    }

    /// The theme: the person's choice, or the system's.
    pub fn theme(&self) -> Theme {
        if self.is_dark() {
            Theme::Dark
        } else {
            Theme::Light
        }
    }

    /// The window's content.
    pub fn view(&self) -> Element<'_, Message> {
        let body = match &self.screen {
            Screen::Connect(state) => state.view().map(Message::Connect),
            Screen::Chats(state) => {
                let me = self
                    .handle
                    .as_ref()
                    .map(|h| h.nick().as_str())
                    .unwrap_or("offline");
                state
                    .view(&self.model, me, self.model.notice.as_deref())
                    .map(Message::Chats)
            }
        };
        let toggle = iced::widget::button(
            iced::widget::text(if self.is_dark() {
                "Light theme"
            } else {
                "Dark theme"
            })
            .size(12),
        )
        .on_press(Message::ToggleTheme)
        .style(iced::widget::button::text);
        iced::widget::column![
            iced::widget::row![iced::widget::space().width(iced::Length::Fill), toggle],
            body
        ]
        .into()
    }

    /// The connection, the typing timer, keyboard shortcuts and system theme changes.
    pub fn subscription(&self) -> Subscription<Message> {
        let mut subs = vec![
            keyboard::listen().filter_map(shortcut),
            iced::system::theme_changes().map(Message::System),
            iced::event::listen_with(window_focused),
        ];
        if let Some(target) = &self.target {
            subs.push(net::subscription(target).map(Message::Net));
        }
        if let Screen::Chats(state) = &self.screen {
            if state.typing() {
                subs.push(
                    iced::time::every(std::time::Duration::from_millis(500))
                        .map(|at| Message::Chats(chats::Message::Tick(at))),
                );
            }
        }
        Subscription::batch(subs)
    }
}

fn window_focused(
    event: iced::Event,
    _: iced::event::Status,
    _: iced::window::Id,
) -> Option<Message> {
    matches!(event, iced::Event::Window(iced::window::Event::Focused))
        .then_some(Message::WindowFocused)
}

/// The app's keyboard shortcuts: Esc, Ctrl+N and Ctrl+W (Cmd on macOS).
pub fn shortcut(event: keyboard::Event) -> Option<Message> {
    let keyboard::Event::KeyPressed { key, modifiers, .. } = event else {
        return None;
    };
    match key.as_ref() {
        Key::Named(Named::Escape) => Some(Message::Escape),
        Key::Character("n") if modifiers.command() => Some(Message::NewChatShortcut),
        Key::Character("w") if modifiers.command() => Some(Message::CloseShortcut),
        _ => None,
    }
}
