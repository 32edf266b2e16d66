//! The relay's fuzz entry point: an arbitrary byte stream from one client, in process, against a
//! relay that lives across inputs. After each input the relay must still serve everyone else.
//! Not part of the API.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::{Config, RelayHandle, spawn};
use cryptully_protocol::Nick;
use cryptully_protocol::framing::MAX_FRAME;
use cryptully_protocol::net::{FrameReader, write_frame};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    relay: RelayHandle,
    /// Registered as "fuzzwatch": fuzz input may send to it; it must keep getting PONGs.
    watcher: tokio::sync::Mutex<FrameReader<TcpStream>>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (relay, watcher) = runtime.block_on(async {
            let config = Config {
                register_timeout: Duration::from_secs(2),
                ..Config::default()
            };
            let relay = spawn("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
            let mut s = TcpStream::connect(relay.local_addr()).await.unwrap();
            write_frame(&mut s, &ClientMessage::Hello { version: 2 }.to_bytes())
                .await
                .unwrap();
            let nick = Nick::new("fuzzwatch").unwrap();
            write_frame(&mut s, &ClientMessage::Register { nick }.to_bytes())
                .await
                .unwrap();
            let mut r = FrameReader::new(s, MAX_FRAME);
            let first = r.next_frame().await.unwrap().unwrap();
            assert!(matches!(
                RelayMessage::decode(&first),
                Ok(RelayMessage::Registered { .. })
            ));
            (relay, r)
        });
        Fixture {
            runtime,
            relay,
            watcher: tokio::sync::Mutex::new(watcher),
        }
    })
}

/// Sends `data` as one client's byte stream, closes, reads what the relay answers; then checks
/// that the watcher connection still gets a PONG.
pub fn relay_stream(data: &[u8]) {
    static TOKEN: AtomicU64 = AtomicU64::new(0);
    let f = fixture();
    f.runtime.block_on(async {
        let mut s = TcpStream::connect(f.relay.local_addr()).await.unwrap();
        let _ = s.write_all(data).await;
        let _ = s.shutdown().await;
        let mut r = FrameReader::new(s, MAX_FRAME);
        let read_all = async {
            while let Ok(Some(frame)) = r.next_frame().await {
                // Everything the relay sends decodes (§3.1).
                assert!(RelayMessage::decode(&frame).is_ok(), "relay sent {frame:?}");
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read_all)
            .await
            .expect("the relay closes a connection whose client has finished");

        // Every 64th input: the watcher's own PINGs must stay under the default rate limit.
        let token = TOKEN.fetch_add(1, Ordering::Relaxed);
        if !token.is_multiple_of(64) {
            return;
        }
        let mut w = f.watcher.lock().await;
        write_frame(w.get_mut(), &ClientMessage::Ping { token }.to_bytes())
            .await
            .unwrap();
        let pong = async {
            loop {
                let frame = w
                    .next_frame()
                    .await
                    .unwrap()
                    .expect("watcher still connected");
                if RelayMessage::decode(&frame) == Ok(RelayMessage::Pong { token }) {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), pong)
            .await
            .expect("the relay keeps serving others");
    });
}
