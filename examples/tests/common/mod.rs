//! A lab of network namespaces for end-to-end tests: namespaces, links and
//! processes made by one test and removed when it ends, passed or failed.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

/// True when running as root, from /proc (no unsafe, no libc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(str::to_owned)
        })
        .is_some_and(|line| line.split_whitespace().nth(2) == Some("0"))
}

/// Namespaces, links and processes of one test.
pub struct Lab {
    /// Short unique prefix for names (interface names have 15 bytes).
    pub id: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    children: Vec<Child>,
}

/// Runs `program` with `args`; panics with its output if it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Lab {
    /// A new lab, or `None` (after saying why) when not root. In CI
    /// (`CI` set) not being root is a failure, never a skip.
    pub fn new() -> Option<Lab> {
        if !is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "end-to-end tests need root in CI"
            );
            eprintln!("skipped: end-to-end tests need root (network namespaces, taps)");
            return None;
        }
        let id = format!(
            "l{}{}",
            std::process::id() % 1000,
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        Some(Lab {
            id,
            namespaces: Vec::new(),
            links: Vec::new(),
            children: Vec::new(),
        })
    }

    /// A name unique to this lab: `{id}{suffix}`.
    pub fn name(&self, suffix: &str) -> String {
        let name = format!("{}{suffix}", self.id);
        assert!(name.len() <= 15, "interface name {name} too long");
        name
    }

    /// Creates namespace `{id}-{name}` with loopback up; returns its name.
    pub fn netns(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.id);
        run("ip", &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `args` inside namespace `ns`; panics if it fails.
    pub fn exec(&self, ns: &str, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", ns];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `args` inside `ns` and returns the whole output, success or not.
    pub fn try_exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// Runs `ip ARGS` in `ns`.
    pub fn ip(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    /// Remembers a link in the root namespace to delete at the end.
    pub fn own_link(&mut self, name: &str) {
        self.links.push(name.to_owned());
    }

    /// A veth pair with ends `a` in `ns_a` and `b` in `ns_b` (`None`: root), both up.
    pub fn veth(&mut self, (ns_a, a): (Option<&str>, &str), (ns_b, b): (Option<&str>, &str)) {
        run("ip", &["link", "add", a, "type", "veth", "peer", "name", b]);
        self.own_link(a);
        for (ns, end) in [(ns_a, a), (ns_b, b)] {
            if let Some(ns) = ns {
                run("ip", &["link", "set", end, "netns", ns]);
                self.ip(ns, &["link", "set", end, "up"]);
            } else {
                run("ip", &["link", "set", end, "up"]);
            }
        }
    }

    /// Moves root-namespace interface `name` into `ns` and brings it up.
    pub fn move_link(&self, name: &str, ns: &str) {
        run("ip", &["link", "set", name, "netns", ns]);
        self.ip(ns, &["link", "set", name, "up"]);
    }

    /// Turns transmit checksum offload off on `name` in `ns`, so frames it
    /// sends into a packet socket carry full checksums.
    pub fn no_tx_offload(&self, ns: &str, name: &str) {
        self.exec(ns, &["ethtool", "-K", name, "tx", "off"]);
    }

    /// Starts `args` in `ns` (or the root namespace); stopped at the end.
    pub fn spawn(&mut self, ns: Option<&str>, args: &[&str]) -> u32 {
        let mut command = match ns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns]).args(args);
                command
            }
            None => {
                let mut command = Command::new(args[0]);
                command.args(&args[1..]);
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Starts an HTTP server in `ns` on `addr:port` serving a page that
    /// names `identity`.
    pub fn http_server(&mut self, ns: &str, addr: &str, port: u16, identity: &str) {
        let dir = std::env::temp_dir().join(format!("{}-{identity}", self.id));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("id"), identity).unwrap();
        let dir = dir.to_string_lossy().into_owned();
        let port = port.to_string();
        self.spawn(
            Some(ns),
            &[
                "python3",
                "-m",
                "http.server",
                &port,
                "--bind",
                addr,
                "--directory",
                &dir,
            ],
        );
        self.wait_for_tcp(ns, addr, &port);
    }

    /// Waits until something listens on `addr:port` in `ns`.
    pub fn wait_for_tcp(&self, ns: &str, addr: &str, port: &str) {
        for _ in 0..100 {
            if self
                .try_exec(ns, &["nc", "-z", addr, port])
                .status
                .success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on {addr}:{port} in {ns}");
    }

    /// Starts tcpdump on `iface` in `ns`, incoming frames only, verbose
    /// enough to judge every checksum.
    pub fn capture(&mut self, ns: &str, iface: &str) -> Capture {
        let file = std::env::temp_dir().join(format!("{}-capture-{iface}.txt", self.id));
        let script = format!(
            "exec tcpdump -i {iface} -Q in -nn -vv -l > {} 2>&1",
            file.display()
        );
        let pid = self.spawn(Some(ns), &["sh", "-c", &script]);
        for _ in 0..100 {
            if std::fs::read_to_string(&file).is_ok_and(|text| text.contains("listening on")) {
                return Capture { pid, file };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tcpdump did not start on {iface} in {ns}");
    }

    /// Starts a load balancer binary in `ns`; returns once it printed `ready`.
    pub fn start_lb(&mut self, ns: &str, binary: &str, args: &[&str]) -> LoadBalancer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, binary])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ready") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(_) => LoadBalancer {
                child: Some(child),
                stderr: err_rx,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = err_rx
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or_default();
                panic!("{binary} never said ready: {log}");
            }
        }
    }
}

/// One load balancer port: its interface in the load balancer's namespace
/// and the peer interface in another namespace that traffic enters from.
pub struct Wire {
    /// Interface the load balancer opens.
    pub lb_if: String,
    /// Namespace at the other end.
    pub peer_ns: String,
    /// Interface at the other end.
    pub peer_if: String,
}

impl Lab {
    /// Wires for `datapath`: a tap moves whole into the peer namespace
    /// after the load balancer created it; a veth pair is made before.
    pub fn wire(&self, datapath: &str, lb_if: &str, peer_ns: &str) -> Wire {
        let peer_if = if datapath == "tap" {
            lb_if.to_owned()
        } else {
            format!("{lb_if}p")
        };
        Wire {
            lb_if: lb_if.to_owned(),
            peer_ns: peer_ns.to_owned(),
            peer_if,
        }
    }

    /// What has to exist before the load balancer starts (veths for pnet).
    pub fn connect_before(&mut self, datapath: &str, lb_ns: &str, wires: &[&Wire]) {
        if datapath != "pnet" {
            return;
        }
        for wire in wires {
            self.veth(
                (Some(lb_ns), &wire.lb_if),
                (Some(&wire.peer_ns), &wire.peer_if),
            );
            // Full checksums into the packet socket (see lb-datapath-pnet).
            self.no_tx_offload(&wire.peer_ns, &wire.peer_if);
        }
    }

    /// What has to happen once it runs (moving its taps out).
    pub fn connect_after(&mut self, datapath: &str, lb_ns: &str, wires: &[&Wire]) {
        if datapath != "tap" {
            return;
        }
        for wire in wires {
            self.ip(lb_ns, &["link", "set", &wire.lb_if, "netns", &wire.peer_ns]);
            self.ip(&wire.peer_ns, &["link", "set", &wire.peer_if, "up"]);
        }
    }
}

/// A running load balancer.
pub struct LoadBalancer {
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
}

impl LoadBalancer {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops it with SIGTERM; returns its exit status and what it logged.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        run("kill", &["-TERM", &child.id().to_string()]);
        let status = child.wait().expect("wait");
        let log = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        (status, log)
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for link in &self.links {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", self.id))
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

/// A running tcpdump.
pub struct Capture {
    pid: u32,
    file: std::path::PathBuf,
}

impl Capture {
    /// Stops tcpdump and returns what it printed.
    pub fn finish(self) -> String {
        run("kill", &["-INT", &self.pid.to_string()]);
        for _ in 0..100 {
            let text = std::fs::read_to_string(&self.file).unwrap_or_default();
            if text.contains("packets captured") {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }
}

/// Asserts a verbose capture saw `expected` checksums and none wrong.
pub fn assert_checksums_correct(capture: &str, expected_at_least: usize) {
    let wrong: Vec<&str> = capture
        .lines()
        .filter(|l| l.contains("incorrect"))
        .collect();
    assert!(
        wrong.is_empty(),
        "bad checksums on the wire:\n{}",
        wrong.join("\n")
    );
    let correct = capture.matches("(correct)").count();
    assert!(
        correct >= expected_at_least,
        "only {correct} checksums judged correct:\n{capture}"
    );
}

/// The counter `name` from a load balancer's exit summary (`name N`).
pub fn counter(log: &str, name: &str) -> u64 {
    log.split([',', ':', '\n'])
        .map(str::trim)
        .find_map(|part| {
            part.strip_prefix(name)
                .and_then(|rest| rest.trim().split(' ').next()?.parse().ok())
        })
        .unwrap_or(0)
}
