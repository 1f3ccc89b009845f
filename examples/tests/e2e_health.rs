//! Health checks end to end, for each binary: a backend's server killed
//! (kill -9) or its link deleted while a client requests every 100 ms and
//! a slow download runs to another backend. Asserted: how fast the load
//! balancer notices, how few requests fail, no new flows to the dead
//! backend afterwards, the download intact, the server back in rotation.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::failover::{
    Fault, Figures, Server, Setup, fail_one, report, routed_servers, start_servers, wait_health,
};
use common::*;
use lb_engine::{HealthCheck, HealthSettings, ProbeKind, ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const DSR: &str = env!("CARGO_BIN_EXE_lb-dsr");
const PROXY: &str = env!("CARGO_BIN_EXE_lb-proxy");
const ADMIN: u16 = 9911;

/// The check of the issue: HTTP `/id` every 300 ms, 200 ms timeout,
/// rise 2, fall 2 (down within fall x interval + timeout = 0.8 s).
fn check(port: Option<u16>) -> HealthCheck {
    HealthCheck {
        port,
        path: "/id".to_owned(),
        interval_ms: 300,
        timeout_ms: 200,
        rise: 2,
        fall: 2,
        ..HealthCheck::new(ProbeKind::Http)
    }
}

/// The same check as lb-dsr and lb-proxy flags.
fn check_flags(port: u16, source: &str) -> Vec<String> {
    let flags = [
        "--health",
        &format!("http:{port}/id"),
        "--health-source",
        source,
        "--health-interval-ms",
        "300",
        "--health-timeout-ms",
        "200",
        "--health-rise",
        "2",
        "--health-fall",
        "2",
    ];
    flags.iter().map(|s| s.to_string()).collect()
}

/// Active checks: down quickly, at most `max_failed` failed requests,
/// back soon.
fn assert_active(figures: &Figures, max_failed: usize) {
    assert!(
        figures.detected <= Duration::from_millis(1500),
        "{figures:?}"
    );
    assert!(figures.failed <= max_failed, "{figures:?}");
    assert_eq!(figures.new_flows_after, 0, "{figures:?}");
    if let Some(recovered) = figures.recovered {
        assert!(recovered <= Duration::from_millis(2000), "{figures:?}");
    }
}

/// Passive detection alone: at most `max_failed` failed requests.
fn assert_passive(figures: &Figures, max_failed: usize) {
    assert!(figures.detected <= Duration::from_secs(8), "{figures:?}");
    assert!(figures.failed <= max_failed, "{figures:?}");
    assert_eq!(figures.new_flows_after, 0, "{figures:?}");
}

/// lb-rp on the routed network: three HTTP backends behind the router,
/// probes from 10.0.0.253 on the link to the router.
fn reverse_proxy(
    datapath: DatapathKind,
    active: bool,
    fault: Fault,
) -> anyhow::Result<Option<Figures>> {
    let Some(mut lab) = lab() else {
        return Ok(None);
    };
    let net = RoutedNetwork::build(&mut lab, datapath, 3)?;
    let vip = Ipv4Addr::new(172, 16, 0, 100);
    let mut service = ServiceConfig::tcp(vip, 8000);
    for host in &net.backends {
        service = service.backend(host.addr, 1);
    }
    if active {
        service = service.health(check(None));
    }
    let config = ReverseProxyConfig {
        health: HealthSettings {
            source: Some("10.0.0.253/24".parse().map_err(anyhow::Error::msg)?),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1).into()),
            ..HealthSettings::default()
        },
        ..ReverseProxyConfig::with_services([service])
    };
    let config = lab.write_config("rp.toml", &config)?;
    let flags = ReverseProxyFlags {
        admin: Some(ADMIN),
        ..ReverseProxyFlags::new(datapath, &net.front, &net.back, &config)
    };
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab)?;
    let servers = routed_servers(&lab, &net, 8000);
    let setup = Setup {
        lb_ns: net.lb_ns.clone(),
        admin: ADMIN,
        client: net.client.clone(),
        url: format!("http://{vip}:8000"),
        servers,
    };
    Ok(Some(run(&mut lab, &setup, lb, active, fault)?))
}

/// Starts the servers, waits for them to be up (active checks), breaks
/// one, stops the load balancer (which must have logged the change and,
/// passive only, counted the failed handshakes).
fn run(
    lab: &mut Lab,
    setup: &Setup,
    lb: LoadBalancer,
    active: bool,
    fault: Fault,
) -> anyhow::Result<Figures> {
    let mut pids = start_servers(lab, &setup.servers)?;
    if active {
        for server in &setup.servers {
            wait_health(lab, setup, &server.name, "up")?;
        }
    }
    // The path works before anything breaks.
    lab.http_get(&setup.client, &format!("{}/id", setup.url))?;
    let figures = fail_one(lab, setup, &mut pids, fault, active)?;
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert!(
        log.contains("takes no new flows"),
        "the change is logged: {log}"
    );
    if !active {
        // The exit summary counts what passive detection saw.
        let failed = log
            .lines()
            .find(|line| line.contains(" failed handshakes, "));
        assert!(
            failed.is_some_and(|line| !line.ends_with(" 0 ejections")),
            "{log}"
        );
    }
    Ok(figures)
}

/// Reports and checks the figures of a run (none when not root).
fn expect(what: &str, active: bool, max_failed: usize, figures: Option<Figures>) {
    let Some(figures) = figures else { return };
    report(what, &figures);
    if active {
        assert_active(&figures, max_failed);
    } else {
        assert_passive(&figures, max_failed);
    }
}

#[test]
fn rp_active_checks_when_a_server_is_killed() -> anyhow::Result<()> {
    expect(
        "lb-rp, http checks, server killed",
        true,
        2,
        reverse_proxy(DatapathKind::Tap, true, Fault::KillServer)?,
    );
    Ok(())
}

#[test]
fn rp_active_checks_when_a_link_is_deleted() -> anyhow::Result<()> {
    expect(
        "lb-rp (pnet), http checks, link deleted",
        true,
        2,
        reverse_proxy(DatapathKind::Pnet, true, Fault::DeleteLink)?,
    );
    Ok(())
}

#[test]
fn rp_passive_detection_when_a_server_is_killed() -> anyhow::Result<()> {
    expect(
        "lb-rp, passive only, server killed",
        false,
        3,
        reverse_proxy(DatapathKind::Tap, false, Fault::KillServer)?,
    );
    Ok(())
}

#[test]
fn rp_passive_detection_when_a_link_is_deleted() -> anyhow::Result<()> {
    expect(
        "lb-rp, passive only, link deleted",
        false,
        3,
        reverse_proxy(DatapathKind::Tap, false, Fault::DeleteLink)?,
    );
    Ok(())
}

/// lb-dsr, two-armed on one bridge with its servers (the VIP on their
/// loopback); probes from 10.0.0.253 to the VIP at each server's MAC.
fn direct_return(active: bool, fault: Fault) -> anyhow::Result<Option<Figures>> {
    let Some(mut lab) = lab() else {
        return Ok(None);
    };
    let datapath = DatapathKind::Tap;
    let (lb_ns, lan) = (lab.netns("lb")?, lab.netns("lan")?);
    lab.bridge(&lan)?;
    let front = lab.wire(datapath, &lab.name("f"), &lan);
    let back = lab.wire(datapath, &lab.name("b"), &lan);
    let vip = "10.0.0.100";
    let mut servers = Vec::new();
    for n in 1..=3 {
        let mac = format!("02:00:00:00:02:0{n}");
        let (ns, _) = lab.direct_return_server(
            &lan,
            &format!("s{n}"),
            &format!("10.0.0.2{n}/24"),
            &mac,
            vip,
        )?;
        servers.push(Server {
            ns,
            bind: Ipv4Addr::UNSPECIFIED,
            port: 80,
            name: mac,
            identity: format!("s{n}"),
            link: (lan.clone(), lab.name(&format!("s{n}b"))),
        });
    }
    let (client, _) = lab.host_on_bridge(&lan, "c", "10.0.0.11/24")?;
    lab.connect_before(datapath, &lb_ns, &[&front, &back])?;
    let mut args: Vec<String> = [
        "--frontend",
        &front.lb_if,
        "--backend",
        &back.lb_if,
        "--vip",
        vip,
        "--mac",
        "02:00:00:00:01:00",
        "--algorithm",
        "5-tuple",
        "--admin",
        &ADMIN.to_string(),
        "--datapath",
        datapath.name(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for server in &servers {
        args.extend(["--backend-mac".to_owned(), server.name.clone()]);
    }
    if active {
        args.extend(check_flags(80, "10.0.0.253/24"));
    }
    let lb = lab.start_lb(&lb_ns, DSR, args)?;
    lab.connect_after(datapath, &lb_ns, &[&front, &back])?;
    for wire in [&front, &back] {
        lab.ip(&lan, &["link", "set", &wire.peer_if, "master", "br0"])?;
    }
    let setup = Setup {
        lb_ns,
        admin: ADMIN,
        client,
        url: format!("http://{vip}"),
        servers,
    };
    Ok(Some(run(&mut lab, &setup, lb, active, fault)?))
}

/// A killed server's RSTs go straight to the clients, so every request it
/// gets before the probes notice (about 0.3 s) fails: about 1 of 100 at
/// 10 requests a second over three servers, sometimes 3.
#[test]
fn dsr_active_checks_when_a_server_is_killed() -> anyhow::Result<()> {
    expect(
        "lb-dsr, http checks, server killed",
        true,
        4,
        direct_return(true, Fault::KillServer)?,
    );
    Ok(())
}

/// Replies bypass a direct-return load balancer, so passive detection sees
/// only clients retrying unanswered SYNs: a dead link, not a refusing
/// server (that takes active checks).
#[test]
fn dsr_passive_detection_when_a_link_is_deleted() -> anyhow::Result<()> {
    expect(
        "lb-dsr, passive only, link deleted",
        false,
        3,
        direct_return(false, Fault::DeleteLink)?,
    );
    Ok(())
}

/// lb-proxy on a bridge with three HTTP destinations; probes from
/// 192.168.0.253.
fn nat_proxy(active: bool, fault: Fault) -> anyhow::Result<Option<Figures>> {
    let Some(mut lab) = lab() else {
        return Ok(None);
    };
    let datapath = DatapathKind::Tap;
    let (lb_ns, net) = (lab.netns("lb")?, lab.netns("net")?);
    lab.bridge(&net)?;
    let wire = lab.wire(datapath, &lab.name("p"), &net);
    let mut servers = Vec::new();
    for n in 1..=3u8 {
        let addr = Ipv4Addr::new(192, 168, 0, n);
        let (ns, _) = lab.host_on_bridge(&net, &format!("d{n}"), &format!("{addr}/24"))?;
        servers.push(Server {
            ns,
            bind: addr,
            port: 7000,
            name: addr.to_string(),
            identity: format!("d{n}"),
            link: (net.clone(), lab.name(&format!("d{n}b"))),
        });
    }
    let (client, _) = lab.host_on_bridge(&net, "c", "192.168.0.50/24")?;
    lab.connect_before(datapath, &lb_ns, &[&wire])?;
    let mut args: Vec<String> = [
        "--iface",
        &wire.lb_if,
        "--ip",
        "192.168.0.100/24",
        "--dst-addrs",
        "192.168.0.1,192.168.0.2,192.168.0.3",
        "--policy",
        "maglev",
        "--admin",
        &ADMIN.to_string(),
        "--datapath",
        datapath.name(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if active {
        args.extend(check_flags(7000, "192.168.0.253/24"));
    }
    let proxy = lab.start_lb(&lb_ns, PROXY, args)?;
    lab.connect_after(datapath, &lb_ns, &[&wire])?;
    lab.ip(&net, &["link", "set", &wire.peer_if, "master", "br0"])?;
    let setup = Setup {
        lb_ns,
        admin: ADMIN,
        client,
        url: "http://192.168.0.100:7000".to_owned(),
        servers,
    };
    Ok(Some(run(&mut lab, &setup, proxy, active, fault)?))
}

#[test]
fn proxy_active_checks_when_a_server_is_killed() -> anyhow::Result<()> {
    expect(
        "lb-proxy, http checks, server killed",
        true,
        2,
        nat_proxy(true, Fault::KillServer)?,
    );
    Ok(())
}

#[test]
fn proxy_passive_detection_when_a_server_is_killed() -> anyhow::Result<()> {
    expect(
        "lb-proxy, passive only, server killed",
        false,
        3,
        nat_proxy(false, Fault::KillServer)?,
    );
    Ok(())
}
