//! `lb-demo`: a whole load-balanced service in network namespaces, made,
//! exercised and removed in one command.
//!
//! ```text
//!  client 10.0.0.2 ── lb-rp ── router 10.0.0.1 / 192.168.1.1 ── bridge ─┬─ web1 192.168.1.2 (weight 1)
//!         VIP 172.16.0.100:80 (DNAT)                                      ├─ web2 192.168.1.3 (weight 2)
//!                                                                         └─ web3 192.168.1.4 (weight 3)
//! ```

// The demo talks to a person on standard output.
#![allow(clippy::print_stdout)]

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use clap::Parser;
use lb_engine::{ReverseProxyConfig, ServiceConfig};
use lb_examples::cli::{DatapathKind, fail, parse_or_exit};
use lb_lab::{Lab, ReverseProxyFlags, RoutedNetwork, is_root};

const PROGRAM: &str = "lb-demo";
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
/// Set when the demo re-ran itself inside a user namespace.
const IN_USERNS: &str = "LB_DEMO_IN_USERNS";

/// Builds a small network in namespaces, runs lb-rp in front of three web
/// servers, sends requests through the VIP, prints how they spread and the
/// load balancer's counters, and removes everything it made.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// HTTP requests to send through the VIP.
    #[arg(long, default_value_t = 120)]
    requests: usize,
    /// How lb-rp moves frames.
    #[arg(long, value_name = "tap|pnet", default_value_t)]
    datapath: DatapathKind,
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    if !is_root() {
        let error = reexec_in_user_namespace();
        fail(
            PROGRAM,
            format_args!(
                "needs root for network namespaces and taps, and no user namespace was available ({error:#}); \
                 run it as root, for example with sudo"
            ),
        );
    }
    if let Err(error) = demo(&cli) {
        fail(PROGRAM, format_args!("{error:#}"));
    }
}

/// Runs the demo again as root of new user, network and mount namespaces,
/// where the kernel allows unprivileged ones; returns only on failure.
fn reexec_in_user_namespace() -> anyhow::Error {
    if std::env::var_os(IN_USERNS).is_some() {
        return anyhow::anyhow!("already inside one, still not root");
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return error.into(),
    };
    // A private /run lets `ip netns` keep its mounts inside the namespace.
    let error = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--fork",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg("mount -t tmpfs tmpfs /run && exec \"$0\" \"$@\"")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_USERNS, "1")
        .exec();
    anyhow::Error::new(error).context("unshare")
}

fn demo(cli: &Cli) -> anyhow::Result<()> {
    let rp = std::env::current_exe()?.with_file_name("lb-rp");
    ensure!(
        rp.exists(),
        "lb-rp is not next to lb-demo ({}); build both with cargo build",
        rp.display()
    );
    let tun_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_ok();
    let datapath = match cli.datapath {
        DatapathKind::Tap if !tun_usable => {
            println!(
                "/dev/net/tun is not usable here (a user namespace?): using the pnet datapath."
            );
            DatapathKind::Pnet
        }
        kind => kind,
    };
    println!("Building the network in namespaces...");
    let mut lab = Lab::new()?;
    let weights = [1u32, 2, 3];
    let net = RoutedNetwork::build(&mut lab, datapath, weights.len())?;
    let service = net
        .backends
        .iter()
        .zip(weights)
        .fold(ServiceConfig::tcp(VIP, 80), |service, (web, weight)| {
            service.backend(web.addr, weight)
        });
    let config = lab.write_config("demo.toml", &ReverseProxyConfig::with_services([service]))?;
    let flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &config);
    let lb = lab.start_lb(&net.lb_ns, &rp, flags.args())?;
    net.attach(&mut lab)?;
    for (n, web) in net.backends.iter().enumerate() {
        lab.http_server(&web.ns, web.addr, 80, &format!("web{}", n + 1))?;
    }
    println!("lb-rp is up ({datapath} datapath) in front of web1, web2, web3 (weights 1, 2, 3).");
    println!(
        "Sending {} HTTP requests from the client to http://{VIP}/ ...",
        cli.requests
    );

    // Each body is "webN"; count each server's.
    let bodies = lab
        .curl(
            &net.client,
            &format!("http://{VIP}/id"),
            cli.requests,
            Duration::from_secs(60),
        )
        .context("requests through the VIP")?
        .replace("web", " web");
    let total: u32 = weights.iter().sum();
    println!("\n  backend  weight  requests  share (expected)");
    for (n, weight) in weights.iter().enumerate() {
        let name = format!("web{}", n + 1);
        let count = bodies.split_whitespace().filter(|b| *b == name).count();
        let share = 100.0 * count as f64 / cli.requests.max(1) as f64;
        let expected = 100.0 * f64::from(*weight) / f64::from(total);
        let bar = "#".repeat(count * 40 / cli.requests.max(1));
        println!("  {name:7}  {weight:6}  {count:8}  {share:4.0}% ({expected:.0}%)  {bar}");
    }
    println!("\nStopping lb-rp; its counters:");
    let (status, log) = lb.stop()?;
    // The backend list it logged at start says nothing new.
    let backend_list = format!("service {VIP}:80/tcp (maglev): 192.168");
    for line in log.lines().filter(|l| !l.contains(&backend_list)) {
        // The message after the time stamp and level.
        println!(
            "  {}",
            line.split_once(" lb-rp: ").map_or(line, |(_, said)| said)
        );
    }
    if log.contains("frames not sent") {
        println!(
            "  (The namespaces announce themselves with IPv6 multicast as their links come\n   \
             up; one that reaches lb-rp before the other side's link is up cannot be sent\n   \
             there. It is counted apart from send errors, which are none.)"
        );
    }
    ensure!(status.success(), "lb-rp exited with {status}");
    println!("\nRemoving the namespaces. Done.");
    Ok(())
}
