//! [`Lab`]: the namespaces, links, files and processes of one experiment,
//! and their removal.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, ensure};

use crate::process::run;

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

/// Namespaces, links, files and processes of one experiment, all removed
/// when it is dropped.
#[derive(Debug)]
pub struct Lab {
    /// Short unique prefix for names (interface names have 15 bytes).
    pub id: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    pub(crate) children: Vec<Child>,
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

    /// Writes `contents` to [`path(name)`](Self::path); returns the path.
    pub fn write_file(&self, name: &str, contents: &str) -> anyhow::Result<PathBuf> {
        let path = self.path(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Writes `config` as TOML to [`path(name)`](Self::path), for a load
    /// balancer's `--config`; returns the path.
    pub fn write_config(
        &self,
        name: &str,
        config: &impl serde::Serialize,
    ) -> anyhow::Result<PathBuf> {
        let text = toml::to_string(config).context("configuration as TOML")?;
        self.write_file(name, &text)
    }

    /// Creates namespace `{id}-{name}` with loopback up; returns its name.
    pub fn netns(&mut self, name: &str) -> anyhow::Result<String> {
        let ns = format!("{}-{name}", self.id);
        run("ip", &["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
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
    /// interface, `{id}{name}h`.
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

    /// A server for direct return: a host on `lan`'s bridge (as
    /// [`host_on_bridge`](Self::host_on_bridge)) at `mac`, holding `vip` on
    /// loopback and answering no ARP for it. Returns its namespace and
    /// interface.
    pub fn direct_return_server(
        &mut self,
        lan: &str,
        name: &str,
        addr: &str,
        mac: &str,
        vip: &str,
    ) -> anyhow::Result<(String, String)> {
        let (ns, host_end) = self.host_on_bridge(lan, name, addr)?;
        self.ip(&ns, &["link", "set", &host_end, "address", mac])?;
        self.ip(&ns, &["addr", "add", &format!("{vip}/32"), "dev", "lo"])?;
        self.exec(
            &ns,
            &[
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
            ],
        )?;
        Ok((ns, host_end))
    }

    /// Turns transmit checksum offload off on `name` in `ns`, so frames it
    /// sends into a packet socket carry full checksums.
    pub fn no_tx_offload(&self, ns: &str, name: &str) -> anyhow::Result<()> {
        self.exec(ns, &["ethtool", "-K", name, "tx", "off"])
            .map(drop)
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
            remove_namespace(ns);
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

/// Kills whatever runs in `ns` (forked servers too), then deletes it.
fn remove_namespace(ns: &str) {
    if let Ok(pids) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).output();
}

/// Removes what labs of processes that no longer run left behind (killed
/// before they could clean up). Lab names start `l{pid}x`, so a live
/// process's labs are never touched.
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
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(ns);
        }
    }
}
