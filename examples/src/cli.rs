//! Command-line pieces the binaries share.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::exit;
use std::str::FromStr;

use clap::Parser;
pub use lb_datapath::DatapathKind;

/// How a load balancer runs: `--datapath`, `--capture`, `--state-file`,
/// offloads, busy polling and the log.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// How frames are moved.
    #[arg(long = "datapath", value_name = "tap|pnet", default_value_t)]
    pub kind: DatapathKind,
    /// Record every frame in and out, the load balancer's own included, to
    /// FILE (pcapng).
    ///
    /// One interface per port, in port order, named after its device; each
    /// frame marked inbound or outbound (open it in Wireshark, or
    /// `tcpdump -r FILE`). Flushed when idle and on exit. A write error or
    /// the size limit stops the capture (logged once), never the traffic.
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
    /// Stop capturing once the file holds SIZE: bytes, or with a K, M or G
    /// suffix (KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub capture_limit: u64,
    /// Keep sessions across restarts in FILE: written when the process
    /// stops (SIGTERM, SIGINT), read and removed when it starts.
    ///
    /// Each flow keeps its backend after the restart while the
    /// configuration still has that backend, even if others were added;
    /// sessions lose the time the process was down.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Open the ports without offloads (virtio-net headers): every frame
    /// read finished, one packet each, full checksums.
    ///
    /// With offloads (the default), taps and packet sockets hand over TCP
    /// segments of up to 64 KiB and partial checksums, which pass through
    /// rewritten but unfinished; TCP moves many times faster. Without, a
    /// veth peer sending into a pnet port must have transmit offload off
    /// (`ethtool -K PEER tx off`).
    #[arg(long)]
    pub no_offload: bool,
    /// After a frame, keep polling the ports for up to N microseconds
    /// before sleeping: lower latency (no thread wake-up for a reply that
    /// follows soon), a busy core while traffic flows. 0 turns it off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub busy_poll_us: u64,
    /// `--log-level` and `--log-format`.
    #[command(flatten)]
    pub log: crate::logging::LogArgs,
}

/// A size in bytes: digits, with an optional `K`, `M` or `G` (powers of
/// 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.trim().char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 1 << 10),
        Some((at, 'M' | 'm')) => (&text[..at], 1 << 20),
        Some((at, 'G' | 'g')) => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("expected a size such as 500000, 200M or 2G, not {text:?}"))
}

/// `path` with `.tmp` appended: where [`write_whole`] writes first.
fn temporary(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` whole: to `path.tmp` first, then renamed over
/// it, so that a crash while writing never leaves half a file.
pub fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let written = temporary(path);
    std::fs::write(&written, bytes)?;
    std::fs::rename(&written, path)
}

/// Fails now, rather than later, if [`write_whole`] could not write
/// `path`: its directory is missing or closed to us.
pub fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    let probe = temporary(path);
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// `text`, read from `path`, as a `T`; a TOML error on one line with its
/// place and the whole reason: `config FILE: line 7, column 1: unknown
/// field `wieght`, expected one of `ip`, `port`, `weight`, `name``.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    text: &str,
) -> anyhow::Result<T> {
    toml::from_str(text).map_err(|error| {
        let place = error.span().map_or(String::new(), |span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
            format!("line {line}, column {column}: ")
        });
        let reason = error.message().lines().collect::<Vec<_>>().join(" ");
        anyhow::anyhow!("config {}: {place}{}", path.display(), reason.trim())
    })
}

/// Parses the command line; on a mistake prints one line naming it and
/// exits with status 2 (help and version print in full and exit 0, and so
/// do `--man` and `--completions SHELL`: [`crate::docs`]).
pub fn parse_or_exit<T: Parser>(program: &str) -> T {
    crate::docs::print_if_asked::<T>(program);
    let command = T::command().after_help(crate::docs::AFTER_HELP);
    let parsed = command
        .try_get_matches()
        .and_then(|mut matches| T::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                // A closed pipe (`--help | head`) is no failure.
                let _ = error.print();
                exit(0);
            }
            // The message, on one line: every line before the usage.
            let rendered = error.to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|line| !line.starts_with("Usage:"))
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
                .collect();
            let message = message.join(" ");
            fail(program, message.trim_start_matches("error: "));
        }
    }
}

/// Prints `program: message` on one line and exits with status 2; once
/// the log writes JSON, as a JSON error event, so that everything on
/// standard error parses.
pub fn fail(program: &str, message: impl std::fmt::Display) -> ! {
    if crate::logging::writes_json() {
        tracing::error!("{message}");
    } else {
        eprintln!("{program}: {message}");
    }
    exit(2)
}

/// An interface name, optionally with an address: `IF` or `IF=IP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// Interface name.
    pub name: String,
    /// Its address, if given.
    pub ip: Option<IpAddr>,
}

impl FromStr for InterfaceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, ip) = match s.split_once('=') {
            Some((name, ip)) => {
                let ip = ip
                    .parse()
                    .map_err(|_| format!("invalid address {ip:?} in {s:?}; expected IF=IP"))?;
                (name, Some(ip))
            }
            None => (s, None),
        };
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
            return Err(format!("invalid interface name {name:?}"));
        }
        Ok(InterfaceSpec {
            name: name.to_owned(),
            ip,
        })
    }
}

/// `--admin ADDR`: `PORT` (on loopback) or `HOST:PORT`.
pub fn admin_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    lb_control::parse_admin_addr(text)
}

/// The admin endpoint: `--admin` and `--admin-token-file`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// Serve the admin HTTP API here: PORT (on loopback) or HOST:PORT.
    #[arg(long, value_name = "ADDR", value_parser = admin_addr)]
    pub admin: Option<std::net::SocketAddr>,
    /// The admin API's bearer token, in FILE (surrounding whitespace
    /// ignored).
    ///
    /// Required for every request when ADDR is not loopback (the endpoint
    /// refuses to start there without it), and for changes on loopback.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

/// The token in `path`: its text, trimmed; an error naming the file when
/// it cannot be read or holds none.
pub fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("admin token file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!("admin token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_specs() {
        assert_eq!(
            "tap0".parse::<InterfaceSpec>().unwrap(),
            InterfaceSpec {
                name: "tap0".into(),
                ip: None
            }
        );
        let with_ip: InterfaceSpec = "tap1=10.0.0.254".parse().unwrap();
        assert_eq!(
            with_ip.ip,
            Some(std::net::Ipv4Addr::new(10, 0, 0, 254).into())
        );
        assert!(
            "tap1=10.0.0.300"
                .parse::<InterfaceSpec>()
                .unwrap_err()
                .contains("invalid address")
        );
        assert!("averyveryverylongname".parse::<InterfaceSpec>().is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500000"), Ok(500_000));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("200M"), Ok(200 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        for bad in ["", "0", "M", "1.5G", "-1", "99999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
