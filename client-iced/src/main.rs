//! `cryptully`: end-to-end encrypted chat between two people. Pick a nickname, type your
//! friend's nickname, chat; read the 6-digit safety code aloud, or ask a question only your
//! friend can answer.

#![forbid(unsafe_code)]

use cryptully_client_iced::app::App;

fn main() -> iced::Result {
    iced::application(App::boot, App::update, App::view)
        .title(App::title)
        .theme(App::theme)
        .subscription(App::subscription)
        .window_size((980.0, 680.0))
        .run()
}
