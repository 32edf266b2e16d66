//! Widgets the screens share.

use crate::links::{self, Piece};
use iced::advanced::widget::{Operation, Tree, tree};
use iced::advanced::{Clipboard, Layout, Shell, Widget, layout, mouse as amouse, renderer};
use iced::widget::text::Wrapping;
use iced::widget::{container, rich_text, span, text};
use iced::{Color, Element, Event, Length, Rectangle, Size, Theme, Vector, keyboard, mouse};

/// The system's colour emoji font, asked for by name. Where it is missing, the text font's own
/// glyphs are used, black and white for some emoji (on Debian the package recommends
/// `fonts-noto-color-emoji`).
#[cfg(target_os = "windows")]
const EMOJI: iced::Font = iced::Font::with_name("Segoe UI Emoji");
#[cfg(target_os = "macos")]
const EMOJI: iced::Font = iced::Font::with_name("Apple Color Emoji");
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
const EMOJI: iced::Font = iced::Font::with_name("Noto Color Emoji");

/// The widest a message's lines get: about 80 characters, readable on a wide window.
pub const MAX_LINE: f32 = 720.0;

/// A message's text, wrapped to the width it is given, with its web addresses underlined and
/// clickable in `link` colour: a click produces `on_link(address)`.
pub fn message_text<'a, M: 'a>(
    content: &str,
    link: Color,
    on_link: impl Fn(String) -> M + 'a,
) -> Element<'a, M> {
    let pieces = links::pieces(content);
    // A long unbroken string (a key, a URL) wraps inside the line instead of running off it.
    if pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
        return container(
            text(content.to_string())
                .wrapping(Wrapping::WordOrGlyph)
                .width(Length::Fill),
        )
        .max_width(MAX_LINE)
        .width(Length::Fill)
        .into();
    }
    let spans: Vec<_> = pieces
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => span(t.to_string()),
            Piece::Emoji(e) => span(e.to_string()).font(EMOJI),
            Piece::Link(l) => span(l.to_string())
                .link(l.to_string())
                .color(link)
                .underline(true),
        })
        .collect();
    container(
        rich_text(spans)
            .on_link_click(on_link)
            .wrapping(Wrapping::WordOrGlyph)
            .width(Length::Fill),
    )
    .max_width(MAX_LINE)
    .width(Length::Fill)
    .into()
}

/// A button that Tab can reach: iced's buttons take no keyboard focus, so a person without a
/// mouse could fill in a field and then not press anything (issue 15, item 10). It builds like
/// `iced::widget::button`; Tab and Shift+Tab stop on it when it is enabled, a ring shows where
/// focus is, and Enter or Space presses it.
pub fn button<'a, M: Clone + 'a>(content: impl Into<Element<'a, M>>) -> Button<'a, M> {
    Button {
        inner: iced::widget::button(content).style(|theme, status| {
            looks_disabled(theme, status, iced::widget::button::primary(theme, status))
        }),
        enabled: false,
        id: None,
    }
}

/// A disabled button's look in both themes: grey, with faded text. iced's own only halves the
/// opacity of the colours, which on the dark theme still reads as a button to press (issue 15,
/// item 15).
fn looks_disabled(
    theme: &Theme,
    status: iced::widget::button::Status,
    style: iced::widget::button::Style,
) -> iced::widget::button::Style {
    if status != iced::widget::button::Status::Disabled {
        return style;
    }
    let palette = theme.extended_palette();
    iced::widget::button::Style {
        background: style
            .background
            .map(|_| iced::Background::Color(palette.background.weak.color)),
        text_color: palette.background.base.text.scale_alpha(0.45),
        ..style
    }
}

/// See [`button`].
pub struct Button<'a, M> {
    inner: iced::widget::Button<'a, M>,
    enabled: bool,
    id: Option<iced::widget::Id>,
}

impl<'a, M: Clone + 'a> Button<'a, M> {
    /// Pressing (click, Enter or Space) produces `message`.
    pub fn on_press(self, message: M) -> Self {
        self.on_press_maybe(Some(message))
    }

    /// As [`Button::on_press`]; `None`: disabled, and skipped by Tab.
    pub fn on_press_maybe(self, message: Option<M>) -> Self {
        Button {
            enabled: message.is_some(),
            inner: self.inner.on_press_maybe(message),
            ..self
        }
    }

    /// The look, as `iced::widget::button::Button::style`.
    pub fn style(
        self,
        style: impl Fn(&iced::Theme, iced::widget::button::Status) -> iced::widget::button::Style + 'a,
    ) -> Self {
        Button {
            inner: self
                .inner
                .style(move |theme, status| looks_disabled(theme, status, style(theme, status))),
            ..self
        }
    }

    /// The space around the label.
    pub fn padding(self, padding: impl Into<iced::Padding>) -> Self {
        Button {
            inner: self.inner.padding(padding),
            ..self
        }
    }

    /// An id, for focusing it from the app (a dialog's safe answer, say).
    pub fn id(self, id: &'static str) -> Self {
        Button {
            id: Some(iced::widget::Id::new(id)),
            ..self
        }
    }

    /// The width.
    pub fn width(self, width: impl Into<Length>) -> Self {
        Button {
            inner: self.inner.width(width),
            ..self
        }
    }
}

impl<'a, M: Clone + 'a> From<Button<'a, M>> for Element<'a, M> {
    fn from(button: Button<'a, M>) -> Self {
        Element::new(Focus {
            inner: button.inner.into(),
            role: Role::Focusable {
                enabled: button.enabled,
            },
            id: button.id,
        })
    }
}

/// `inner`, reachable by Tab, pressed by Enter or Space as a click at its centre would press it:
/// for a widget that iced gives no keyboard focus, such as a checkbox. Always a Tab stop, even
/// if `inner` is disabled.
pub fn focusable<'a, M: Clone + 'a>(inner: impl Into<Element<'a, M>>) -> Element<'a, M> {
    Element::new(Focus {
        inner: inner.into(),
        role: Role::Focusable { enabled: true },
        id: None,
    })
}

/// The widget behind [`button`], [`focusable`], [`inert_if`] and [`tab_root`]: the inner
/// widget, and what it is to the keyboard.
struct Focus<'a, M> {
    inner: Element<'a, M>,
    role: Role,
    /// For focusing it from the app.
    id: Option<iced::widget::Id>,
}

/// What a [`Focus`] is to the keyboard.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// Tab stops on it when it is enabled; Enter or Space presses it.
    Focusable { enabled: bool },
    /// Nothing in it takes focus or a key.
    Inert,
    /// The window's content: Tab and Shift+Tab move focus within it.
    TabRoot,
    /// Nothing: the content as it is (see [`inert_if`]).
    Pass,
}

#[derive(Debug, Default)]
struct FocusState {
    focused: bool,
}

impl iced::advanced::widget::operation::Focusable for FocusState {
    fn is_focused(&self) -> bool {
        self.focused
    }
    fn focus(&mut self) {
        self.focused = true;
    }
    fn unfocus(&mut self) {
        self.focused = false;
    }
}

impl<'a, M: Clone + 'a> Widget<M, Theme, iced::Renderer> for Focus<'a, M> {
    fn tag(&self) -> tree::Tag {
        tree::Tag::of::<FocusState>()
    }

    fn state(&self) -> tree::State {
        tree::State::new(FocusState::default())
    }

    fn children(&self) -> Vec<Tree> {
        vec![Tree::new(&self.inner)]
    }

    fn diff(&self, tree: &mut Tree) {
        tree.diff_children(std::slice::from_ref(&self.inner));
    }

    fn size(&self) -> Size<Length> {
        self.inner.as_widget().size()
    }

    fn layout(
        &mut self,
        tree: &mut Tree,
        renderer: &iced::Renderer,
        limits: &layout::Limits,
    ) -> layout::Node {
        match tree.children.first_mut() {
            Some(child) => self.inner.as_widget_mut().layout(child, renderer, limits),
            None => layout::Node::new(Size::ZERO),
        }
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        renderer: &iced::Renderer,
        operation: &mut dyn Operation,
    ) {
        let Some(child) = tree.children.first_mut() else {
            return;
        };
        match self.role {
            Role::Focusable { enabled } => {
                if enabled {
                    operation.focusable(
                        self.id.as_ref(),
                        layout.bounds(),
                        tree.state.downcast_mut::<FocusState>(),
                    );
                }
                self.inner
                    .as_widget_mut()
                    .operate(child, layout, renderer, operation);
            }
            Role::Inert => {
                self.inner.as_widget_mut().operate(
                    child,
                    layout,
                    renderer,
                    &mut NoFocus(operation),
                );
            }
            Role::TabRoot | Role::Pass => {
                self.inner
                    .as_widget_mut()
                    .operate(child, layout, renderer, operation);
            }
        }
    }

    fn update(
        &mut self,
        tree: &mut Tree,
        event: &Event,
        layout: Layout<'_>,
        cursor: amouse::Cursor,
        renderer: &iced::Renderer,
        clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, M>,
        viewport: &Rectangle,
    ) {
        let Some(child) = tree.children.first_mut() else {
            return;
        };
        let state = tree.state.downcast_mut::<FocusState>();
        let enabled = match self.role {
            Role::Focusable { enabled } => enabled,
            Role::Inert if matches!(event, Event::Keyboard(_) | Event::InputMethod(_)) => return,
            Role::Inert | Role::Pass => false,
            Role::TabRoot => {
                // Esc is the app's (it closes a dialog): a text field would take it to drop its
                // own focus, and the keys typed next were lost.
                if let Event::Keyboard(keyboard::Event::KeyPressed {
                    key: keyboard::Key::Named(keyboard::key::Named::Escape),
                    ..
                }) = event
                {
                    shell.capture_event();
                    return;
                }
                if let Event::Keyboard(keyboard::Event::KeyPressed {
                    key: keyboard::Key::Named(keyboard::key::Named::Tab),
                    modifiers,
                    ..
                }) = event
                {
                    if !(modifiers.control() || modifiers.alt() || modifiers.logo()) {
                        // Here, not in a subscription: keys typed straight after Tab must land in
                        // the field Tab moved to, and a message would move focus only after
                        // they were handled (a question once took the first letter of its
                        // answer).
                        cycle_focus(&mut self.inner, child, layout, renderer, !modifiers.shift());
                        shell.capture_event();
                        shell.request_redraw();
                        return;
                    }
                }
                false
            }
        };
        if !enabled {
            state.focused = false;
        }
        match event {
            // A click anywhere ends keyboard focus, as a text field's does: the ring shows only
            // where the keyboard is.
            Event::Mouse(mouse::Event::ButtonPressed(_)) if state.focused => {
                state.focused = false;
                shell.request_redraw();
            }
            Event::Keyboard(keyboard::Event::KeyPressed {
                key: keyboard::Key::Named(keyboard::key::Named::Enter | keyboard::key::Named::Space),
                repeat: false,
                ..
            }) if state.focused => {
                // Press the inner widget as a click at its centre would, so that it alone
                // decides what pressing means; each half gets its own shell because a button's
                // press captures the event and the button then ignores the release.
                let centre = amouse::Cursor::Available(layout.bounds().center());
                for half in [
                    mouse::Event::ButtonPressed(mouse::Button::Left),
                    mouse::Event::ButtonReleased(mouse::Button::Left),
                ] {
                    let mut messages = Vec::new();
                    let mut inner = Shell::new(&mut messages);
                    self.inner.as_widget_mut().update(
                        child,
                        &Event::Mouse(half),
                        layout,
                        centre,
                        renderer,
                        clipboard,
                        &mut inner,
                        viewport,
                    );
                    shell.merge(inner, |m| m);
                }
                shell.capture_event();
                return;
            }
            _ => {}
        }
        self.inner.as_widget_mut().update(
            child, event, layout, cursor, renderer, clipboard, shell, viewport,
        );
    }

    fn draw(
        &self,
        tree: &Tree,
        renderer: &mut iced::Renderer,
        theme: &Theme,
        style: &renderer::Style,
        layout: Layout<'_>,
        cursor: amouse::Cursor,
        viewport: &Rectangle,
    ) {
        let Some(child) = tree.children.first() else {
            return;
        };
        self.inner
            .as_widget()
            .draw(child, renderer, theme, style, layout, cursor, viewport);
        if tree.state.downcast_ref::<FocusState>().focused {
            use iced::advanced::Renderer as _;
            // The text colour: it contrasts with the page, whatever the button's own colour.
            // Just outside the widget, so it crosses none of its text, and kept in view, so a
            // button at the window's edge shows all of it.
            renderer.fill_quad(
                renderer::Quad {
                    bounds: layout
                        .bounds()
                        .expand(3.0)
                        .intersection(viewport)
                        .unwrap_or(layout.bounds()),
                    border: iced::Border {
                        color: theme.palette().text,
                        width: 2.0,
                        radius: 4.0.into(),
                    },
                    ..renderer::Quad::default()
                },
                Color::TRANSPARENT,
            );
        }
    }

    fn mouse_interaction(
        &self,
        tree: &Tree,
        layout: Layout<'_>,
        cursor: amouse::Cursor,
        viewport: &Rectangle,
        renderer: &iced::Renderer,
    ) -> amouse::Interaction {
        tree.children
            .first()
            .map_or(amouse::Interaction::default(), |child| {
                self.inner
                    .as_widget()
                    .mouse_interaction(child, layout, cursor, viewport, renderer)
            })
    }

    fn overlay<'b>(
        &'b mut self,
        tree: &'b mut Tree,
        layout: Layout<'b>,
        renderer: &iced::Renderer,
        viewport: &Rectangle,
        translation: Vector,
    ) -> Option<iced::advanced::overlay::Element<'b, M, Theme, iced::Renderer>> {
        let child = tree.children.first_mut()?;
        self.inner
            .as_widget_mut()
            .overlay(child, layout, renderer, viewport, translation)
    }
}

/// `content` made inert to the keyboard, as HTML's `inert` attribute makes it to everything
/// (the pointer is the scrim's to stop): behind a dialog, nothing in it can take keyboard focus
/// or receive a key, so Tab stays within the dialog and Enter can never
/// press a button the scrim hides (issue 15, items 3 and 10). It is still drawn, and still
/// found by operations that read it (scrolling, tests' selectors).
pub fn inert<'a, M: Clone + 'a>(content: impl Into<Element<'a, M>>) -> Element<'a, M> {
    inert_if(content, true)
}

/// `content`, inert when `inert` holds ([`inert`]). The widget is there either way, so that
/// the content keeps its state (focus, scroll position) when a dialog comes and goes.
pub fn inert_if<'a, M: Clone + 'a>(
    content: impl Into<Element<'a, M>>,
    inert: bool,
) -> Element<'a, M> {
    Element::new(Focus {
        inner: content.into(),
        role: if inert { Role::Inert } else { Role::Pass },
        id: None,
    })
}

/// The window's content, with Tab and Shift+Tab moving the keyboard focus through its fields,
/// buttons and checkboxes in order, round from the last to the first (issue 15, item 10). Esc
/// never reaches the content: it is the app's ([`crate::app::window_event`]).
pub fn tab_root<'a, M: Clone + 'a>(content: impl Into<Element<'a, M>>) -> Element<'a, M> {
    Element::new(Focus {
        inner: content.into(),
        role: Role::TabRoot,
        id: None,
    })
}

/// Moves the focus to the next (`forward`) or previous focusable widget in `content`, from the
/// last round to the first and back: iced's own `focus_next` leaves nothing focused after the
/// last, an invisible stop.
fn cycle_focus<M>(
    content: &mut Element<'_, M>,
    tree: &mut Tree,
    layout: Layout<'_>,
    renderer: &iced::Renderer,
    forward: bool,
) {
    use iced::advanced::widget::operation::{Outcome, black_box, focusable::count};
    let mut counting = count();
    content
        .as_widget_mut()
        .operate(tree, layout, renderer, &mut black_box(&mut counting));
    let Outcome::Some(found) = iced::advanced::widget::Operation::finish(&counting) else {
        return;
    };
    if found.total == 0 {
        return;
    }
    let target = match (found.focused, forward) {
        (Some(i), true) => (i + 1) % found.total,
        (Some(i), false) => (i + found.total - 1) % found.total,
        (None, true) => 0,
        (None, false) => found.total - 1,
    };
    content.as_widget_mut().operate(
        tree,
        layout,
        renderer,
        &mut FocusIndex { target, current: 0 },
    );
}

/// Focuses the `target`-th focusable widget and unfocuses every other.
struct FocusIndex {
    target: usize,
    current: usize,
}

impl Operation for FocusIndex {
    fn traverse(&mut self, operate: &mut dyn FnMut(&mut dyn Operation)) {
        operate(self);
    }
    fn focusable(
        &mut self,
        _id: Option<&iced::widget::Id>,
        _bounds: Rectangle,
        state: &mut dyn iced::advanced::widget::operation::Focusable,
    ) {
        if self.current == self.target {
            state.focus();
        } else {
            state.unfocus();
        }
        self.current += 1;
    }
}

/// An operation as seen from inside inert content: every focusable widget there is unfocused
/// and hidden from the operation; everything else passes through.
struct NoFocus<'o>(&'o mut dyn Operation);

impl Operation for NoFocus<'_> {
    fn traverse(&mut self, operate: &mut dyn FnMut(&mut dyn Operation)) {
        self.0.traverse(&mut |inner| operate(&mut NoFocus(inner)));
    }
    fn container(&mut self, id: Option<&iced::widget::Id>, bounds: Rectangle) {
        self.0.container(id, bounds);
    }
    fn scrollable(
        &mut self,
        id: Option<&iced::widget::Id>,
        bounds: Rectangle,
        content_bounds: Rectangle,
        translation: Vector,
        state: &mut dyn iced::advanced::widget::operation::Scrollable,
    ) {
        self.0
            .scrollable(id, bounds, content_bounds, translation, state);
    }
    fn focusable(
        &mut self,
        _id: Option<&iced::widget::Id>,
        _bounds: Rectangle,
        state: &mut dyn iced::advanced::widget::operation::Focusable,
    ) {
        state.unfocus();
    }
    fn text_input(
        &mut self,
        id: Option<&iced::widget::Id>,
        bounds: Rectangle,
        state: &mut dyn iced::advanced::widget::operation::TextInput,
    ) {
        self.0.text_input(id, bounds, state);
    }
    fn text(&mut self, id: Option<&iced::widget::Id>, bounds: Rectangle, text: &str) {
        self.0.text(id, bounds, text);
    }
    fn custom(
        &mut self,
        id: Option<&iced::widget::Id>,
        bounds: Rectangle,
        state: &mut dyn std::any::Any,
    ) {
        self.0.custom(id, bounds, state);
    }
}

#[cfg(test)]
mod tests {
    use super::looks_disabled;
    use iced::widget::button::{Status, primary};

    /// Issue 15, item 15: in the dark theme a disabled primary button kept its blue at half
    /// opacity and read as one to press.
    #[test]
    fn disabled_buttons_are_grey_with_faded_text_in_both_themes_and_others_unchanged() {
        for theme in [crate::theme::light(), crate::theme::dark()] {
            let disabled =
                looks_disabled(&theme, Status::Disabled, primary(&theme, Status::Disabled));
            assert_eq!(
                disabled.background,
                Some(iced::Background::Color(
                    theme.extended_palette().background.weak.color
                ))
            );
            assert!(disabled.text_color.a < 0.5);
            let active = primary(&theme, Status::Active);
            assert_eq!(looks_disabled(&theme, Status::Active, active), active);
        }
    }
}
