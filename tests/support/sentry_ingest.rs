//! A stand-in for Sentry's ingest endpoint that keeps every envelope it receives.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

pub type Envelopes = Arc<Mutex<Vec<String>>>;

/// Accepts HTTP/1.1 POSTs with a Content-Length and keeps their bodies.
///
/// It runs on its own thread and runtime: Sentry's transport thread must be able to
/// deliver even while the test's runtime is unwinding a failed assertion, or the
/// client's shutdown would wait on it forever.
pub fn fake_sentry() -> (String, Envelopes) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let dsn = format!("http://public@{}/1", listener.local_addr().unwrap());
    let envelopes: Envelopes = Arc::default();
    let store = envelopes.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(record_envelopes(stream, store.clone()));
            }
        });
    });
    (dsn, envelopes)
}

async fn record_envelopes(stream: tokio::net::TcpStream, store: Envelopes) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        store
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        let reply =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if reader.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}
