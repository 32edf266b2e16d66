//! The app's own styles, on top of iced's light and dark themes.

use iced::widget::container;
use iced::{Color, Theme};

/// The blue of a link in a message: readable on the light and the dark theme.
pub const LINK: Color = Color::from_rgb8(0x3b, 0x82, 0xf6);

/// Behind a dialog: the screen, faded, so the dialog is what the eye lands on.
pub fn scrim(theme: &Theme) -> container::Style {
    let mut color = theme.extended_palette().background.base.color;
    color.a = 0.85;
    container::Style::default().background(color)
}
