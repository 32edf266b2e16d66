//! The application: which screen is up, the model, the connection handle, the theme. Screens
//! update themselves and hand back what the connection should do; nothing here blocks.

use crate::links;
use crate::model::{Model, Notice};
use crate::net::{self, NetEvent, Target};
use crate::screen::{chats, connect};
use crate::settings::Settings;
use cryptully_protocol::connection::{ConnEvent, Handle};
use iced::keyboard::{self, Key, key::Named};
use iced::theme::Mode;
use iced::{Element, Subscription, Task, Theme};
use std::path::PathBuf;
use std::time::Instant;

/// Which screen is up.
// One value for the whole app: boxing the larger screen would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Set while the relay is lost and the app tries to get back (issue 15, item 6).
    pub offline: Option<Offline>,
    /// This app runs the relay its connection uses: quitting cuts everyone on it off.
    pub hosting: bool,
    /// The person asked to close the window while hosting: asked first (issue 15, item 7).
    pub quit_warning: bool,
    /// Whether the window is in front: notifications only when it is not.
    pub focused: bool,
    /// When each kind of notification was last shown.
    pub notifications: crate::notify::Recent,
    /// What is remembered between runs.
    pub remembered: Settings,
    /// Where it is saved; `None`: nothing is saved (tests, or a file that could not be read).
    pub settings_path: Option<PathBuf>,
    /// When "Copied." was shown, and the notice it covers: it goes after [`COPIED_FOR`].
    pub copied_at: Option<(Instant, Option<Notice>)>,
}

/// The smallest window: the sidebar and a readable conversation side by side, with room for a
/// few messages under the safety code and a question (issue 15, item 11).
pub const MIN_WINDOW: iced::Size = iced::Size::new(640.0, 520.0);

/// "Keep running", focused when the quit warning opens: the safe answer is the one Enter gives.
const KEEP_RUNNING_ID: &str = "keep-running";

/// What a copy says.
const COPIED: &str = "Copied.";

/// How long "Copied." stays.
pub const COPIED_FOR: std::time::Duration = std::time::Duration::from_secs(3);

/// The connection was lost: what to reconnect to and when.
#[derive(Debug, Clone)]
pub struct Offline {
    /// The connection to restore.
    pub target: Target,
    /// Why the last connection or attempt failed, in the person's words.
    pub reason: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt starts; `None` while one runs.
    pub next: Option<Instant>,
}

/// How long to wait before attempt `attempts + 1`: 1 s, then doubling up to 30 s, so that a
/// relay that restarts is found again soon and a relay that is gone is not hammered.
pub fn backoff(attempts: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1u64 << attempts.min(5)).min(std::time::Duration::from_secs(30))
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
    /// Once a second while a friend is typing: "is typing…" does not stay for ever.
    TypingClock(Instant),
    /// Focus an input, once the view that holds it is built.
    Focus(&'static str),
    /// The window came back to the front: put the cursor back where typing goes.
    WindowFocused,
    /// The window went to the back: news is announced by the desktop.
    WindowUnfocused,
    /// While offline, once a second: time for the next attempt?
    ReconnectTick(Instant),
    /// While "Copied." shows: time for it to go?
    CopiedTick(Instant),
    /// "Reconnect now".
    ReconnectNow,
    /// "Change relay or nickname": back to the connect screen.
    ChangeRelay,
    /// The window's close button, or the system asking the app to quit.
    CloseRequested,
    /// "Quit anyway", after the warning.
    QuitAnyway,
    /// "Keep running", after the warning.
    KeepRunning,
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
        Self::boot_remembering(args, None)
    }

    /// The first state: the connect screen filled in from what was remembered in `settings`
    /// (if given), then from the command line, which wins. Choices are saved back there.
    pub fn boot_remembering(
        args: &crate::cli::Args,
        settings: Option<PathBuf>,
    ) -> (Self, Task<Message>) {
        let mut form = connect::State::default();
        let (remembered, settings_path) = match settings.as_deref().map(Settings::load) {
            Some(Ok(s)) => (s, settings),
            Some(Err(e)) => {
                form.error = Some(e.to_string());
                (Settings::default(), None)
            }
            None => (Settings::default(), None),
        };
        if let Some(nick) = args.nick.as_ref().or(remembered.nick.as_ref()) {
            form.nick = nick.clone();
        }
        if let Some(relay) = args.relay.as_ref().or(remembered.relay.as_ref()) {
            form.relay = relay.clone();
        }
        // A relay given on the command line is used, not a relay hosted here as last time.
        form.host = remembered.host && args.relay.is_none();
        let app = App {
            screen: Screen::Connect(form),
            model: Model::default(),
            target: None,
            handle: None,
            system: Mode::Light,
            dark: remembered.dark,
            offline: None,
            hosting: false,
            quit_warning: false,
            focused: true,
            notifications: crate::notify::Recent::default(),
            remembered,
            settings_path,
            copied_at: None,
        };
        let tasks = Task::batch([
            iced::system::theme().map(Message::System),
            iced::widget::operation::focus(connect::NICK_ID),
        ]);
        (app, tasks)
    }

    /// Saves what the person chose, if the app remembers (issue 15, item 14). A failure costs
    /// only the memory: it is said on the connect screen, or in the notice.
    fn remember(&mut self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.remembered);
        let Some(path) = &self.settings_path else {
            return;
        };
        if let Err(e) = self.remembered.save(path) {
            let text = e.to_string();
            match &mut self.screen {
                Screen::Connect(form) => form.error = Some(text),
                Screen::Chats(_) => self.model.notice = Some(Notice::warning(text)),
            }
        }
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
                let target = match &mut self.screen {
                    Screen::Connect(state) => state.update(m),
                    Screen::Chats(_) => None,
                };
                if let Some(target) = target {
                    self.target = Some(target.clone());
                    self.remember(|s| {
                        s.nick = Some(target.nick);
                        s.relay = Some(target.relay);
                        s.host = target.host;
                    });
                }
            }
            Message::Chats(m) => {
                if let chats::Message::Copy(text) = &m {
                    // Copying shows nothing by itself: say it happened, for a moment, then
                    // bring back what the notice said before.
                    let before = self.model.notice.replace(Notice::info(COPIED));
                    let before = match self.copied_at.take() {
                        Some((_, older)) => older,
                        None => before,
                    };
                    self.copied_at = Some((Instant::now(), before));
                    return iced::clipboard::write(text.clone());
                }
                if let chats::Message::OpenLink(url) = &m {
                    if let Err(e) = links::open(url) {
                        self.model.notice =
                            Some(Notice::warning(format!("Could not open {url}: {e}")));
                    }
                    return Task::none();
                }
                // §4.2: a chat needs two people. Said here, before any chat is made for it (a
                // chat with oneself used to wait "for them to accept" for ever).
                if let (chats::Message::Open, Screen::Chats(state), Some(handle)) =
                    (&m, &mut self.screen, &self.handle)
                {
                    if cryptully_protocol::Nick::new(state.new_chat.trim())
                        .is_ok_and(|n| n.canonical() == handle.nick().canonical())
                    {
                        state.new_chat.clear();
                        self.model.notice = Some(Notice::warning(
                            "You cannot chat with yourself: type your friend's nickname.",
                        ));
                        return Task::none();
                    }
                }
                if let Screen::Chats(state) = &mut self.screen {
                    // "New messages" and sending both show the newest line.
                    let jump = matches!(
                        m,
                        chats::Message::JumpToEnd | chats::Message::Send | chats::Message::Open
                    );
                    let target = match m {
                        chats::Message::Select(_)
                        | chats::Message::Open
                        | chats::Message::Accept => Some(chats::INPUT_ID),
                        chats::Message::AskOpen | chats::Message::AnswerOpen => {
                            Some(chats::DIALOG_FIRST_ID)
                        }
                        chats::Message::DialogNext => Some(chats::DIALOG_ANSWER_ID),
                        // The dialog closed, or the pressed button went away: without this
                        // nothing has the focus and the next keys are lost.
                        chats::Message::SubmitDialog
                        | chats::Message::DismissDialog
                        | chats::Message::ConfirmVerified
                        | chats::Message::ConfirmAcceptIdentity
                        | chats::Message::UnmarkVerified
                        | chats::Message::ConfirmClose
                        | chats::Message::JumpToEnd => Some(chats::INPUT_ID),
                        _ => None,
                    };
                    let select = matches!(m, chats::Message::Select(_));
                    let had_dialog = state.dialog.is_some();
                    for command in state.update(&mut self.model, m, Instant::now(), &clock()) {
                        // Also when the connection ended a moment ago and the news of it is
                        // still on its way: nothing the person asks for is silently lost.
                        let taken = self
                            .handle
                            .as_ref()
                            .is_some_and(|h| h.send(command.clone()));
                        if !taken {
                            self.model.offline(&command, &clock());
                        }
                    }
                    let mut tasks = Vec::new();
                    if select && matches!(state.dialog, Some(chats::Dialog::Answer { .. })) {
                        tasks.push(focus(chats::DIALOG_FIRST_ID));
                    } else if let Some(id) = target {
                        // A dialog that stayed up (an empty answer, say) keeps the focus where
                        // it is: the message box under it takes none.
                        if id != chats::INPUT_ID || state.dialog.is_none() {
                            tasks.push(focus(id));
                        }
                    }
                    // A dialog without fields just opened: Enter means Cancel until the person
                    // moves to the button that acts.
                    if !had_dialog
                        && matches!(
                            state.dialog,
                            Some(
                                chats::Dialog::ConfirmVerified
                                    | chats::Dialog::ConfirmClose
                                    | chats::Dialog::ConfirmAcceptIdentity
                            )
                        )
                    {
                        tasks.push(focus(chats::DIALOG_CANCEL_ID));
                    }
                    if jump || select {
                        tasks.push(iced::widget::operation::snap_to(
                            chats::MESSAGES_ID,
                            chats::NEWEST,
                        ));
                    }
                    return Task::batch(tasks);
                }
            }
            Message::Net(NetEvent::Connected { handle, hosting }) => {
                self.handle = Some(handle);
                self.hosting = hosting.is_some();
                if self.offline.take().is_some() && matches!(self.screen, Screen::Chats(_)) {
                    // Back after a loss: the chats and their history stay; the chats themselves
                    // ended with the old connection (§4.5), so the person opens them again.
                    self.model.notice = Some(Notice::info(match hosting {
                        Some(h) => format!("Back online. {h}"),
                        None => "Back online. Chats that were open ended when the connection was lost: open them again to go on.".into(),
                    }));
                    return Task::none();
                }
                self.model = Model::default();
                self.model.notice = hosting.map(Notice::info);
                self.screen = Screen::Chats(chats::State::default());
                return focus(chats::NEW_CHAT_ID);
            }
            Message::Net(NetEvent::Failed(error)) if self.offline.is_some() => {
                // A reconnection attempt failed: try again later, still on the chats screen.
                self.target = None;
                if let Some(o) = &mut self.offline {
                    o.reason = error;
                    o.next = Some(Instant::now() + backoff(o.attempts));
                }
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
                let typing_from = match &e {
                    ConnEvent::Peer {
                        peer,
                        event: cryptully_protocol::session::Event::Typing(_),
                    } => Some(peer.clone()),
                    _ => None,
                };
                let question_here = matches!(&e, ConnEvent::Peer { peer, event: cryptully_protocol::session::Event::SmpQuestion { .. } } if self.model.selected.as_ref() == Some(peer));
                let reason = match &e {
                    ConnEvent::Disconnected { reason } => Some(reason.clone()),
                    _ => None,
                };
                // Issue 15, item 13: news while the window is at the back, at most one
                // notification per friend and kind in a while, however fast messages come.
                let away_news = crate::notify::text_for(&e, self.focused)
                    .filter(|body| self.notifications.allow(body, Instant::now()));
                self.model.apply(e, &clock());
                if let Screen::Chats(state) = &mut self.screen {
                    state.sync_editor(&self.model);
                }
                let mut tasks = Vec::new();
                if let Some(body) = away_news {
                    crate::notify::show(body);
                    tasks.push(iced::window::latest().and_then(|id| {
                        iced::window::request_user_attention(
                            id,
                            Some(iced::window::UserAttention::Informational),
                        )
                    }));
                }
                if let Some(peer) = typing_from {
                    self.model.typing_seen(&peer, Instant::now());
                }
                if disconnected {
                    tracing::warn!(reason = ?reason, "the connection to the relay ended");
                    self.handle = None;
                    // Issue 15, item 6: not a dead end. The subscription ends with the
                    // connection; a new one starts after a pause that grows with each failure.
                    if let Some(target) = self.target.take() {
                        self.model.notice = None;
                        self.offline = Some(Offline {
                            target,
                            reason: reason.unwrap_or_default(),
                            attempts: 0,
                            next: Some(Instant::now() + backoff(0)),
                        });
                    }
                }
                if secure_here {
                    tasks.push(focus(chats::INPUT_ID));
                }
                // Issue 15, item 3: the answer never goes out as a chat message.
                if let (true, Screen::Chats(state)) = (question_here, &mut self.screen) {
                    if state.question_arrived(&self.model) {
                        tasks.push(focus(chats::DIALOG_FIRST_ID));
                    }
                }
                return Task::batch(tasks);
            }
            Message::CopiedTick(now) => {
                if let Some((at, before)) = self.copied_at.take() {
                    if now.saturating_duration_since(at) < COPIED_FOR {
                        self.copied_at = Some((at, before));
                    } else if self.model.notice.as_ref().is_some_and(|n| n.text == COPIED) {
                        // Only "Copied." goes: a notice shown since then stays.
                        self.model.notice = before;
                    }
                }
            }
            Message::ReconnectTick(now) => {
                if self
                    .offline
                    .as_ref()
                    .is_some_and(|o| o.next.is_some_and(|at| now >= at))
                {
                    self.reconnect();
                }
            }
            Message::ReconnectNow => {
                if self.offline.as_ref().is_some_and(|o| o.next.is_some()) {
                    self.reconnect();
                }
            }
            Message::ChangeRelay => {
                let Some(o) = self.offline.take() else {
                    return Task::none();
                };
                self.target = None;
                self.handle = None;
                self.screen = Screen::Connect(connect::State {
                    nick: o.target.nick,
                    relay: o.target.relay,
                    host: o.target.host,
                    error: None,
                    connecting: false,
                });
                return focus(connect::NICK_ID);
            }
            Message::CloseRequested => {
                if self.hosting && self.handle.is_some() {
                    self.quit_warning = true;
                    return focus(KEEP_RUNNING_ID);
                } else {
                    return iced::exit();
                }
            }
            Message::QuitAnyway => return iced::exit(),
            Message::KeepRunning => {
                self.quit_warning = false;
                // Behind the warning nothing could keep the focus: give it back.
                return focus(match self.screen {
                    Screen::Connect(_) => connect::NICK_ID,
                    Screen::Chats(_) => chats::INPUT_ID,
                });
            }
            Message::TypingClock(now) => self.model.expire_typing(now),
            Message::Focus(id) => return iced::widget::operation::focus(id),
            Message::WindowUnfocused => self.focused = false,
            Message::WindowFocused => {
                self.focused = true;
                // A dialog keeps the focus the person left in it: moving it to the first field
                // would put an answer being typed into the question, which goes to the friend.
                if self.dialog_up() {
                    return Task::none();
                }
                let id = match &self.screen {
                    Screen::Connect(_) => connect::NICK_ID,
                    Screen::Chats(_) if self.model.current().is_some() => chats::INPUT_ID,
                    Screen::Chats(_) => chats::NEW_CHAT_ID,
                };
                return focus(id);
            }
            Message::System(mode) => self.system = mode,
            Message::ToggleTheme => {
                let dark = !self.is_dark();
                self.dark = Some(dark);
                self.remember(|s| s.dark = Some(dark));
            }
            // A dialog is up: its own keys only. Ctrl+W would replace it, and throw away an
            // answer being typed.
            Message::NewChatShortcut | Message::CloseShortcut if self.dialog_up() => {}
            Message::NewChatShortcut => return focus(chats::NEW_CHAT_ID),
            Message::CloseShortcut => return self.update(Message::Chats(chats::Message::Close)),
            Message::Escape if self.quit_warning => return self.update(Message::KeepRunning),
            // Only a dialog is closed by Esc; otherwise the key stays where it was pressed.
            Message::Escape if self.dialog_up() => {
                return self.update(Message::Chats(chats::Message::DismissDialog));
            }
            Message::Escape => {}
        }
        Task::none()
    }

    /// A dialog covers the window: the quit warning, or a chat's.
    fn dialog_up(&self) -> bool {
        self.quit_warning || matches!(&self.screen, Screen::Chats(s) if s.dialog.is_some())
    }

    /// Starts the next attempt to get back to the relay: a new subscription.
    fn reconnect(&mut self) {
        if let Some(o) = &mut self.offline {
            o.next = None;
            o.attempts = o.attempts.saturating_add(1);
            self.target = Some(Target {
                attempt: o.attempts,
                ..o.target.clone()
            });
        }
    }

    fn is_dark(&self) -> bool {
        self.dark.unwrap_or(self.system == Mode::Dark)
    }

    /// The theme: the person's choice, or the system's.
    pub fn theme(&self) -> Theme {
        if self.is_dark() {
            crate::theme::dark()
        } else {
            crate::theme::light()
        }
    }

    /// The window's content.
    pub fn view(&self) -> Element<'_, Message> {
        crate::widget::tab_root(self.page())
    }

    fn page(&self) -> Element<'_, Message> {
        let body = match &self.screen {
            Screen::Connect(state) => state.view().map(Message::Connect),
            Screen::Chats(state) => {
                let me = self
                    .handle
                    .as_ref()
                    .map(|h| h.nick().as_str())
                    .unwrap_or("offline");
                state
                    .view(&self.model, me, self.model.notice.as_ref(), self.is_dark())
                    .map(Message::Chats)
            }
        };
        let toggle = crate::widget::button(
            iced::widget::text(if self.is_dark() {
                "Light theme"
            } else {
                "Dark theme"
            })
            .size(12),
        )
        // Not under a dialog: a click there took the focus from the dialog's field.
        .on_press_maybe((!self.dialog_up()).then_some(Message::ToggleTheme))
        .style(iced::widget::button::text);
        let banner = self.offline.as_ref().map(|o| {
            let when = match o.next {
                Some(at) => {
                    let secs = at
                        .saturating_duration_since(Instant::now())
                        .as_secs_f32()
                        .ceil();
                    // A no-break space: the number and its unit stay on one line.
                    format!("Trying again in {secs:.0}\u{a0}s.")
                }
                None => "Reconnecting…".into(),
            };
            iced::widget::container(
                iced::widget::row![
                    iced::widget::text(format!(
                        "You are offline: {}. {when} Chats that were open have ended.",
                        o.reason.trim_end_matches('.')
                    ))
                    .width(iced::Length::Fill),
                    crate::widget::button("Reconnect now")
                        .on_press_maybe(o.next.is_some().then_some(Message::ReconnectNow)),
                    crate::widget::button("Change relay or nickname")
                        .on_press_maybe((!self.dialog_up()).then_some(Message::ChangeRelay))
                        .style(iced::widget::button::secondary),
                ]
                .spacing(10)
                .align_y(iced::Alignment::Center),
            )
            .padding(10)
            .width(iced::Length::Fill)
            .style(iced::widget::container::warning)
        });
        let top = iced::widget::column![iced::widget::row![
            iced::widget::space().width(iced::Length::Fill),
            toggle
        ],]
        .push(banner);
        // A chat's dialog is modal for the whole window: the theme button and the offline banner
        // above it take no keys either, so Tab stays within the dialog.
        let top = crate::widget::inert_if(top, self.dialog_up());
        let page = iced::widget::column![top, body];
        let warning = self.quit_warning.then(|| {
            iced::widget::opaque(
                iced::widget::container(
                    iced::widget::container(
                        iced::widget::column![
                            iced::widget::text("Quit and stop the relay?").size(20),
                            iced::widget::text(
                                "Your friends' chats go through the relay this app runs. If you quit, everyone on it is cut off at once: you and them."
                            ),
                            iced::widget::row![
                                crate::widget::button("Keep running")
                                    .on_press(Message::KeepRunning)
                                    .id(KEEP_RUNNING_ID),
                                crate::widget::button("Quit anyway")
                                    .on_press(Message::QuitAnyway)
                                    .style(iced::widget::button::danger),
                            ]
                            .spacing(10),
                        ]
                        .spacing(14)
                        .max_width(440),
                    )
                    .padding(20)
                    .style(iced::widget::container::bordered_box),
                )
                .center(iced::Length::Fill)
                .style(crate::theme::scrim),
            )
        });
        // The same shape with or without the warning, so that the page under it keeps its
        // state (focus, scroll position) when the warning comes and goes.
        iced::widget::stack![crate::widget::inert_if(page, self.quit_warning)]
            .push(warning)
            .into()
    }

    /// The connection, the typing timer, keyboard shortcuts and system theme changes.
    pub fn subscription(&self) -> Subscription<Message> {
        let mut subs = vec![
            keyboard::listen().filter_map(shortcut),
            iced::system::theme_changes().map(Message::System),
            iced::event::listen_with(window_event),
            iced::window::close_requests().map(|_| Message::CloseRequested),
        ];
        if let Some(target) = &self.target {
            subs.push(net::subscription(target).map(Message::Net));
        }
        if self.model.anyone_typing() {
            subs.push(
                iced::time::every(std::time::Duration::from_secs(1)).map(Message::TypingClock),
            );
        }
        if self.copied_at.is_some() {
            subs.push(
                iced::time::every(std::time::Duration::from_millis(500)).map(Message::CopiedTick),
            );
        }
        if self.offline.as_ref().is_some_and(|o| o.next.is_some()) {
            subs.push(
                iced::time::every(std::time::Duration::from_secs(1)).map(Message::ReconnectTick),
            );
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

/// The window gaining or losing focus, and Esc: Esc even when a field took it (a field uses Esc
/// to drop its own focus), so that one press closes a dialog (issue 15, item 10).
pub fn window_event(
    event: iced::Event,
    _: iced::event::Status,
    _: iced::window::Id,
) -> Option<Message> {
    match event {
        iced::Event::Window(iced::window::Event::Focused) => Some(Message::WindowFocused),
        iced::Event::Window(iced::window::Event::Unfocused) => Some(Message::WindowUnfocused),
        iced::Event::Keyboard(keyboard::Event::KeyPressed {
            key: Key::Named(Named::Escape),
            ..
        }) => Some(Message::Escape),
        _ => None,
    }
}

/// The app's keyboard shortcuts: Ctrl+N and Ctrl+W (Cmd on macOS). Esc is [`window_event`]'s,
/// Tab and Shift+Tab the window content's own ([`crate::widget::tab_root`]).
pub fn shortcut(event: keyboard::Event) -> Option<Message> {
    let keyboard::Event::KeyPressed { key, modifiers, .. } = event else {
        return None;
    };
    match key.as_ref() {
        Key::Character("n") if modifiers.command() => Some(Message::NewChatShortcut),
        Key::Character("w") if modifiers.command() => Some(Message::CloseShortcut),
        _ => None,
    }
}
