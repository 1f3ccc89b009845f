//! The admin endpoint holds up (issue 20, finding 4): a client that stalls
//! or sends too much stops nobody else; tokens, origins and content types
//! are checked; a command wakes a packet loop blocked in its poll.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Harness, reverse_proxy};
use lb_control::{AdminOptions, MAX_BODY, MAX_HEADER_BYTES};
use lb_datapath::Poller;
use lb_engine::ReverseProxy;

/// Sends `request` raw and reads the answer's status line, within 10 s.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may close before taking all of an oversized request.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

fn get(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n")
        .into_bytes()
}

fn post(path: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn stalled_clients_stop_nobody() {
    let lb = Harness::start(reverse_proxy());
    // One announces a body and stalls; another stops mid-headers; a
    // hundred more just connect and say nothing.
    let mut body_staller = TcpStream::connect(lb.addr).unwrap();
    body_staller
        .write_all(b"POST /stats/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"")
        .unwrap();
    let mut header_staller = TcpStream::connect(lb.addr).unwrap();
    header_staller
        .write_all(b"GET /stats HTTP/1.1\r\nHo")
        .unwrap();
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(lb.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let (status, _) = lb.call("GET", "/stats", None);
    let took = started.elapsed();
    eprintln!(
        "FIGURES /stats beside stalled clients: {} us",
        took.as_micros()
    );
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    // The stallers are let go once their time is up.
    body_staller
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = body_staller.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    drop(idle);
}

#[test]
fn oversized_requests_are_refused() {
    let lb = Harness::start(reverse_proxy());
    let huge_header = format!("X-Filler: {}\r\n", "a".repeat(MAX_HEADER_BYTES * 4));
    assert_eq!(
        raw(lb.addr, &get("/stats", &huge_header)),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let body = "x".repeat(MAX_BODY + 1);
    let status = raw(
        lb.addr,
        &post("/services", "Content-Type: application/json\r\n", &body),
    );
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // The endpoint still answers.
    assert_eq!(lb.call("GET", "/ready", None).0, 200);
}

#[test]
fn browsers_cannot_write() {
    let lb = Harness::start(reverse_proxy());
    let json = "Content-Type: application/json\r\n";
    let cross = format!("{json}Origin: http://evil.example\r\n");
    assert!(raw(lb.addr, &post("/stats/reset", &cross, "{}")).starts_with("HTTP/1.1 403"));
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    assert!(raw(lb.addr, &post("/stats/reset", form, "a=b")).starts_with("HTTP/1.1 415"));
    let rebound = b"GET /stats HTTP/1.1\r\nHost: evil.example:9901\r\nConnection: close\r\n\r\n";
    assert!(raw(lb.addr, rebound).starts_with("HTTP/1.1 403"));
    let same = format!("{json}Origin: http://127.0.0.1\r\n");
    assert!(raw(lb.addr, &post("/stats/reset", &same, "")).starts_with("HTTP/1.1 200"));
}

#[test]
fn tokens_are_required_where_set() {
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let error = lb_control::start::<ReverseProxy>(any).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("needs a token (--admin-token-file FILE)"),
        "{error}"
    );
    let options = AdminOptions {
        token: Some("s3cret".into()),
        ..AdminOptions::default()
    };
    let (commands, addr) = lb_control::start_with::<ReverseProxy>(any, options).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    let mut engine = reverse_proxy();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = std::sync::Arc::clone(&stop);
    let loop_ = std::thread::spawn(move || {
        while !running.load(std::sync::atomic::Ordering::Relaxed) {
            commands.apply(&mut engine);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert_eq!(
        raw(addr, &get("/stats", "")),
        "HTTP/1.1 401 Unauthorized",
        "off loopback, reads need it too"
    );
    assert_eq!(
        raw(addr, &get("/stats", "Authorization: Bearer wrong\r\n")),
        "HTTP/1.1 401 Unauthorized"
    );
    assert_eq!(
        raw(addr, &get("/stats", "Authorization: Bearer s3cret\r\n")),
        "HTTP/1.1 200 OK"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    loop_.join().unwrap();
}

#[test]
fn a_command_wakes_the_packet_loop_at_once() {
    let (commands, addr) =
        lb_control::start::<ReverseProxy>("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut engine = reverse_proxy();
    let mut poller = Poller::new().unwrap();
    poller.add(commands.waker()).unwrap();
    // The packet loop waits up to 10 s for frames, as an idle one would.
    let loop_ = std::thread::spawn(move || {
        for _ in 0..3 {
            poller.wait(Duration::from_secs(10)).unwrap();
            commands.apply(&mut engine);
        }
    });
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(raw(addr, &get("/ready", "")), "HTTP/1.1 200 OK");
        slowest = slowest.max(started.elapsed());
    }
    eprintln!(
        "FIGURES admin request against an idle packet loop: at most {} us",
        slowest.as_micros()
    );
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    loop_.join().unwrap();
}
