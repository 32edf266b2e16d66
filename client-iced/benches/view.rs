//! The chat view with many messages: time to build, lay out and draw one frame headlessly
//! (tiny-skia), the cost scrolling pays per frame. `cargo bench -p cryptully-client-iced`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use cryptully_client_iced::app::{App, Message};
use cryptully_client_iced::net::NetEvent;
use cryptully_protocol::Nick;
use cryptully_protocol::connection::ConnEvent;
use cryptully_protocol::key_schedule::KeySchedule;
use cryptully_protocol::session::Event;
use std::time::Instant;

fn app_with(messages: usize, rt: &tokio::runtime::Runtime) -> App {
    let (mut app, _) = App::boot();
    let relay = rt
        .block_on(cryptully_relay::spawn(
            "127.0.0.1:0".parse().unwrap(),
            Default::default(),
        ))
        .unwrap();
    let (handle, _events) = rt
        .block_on(cryptully_protocol::connection::connect(
            relay.local_addr(),
            Nick::new("alice").unwrap(),
        ))
        .unwrap();
    let _ = app.update(Message::Net(NetEvent::Connected {
        handle,
        hosting: None,
    }));
    let bob = Nick::new("bob").unwrap();
    app.model.open(&bob, "10:00");
    let ks = KeySchedule::derive(&[1; 32], &[2; 32]).unwrap();
    let est = Event::Established {
        safety_code: ks.safety_code(),
        fingerprint: ks.fingerprint(),
    };
    app.model.apply(
        ConnEvent::Peer {
            peer: bob.clone(),
            event: est,
        },
        "10:00",
    );
    for i in 0..messages {
        let text = format!("message number {i}: the quick brown fox jumps over the lazy dog");
        app.model.apply(
            ConnEvent::Peer {
                peer: bob.clone(),
                event: Event::Message {
                    seq: i as u64,
                    text,
                },
            },
            "10:01",
        );
    }
    std::mem::forget(relay);
    app
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for n in [100usize, 1_000, 10_000] {
        let app = app_with(n, &rt);
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
