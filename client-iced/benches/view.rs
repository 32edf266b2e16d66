//! The chat view with many messages: time to build, lay out and draw one frame headlessly
//! (tiny-skia), the cost scrolling pays per frame. `cargo bench -p cryptully-client-iced`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../tests/common/mod.rs"]
mod common;

use cryptully_client_iced::app::{App, Message};
use cryptully_client_iced::screen::chats;
use iced_test::core::renderer::{Headless, Style};
use iced_test::core::{Event as UiEvent, Font, Pixels, Point, Size, clipboard, mouse, theme::Base};
use iced_test::renderer::Renderer;
use iced_test::runtime::user_interface::{Cache, UserInterface};
use std::time::Instant;

/// The window of the cold-start measurement, in logical pixels, at a scale factor of 1.
const WINDOW: Size = Size::new(1000.0, 700.0);

/// One frame of scrolling as iced's runtime runs it, with the widget tree cached between frames:
/// a wheel event, the messages it produced through `App::update`, a new view diffed against the
/// cache, layout, draw and rasterising in software. Returns the median of `frames` frames, in ms.
fn scroll_frames(app: &mut App, renderer: &mut Renderer, frames: usize) -> f64 {
    let cursor = mouse::Cursor::Available(Point::new(600.0, 400.0));
    let style = Style {
        text_color: app.theme().base().text_color,
    };
    let mut cache = Cache::default();
    let mut times = Vec::new();
    let mut moved = 0;
    for frame in 0..frames + 1 {
        let start = Instant::now();
        let theme = app.theme();
        let mut messages = Vec::new();
        {
            let mut ui = UserInterface::build(app.view(), WINDOW, cache, renderer);
            // Up for the first half, back down for the second: every frame moves the list.
            let lines = if frame < frames / 2 { 1.0 } else { -1.0 };
            let wheel = UiEvent::Mouse(mouse::Event::WheelScrolled {
                delta: mouse::ScrollDelta::Lines { x: 0.0, y: lines },
            });
            let _ = ui.update(
                &[wheel],
                cursor,
                renderer,
                &mut clipboard::Null,
                &mut messages,
            );
            cache = ui.into_cache();
        }
        // The list really moved (and told the app, as it does when a person scrolls).
        if messages
            .iter()
            .any(|m| matches!(m, Message::Chats(chats::Message::Scrolled(_))))
        {
            moved += 1;
        }
        for m in messages {
            let _ = app.update(m);
        }
        let mut ui = UserInterface::build(app.view(), WINDOW, cache, renderer);
        ui.draw(renderer, &theme, &style, cursor);
        let size = Size::new(WINDOW.width as u32, WINDOW.height as u32);
        let pixels = renderer.screenshot(size, 1.0, theme.base().background_color);
        assert_eq!(pixels.len(), (size.width * size.height * 4) as usize);
        cache = ui.into_cache();
        // The first frame fills the cache (text shaping): that is opening the chat, not scrolling.
        if frame > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    assert!(
        moved >= frames * 3 / 4,
        "only {moved} of {frames} frames scrolled"
    );
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let mut renderer =
        iced_test::futures::futures::executor::block_on(<Renderer as Headless>::new(
            Font::with_name("Fira Sans"),
            Pixels(16.0),
            Some("tiny-skia"),
        ))
        .expect("a software renderer");
    for n in [100usize, 1_000, 10_000] {
        let mut app = common::secure_chat("bob");
        for i in 0..n {
            let text = format!("message number {i}: the quick brown fox jumps over the lazy dog");
            common::says(&mut app, "bob", i as u64, text);
        }
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            let mut ui = iced_test::simulator(app.view());
            let _ = ui.snapshot(&app.theme()).unwrap();
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "chat with {n:>6} messages: one frame (view + layout + draw) median {:.1} ms",
            times[2] * 1e3
        );
        println!(
            "chat with {n:>6} messages: one scroll frame (event, update, view, layout, draw, 1000x700) median {:.1} ms",
            scroll_frames(&mut app, &mut renderer, 40)
        );
    }
}
