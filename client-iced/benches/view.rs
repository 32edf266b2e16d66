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

use cryptully_protocol::session::Event;
use std::time::Instant;

fn main() {
    for n in [100usize, 1_000, 10_000] {
        let mut app = common::secure_chat("bob");
        for i in 0..n {
            let text = format!("message number {i}: the quick brown fox jumps over the lazy dog");
            common::from(
                &mut app,
                "bob",
                Event::Message {
                    seq: i as u64,
                    text,
                },
            );
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
    }
}
