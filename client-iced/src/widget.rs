//! Widgets the screens share.

use crate::links::{self, Piece};
use iced::widget::{rich_text, span, text};
use iced::{Color, Element, Length};

/// A message's text, wrapped to the width it is given, with its web addresses underlined and
/// clickable in `link` colour: a click produces `on_link(address)`.
pub fn message_text<'a, M: 'a>(
    content: &str,
    link: Color,
    on_link: impl Fn(String) -> M + 'a,
) -> Element<'a, M> {
    let pieces = links::pieces(content);
    if !pieces.iter().any(|p| matches!(p, Piece::Link(_))) {
        return text(content.to_string()).width(Length::Fill).into();
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
    rich_text(spans)
        .on_link_click(on_link)
        .width(Length::Fill)
        .into()
}
