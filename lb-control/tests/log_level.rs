//! `/log`: the process's log level read and changed through the admin
//! endpoint, served without the packet thread; 404 where the process
//! gives no control.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lb_control::{AdminOptions, LogControl, LogLevel};
use lb_engine::ReverseProxy;

/// Takes any level but `loud`, as a filter that does not parse.
struct Levels(Mutex<String>);

impl LogLevel for Levels {
    fn current(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    fn set(&self, filter: &str) -> Result<(), String> {
        if filter == "loud" {
            return Err(format!("{filter:?}: not a level"));
        }
        *self.0.lock().unwrap() = filter.to_owned();
        Ok(())
    }
}

/// `method path` with `body` (JSON); the status and the body answered.
fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[test]
fn the_log_level_is_read_and_changed_without_the_packet_thread() {
    let levels = Arc::new(Levels(Mutex::new("info".into())));
    let options = AdminOptions {
        log: Some(LogControl(levels.clone())),
        ..AdminOptions::default()
    };
    // No packet thread applies commands: `/log` needs none.
    let (_commands, addr) =
        lb_control::start_with::<ReverseProxy>("127.0.0.1:0".parse().unwrap(), options).unwrap();
    let (status, body) = call(addr, "GET", "/log", "");
    assert_eq!(
        (status, body.contains("\"level\": \"info\"")),
        (200, true),
        "{body}"
    );
    let (status, body) = call(addr, "PUT", "/log", r#"{"level": "trace"}"#);
    assert_eq!(
        (status, body.contains("\"level\": \"trace\"")),
        (200, true),
        "{body}"
    );
    assert_eq!(levels.current(), "trace");
    let (status, body) = call(addr, "PUT", "/log", r#"{"level": "loud"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\\\"loud\\\": not a level"), "{body}");
    let (status, body) = call(addr, "PUT", "/log", r#"{"lvl": "debug"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("expected {\\\"level\\\": LEVEL}"), "{body}");
    assert_eq!(levels.current(), "trace", "refusals change nothing");
    assert_eq!(call(addr, "DELETE", "/log", "").0, 405);
}

#[test]
fn without_a_control_the_log_is_not_found() {
    let (_commands, addr) =
        lb_control::start::<ReverseProxy>("127.0.0.1:0".parse().unwrap()).unwrap();
    let (status, body) = call(addr, "PUT", "/log", r#"{"level": "trace"}"#);
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("does not change its log level at run time"),
        "{body}"
    );
}
