//! Widgets the screens share.

use crate::links::{self, Piece};
use iced::widget::text::Wrapping;
use iced::widget::{container, rich_text, span, text};
use iced::{Color, Element, Length};

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
    if !pieces.iter().any(|p| matches!(p, Piece::Link(_))) {
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
