//! `cryptully`: end-to-end encrypted chat between two people. Pick a nickname, type your
//! friend's nickname, chat; read the 6-digit safety code aloud, or ask a question only your
//! friend can answer.

#![forbid(unsafe_code)]

use clap::{CommandFactory, FromArgMatches};
use cryptully_client_iced::app::App;
use cryptully_client_iced::cli::{APP_ID, Args};
use iced::window;

/// The window icon: the 64 px rendering of packaging/icons/cryptully.svg.
const ICON_PNG: &[u8] = include_bytes!("../../packaging/icons/hicolor/64x64/apps/cryptully.png");

fn main() -> iced::Result {
    let remembered = cryptully_client_iced::settings::Settings::default_path();
    let log = log_path();
    let matches = Args::command()
        .after_help(files_help(remembered.as_deref(), log.as_deref()))
        .get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(action) = args.identity_action() {
        let Some(paths) = cryptully_client_iced::identity::Paths::default_paths() else {
            eprintln!("no home directory: the identity cannot be kept");
            std::process::exit(1);
        };
        match cryptully_client_iced::identity::manage(&paths, &action) {
            Ok(said) => {
                println!("{said}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
    start_log(log.as_deref());
    let settings = window::Settings {
        size: iced::Size::new(980.0, 680.0),
        min_size: Some(cryptully_client_iced::app::MIN_WINDOW),
        icon: icon(),
        platform_specific: platform_specific(),
        // The app decides: it warns first when it hosts the relay (App::update, CloseRequested).
        exit_on_close_request: false,
        ..window::Settings::default()
    };
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

/// The log: `cryptully.log` in the app's data directory.
fn log_path() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", "cryptully").map(|d| d.data_dir().join("cryptully.log"))
}

/// What `--help` says about the files the app keeps (issue 15, item 14).
fn files_help(settings: Option<&std::path::Path>, log: Option<&std::path::Path>) -> String {
    let identity = cryptully_client_iced::identity::Paths::default_paths();
    let shown = |p: Option<&std::path::Path>| {
        p.map_or("(no home directory: not kept)".to_string(), |p| {
            p.display().to_string()
        })
    };
    format!(
        "Files:\n  settings (nickname, relay, theme): {}\n  log (details of errors; no messages, no keys): {}\n  remembered relay certificates: {}\n  identity (your private key; keep it private): {}\n  contacts (friends' identities, verified or not): {}",
        shown(settings),
        shown(log),
        shown(cryptully_client_iced::pins::Pins::default_path().as_deref()),
        shown(identity.as_ref().map(|p| p.identity.as_path())),
        shown(identity.as_ref().map(|p| p.contacts.as_path()))
    )
}

/// Sends the log to `path` (details the person is spared: error codes, OS errors), started
/// afresh when it passed 1 MiB. Without a file, there is no log. `RUST_LOG` sets the level.
fn start_log(path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > 1024 * 1024);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(!too_big)
        .write(true)
        .truncate(too_big)
        .open(path);
    let Ok(file) = file else { return };
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The app's own lines; the window libraries' INFO lines (the icon's bytes among
                // them) filled a third of a megabyte a start.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "warn,cryptully=info,cryptully_client_iced=info,cryptully_protocol=info,cryptully_relay=info",
                    )
                }),
        )
        .init();
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
    use clap::Parser;

    #[test]
    fn the_window_icon_decodes_to_64_by_64() {
        let icon = icon();
        assert!(icon.is_some(), "the embedded PNG must decode");
    }

    #[test]
    fn help_names_the_files_the_app_keeps() {
        let text = files_help(
            Some(std::path::Path::new("/c/settings")),
            Some(std::path::Path::new("/d/cryptully.log")),
        );
        assert!(text.contains("settings (nickname, relay, theme): /c/settings"));
        assert!(text.contains("log (details of errors; no messages, no keys): /d/cryptully.log"));
        assert!(files_help(None, None).contains("(no home directory: not kept)"));
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
