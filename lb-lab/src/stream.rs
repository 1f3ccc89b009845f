//! A steady stream through the load balancer, to see whether it stalls:
//! the server paces its sending, so a gap in what the client receives is
//! the network's (curl's `--limit-rate` would not do: it reads a burst of
//! megabytes first, then pauses for seconds on its own).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Lab;

/// Sends each connection 8 KiB every 25 ms (320 KiB/s) for up to a
/// minute, from a thread of its own.
const PACED_SERVER: &str = r#"
import socket, sys, threading, time
def pace(conn):
    chunk = b"." * 8192
    try:
        for _ in range(2400):
            conn.sendall(chunk)
            time.sleep(0.025)
    except OSError:
        pass
    conn.close()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(64)
while True:
    conn, _ = server.accept()
    threading.Thread(target=pace, args=(conn,), daemon=True).start()
"#;

/// A client's stream, written to a file as it arrives.
#[derive(Debug)]
pub struct Stream {
    path: PathBuf,
}

impl Lab {
    /// Starts a paced stream server in `ns` on `port` (every address),
    /// returning once it listens at `addr`.
    pub fn paced_server(&mut self, ns: &str, addr: Ipv4Addr, port: u16) -> anyhow::Result<u32> {
        let script = self.write_file(&format!("paced-{port}.py"), PACED_SERVER)?;
        let script = script.to_string_lossy().into_owned();
        let pid = self.spawn(ns, &["python3", &script, &port.to_string()])?;
        self.wait_for_tcp(ns, addr, port)?;
        Ok(pid)
    }

    /// Opens a stream from `ns` to a paced server at `addr:port`.
    pub fn stream(&mut self, ns: &str, addr: Ipv4Addr, port: u16) -> anyhow::Result<Stream> {
        // Named after the process about to start, so streams never share.
        let nth = self.children.len();
        let path = self.path(&format!("stream-{addr}-{port}-{nth}"));
        let script = format!("nc -d {addr} {port} > {}", path.display());
        self.spawn(ns, &["sh", "-c", &script])?;
        Ok(Stream { path })
    }
}

impl Stream {
    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Watches the stream for `period`, checking every 20 ms; the longest
    /// time nothing arrived.
    pub fn longest_stall(&self, period: Duration) -> Duration {
        let started = Instant::now();
        let (mut stall, mut last_size, mut last_growth) =
            (Duration::ZERO, self.received(), started);
        while started.elapsed() < period {
            std::thread::sleep(Duration::from_millis(20));
            let size = self.received();
            if size > last_size {
                (last_size, last_growth) = (size, Instant::now());
            }
            stall = stall.max(last_growth.elapsed());
        }
        stall
    }
}
