//! A lab of Linux network namespaces: the namespaces, links and processes
//! one end-to-end test (or the demo, or the throughput harness) makes, all
//! removed when the lab is dropped, whether it ended well or not.
//!
//! Everything shells out to the standard tools (`ip`, `ethtool`, `tcpdump`,
//! `python3`, `socat`, `curl`), which is what an operator would type.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

/// True when running as root (read from /proc, no libc).
pub fn is_root() -> bool {
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

/// Removes what labs of processes that no longer run left behind (killed
/// before they could clean up): their namespaces, and what runs in them.
/// Lab names start `l{pid}x`, so a live process's labs are never touched.
fn remove_stale_labs() {
    let Ok(listing) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for ns in String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        let pid = ns
            .strip_prefix('l')
            .and_then(|rest| rest.split_once('x'))
            .map(|(pid, _)| pid);
        let Some(pid) =
            pid.filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(pids) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).output();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
    }
}

/// Runs `program` with `args`; its standard output, or an error with all
/// it printed.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    ensure!(
        output.status.success(),
        "{program} {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Namespaces, links and processes of one experiment.
#[derive(Debug)]
pub struct Lab {
    /// Short unique prefix for names (interface names have 15 bytes).
    pub id: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    children: Vec<Child>,
}

/// One load-balancer port: its interface in the load balancer's namespace
/// and the peer interface in the namespace traffic comes from.
#[derive(Debug, Clone)]
pub struct Wire {
    /// Interface the load balancer opens.
    pub lb_if: String,
    /// Namespace at the other end.
    pub peer_ns: String,
    /// Interface at the other end.
    pub peer_if: String,
}

impl Lab {
    /// A new, empty lab. Needs root.
    pub fn new() -> anyhow::Result<Lab> {
        ensure!(is_root(), "network namespaces and taps need root");
        remove_stale_labs();
        let id = format!(
            "l{}x{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        Ok(Lab {
            id,
            namespaces: Vec::new(),
            links: Vec::new(),
            children: Vec::new(),
        })
    }

    /// A name unique to this lab: `{id}{suffix}`, short enough for an
    /// interface.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.id)
    }

    /// A file path unique to this lab, removed with it.
    pub fn path(&self, suffix: &str) -> PathBuf {
        std::env::temp_dir().join(format!("{}-{suffix}", self.id))
    }

    /// Creates namespace `{id}-{name}` with loopback up; returns its name.
    pub fn netns(&mut self, name: &str) -> anyhow::Result<String> {
        let ns = format!("{}-{name}", self.id);
        run("ip", &["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `args` inside namespace `ns`; its standard output.
    pub fn exec(&self, ns: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["netns", "exec", ns];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `args` inside `ns` and returns its whole output, success or not.
    pub fn try_exec(&self, ns: &str, args: &[&str]) -> anyhow::Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .context("ip netns exec")
    }

    /// Runs `ip ARGS` in `ns`.
    pub fn ip(&self, ns: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        run("ip", &full).map(drop)
    }

    /// A veth pair with end `a` in `ns_a` and `b` in `ns_b`, both up.
    pub fn veth(&mut self, (ns_a, a): (&str, &str), (ns_b, b): (&str, &str)) -> anyhow::Result<()> {
        run("ip", &["link", "add", a, "type", "veth", "peer", "name", b])?;
        self.links.push(a.to_owned());
        for (ns, end) in [(ns_a, a), (ns_b, b)] {
            run("ip", &["link", "set", end, "netns", ns])?;
            self.ip(ns, &["link", "set", end, "up"])?;
        }
        Ok(())
    }

    /// A bridge `br0` in `ns`, up.
    pub fn bridge(&self, ns: &str) -> anyhow::Result<()> {
        self.ip(ns, &["link", "add", "br0", "type", "bridge"])?;
        self.ip(ns, &["link", "set", "br0", "up"])
    }

    /// A host: namespace `name`, linked to `br0` in `lan` by a veth, with
    /// `addr` (with prefix) on its end. Returns the namespace and its
    /// interface.
    pub fn host_on_bridge(
        &mut self,
        lan: &str,
        name: &str,
        addr: &str,
    ) -> anyhow::Result<(String, String)> {
        let ns = self.netns(name)?;
        let (bridge_end, host_end) = (
            self.name(&format!("{name}b")),
            self.name(&format!("{name}h")),
        );
        self.veth((lan, &bridge_end), (&ns, &host_end))?;
        self.ip(lan, &["link", "set", &bridge_end, "master", "br0"])?;
        self.ip(&ns, &["addr", "add", addr, "dev", &host_end])?;
        Ok((ns, host_end))
    }

    /// Turns transmit checksum offload off on `name` in `ns`, so frames it
    /// sends into a packet socket carry full checksums.
    pub fn no_tx_offload(&self, ns: &str, name: &str) -> anyhow::Result<()> {
        self.exec(ns, &["ethtool", "-K", name, "tx", "off"])
            .map(drop)
    }

    /// The wire of a load-balancer port for `datapath`: a tap moves whole
    /// into the peer namespace once the load balancer made it; a veth pair
    /// is made before it starts.
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

    /// What must exist before the load balancer starts: veths for pnet.
    pub fn connect_before(
        &mut self,
        datapath: &str,
        lb_ns: &str,
        wires: &[&Wire],
    ) -> anyhow::Result<()> {
        if datapath != "pnet" {
            return Ok(());
        }
        for wire in wires {
            self.veth((lb_ns, &wire.lb_if), (&wire.peer_ns, &wire.peer_if))?;
            // Full checksums into the packet socket (see lb-datapath-pnet).
            self.no_tx_offload(&wire.peer_ns, &wire.peer_if)?;
        }
        Ok(())
    }

    /// What must happen once it runs: moving its taps out.
    pub fn connect_after(
        &mut self,
        datapath: &str,
        lb_ns: &str,
        wires: &[&Wire],
    ) -> anyhow::Result<()> {
        if datapath != "tap" {
            return Ok(());
        }
        for wire in wires {
            self.ip(lb_ns, &["link", "set", &wire.lb_if, "netns", &wire.peer_ns])?;
            self.ip(&wire.peer_ns, &["link", "set", &wire.peer_if, "up"])?;
        }
        Ok(())
    }

    /// Starts `args` in `ns`; stopped when the lab ends. Returns its pid.
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> anyhow::Result<u32> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", args.join(" ")))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Starts an HTTP server (`python3 -m http.server`) in `ns` on
    /// `addr:port`, serving `/id` with the text `identity`.
    pub fn http_server(
        &mut self,
        ns: &str,
        addr: &str,
        port: u16,
        identity: &str,
    ) -> anyhow::Result<()> {
        let dir = self.path(&format!("www-{ns}-{port}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("id"), identity)?;
        let (dir, port) = (dir.to_string_lossy().into_owned(), port.to_string());
        self.spawn(
            ns,
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
        )?;
        let probe = if addr == "0.0.0.0" { "127.0.0.1" } else { addr };
        self.wait_for_tcp(ns, probe, &port)
    }

    /// Waits until something listens on `addr:port` in `ns`.
    pub fn wait_for_tcp(&self, ns: &str, addr: &str, port: &str) -> anyhow::Result<()> {
        for _ in 0..200 {
            if self
                .try_exec(ns, &["nc", "-z", addr, port])?
                .status
                .success()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("nothing listens on {addr}:{port} in {ns}")
    }

    /// Starts tcpdump on `iface` in `ns`, incoming frames only, verbose
    /// enough to judge every checksum.
    pub fn capture(&mut self, ns: &str, iface: &str) -> anyhow::Result<Capture> {
        let file = self.path(&format!("capture-{iface}.txt"));
        let script = format!(
            "exec tcpdump -i {iface} -Q in -nn -vv -l > {} 2>&1",
            file.display()
        );
        let pid = self.spawn(ns, &["sh", "-c", &script])?;
        for _ in 0..100 {
            if std::fs::read_to_string(&file).is_ok_and(|text| text.contains("listening on")) {
                return Ok(Capture { pid, file });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("tcpdump did not start on {iface} in {ns}")
    }

    /// Starts a load-balancer binary in `ns`; returns once it said `ready`.
    pub fn start_lb(
        &mut self,
        ns: &str,
        binary: &str,
        args: &[&str],
    ) -> anyhow::Result<LoadBalancer> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, binary])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ready") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let mut stderr = child.stderr.take().context("stderr")?;
        let (log_tx, log_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = log_tx.send(text);
        });
        if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            let log = log_rx
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_default();
            bail!("{binary} never said ready: {log}");
        }
        Ok(LoadBalancer {
            child: Some(child),
            log: log_rx,
        })
    }
}

/// Client, load balancer, router and a bridge of backends (Polycube's ex1):
///
/// ```text
///  client 10.0.0.2 ── lb ── router 10.0.0.1 | 192.168.1.1 ── br0 ─┬─ b1 192.168.1.2
///                                                                 ├─ b2 192.168.1.3
///                                                                 └─ ...
/// ```
///
/// [`build`](Self::build) makes everything but the load balancer's own
/// part; start it on [`front`](Self::front) and [`back`](Self::back) in
/// [`lb_ns`](Self::lb_ns), then [`attach`](Self::attach).
#[derive(Debug, Clone)]
pub struct RoutedNetwork {
    /// Where the load balancer runs.
    pub lb_ns: String,
    /// The client's namespace.
    pub client: String,
    /// The router's namespace.
    pub router: String,
    /// The frontend port's wire.
    pub front: Wire,
    /// The backend port's wire.
    pub back: Wire,
    /// Each backend's namespace and address.
    pub backends: Vec<(String, String)>,
    datapath: String,
}

impl RoutedNetwork {
    /// The network with `backends` backend hosts, wired for `datapath`.
    pub fn build(lab: &mut Lab, datapath: &str, backends: usize) -> anyhow::Result<Self> {
        let (lb_ns, client, router) =
            (lab.netns("lb")?, lab.netns("client")?, lab.netns("router")?);
        let front = lab.wire(datapath, &lab.name("f"), &client);
        let back = lab.wire(datapath, &lab.name("b"), &router);
        lab.exec(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        lab.bridge(&router)?;
        lab.ip(&router, &["addr", "add", "192.168.1.1/24", "dev", "br0"])?;
        let mut hosts = Vec::new();
        for n in 1..=backends {
            let addr = format!("192.168.1.{}", n + 1);
            let (ns, _) = lab.host_on_bridge(&router, &format!("b{n}"), &format!("{addr}/24"))?;
            lab.ip(&ns, &["route", "add", "default", "via", "192.168.1.1"])?;
            hosts.push((ns, addr));
        }
        lab.connect_before(datapath, &lb_ns, &[&front, &back])?;
        Ok(RoutedNetwork {
            lb_ns,
            client,
            router,
            front,
            back,
            backends: hosts,
            datapath: datapath.to_owned(),
        })
    }

    /// Finishes wiring once the load balancer runs.
    pub fn attach(&self, lab: &mut Lab) -> anyhow::Result<()> {
        lab.connect_after(&self.datapath, &self.lb_ns, &[&self.front, &self.back])?;
        lab.ip(
            &self.client,
            &["addr", "add", "10.0.0.2/24", "dev", &self.front.peer_if],
        )?;
        lab.ip(
            &self.client,
            &["route", "add", "default", "via", "10.0.0.1"],
        )?;
        lab.ip(
            &self.router,
            &["addr", "add", "10.0.0.1/24", "dev", &self.back.peer_if],
        )
    }
}

/// A running tcpdump.
#[derive(Debug)]
pub struct Capture {
    pid: u32,
    file: PathBuf,
}

impl Capture {
    /// Stops tcpdump; returns what it printed.
    pub fn finish(self) -> anyhow::Result<String> {
        run("kill", &["-INT", &self.pid.to_string()])?;
        for _ in 0..100 {
            let text = std::fs::read_to_string(&self.file).unwrap_or_default();
            if text.contains("packets captured") {
                return Ok(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(std::fs::read_to_string(&self.file)?)
    }
}

/// Checks a verbose capture judged at least `expected` checksums, and none
/// wrong.
pub fn check_checksums(capture: &str, expected: usize) -> anyhow::Result<()> {
    let wrong: Vec<&str> = capture
        .lines()
        .filter(|l| l.contains("incorrect"))
        .collect();
    ensure!(
        wrong.is_empty(),
        "bad checksums on the wire:\n{}",
        wrong.join("\n")
    );
    let correct = capture.matches("(correct)").count();
    ensure!(
        correct >= expected,
        "only {correct} checksums judged correct:\n{capture}"
    );
    Ok(())
}

/// A running load balancer; killed if dropped without [`stop`](Self::stop).
#[derive(Debug)]
pub struct LoadBalancer {
    child: Option<Child>,
    log: mpsc::Receiver<String>,
}

impl LoadBalancer {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops it with SIGTERM; its exit status and everything it logged.
    pub fn stop(mut self) -> anyhow::Result<(ExitStatus, String)> {
        let mut child = self.child.take().context("not running")?;
        run("kill", &["-TERM", &child.id().to_string()])?;
        let status = child.wait()?;
        let log = self
            .log
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        Ok((status, log))
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
            // Whatever our processes started in there too (forked servers).
            if let Ok(pids) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).output();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let prefix = format!("{}-", self.id);
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let path = entry.path();
                    let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
                }
            }
        }
    }
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
