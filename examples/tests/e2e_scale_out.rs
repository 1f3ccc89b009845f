//! Three lb-rp instances behind ECMP routes that BGP keeps (BIRD on a
//! router on each side, BFD through each instance), three echo backends,
//! 24 streams that each send a line every 100 ms and check its echo, and a
//! new connection every 200 ms (issue 14). Requests and replies cross
//! different instances. Through steady state, one instance killed (its
//! paths withdrawn by BFD), restarted (its paths back), and a rolling
//! restart of all three, every stream goes on without a stall of 3 s and
//! every new connection works.
//!
//! `LB_RP=PATH` runs another lb-rp binary (an older build, without
//! `--instance`, for a before and after).

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
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
    assert_eq!(watched.alive, STREAMS, "{phase}: {:?}", watched.failures);
    assert!(
        watched.longest_stall < Duration::from_secs(3),
        "{phase}: {watched:?}"
    );
    assert_eq!(watched.new_failed, 0, "{phase}: {watched:?}");
    assert!(watched.new_ok > 0, "{phase}: {watched:?}");
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
    let mut instances = (0..3)
        .map(|index| start(&lab, &net, &config, index).map(Some))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for host in &net.backends {
        lab.echo_server(&host.ns, host.addr, PORT)?;
    }
    net.start_bgp(&mut lab, VIP)?;
    let echoes = lab.echoes(&net.client, VIP, PORT, STREAMS)?;
    check("steady state", &echoes.watch(Duration::from_secs(4))?, None);

    // One instance killed: BFD finds its paths dead and both routers
    // withdraw them; its flows go on through the others.
    let killed = instances[1].take().expect("running");
    let (withdrawn, watched) = echoes.watch_during(|| -> anyhow::Result<Duration> {
        run("kill", &["-KILL", &killed.pid().to_string()])?;
        let withdrawn = net.wait_paths(&lab, VIP, 2, Duration::from_secs(10))?;
        std::thread::sleep(Duration::from_secs(3));
        Ok(withdrawn)
    })?;
    drop(killed);
    check("one instance killed", &watched, Some(withdrawn?));

    // Started again: its paths come back and flows move onto it.
    instances[1] = Some(start(&lab, &net, &config, 1)?);
    let (back, watched) = echoes.watch_during(|| {
        let back = net.wait_paths(&lab, VIP, 3, Duration::from_secs(20));
        std::thread::sleep(Duration::from_secs(3));
        back
    })?;
    check("the instance restarted", &watched, Some(back?));

    // A rolling restart: each in turn stopped, started, and its paths
    // back before the next.
    let mut rolled = Vec::new();
    for (index, instance) in instances.iter_mut().enumerate() {
        let old = instance.take();
        let (result, watched) = echoes.watch_during(|| -> anyhow::Result<LoadBalancer> {
            if let Some(lb) = old {
                let (status, log) = lb.stop()?;
                anyhow::ensure!(status.success(), "{log}");
            }
            net.wait_paths(&lab, VIP, 2, Duration::from_secs(10))?;
            let lb = start(&lab, &net, &config, index)?;
            net.wait_paths(&lab, VIP, 3, Duration::from_secs(20))?;
            Ok(lb)
        })?;
        *instance = Some(result?);
        rolled.push(watched);
    }
    for (index, watched) in rolled.iter().enumerate() {
        check(&format!("rolling restart, lb{}", index + 1), watched, None);
    }
    let settled = echoes.watch(Duration::from_secs(2))?;
    check("after the rolling restart", &settled, None);
    Ok(())
}
