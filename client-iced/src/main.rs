//! `cryptully`: end-to-end encrypted chat between two people. Pick a nickname, type your
//! friend's nickname, chat; read the 6-digit safety code aloud, or ask a question only your
//! friend can answer.

#![forbid(unsafe_code)]

use clap::Parser;
use cryptully_client_iced::app::App;
use cryptully_client_iced::cli::{APP_ID, Args};
use iced::window;

/// The window icon: the 64 px rendering of packaging/icons/cryptully.svg.
const ICON_PNG: &[u8] = include_bytes!("../../packaging/icons/hicolor/64x64/apps/cryptully.png");

fn main() -> iced::Result {
    let args = Args::parse();
    let settings = window::Settings {
        size: iced::Size::new(980.0, 680.0),
        // The sidebar and a readable conversation side by side (issue 15, item 11).
        min_size: Some(iced::Size::new(640.0, 420.0)),
        icon: icon(),
        platform_specific: platform_specific(),
        // The app decides: it warns first when it hosts the relay (App::update, CloseRequested).
        exit_on_close_request: false,
        ..window::Settings::default()
    };
    let remembered = cryptully_client_iced::settings::Settings::default_path();
    iced::application(
        move || App::boot_remembering(&args, remembered.clone()),
        App::update,
        App::view,
    )
    .title(App::title)
    .theme(App::theme)
    .subscription(App::subscription)
    .window(settings)
    .run()
}

/// Decodes the embedded PNG; a broken icon only costs the icon.
fn icon() -> Option<window::Icon> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(ICON_PNG));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().ok()?;
    let mut rgba = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut rgba).ok()?;
    rgba.truncate(frame.buffer_size());
    window::icon::from_rgba(rgba, frame.width, frame.height).ok()
}

/// The application id (Wayland) and window class (X11) `cryptully`, matching the .desktop file.
#[cfg(target_os = "linux")]
fn platform_specific() -> window::settings::PlatformSpecific {
    window::settings::PlatformSpecific {
        application_id: APP_ID.into(),
        ..Default::default()
    }
}

#[cfg(not(target_os = "linux"))]
fn platform_specific() -> window::settings::PlatformSpecific {
    let _ = APP_ID;
    window::settings::PlatformSpecific::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_icon_decodes_to_64_by_64() {
        let icon = icon();
        assert!(icon.is_some(), "the embedded PNG must decode");
    }

    #[test]
    fn the_command_line_fills_the_connect_screen() {
        let args = Args::try_parse_from(["cryptully", "--nick", "alice", "--relay", "h:1"]);
        let args = args.unwrap_or_default();
        assert_eq!(args.nick.as_deref(), Some("alice"));
        assert_eq!(args.relay.as_deref(), Some("h:1"));
        assert!(Args::try_parse_from(["cryptully", "--bogus"]).is_err());
    }
}
