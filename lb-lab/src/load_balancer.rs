//! A load-balancer process: started in a namespace, ready once it says so,
//! stopped with its exit summary; and `lb-rp`'s command line.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use lb_datapath::DatapathKind;

use crate::process::run;
use crate::{Lab, Wire};

/// A running load balancer; stopped if dropped without [`stop`](Self::stop)
/// (a test failed: a panic or an early error), printing its log, which the
/// test harness shows beside the failure.
#[derive(Debug)]
pub struct LoadBalancer {
    child: Option<Child>,
    log: mpsc::Receiver<String>,
}

impl Lab {
    /// Starts a load-balancer binary with `args` in `ns`; returns once it
    /// printed a line with `ready`, or fails with what it logged.
    pub fn start_lb(
        &self,
        ns: &str,
        binary: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    ) -> anyhow::Result<LoadBalancer> {
        let binary = binary.as_ref();
        let name = binary.to_string_lossy();
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
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
            bail!("{name} never said ready: {log}");
        }
        Ok(LoadBalancer {
            child: Some(child),
            log: log_rx,
        })
    }
}

impl LoadBalancer {
    /// Its process id: the binary's own, as `ip netns exec` execs it.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The processor time it used so far, user and system, all threads.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("/proc stat")?
            .1
            .split_whitespace()
            .collect();
        let ticks = |field: usize| -> anyhow::Result<u64> {
            Ok(fields.get(field).context("/proc stat field")?.parse()?)
        };
        // utime and stime, fields 14 and 15, in clock ticks of 1/100 s
        // (USER_HZ on Linux).
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_millis(total * 10))
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
    /// Stops it with SIGTERM, so that its exit summary (drops by reason,
    /// sessions) lands beside the failure, then kills it.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = run("kill", &["-TERM", &child.id().to_string()]);
        if let Ok(log) = self.log.recv_timeout(Duration::from_secs(5)) {
            eprintln!("the load balancer's log, dropped before stop:\n{log}");
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The counter `name` from a load balancer's exit summary (`name N`); 0
/// when it is not there.
pub fn counter(log: &str, name: &str) -> u64 {
    log.split([',', ':', '\n'])
        .map(str::trim)
        .find_map(|part| {
            part.strip_prefix(name)
                .and_then(|rest| rest.trim().split(' ').next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The command line of `lb-rp`, for [`Lab::start_lb`].
#[derive(Debug, Clone)]
pub struct ReverseProxyFlags {
    /// A `--frontend` each: an interface, or `IF=IP` (several: MULTI mode).
    pub frontends: Vec<String>,
    /// `--backend`: the interface towards the servers.
    pub backend: String,
    /// `--config`: the services file.
    pub config: PathBuf,
    /// `--datapath`.
    pub datapath: DatapathKind,
    /// `--admin`: serve the admin API on this loopback port.
    pub admin: Option<u16>,
    /// `--capture`: record every frame to this pcapng file.
    pub capture: Option<PathBuf>,
    /// `--state-file`: keep sessions across restarts in this file.
    pub state_file: Option<PathBuf>,
    /// `--instance`: one of several behind ECMP, by this name.
    pub instance: Option<String>,
    /// `--no-offload`: ports without virtio-net headers.
    pub no_offload: bool,
}

impl ReverseProxyFlags {
    /// SINGLE mode between the load balancer's ends of `front` and `back`,
    /// with the services in `config` and no admin API.
    pub fn new(datapath: DatapathKind, front: &Wire, back: &Wire, config: &Path) -> Self {
        ReverseProxyFlags {
            frontends: vec![front.lb_if.clone()],
            backend: back.lb_if.clone(),
            config: config.to_owned(),
            datapath,
            admin: None,
            capture: None,
            state_file: None,
            instance: None,
            no_offload: false,
        }
    }

    /// The arguments, flag by flag.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for frontend in &self.frontends {
            args.extend(["--frontend".to_owned(), frontend.clone()]);
        }
        args.extend([
            "--backend".to_owned(),
            self.backend.clone(),
            "--config".to_owned(),
            self.config.to_string_lossy().into_owned(),
            "--datapath".to_owned(),
            self.datapath.name().to_owned(),
        ]);
        if let Some(port) = self.admin {
            args.extend(["--admin".to_owned(), port.to_string()]);
        }
        if let Some(path) = &self.capture {
            args.extend(["--capture".to_owned(), path.to_string_lossy().into_owned()]);
        }
        if let Some(name) = &self.instance {
            args.extend(["--instance".to_owned(), name.clone()]);
        }
        if self.no_offload {
            args.push("--no-offload".to_owned());
        }
        if let Some(path) = &self.state_file {
            args.extend([
                "--state-file".to_owned(),
                path.to_string_lossy().into_owned(),
            ]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_summary() {
        let log = "lb-rp: frames in 700 (4200 bytes): forwarded 100, dropped 600\n\
                   lb-rp: drops: malformed 500, fragment 100\n";
        assert_eq!(counter(log, "malformed"), 500);
        assert_eq!(counter(log, "fragment"), 100);
        assert_eq!(counter(log, "forwarded"), 100);
        assert_eq!(counter(log, "no-route"), 0);
    }

    #[test]
    fn reverse_proxy_flags_name_every_frontend() {
        let wire = |lb_if: &str| Wire {
            lb_if: lb_if.to_owned(),
            peer_ns: "peer".to_owned(),
            peer_if: format!("{lb_if}p"),
        };
        let flags = ReverseProxyFlags {
            frontends: vec!["f0=10.0.0.11".to_owned(), "f1=10.0.0.12".to_owned()],
            admin: Some(9901),
            ..ReverseProxyFlags::new(
                DatapathKind::Pnet,
                &wire("f"),
                &wire("b"),
                Path::new("/tmp/rp.toml"),
            )
        };
        assert_eq!(
            flags.args().join(" "),
            "--frontend f0=10.0.0.11 --frontend f1=10.0.0.12 --backend b \
             --config /tmp/rp.toml --datapath pnet --admin 9901"
        );
    }
}
