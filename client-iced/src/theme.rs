//! The app's own styles, on top of iced's light and dark themes.

use iced::widget::{button, container};
use iced::{Color, Theme};

/// The primary colour of both themes: iced's is 4.43:1 under white text, below WCAG AA.
const PRIMARY: Color = Color::from_rgb8(0x47, 0x52, 0xc4);

/// The light theme: iced's, with a darker primary so that white text on primary buttons meets
/// WCAG AA (issue 15, item 15).
pub fn light() -> Theme {
    static LIGHT: std::sync::LazyLock<Theme> = std::sync::LazyLock::new(|| {
        Theme::custom(
            "Cryptully light",
            iced::theme::Palette {
                primary: PRIMARY,
                ..Theme::Light.palette()
            },
        )
    });
    LIGHT.clone()
}

/// The dark theme: iced's, with the same primary as [`light`].
pub fn dark() -> Theme {
    static DARK: std::sync::LazyLock<Theme> = std::sync::LazyLock::new(|| {
        Theme::custom(
            "Cryptully dark",
            iced::theme::Palette {
                primary: PRIMARY,
                ..Theme::Dark.palette()
            },
        )
    });
    DARK.clone()
}

/// The blue of a link in a message, for the light theme (dark: false) or the dark one: each
/// meets WCAG AA (4.5:1) on its background (issue 15, item 15).
pub fn link(dark: bool) -> Color {
    if dark {
        Color::from_rgb8(0x93, 0xc5, 0xfd)
    } else {
        Color::from_rgb8(0x1d, 0x4e, 0xd8)
    }
}

/// A text button on a success panel (the verified safety code): the panel's own text colour,
/// not the page's, which is 3:1 on green.
pub fn text_on_success(theme: &Theme, status: button::Status) -> button::Style {
    let base = button::text(theme, status);
    button::Style {
        text_color: theme.extended_palette().success.base.text,
        ..base
    }
}

/// WCAG 2 contrast ratio of two opaque colours, from 1 to 21.
pub fn contrast(a: Color, b: Color) -> f32 {
    fn channel(c: f32) -> f32 {
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }
    fn luminance(c: Color) -> f32 {
        0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Behind a dialog: the screen, faded, so the dialog is what the eye lands on.
pub fn scrim(theme: &Theme) -> container::Style {
    let mut color = theme.extended_palette().background.base.color;
    color.a = 0.85;
    container::Style::default().background(color)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use iced::Background;

    fn bg(b: Option<Background>, page: Color) -> Color {
        match b {
            Some(Background::Color(c)) => c,
            _ => page,
        }
    }

    /// Issue 15, item 15: every text the app draws meets WCAG AA, 4.5:1, in both themes.
    #[test]
    fn theme_all_text_meets_wcag_aa_in_both_themes() {
        for (theme, dark) in [(light(), false), (super::dark(), true)] {
            let page = theme.extended_palette().background.base;
            let mut pairs: Vec<(&str, Color, Color)> = vec![
                ("page text", page.text, page.color),
                ("link", link(dark), page.color),
            ];
            for (name, style) in [
                ("success panel", container::success(&theme)),
                ("warning notice", container::warning(&theme)),
                ("danger line", container::danger(&theme)),
                ("information box", container::bordered_box(&theme)),
            ] {
                let back = bg(style.background, page.color);
                pairs.push((name, style.text_color.unwrap_or(page.text), back));
            }
            let success = bg(container::success(&theme).background, page.color);
            pairs.push((
                "Show fingerprint on the verified panel",
                text_on_success(&theme, button::Status::Active).text_color,
                success,
            ));
            for (name, style) in [
                (
                    "primary button",
                    button::primary(&theme, button::Status::Active),
                ),
                (
                    "secondary button",
                    button::secondary(&theme, button::Status::Active),
                ),
                (
                    "success button",
                    button::success(&theme, button::Status::Active),
                ),
                (
                    "danger button",
                    button::danger(&theme, button::Status::Active),
                ),
                ("text button", button::text(&theme, button::Status::Active)),
            ] {
                pairs.push((name, style.text_color, bg(style.background, page.color)));
            }
            let failing: Vec<String> = pairs
                .iter()
                .filter(|(_, fg, back)| contrast(*fg, *back) < 4.5)
                .map(|(name, fg, back)| format!("{name}: {:.2}:1", contrast(*fg, *back)))
                .collect();
            assert!(failing.is_empty(), "{theme:?}: {failing:?}");
        }
    }

    #[test]
    fn contrast_is_the_wcag_ratio() {
        assert!((contrast(Color::BLACK, Color::WHITE) - 21.0).abs() < 0.01);
        assert!((contrast(Color::WHITE, Color::WHITE) - 1.0).abs() < 0.001);
    }
}
