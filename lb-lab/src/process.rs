//! Commands run to completion, background processes, and the real clients
//! and servers (curl, python's http.server) the tests talk through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use crate::Lab;

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

impl Lab {
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

    /// Waits until something listens on `addr:port` in `ns`.
    pub fn wait_for_tcp(&self, ns: &str, addr: impl Into<IpAddr>, port: u16) -> anyhow::Result<()> {
        let (addr, port) = (addr.into().to_string(), port.to_string());
        for _ in 0..200 {
            if self
                .try_exec(ns, &["nc", "-z", &addr, &port])?
                .status
                .success()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("nothing listens on {addr}:{port} in {ns}")
    }

    /// Waits until no IPv6 address in `ns` is tentative: link-local ones
    /// go through duplicate address detection (a second or so) before
    /// neighbor discovery may use them.
    pub fn wait_for_ipv6(&self, ns: &str) -> anyhow::Result<()> {
        for _ in 0..100 {
            if self
                .exec(ns, &["ip", "-6", "addr", "show", "tentative"])?
                .trim()
                .is_empty()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("IPv6 addresses in {ns} stayed tentative")
    }

    /// Starts an HTTP server (`python3 -m http.server`) in `ns` on
    /// `addr:port` (`0.0.0.0` for every IPv4 address, `::` for every
    /// address), serving `/id` with the
    /// text `identity`; returns its pid once it listens. It closes every
    /// connection after one answer.
    pub fn http_server(
        &mut self,
        ns: &str,
        addr: impl Into<IpAddr>,
        port: u16,
        identity: &str,
    ) -> anyhow::Result<u32> {
        let addr = addr.into();
        let dir = self.path(&format!("www-{ns}-{port}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("id"), identity)?;
        let dir = dir.to_string_lossy().into_owned();
        let (bind, port_arg) = (addr.to_string(), port.to_string());
        let pid = self.spawn(
            ns,
            &[
                "python3",
                "-m",
                "http.server",
                &port_arg,
                "--bind",
                &bind,
                "--directory",
                &dir,
            ],
        )?;
        let probe = match addr {
            IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(v6) if v6.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
            addr => addr,
        };
        self.wait_for_tcp(ns, probe, port)?;
        Ok(pid)
    }

    /// GETs `url` from `ns` `count` times in one curl run; the bodies, one
    /// after another. Each GET is a new connection where the server closes
    /// them, as [`http_server`](Self::http_server)'s does. Fails if any
    /// fails (with curl's word on it), or any GET takes longer than
    /// `timeout`.
    pub fn curl(
        &self,
        ns: &str,
        url: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let timeout = timeout.as_secs_f64().to_string();
        // Without --fail-early curl's status is its last transfer's.
        let mut args = vec!["curl", "-sSf", "--fail-early", "-m", &timeout];
        args.extend(std::iter::repeat_n(url, count));
        self.exec(ns, &args)
    }

    /// One GET of `url` from `ns`, within five seconds; the body.
    pub fn http_get(&self, ns: &str, url: &str) -> anyhow::Result<String> {
        self.curl(ns, url, 1, Duration::from_secs(5))
    }
}
