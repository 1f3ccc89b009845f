//! Long-lived connections that check themselves: each client stream sends
//! a line every 100 ms and waits for its echo, so a stall, a reset or a
//! wrong answer shows; beside them a new connection is tried every 200 ms.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

use crate::Lab;

/// Echoes every connection's bytes, a thread each.
const ECHO_SERVER: &str = r#"
import socket, sys, threading
def serve(conn):
    with conn:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(256)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// `count` streams to `addr:port` and a prober of new connections; their
/// state written to `out` (JSON) every 50 ms.
const ECHO_CLIENTS: &str = r#"
import json, os, socket, sys, threading, time
addr, port, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
last_ok = [0.0] * count
failed = [None] * count
tried = {"ok": 0, "failed": 0}
def line(conn, msg):
    conn.sendall(msg)
    got = b""
    while not got.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("closed by the other end")
        got += chunk
    if got != msg:
        raise OSError("echo %r for %r" % (got, msg))
def stream(i):
    try:
        conn = socket.create_connection((addr, port), timeout=5)
        conn.settimeout(10)
        n = 0
        while True:
            line(conn, b"%d %d\n" % (i, n))
            last_ok[i] = time.monotonic()
            n += 1
            time.sleep(0.1)
    except Exception as error:
        failed[i] = str(error)
def prober():
    while True:
        try:
            with socket.create_connection((addr, port), timeout=5) as conn:
                conn.settimeout(5)
                line(conn, b"new\n")
            tried["ok"] += 1
        except Exception:
            tried["failed"] += 1
        time.sleep(0.2)
for i in range(count):
    threading.Thread(target=stream, args=(i,), daemon=True).start()
threading.Thread(target=prober, daemon=True).start()
while True:
    state = {"now": time.monotonic(), "last_ok": last_ok, "failed": failed,
             "new_ok": tried["ok"], "new_failed": tried["failed"]}
    with open(out + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(out + ".tmp", out)
    time.sleep(0.05)
"#;

/// Streams that check their echoes, and a prober of new connections.
#[derive(Debug)]
pub struct Echoes {
    path: PathBuf,
}

/// What the streams and the prober did, as their script last wrote.
#[derive(Debug, Clone, Deserialize)]
struct Status {
    /// The script's clock, in seconds.
    now: f64,
    /// When each stream last got its echo, on that clock.
    last_ok: Vec<f64>,
    /// Why each stream ended, if it did.
    failed: Vec<Option<String>>,
    new_ok: u64,
    new_failed: u64,
}

/// What the streams went through while they were watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Streams still echoing at the end.
    pub alive: usize,
    /// Why those that ended did.
    pub failures: Vec<String>,
    /// The longest any live stream went without an echo.
    pub longest_stall: Duration,
    /// New connections that worked, and that failed, meanwhile.
    pub new_ok: u64,
    /// New connections that failed meanwhile.
    pub new_failed: u64,
}

impl Lab {
    /// Starts an echo server in `ns` on `port` (every address); returns
    /// once it listens at `addr`.
    pub fn echo_server(&mut self, ns: &str, addr: Ipv4Addr, port: u16) -> anyhow::Result<u32> {
        let script = self.write_file("echo-server.py", ECHO_SERVER)?;
        let script = script.to_string_lossy().into_owned();
        let pid = self.spawn(ns, &["python3", &script, &port.to_string()])?;
        self.wait_for_tcp(ns, addr, port)?;
        Ok(pid)
    }

    /// Starts `count` echo streams from `ns` to `addr:port`, and a new
    /// connection every 200 ms beside them; returns once every stream got
    /// its first echo (within 10 s).
    pub fn echoes(
        &mut self,
        ns: &str,
        addr: Ipv4Addr,
        port: u16,
        count: usize,
    ) -> anyhow::Result<Echoes> {
        let script = self.write_file("echo-clients.py", ECHO_CLIENTS)?;
        let path = self.path("echoes.json");
        let args = [
            "python3".to_owned(),
            script.to_string_lossy().into_owned(),
            addr.to_string(),
            port.to_string(),
            count.to_string(),
            path.to_string_lossy().into_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn(ns, &args)?;
        let echoes = Echoes { path };
        let started = Instant::now();
        loop {
            let status = echoes.status();
            let going = |s: &Status| s.last_ok.iter().all(|&ok| ok > 0.0) && s.new_ok > 0;
            if status.as_ref().is_ok_and(going) {
                return Ok(echoes);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "the echo streams never all got going: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Echoes {
    fn status(&self) -> anyhow::Result<Status> {
        let text = std::fs::read_to_string(&self.path).context("echo status")?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Watches the streams for `period`, every 50 ms.
    pub fn watch(&self, period: Duration) -> anyhow::Result<Watched> {
        let started = Instant::now();
        self.watch_until(|| started.elapsed() >= period)
    }

    /// Watches the streams, every 50 ms, while `work` runs on this thread;
    /// what it returned, and what the streams went through.
    pub fn watch_during<T>(&self, work: impl FnOnce() -> T) -> anyhow::Result<(T, Watched)> {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let watcher = scope
                .spawn(|| self.watch_until(|| done.load(std::sync::atomic::Ordering::Relaxed)));
            let result = work();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let watched = watcher
                .join()
                .map_err(|_| anyhow::anyhow!("the watcher panicked"))??;
            Ok((result, watched))
        })
    }

    /// Samples the streams every 50 ms until `over` says so.
    fn watch_until(&self, over: impl Fn() -> bool) -> anyhow::Result<Watched> {
        let first = self.status()?;
        let mut longest = 0.0f64;
        let mut last = first.clone();
        while !over() {
            std::thread::sleep(Duration::from_millis(50));
            last = self.status()?;
            let stall = last
                .last_ok
                .iter()
                .zip(&last.failed)
                .filter(|(_, failed)| failed.is_none())
                .map(|(&ok, _)| last.now - ok)
                .fold(0.0, f64::max);
            longest = longest.max(stall);
        }
        Ok(Watched {
            alive: last.failed.iter().filter(|f| f.is_none()).count(),
            failures: last.failed.iter().flatten().cloned().collect(),
            longest_stall: Duration::from_secs_f64(longest),
            new_ok: last.new_ok - first.new_ok,
            new_failed: last.new_failed - first.new_failed,
        })
    }
}
