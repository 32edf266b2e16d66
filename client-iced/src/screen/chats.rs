//! The main screen: a sidebar of chats and the chat on screen, with its safety code, its
//! messages, and the verification dialogs.

use crate::model::{Asker, ChatState, Delivery, LineKind, Model, Notice, Trust};
use crate::theme;
use crate::widget::{button, message_text};
use cryptully_protocol::connection::Command;
use cryptully_protocol::{Nick, TypingState};
use iced::widget::button as ibutton;
use iced::widget::{
    column, container, opaque, row, scrollable, stack, text, text_editor, text_input,
};
use iced::{Element, Length};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Ids of inputs the keyboard shortcuts focus.
pub const NEW_CHAT_ID: &str = "new-chat";
/// The message input.
pub const INPUT_ID: &str = "message-input";
/// The message list, scrolled by "New messages".
pub const MESSAGES_ID: &str = "messages";

/// Where the newest line is in the message list. The list is anchored at the bottom, so offsets
/// count from there: its START is the newest line and its END the oldest (iced's `snap_to_end`
/// would jump to the oldest, as "New messages" once did; issue 15, item 11).
pub const NEWEST: iced::widget::scrollable::RelativeOffset =
    iced::widget::scrollable::RelativeOffset::START;
/// The first field of a dialog.
pub const DIALOG_FIRST_ID: &str = "dialog-first";
/// "Cancel" in a dialog without fields, focused when it opens: Enter then does nothing the
/// person did not mean ("Yes, the codes match", "End chat").
pub const DIALOG_CANCEL_ID: &str = "dialog-cancel";
/// The answer field of the ask dialog.
pub const DIALOG_ANSWER_ID: &str = "dialog-answer";

/// A verification dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// This person asks: question and the answer their friend should give.
    Ask {
        /// The question.
        question: String,
        /// The expected answer.
        answer: String,
    },
    /// This person answers the friend's question.
    Answer {
        /// The answer typed.
        answer: String,
    },
    /// "The codes match": what the person asserts, before it counts (issue 15, item 5).
    ConfirmVerified,
    /// Ending a live chat, or removing an ended one and its lines (issue 15, item 10).
    ConfirmClose,
    /// Going on with a changed identity without verifying it (§12.5).
    ConfirmAcceptIdentity,
}

/// What the screen holds besides the model.
#[derive(Debug, Default)]
pub struct State {
    /// The "friend's nickname" box.
    pub new_chat: String,
    /// What is typed, per chat.
    pub drafts: HashMap<Nick, String>,
    /// The message box of the chat on screen: several lines, Shift+Enter for a new one, pasted
    /// line breaks kept (issue 15, item 11). Its text is also the chat's draft.
    pub editor: text_editor::Content,
    /// The chat whose draft the message box shows.
    pub editor_for: Option<Nick>,
    /// Why the draft on screen could not be sent; it is kept for the person to shorten.
    pub draft_error: Option<String>,
    /// The open dialog.
    pub dialog: Option<Dialog>,
    /// The fingerprint is shown.
    pub show_fingerprint: std::collections::HashSet<Nick>,
    /// TYPING 0 was sent and not yet followed by 1 or 2 (§7.5).
    typing: Option<(Nick, Instant)>,
    /// Lines shown per chat beyond the newest [`PAGE`], after "Show earlier messages".
    earlier: HashMap<Nick, usize>,
    /// The person scrolled away from the newest line.
    scrolled_up: bool,
    /// While the person reads older lines: the chat, and how many of its lines the list shows.
    /// Lines that arrive meanwhile wait below "New messages", so that nothing being read moves.
    frozen: Option<(Nick, usize)>,
    /// The chat that `scrolled_up` and `frozen` are about: another chat on screen
    /// starts at its newest line.
    scroll_for: Option<Nick>,
}

/// Lines drawn at once: a frame costs the lines it lays out, and memory the text of each (about
/// 34 KB a line, with its time, name and copy button), so a long history is shown a page at a
/// time (BENCHMARKS.md, desktop client). 200 keeps a chat of 1 000 messages under 30 MB.
pub const PAGE: usize = 200;

/// The screen's messages.
#[derive(Debug, Clone)]
pub enum Message {
    /// The friend's-nickname box changed.
    NewChat(String),
    /// Open a chat with that nickname.
    Open,
    /// Show this chat.
    Select(Nick),
    /// Accept the request on screen.
    Accept,
    /// Reject it.
    Reject,
    /// The message box is set to this text.
    Draft(String),
    /// Typing, pasting or moving in the message box.
    Edit(text_editor::Action),
    /// Send what is in it.
    Send,
    /// "Close chat" or Ctrl+W: ask first.
    Close,
    /// Confirmed: end the chat on screen, or remove it if it has ended.
    ConfirmClose,
    /// Show or hide the fingerprint of the chat on screen.
    ToggleFingerprint,
    /// Dismiss the notice.
    DismissNotice,
    /// Put this text on the clipboard (issue 15, item 12).
    Copy(String),
    /// Open a new chat with the friend of the ended chat on screen.
    ChatAgain,
    /// "They match": ask the person to confirm what that means.
    MarkVerified,
    /// Confirmed: mark the chat verified.
    ConfirmVerified,
    /// Take back "the codes match".
    UnmarkVerified,
    /// "Go on without verifying": ask first what it means.
    AcceptIdentity,
    /// Confirmed: go on with a changed identity without verifying it (§12.5).
    ConfirmAcceptIdentity,
    /// Chat with a remembered friend: their chat if one is open, else a new one.
    OpenContact(Nick),
    /// Forget what is remembered of a friend (§12.5).
    ForgetContact(Nick),
    /// Open the ask dialog.
    AskOpen,
    /// Open the answer dialog.
    AnswerOpen,
    /// The ask dialog's question changed.
    AskQuestion(String),
    /// The ask dialog's answer changed.
    AskAnswer(String),
    /// The answer dialog's answer changed.
    Answer(String),
    /// Enter in the question field: on to the answer field.
    DialogNext,
    /// Ask or answer.
    SubmitDialog,
    /// Close the dialog.
    DismissDialog,
    /// The typing timer ticked, at this instant.
    Tick(Instant),
    /// A link in a message was clicked.
    OpenLink(String),
    /// Show another page of older lines.
    ShowEarlier,
    /// The list scrolled; the distance in pixels from its newest line.
    Scrolled(f32),
    /// "New messages": back to the newest line.
    JumpToEnd,
}

/// A small "copy" after a message: iced's text cannot be selected, so this is how a message is
/// copied (issue 15, item 12). Not a Tab stop: a long chat would put hundreds of them, most
/// scrolled out of sight, between the message box and everything else.
fn copy<'a>(t: &str) -> Element<'a, Message> {
    ibutton(text("copy").size(11))
        .on_press(Message::Copy(t.to_string()))
        .style(ibutton::text)
        .padding([0, 4])
        .into()
}

/// How long without a key before "stopped typing" (§7.5).
pub const TYPING_PAUSE: Duration = Duration::from_millis(1500);

impl State {
    /// Applies a message to the screen and the model; returns the commands for the connection.
    pub fn update(
        &mut self,
        model: &mut Model,
        message: Message,
        now: Instant,
        time: &str,
    ) -> Vec<Command> {
        // The chat on screen can change under the message box and the list (a request that
        // arrives, a chat opened or removed, by this message or since the last): the box always
        // shows the draft of the chat on screen, and its list starts at the newest line with
        // nothing held back, also when the same chat is opened again.
        self.sync_editor(model);
        self.follow_selection(model, false);
        let reopened = matches!(message, Message::Open | Message::ChatAgain);
        let out = self.apply(model, message, now, time);
        self.sync_editor(model);
        self.follow_selection(model, reopened);
        out
    }

    /// Makes the message box show the draft of the chat on screen, once that chat changed.
    pub fn sync_editor(&mut self, model: &Model) {
        if self.editor_for != model.selected {
            self.editor = text_editor::Content::with_text(
                model
                    .selected
                    .as_ref()
                    .and_then(|p| self.drafts.get(p))
                    .map(String::as_str)
                    .unwrap_or_default(),
            );
            self.editor_for = model.selected.clone();
            self.draft_error = None;
        }
    }

    fn follow_selection(&mut self, model: &Model, anyway: bool) {
        if anyway || model.selected != self.scroll_for {
            self.scroll_for = model.selected.clone();
            self.scrolled_up = false;
            self.frozen = None;
        }
    }

    fn apply(
        &mut self,
        model: &mut Model,
        message: Message,
        now: Instant,
        time: &str,
    ) -> Vec<Command> {
        let current = model.selected.clone();
        let mut out = Vec::new();
        match message {
            Message::NewChat(s) => self.new_chat = s,
            Message::Open => {
                if let Ok(peer) = Nick::new(self.new_chat.trim()) {
                    let peer = peer.canonical();
                    if model.open(&peer, time) {
                        out.push(Command::Open { peer });
                    }
                    self.new_chat.clear();
                }
            }
            Message::OpenContact(peer) => {
                let live = model
                    .chat(&peer)
                    .is_some_and(|c| c.state != ChatState::Ended);
                if !live && model.open(&peer, time) {
                    out.push(Command::Open { peer: peer.clone() });
                }
                model.select(&peer);
                self.dialog = None;
                self.draft_error = None;
            }
            Message::ForgetContact(peer) => out.push(Command::Forget { peer }),
            Message::Select(peer) => {
                out.extend(self.stop_typing(model));
                self.scrolled_up = false;
                self.frozen = None;
                model.select(&peer);
                self.dialog = None;
                self.draft_error = None;
                // A question waiting in this chat: its answer goes into a dialog of its own,
                // never into the message box (issue 15, item 3).
                self.question_arrived(model);
            }
            Message::Accept => out.extend(current.map(|peer| Command::Accept { peer })),
            Message::Reject => {
                if let Some(peer) = current {
                    out.push(Command::Reject {
                        peer: peer.clone(),
                        busy: false,
                    });
                    model.forget(&peer);
                }
            }
            // The box is under a dialog: keys meant for the dialog never reach the draft.
            Message::Edit(action) if self.dialog.is_some() && action.is_edit() => {}
            Message::Edit(action) => {
                let edit = action.is_edit();
                self.editor.perform(action);
                if edit {
                    let text = self.editor.text();
                    return self.draft_changed(model, text, now);
                }
            }
            Message::Draft(text) => {
                self.editor = text_editor::Content::with_text(&text);
                return self.draft_changed(model, text, now);
            }
            Message::Send => {
                // Sending shows the newest lines, one's own among them.
                self.scrolled_up = false;
                self.frozen = None;
                if let Some(peer) = current {
                    let text = self.drafts.remove(&peer).unwrap_or_default();
                    // §7.3, §10.1: refused here, before it leaves, so the draft is kept.
                    let limit = cryptully_protocol::limits::MAX_MSG_TEXT;
                    if text.trim_end().len() > limit {
                        self.draft_error = Some(format!(
                            "This message is too long to send: {} bytes, and a message holds at most {limit}. Shorten it, or send it in parts.",
                            text.trim_end().len()
                        ));
                        self.drafts.insert(peer, text);
                        return out;
                    }
                    self.draft_error = None;
                    self.editor = text_editor::Content::new();
                    let text = text.trim_end();
                    if !text.is_empty() {
                        match model.send(&peer, text, time) {
                            Some(id) => out.push(Command::Send {
                                peer: peer.clone(),
                                id,
                                text: text.to_string(),
                            }),
                            None => {
                                self.editor = text_editor::Content::with_text(text);
                                self.drafts.insert(peer, text.to_string());
                            }
                        }
                    }
                    self.typing = None;
                }
            }
            Message::Close => {
                if current.is_some() {
                    self.dialog = Some(Dialog::ConfirmClose);
                }
            }
            Message::ConfirmClose => {
                self.dialog = None;
                if let Some(peer) = current {
                    out.extend(self.stop_typing(model));
                    out.push(Command::Close { peer: peer.clone() });
                    if model
                        .chat(&peer)
                        .is_some_and(|c| c.state == ChatState::Ended)
                    {
                        model.forget(&peer);
                    }
                }
            }
            Message::ToggleFingerprint => {
                if let Some(peer) = current {
                    if !self.show_fingerprint.remove(&peer) {
                        self.show_fingerprint.insert(peer);
                    }
                }
            }
            Message::DismissNotice => model.notice = None,
            // The app writes the clipboard: it is not the screen's business.
            Message::Copy(_) => {}
            Message::ChatAgain => {
                if let Some(peer) = current {
                    if model.open(&peer, time) {
                        out.push(Command::Open { peer });
                    }
                }
            }
            Message::MarkVerified => self.dialog = Some(Dialog::ConfirmVerified),
            Message::ConfirmVerified => {
                self.dialog = None;
                // §12.5: remembered for the next chats, when it counted here.
                if let Some(peer) = current.filter(|p| model.mark_verified(p, time)) {
                    out.push(Command::MarkVerified { peer });
                }
            }
            Message::UnmarkVerified => {
                // Remembered as not verified, with the same identity.
                if let Some(peer) = current.filter(|p| model.unmark_verified(p, time)) {
                    out.push(Command::Unverify { peer });
                }
            }
            Message::AcceptIdentity => self.dialog = Some(Dialog::ConfirmAcceptIdentity),
            Message::ConfirmAcceptIdentity => {
                self.dialog = None;
                if let Some(peer) = current.filter(|p| model.accept_identity(p, time)) {
                    out.push(Command::AcceptIdentity { peer });
                }
            }
            Message::AskOpen => {
                self.dialog = Some(Dialog::Ask {
                    question: String::new(),
                    answer: String::new(),
                })
            }
            Message::AnswerOpen => {
                self.dialog = Some(Dialog::Answer {
                    answer: String::new(),
                })
            }
            Message::AskQuestion(q) => {
                if let Some(Dialog::Ask { question, .. }) = &mut self.dialog {
                    *question = q;
                }
            }
            Message::AskAnswer(a) => {
                if let Some(Dialog::Ask { answer, .. }) = &mut self.dialog {
                    *answer = a;
                }
            }
            Message::Answer(a) => {
                if let Some(Dialog::Answer { answer }) = &mut self.dialog {
                    *answer = a;
                }
            }
            Message::SubmitDialog => match (self.dialog.take(), current) {
                (Some(Dialog::Ask { question, answer }), Some(peer))
                    if !answer.trim().is_empty()
                        && question.len() <= cryptully_protocol::limits::MAX_SMP_QUESTION =>
                {
                    model.asked_question(&peer, &question, time);
                    out.push(Command::StartSmp {
                        peer,
                        question,
                        answer: answer.into(),
                    });
                }
                // An empty answer is a slip of the Enter key, not an answer: checking it would
                // only tell both people "not verified".
                (Some(Dialog::Answer { answer }), Some(peer)) if !answer.trim().is_empty() => {
                    model.clear_question(&peer);
                    out.push(Command::AnswerSmp {
                        peer,
                        answer: answer.into(),
                    });
                }
                (dialog, _) => self.dialog = dialog,
            },
            Message::DismissDialog => self.dialog = None,
            Message::DialogNext => {}
            Message::Scrolled(from_bottom) => {
                let up = from_bottom > 4.0;
                if up && !self.scrolled_up {
                    self.frozen = current
                        .as_ref()
                        .and_then(|p| model.chat(p))
                        .map(|c| (c.peer.clone(), c.lines.len()));
                }
                self.scrolled_up = up;
                if !up {
                    self.frozen = None;
                }
            }
            Message::JumpToEnd => {
                self.scrolled_up = false;
                self.frozen = None;
            }
            Message::ShowEarlier => {
                if let Some(peer) = current {
                    *self.earlier.entry(peer).or_default() += PAGE;
                }
            }
            // The app opens links: it is not the connection's business.
            Message::OpenLink(_) => {}
            Message::Tick(at) => {
                if self
                    .typing
                    .as_ref()
                    .is_some_and(|(_, typed)| at.saturating_duration_since(*typed) >= TYPING_PAUSE)
                {
                    out.extend(self.stop_typing(model));
                }
            }
        }
        out
    }

    /// The draft of the chat on screen became `text`: tell the friend that the person types
    /// (§7.5) when they start, and keep the draft.
    fn draft_changed(&mut self, model: &Model, text: String, now: Instant) -> Vec<Command> {
        self.draft_error = None;
        // Pasted Windows or old Mac line ends are line breaks like any other.
        let text = if text.contains('\r') {
            text.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            text
        };
        let mut out = Vec::new();
        if let Some(peer) = model.selected.clone() {
            let started = self.typing.as_ref().is_none_or(|(p, _)| p != &peer);
            if started
                && !text.is_empty()
                && model
                    .current()
                    .is_some_and(|c| c.state == ChatState::Secure)
            {
                out.push(Command::Typing {
                    peer: peer.clone(),
                    state: TypingState::Typing,
                });
            }
            if !text.is_empty() {
                self.typing = Some((peer.clone(), now));
            }
            self.drafts.insert(peer, text);
        }
        out
    }

    /// The friend's question is waiting in the chat on screen: the answer dialog opens over
    /// everything else, unless another dialog is up (then the "Answer" bar waits under it).
    /// Whether it opened, so that the app moves the keyboard focus into it.
    pub fn question_arrived(&mut self, model: &Model) -> bool {
        if self.dialog.is_none() && model.current().is_some_and(|c| c.question.is_some()) {
            self.dialog = Some(Dialog::Answer {
                answer: String::new(),
            });
            return true;
        }
        false
    }

    /// Whether the typing timer needs ticks.
    pub fn typing(&self) -> bool {
        self.typing.is_some()
    }

    /// TYPING 1 or 2 for the chat the person was typing in (§7.5).
    fn stop_typing(&mut self, model: &Model) -> Option<Command> {
        let (peer, _) = self.typing.take()?;
        model.chat(&peer).filter(|c| c.state == ChatState::Secure)?;
        let left = self.drafts.get(&peer).is_some_and(|d| !d.is_empty());
        let state = if left {
            TypingState::StoppedWithText
        } else {
            TypingState::StoppedEmpty
        };
        Some(Command::Typing { peer, state })
    }

    /// The screen; `dark` picks colours that read on the dark theme.
    pub fn view<'a>(
        &'a self,
        model: &'a Model,
        me: &'a str,
        notice: Option<&'a Notice>,
        dark: bool,
    ) -> Element<'a, Message> {
        let main = row![
            self.sidebar(model, me, notice),
            self.conversation(model, dark)
        ]
        .height(Length::Fill);
        // The same shape with or without a dialog, so that the chat under it keeps its state
        // (the list's scroll position, the focus) when a dialog comes and goes.
        stack![crate::widget::inert_if(main, self.dialog.is_some())]
            .push(self.dialog.as_ref().map(|dialog| {
                opaque(
                    container(self.dialog_view(dialog, model))
                        .center(Length::Fill)
                        .style(theme::scrim),
                )
            }))
            .into()
    }

    fn sidebar<'a>(
        &'a self,
        model: &'a Model,
        me: &'a str,
        notice: Option<&'a Notice>,
    ) -> Element<'a, Message> {
        let chats = model.chats.iter().fold(column![].spacing(4), |col, c| {
            let mut label = c.peer.to_string();
            if c.state == ChatState::Secure && c.verified() {
                label.push_str(" ✓");
            }
            if c.unread > 0 {
                label.push_str(&format!("  ({})", c.unread));
            }
            if c.state == ChatState::Ended {
                label.push_str(" · ended");
            }
            let selected = model.selected.as_ref() == Some(&c.peer);
            // A question waits for an answer in a chat not on screen: the friend is waiting.
            if c.question.is_some() && !selected {
                label.push_str(" · asks you");
            }
            let style = if selected {
                ibutton::primary
            } else if c.state == ChatState::Ended {
                ibutton::text
            } else {
                ibutton::secondary
            };
            col.push(
                button(text(label))
                    .on_press(Message::Select(c.peer.clone()))
                    .style(style)
                    .width(Length::Fill),
            )
        });
        // §12.5: the friends this device remembers, verified ones marked, whether or not a
        // chat with them is open.
        let chats = if model.contacts.is_empty() {
            chats
        } else {
            model.contacts.iter().fold(
                chats.push(text("Contacts").size(14)),
                |col, (peer, verified)| {
                    // A chat whose identity is not the verified one says so here too.
                    let doubted = model
                        .chat(peer)
                        .is_some_and(|c| matches!(c.trust, Trust::IdentityChanged { .. }));
                    let label = match verified {
                        _ if doubted => format!("{peer} ⚠ identity changed"),
                        Some(_) => format!("{peer} ✓ verified"),
                        None => format!("{peer} · not verified"),
                    };
                    col.push(
                        row![
                            button(text(label).size(13))
                                .on_press(Message::OpenContact(peer.clone()))
                                .style(ibutton::text)
                                .width(Length::Fill),
                            button(text("forget").size(12))
                                .on_press(Message::ForgetContact(peer.clone()))
                                .style(ibutton::text),
                        ]
                        .align_y(iced::Alignment::Center),
                    )
                },
            )
        };
        let open = Nick::new(self.new_chat.trim())
            .is_ok()
            .then_some(Message::Open);
        column![
            text("Cryptully").size(22),
            text(format!("You are {me}")).size(14),
            row![
                text_input("Their nickname", &self.new_chat)
                    .id(NEW_CHAT_ID)
                    .on_input(Message::NewChat)
                    .on_submit_maybe(open.clone()),
                button("Chat").on_press_maybe(open),
            ]
            .spacing(6),
            scrollable(chats).height(Length::Fill),
        ]
        .push(notice.map(|n| {
            container(
                column![
                    text(n.text.clone()).size(13),
                    button(text("Dismiss").size(12))
                        .on_press(Message::DismissNotice)
                        .style(ibutton::secondary),
                ]
                .spacing(6),
            )
            // Information is not shown in warning colours (issue 15, item 15).
            .style(if n.warning {
                container::warning
            } else {
                container::bordered_box
            })
            .padding(8)
            .width(Length::Fill)
        }))
        .spacing(10)
        .padding(12)
        .width(240)
        .into()
    }

    fn conversation<'a>(&'a self, model: &'a Model, dark: bool) -> Element<'a, Message> {
        let link = crate::theme::link(dark);
        let Some(chat) = model.current() else {
            return container(text(
                "Type a friend's nickname on the left to start a secure chat.",
            ))
            .center(Length::Fill)
            .into();
        };
        let mut status = match (&chat.state, chat.trust) {
            (ChatState::Opening, _) => "waiting for them to accept…".to_string(),
            (ChatState::Incoming, _) => "wants to chat".into(),
            (ChatState::Secure, Trust::AnswerMatched) => {
                "secure, verified: an answer matched".into()
            }
            (ChatState::Secure, Trust::CodeCompared) => {
                "secure, verified: you compared the safety code".into()
            }
            (ChatState::Secure, Trust::Remembered { since }) => format!(
                "secure, verified: same identity as when you verified on {}",
                cryptully_protocol::contacts::date(since)
            ),
            (ChatState::Secure, Trust::IdentityChanged { .. }) => {
                format!(
                    "THIS MAY NOT BE {}: check again before you write",
                    chat.peer
                )
            }
            (ChatState::Secure, Trust::Unverified) => "secure, not yet verified".into(),
            (ChatState::Secure, Trust::Failed) => {
                "secure, NOT verified: the last check failed".into()
            }
            (ChatState::Ended, _) => "ended".into(),
        };
        if chat.state == ChatState::Secure {
            match chat.asking {
                Some(Asker::Me) => {
                    status.push_str(&format!(" · waiting for {} to answer…", chat.peer))
                }
                Some(Asker::Friend) if chat.question.is_none() => {
                    status.push_str(&format!(" · checking your answer with {}…", chat.peer))
                }
                _ => {}
            }
        }
        let secure = chat.state == ChatState::Secure;
        let ended = chat.state == ChatState::Ended;
        let header = row![text(chat.peer.to_string()).size(22).width(Length::Fill)]
            // An ended chat offers a new one; asking a question needs a live one.
            .push(ended.then(|| {
                button("Chat again")
                    .on_press(Message::ChatAgain)
                    .style(ibutton::success)
            }))
            .push((!ended).then(|| {
                // One verification at a time (§8.6): not while one runs or a question waits.
                button("Ask a question").on_press_maybe(
                    (secure && chat.asking.is_none() && chat.question.is_none())
                        .then_some(Message::AskOpen),
                )
            }))
            .push(
                button(if ended { "Remove chat" } else { "Close chat" })
                    .on_press(Message::Close)
                    .style(ibutton::secondary),
            )
            .spacing(10)
            .align_y(iced::Alignment::Center);
        // The status has a line of its own under the name and the buttons: squeezed between
        // them on a small window it wrapped a word a line and pushed the list out of sight.
        let header = column![header, text(status).size(14)].spacing(2);

        // What stands above the list comes and goes (the safety code, a request, a question,
        // "Show earlier messages"): it lives in a column of its own, so that the list and the
        // message box keep their places, and with them their scroll position and focus.
        let mut col = column![].spacing(10);
        let showing_fingerprint = self.show_fingerprint.contains(&chat.peer);
        if let (true, Some(code)) = (secure, chat.code.as_ref()) {
            // §12.5 [12.5-3]: loud, on top of the code that settles it; the message box below
            // takes no text until the person checks again or chooses to go on.
            let blocked = matches!(chat.trust, Trust::IdentityChanged { .. });
            // The panel's quiet buttons read on its colour: green once verified.
            let quiet: fn(&iced::Theme, ibutton::Status) -> ibutton::Style = if chat.verified() {
                crate::theme::text_on_success
            } else {
                ibutton::text
            };
            let warning = match chat.trust {
                Trust::IdentityChanged { since } => Some(column![
                    text(format!("⚠ This may not be {}", chat.peer)).size(20),
                    text(format!(
                        "Not the identity you verified on {}. Nothing is sent until you check: read this code together, or ask a question only {} can answer.",
                        cryptully_protocol::contacts::date(since),
                        chat.peer
                    ))
                    .size(14),
                ]),
                _ => None,
            };
            let mut panel = column![]
                .push(warning)
                .push(
                    // The code and its buttons share a line, and wrap: on a small window the
                    // messages keep their room.
                    row![
                        text(format!("Safety code: {code}")).size(24),
                        button(if showing_fingerprint {
                            "Hide identity fingerprint"
                        } else {
                            "Show identity fingerprint"
                        })
                        .on_press(Message::ToggleFingerprint)
                        .style(quiet),
                    ]
                    // Quiet, not the loudest control: marking is a claim the person makes.
                    .push(
                        matches!(
                            chat.trust,
                            Trust::Unverified | Trust::IdentityChanged { .. }
                        )
                        .then(|| {
                            button("We read the same code…")
                                .on_press(Message::MarkVerified)
                                .style(ibutton::secondary)
                        }),
                    )
                    .push(blocked.then(|| {
                        button("Go on without verifying")
                            .on_press(Message::AcceptIdentity)
                            .style(ibutton::secondary)
                    }))
                    .push(
                        (chat.trust == Trust::CodeCompared && !chat.identity_was_changed).then(
                            || {
                                button("Undo: not verified")
                                    .on_press(Message::UnmarkVerified)
                                    .style(crate::theme::text_on_success)
                            },
                        ),
                    )
                    .push(
                        button("Copy code")
                            .on_press(Message::Copy(code.replace(' ', "")))
                            .style(quiet),
                    )
                    .spacing(8)
                    .align_y(iced::Alignment::Center)
                    // On a narrow window the buttons go onto a second line, not under its edge.
                    .wrap(),
                )
                .push((!blocked).then(|| {
                    text(if chat.verified() {
                    "Verified: nothing to do. Reading these numbers together would show the same."
                } else {
                    "Read these numbers to your friend. If they match, nobody is listening in."
                })
                .size(14)
                }))
                .spacing(4);
            if showing_fingerprint {
                let fingerprint = chat.fingerprint.clone().unwrap_or_default();
                panel = panel.push(
                    row![
                        text(format!(
                            "Identity fingerprint (the same in every chat with {}): {fingerprint}",
                            chat.peer
                        ))
                        .size(13),
                        button(text("Copy fingerprint").size(13))
                            .on_press(Message::Copy(fingerprint))
                            .style(quiet),
                    ]
                    .spacing(8)
                    .align_y(iced::Alignment::Center)
                    .wrap(),
                );
            }
            let style = match chat.trust {
                Trust::CodeCompared | Trust::AnswerMatched | Trust::Remembered { .. } => {
                    container::success
                }
                Trust::Failed | Trust::IdentityChanged { .. } => container::danger,
                Trust::Unverified => container::bordered_box,
            };
            col = col.push(
                container(panel)
                    .padding(10)
                    .style(style)
                    .width(Length::Fill),
            );
        }
        if chat.state == ChatState::Incoming {
            col = col.push(
                container(
                    row![
                        text(format!("{} wants to chat", chat.peer)).width(Length::Fill),
                        button("Accept")
                            .on_press(Message::Accept)
                            .style(ibutton::success),
                        button("Reject")
                            .on_press(Message::Reject)
                            .style(ibutton::danger),
                    ]
                    .spacing(10)
                    .align_y(iced::Alignment::Center),
                )
                .padding(10)
                .style(container::bordered_box),
            );
        }
        if let (Some(q), None) = (chat.question.as_ref(), self.dialog.as_ref()) {
            col = col.push(
                container(
                    row![
                        text(format!("{} asks: {q}", chat.peer)).width(Length::Fill),
                        button("Answer").on_press(Message::AnswerOpen),
                    ]
                    .spacing(10)
                    .align_y(iced::Alignment::Center),
                )
                .padding(10)
                .style(container::bordered_box),
            );
        }
        let end = match &self.frozen {
            Some((peer, len)) if peer == &chat.peer => (*len).min(chat.lines.len()),
            _ => chat.lines.len(),
        };
        let shown = PAGE + self.earlier.get(&chat.peer).copied().unwrap_or(0);
        let hidden = end.saturating_sub(shown);
        if hidden > 0 {
            // Above the list, not in it: the list is pinned to its newest line.
            col = col.push(
                button(text(format!("Show earlier messages ({hidden} more)")).size(13))
                    .on_press(Message::ShowEarlier)
                    .style(ibutton::text),
            );
        }
        let lines =
            chat.lines
                .iter()
                .take(end)
                .skip(hidden)
                .fold(column![].spacing(6), |col, line| {
                    let time = text(line.time.clone()).size(12);
                    let row: Element<'a, Message> = match &line.kind {
                        LineKind::Mine {
                            text: t, delivery, ..
                        } => {
                            let mark = match delivery {
                                Delivery::Sending | Delivery::Sent(_) => "sending",
                                Delivery::Delivered => "delivered",
                                Delivery::Undelivered => "NOT DELIVERED",
                            };
                            row![
                                time,
                                text("you").size(14),
                                message_text(t, link, Message::OpenLink),
                                copy(t),
                                text(mark).size(12)
                            ]
                            .spacing(8)
                            .into()
                        }
                        LineKind::Theirs { text: t } => row![
                            time,
                            text(chat.peer.to_string()).size(14),
                            message_text(t, link, Message::OpenLink),
                            copy(t)
                        ]
                        .spacing(8)
                        .into(),
                        LineKind::Info(t) => row![time, text(t.clone()).size(14)].spacing(8).into(),
                        LineKind::Success(t) => container(row![time, text(t.clone())].spacing(8))
                            .style(container::success)
                            .padding(6)
                            .width(Length::Fill)
                            .into(),
                        LineKind::Warning(t) => {
                            container(row![time, text(format!("⚠ {t}"))].spacing(8))
                                .style(container::danger)
                                .padding(6)
                                .width(Length::Fill)
                                .into()
                        }
                    };
                    col.push(row)
                });
        let mut col = column![header, col].spacing(10).padding(12);
        // Anchored to the newest line: the viewport's offset is the distance from the bottom.
        col = col.push(
            scrollable(lines)
                .id(MESSAGES_ID)
                .anchor_bottom()
                // Embedded, so no text runs under the scrollbar (issue 15, item 11).
                .spacing(6)
                .on_scroll(|v| Message::Scrolled(v.absolute_offset().y))
                .height(Length::Fill)
                .width(Length::Fill),
        );
        // These come and go under the list, in a column of their own: inserted straight above
        // the message box, they reset it, and it lost the focus and the keys typed into it.
        // Of a fixed height, whatever it shows: a list that shrank when "New messages" or
        // "is typing…" appeared moved the lines being read.
        col = col.push(
            container(
                row![]
                    // Anything that waits below is announced: a warning as much as a message,
                    // and a warning as a warning.
                    .push((end < chat.lines.len()).then(|| {
                        let warning = chat
                            .lines
                            .iter()
                            .skip(end)
                            .any(|l| matches!(l.kind, LineKind::Warning(_)));
                        button(
                            text(if warning {
                                "⚠ A warning below ↓"
                            } else {
                                "New messages ↓"
                            })
                            .size(13),
                        )
                        .on_press(Message::JumpToEnd)
                        .style(ibutton::primary)
                        .padding([2, 10])
                    }))
                    .push(
                        chat.peer_typing
                            .then(|| text(format!("{} is typing…", chat.peer)).size(13)),
                    )
                    .spacing(10)
                    .align_y(iced::Alignment::Center),
            )
            .height(Length::Fixed(24.0))
            .align_y(iced::Alignment::Center),
        );
        let draft = self
            .drafts
            .get(&chat.peer)
            .map(String::as_str)
            .unwrap_or_default();
        let blocked = matches!(chat.trust, Trust::IdentityChanged { .. });
        let writable = secure && !blocked;
        let send = (writable && !draft.trim().is_empty()).then_some(Message::Send);
        let can_send = send.is_some() && self.dialog.is_none();
        let editor = text_editor(&self.editor)
            .id(INPUT_ID)
            .placeholder(match chat.state {
                ChatState::Secure if blocked => "Check who this is first (above)",
                ChatState::Secure => "Message: Enter sends, Shift+Enter breaks the line",
                ChatState::Ended => "This chat has ended: \"Chat again\" starts a new one",
                _ => "Messages can be sent once the chat is secure",
            })
            // Enter sends; Shift+Enter breaks the line.
            .key_binding(move |key| match key.key.as_ref() {
                iced::keyboard::Key::Named(iced::keyboard::key::Named::Enter)
                    if !key.modifiers.shift()
                        && matches!(key.status, text_editor::Status::Focused { .. }) =>
                {
                    can_send.then_some(text_editor::Binding::Custom(Message::Send))
                }
                _ => text_editor::Binding::from_key_press(key),
            })
            .max_height(160)
            .padding(8);
        // Without an action the editor takes no input: only a secure chat can be written to.
        // Otherwise it is inert too, so that Tab does not stop on a box that drops every key.
        let editor: Element<'a, Message> = if writable {
            editor.on_action(Message::Edit).into()
        } else {
            crate::widget::inert(editor)
        };
        col = col.push(
            row![editor, button("Send").on_press_maybe(send).padding([8, 16]),]
                .spacing(8)
                .align_y(iced::Alignment::End),
        );
        col = col.push(self.draft_error.as_ref().map(|e| {
            container(text(e.clone()))
                .style(container::danger)
                .padding(8)
        }));
        col.into()
    }

    fn dialog_view<'a>(&'a self, dialog: &'a Dialog, model: &'a Model) -> Element<'a, Message> {
        let peer = model
            .selected
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let body = match dialog {
            Dialog::Ask { question, answer } => column![
                text(format!("Ask {peer} a question")).size(20),
                text(
                    "Pick something only your friend knows. If someone is in the middle, the answers will not match. Case counts: your friend must write the answer as you do, capitals included."
                ),
                text_input("Question, e.g. Where did we first meet?", question)
                    .id(DIALOG_FIRST_ID)
                    .on_input(Message::AskQuestion)
                    .on_submit(Message::DialogNext)
                    .padding(8),
                text_input("The answer your friend should give", answer)
                    .id(DIALOG_ANSWER_ID)
                    .on_input(Message::AskAnswer)
                    .on_submit(Message::SubmitDialog)
                    .padding(8),
            ]
            .push(
                (question.len() > cryptully_protocol::limits::MAX_SMP_QUESTION).then(|| {
                    text(format!(
                        "The question is too long: {} bytes, at most {}.",
                        question.len(),
                        cryptully_protocol::limits::MAX_SMP_QUESTION
                    ))
                    .style(text::danger)
                }),
            )
            .push(row![
                    button("Ask").on_press_maybe(
                        (!answer.trim().is_empty()
                            && question.len() <= cryptully_protocol::limits::MAX_SMP_QUESTION)
                            .then_some(Message::SubmitDialog)
                    ),
                    cancel(),
                ]
                .spacing(8)),
            Dialog::ConfirmClose => {
                let ended = model
                    .current()
                    .is_none_or(|c| c.state == ChatState::Ended);
                let (title, body, act) = if ended {
                    (
                        format!("Remove the chat with {peer}?"),
                        "Its messages are removed from this window. Cryptully keeps no other copy.".to_string(),
                        "Remove",
                    )
                } else {
                    (
                        format!("End the chat with {peer}?"),
                        format!("{peer} is told that the chat ended. To talk again, one of you opens a new chat, with a new safety code to compare."),
                        "End chat",
                    )
                };
                column![
                    text(title).size(20),
                    text(body),
                    confirm_row(act, Message::ConfirmClose, ibutton::danger),
                ]
            }
            Dialog::ConfirmAcceptIdentity => column![
                text(format!("Go on with {peer} without verifying?")).size(20),
                text(format!(
                    "Cryptully will forget the identity of {peer} you verified, and treat this new one as not verified. Do this only if {peer} told you, some other way, that they reset their app. Otherwise check first: read the safety code together, or ask a question."
                )),
                confirm_row(
                    "Go on, not verified",
                    Message::ConfirmAcceptIdentity,
                    ibutton::danger
                ),
            ],
            Dialog::ConfirmVerified => column![
                text(format!("Did you and {peer} read the same safety code?")).size(20),
                text(format!(
                    "Mark this chat verified only if {peer} read you these six digits, or you read them to {peer}, by voice or in person, and they were the same: {}. A code sent as a message in this chat proves nothing.",
                    model.current().and_then(|c| c.code.clone()).unwrap_or_default()
                )),
                text("Cryptully remembers it: your next chats with this identity start verified. You can undo it in this chat."),
                confirm_row(
                    "Yes, the codes match",
                    Message::ConfirmVerified,
                    ibutton::success
                ),
            ],
            Dialog::Answer { answer } => {
                let answered = (!answer.trim().is_empty()).then_some(Message::SubmitDialog);
                column![
                text(format!("{peer} asks you a question to verify you")).size(20),
                text(
                    model
                        .current()
                        .and_then(|c| c.question.clone())
                        .unwrap_or_default()
                )
                .size(18),
                text(format!(
                    "Type the answer {peer} expects. Case counts: \"Whiskers\" and \"whiskers\" are different answers; spaces at the start and end do not count. Your answer is not sent, only checked."
                ))
                .size(13),
                text_input("Your answer", answer)
                    .id(DIALOG_FIRST_ID)
                    .on_input(Message::Answer)
                    .on_submit_maybe(answered.clone())
                    .padding(8),
                row![
                    button("Answer").on_press_maybe(answered),
                    cancel(),
                ]
                .spacing(8),
                ]
            }
        };
        container(body.spacing(12))
            .padding(20)
            .max_width(480)
            .style(container::bordered_box)
            .into()
    }
}

/// "Cancel" in a dialog: closes it and changes nothing.
fn cancel<'a>() -> crate::widget::Button<'a, Message> {
    button("Cancel")
        .on_press(Message::DismissDialog)
        .style(ibutton::secondary)
}

/// A confirm dialog's buttons: `act`, which does what the dialog asks, and Cancel, which has the
/// focus when the dialog opens, so a stray Enter confirms nothing (see [`DIALOG_CANCEL_ID`]).
fn confirm_row<'a>(
    act: &'a str,
    message: Message,
    style: fn(&iced::Theme, ibutton::Status) -> ibutton::Style,
) -> Element<'a, Message> {
    row![
        button(act).on_press(message).style(style),
        cancel().id(DIALOG_CANCEL_ID)
    ]
    .spacing(8)
    .into()
}
