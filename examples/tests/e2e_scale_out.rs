//! Three lb-rp instances behind ECMP routes that BGP keeps (BIRD on a
//! router on each side, BFD through each instance), three echo backends,
//! 24 streams that each send a line every 100 ms and check its echo, and a
//! new connection every 200 ms (issue 14). Requests and replies cross
//! different instances. Through steady state, one instance killed (its
//! paths withdrawn by BFD), restarted (its paths back), and a rolling
//! restart of all three, every stream goes on without a stall of 3 s and
//! every new connection works. The same for three lb-dsr instances behind
//! a static ECMP route that the test withdraws and restores (they have no
//! address to speak BGP or BFD from).
//!
//! `LB_RP=PATH` runs another lb-rp binary (an older build, without
//! `--instance`, for a before and after).

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const DSR: &str = env!("CARGO_BIN_EXE_lb-dsr");
const PROXY: &str = env!("CARGO_BIN_EXE_lb-proxy");
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
const PORT: u16 = 7000;
const STREAMS: usize = 24;
const HASH_KEY: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

/// Starts the instance on `net.paths[index]`.
fn start(
    lab: &Lab,
    net: &EcmpNetwork,
    config: &std::path::Path,
    index: usize,
) -> anyhow::Result<LoadBalancer> {
    let path = &net.paths[index];
    let other = std::env::var("LB_RP").ok();
    let flags = ReverseProxyFlags {
        instance: other.is_none().then(|| format!("lb{}", index + 1)),
        ..ReverseProxyFlags::new(DatapathKind::Pnet, &path.front, &path.back, config)
    };
    lab.start_lb(&path.ns, other.as_deref().unwrap_or(RP), flags.args())
}

/// Checks one phase and prints its figures.
fn check(phase: &str, watched: &Watched, paths_changed: Option<Duration>) {
    check_kept(phase, watched, STREAMS, paths_changed);
}

/// Checks that `kept` streams go on, none stalling 3 s, and that every new
/// connection works; prints the figures.
fn check_kept(phase: &str, watched: &Watched, kept: usize, paths_changed: Option<Duration>) {
    let changed = paths_changed.map_or(String::new(), |d| {
        format!(", routes changed in {} ms", d.as_millis())
    });
    eprintln!(
        "FIGURES {phase}: {} of {STREAMS} streams kept, longest stall {} ms, \
         new connections {} ok {} failed{changed}",
        watched.alive,
        watched.longest_stall.as_millis(),
        watched.new_ok,
        watched.new_failed,
    );
    assert_eq!(watched.alive, kept, "{phase}: {:?}", watched.failures);
    assert!(
        watched.longest_stall < Duration::from_secs(3),
        "{phase}: {watched:?}"
    );
    assert_eq!(watched.new_failed, 0, "{phase}: {watched:?}");
    assert!(watched.new_ok > 0, "{phase}: {watched:?}");
}

/// Starts the direct-return instance on `net.paths[index]`.
fn start_dsr(lab: &Lab, net: &DirectEcmpNetwork, index: usize) -> anyhow::Result<LoadBalancer> {
    let path = &net.paths[index];
    let mac = format!("02:00:00:00:01:{:02x}", index + 1);
    let instance = format!("dsr{}", index + 1);
    let vip = VIP.to_string();
    let mut args = vec![
        "--frontend",
        path.front.lb_if.as_str(),
        "--backend",
        path.back.lb_if.as_str(),
        "--vip",
        &vip,
        "--mac",
        &mac,
        "--algorithm",
        "maglev",
        "--hash-key",
        HASH_KEY,
        "--instance",
        &instance,
        "--datapath",
        "pnet",
    ];
    for server in &net.servers {
        args.extend(["--backend-mac", server.mac.as_str()]);
    }
    lab.start_lb(&path.ns, DSR, args)
}

/// A set of instances and how the routers follow them.
struct Fleet<'a> {
    /// What the instances are called in the figures: `lb`, `dsr`.
    name: &'a str,
    echoes: &'a Echoes,
    /// Starts instance `index`.
    start: &'a dyn Fn(usize) -> anyhow::Result<LoadBalancer>,
    /// Waits until the routers route around stopped instance `index` (or
    /// makes them); how long that took.
    route_around: &'a dyn Fn(usize) -> anyhow::Result<Duration>,
    /// Waits until the routers route over every instance again (or makes
    /// them); how long that took.
    route_all: &'a dyn Fn() -> anyhow::Result<Duration>,
}

impl Fleet<'_> {
    /// Steady state; instance 2 killed (kill -9), then started again; a
    /// rolling restart (SIGTERM) of all. Checks each phase.
    fn run(&self, mut instances: Vec<Option<LoadBalancer>>) -> anyhow::Result<()> {
        let phase = |what: &str| format!("{} {what}", self.name);
        check(
            &phase("steady state"),
            &self.echoes.watch(Duration::from_secs(4))?,
            None,
        );

        // One killed: its paths withdrawn, its flows go on through the
        // others, by their picks.
        let killed = instances[1].take().expect("running");
        let (withdrawn, watched) = self.echoes.watch_during(|| -> anyhow::Result<Duration> {
            run("kill", &["-KILL", &killed.pid().to_string()])?;
            let withdrawn = (self.route_around)(1)?;
            std::thread::sleep(Duration::from_secs(3));
            Ok(withdrawn)
        })?;
        drop(killed);
        check(&phase("2 killed"), &watched, Some(withdrawn?));

        // Started again: its paths come back and flows move onto it.
        instances[1] = Some((self.start)(1)?);
        let (back, watched) = self.echoes.watch_during(|| {
            let back = (self.route_all)();
            std::thread::sleep(Duration::from_secs(3));
            back
        })?;
        check(&phase("2 restarted"), &watched, Some(back?));

        // A rolling restart: each in turn stopped, started, its paths back,
        // and a second of traffic before the next.
        for (index, instance) in instances.iter_mut().enumerate() {
            let old = instance.take();
            let (result, watched) =
                self.echoes
                    .watch_during(|| -> anyhow::Result<LoadBalancer> {
                        if let Some(lb) = old {
                            let (status, log) = lb.stop()?;
                            anyhow::ensure!(status.success(), "{log}");
                        }
                        (self.route_around)(index)?;
                        let lb = (self.start)(index)?;
                        (self.route_all)()?;
                        std::thread::sleep(Duration::from_secs(1));
                        Ok(lb)
                    })?;
            *instance = Some(result?);
            check(
                &phase(&format!("rolling restart, {}", index + 1)),
                &watched,
                None,
            );
        }
        let settled = self.echoes.watch(Duration::from_secs(2))?;
        check(&phase("after the rolling restart"), &settled, None);
        Ok(())
    }
}

#[test]
fn reverse_proxies_behind_ecmp_keep_every_connection() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else {
        return Ok(());
    };
    let net = EcmpNetwork::build(&mut lab, 3, 3)?;
    let backends: Vec<String> = net
        .backends
        .iter()
        .map(|host| format!("{{ ip = \"{}\" }}", host.addr))
        .collect();
    let config = lab.write_file(
        "rp.toml",
        &format!(
            "[selection]\nhash_key = \"{HASH_KEY}\"\n[[service]]\nvip = \"{VIP}\"\nport = {PORT}\n\
             proto = \"tcp\"\nbackend = [{}]\n",
            backends.join(", ")
        ),
    )?;
    let instances = (0..3)
        .map(|index| start(&lab, &net, &config, index).map(Some))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for host in &net.backends {
        lab.echo_server(&host.ns, host.addr, PORT)?;
    }
    net.start_bgp(&mut lab, VIP)?;
    let echoes = lab.echoes(&net.client, VIP, PORT, STREAMS)?;
    // BFD notices a stopped instance and BGP withdraws its paths.
    let wait = |count| net.wait_paths(&lab, VIP, count, Duration::from_secs(20));
    Fleet {
        name: "lb-rp",
        echoes: &echoes,
        start: &|index| start(&lab, &net, &config, index),
        route_around: &|_| wait(2),
        route_all: &|| wait(3),
    }
    .run(instances)
}

#[test]
fn direct_return_behind_ecmp_keeps_every_connection() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else {
        return Ok(());
    };
    let net = DirectEcmpNetwork::build(&mut lab, 3, 3, VIP)?;
    let instances = (0..3)
        .map(|index| start_dsr(&lab, &net, index).map(Some))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for server in &net.servers {
        lab.echo_server(&server.host.ns, server.host.addr, PORT)?;
    }
    net.route(&lab, VIP, &[0, 1, 2])?;
    let echoes = lab.echoes(&net.client, VIP, PORT, STREAMS)?;
    // The route is static: the test withdraws and restores a path, as a
    // health checker on the router would.
    let timed = |live: &[usize]| -> anyhow::Result<Duration> {
        let started = std::time::Instant::now();
        net.route(&lab, VIP, live)?;
        Ok(started.elapsed())
    };
    Fleet {
        name: "lb-dsr",
        echoes: &echoes,
        start: &|index| start_dsr(&lab, &net, index),
        route_around: &|index| {
            let live: Vec<usize> = (0..3).filter(|&n| n != index).collect();
            timed(&live)
        },
        route_all: &|| timed(&[0, 1, 2]),
    }
    .run(instances)
}

/// Starts the proxy on `net.proxies[index]`, with its admin API.
fn start_proxy(lab: &Lab, net: &ProxyEcmpNetwork, index: usize) -> anyhow::Result<LoadBalancer> {
    let (host, wire) = &net.proxies[index];
    let destinations: Vec<String> = net
        .destinations
        .iter()
        .map(|d| d.addr.to_string())
        .collect();
    let (ip, vip, destinations) = (
        format!("{}/24", host.addr),
        VIP.to_string(),
        destinations.join(","),
    );
    let args = [
        "--iface",
        &wire.lb_if,
        "--ip",
        &ip,
        "--vip",
        &vip,
        "--dst-addrs",
        &destinations,
        "--datapath",
        "pnet",
        "--admin",
        "9901",
    ];
    lab.start_lb(&host.ns, PROXY, args)
}

/// Established connections the proxy in `ns` holds now, by its admin API.
fn established(lab: &Lab, ns: &str) -> anyhow::Result<usize> {
    let url = "http://127.0.0.1:9901/sessions?limit=10000";
    let text = lab.exec(ns, &["curl", "-sf", "-m", "2", url])?;
    let sessions: serde_json::Value = serde_json::from_str(&text)?;
    Ok(sessions
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["state"] == "TcpEstablished")
        .count())
}

/// NAT proxies behind ECMP keep the weaker promise they can: each holds
/// its own connections (their replies come back to its own address), so a
/// dead one's are lost, reset as they reach another; the survivors' go on,
/// the resilient next-hop group leaving their flows where they are.
#[test]
fn proxies_behind_ecmp_keep_the_survivors_connections() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else {
        return Ok(());
    };
    let net = ProxyEcmpNetwork::build(&mut lab, 3, 3)?;
    let mut instances = (0..3)
        .map(|index| start_proxy(&lab, &net, index).map(Some))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for destination in &net.destinations {
        lab.echo_server(&destination.ns, destination.addr, PORT)?;
    }
    net.route(&lab, VIP, &[0, 1, 2])?;
    let echoes = lab.echoes(&net.client, VIP, PORT, STREAMS)?;
    check(
        "lb-proxy steady state",
        &echoes.watch(Duration::from_secs(4))?,
        None,
    );

    let on_killed = established(&lab, &net.proxies[1].0.ns)?;
    assert!(
        on_killed > 0 && on_killed < STREAMS,
        "{on_killed} on proxy 2"
    );
    let killed = instances[1].take().expect("running");
    let (routed, watched) = echoes.watch_during(|| -> anyhow::Result<Duration> {
        run("kill", &["-KILL", &killed.pid().to_string()])?;
        let started = std::time::Instant::now();
        net.route(&lab, VIP, &[0, 2])?;
        let routed = started.elapsed();
        std::thread::sleep(Duration::from_secs(3));
        Ok(routed)
    })?;
    drop(killed);
    let kept = STREAMS - on_killed;
    check_kept(
        "lb-proxy 2 killed, its streams lost",
        &watched,
        kept,
        Some(routed?),
    );

    instances[1] = Some(start_proxy(&lab, &net, 1)?);
    net.route(&lab, VIP, &[0, 1, 2])?;
    let watched = echoes.watch(Duration::from_secs(3))?;
    check_kept("lb-proxy 2 restarted", &watched, kept, None);
    Ok(())
}
