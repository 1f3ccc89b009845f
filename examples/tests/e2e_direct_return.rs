//! lb-dsr end to end (Polycube's local_test_3_webserver, done right):
//! clients and servers on one bridge with both load-balancer ports.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;

const DSR: &str = env!("CARGO_BIN_EXE_lb-dsr");
const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const VIP: &str = "10.0.0.100";
const LB_MAC: &str = "02:00:00:00:01:00";

fn direct_return(datapath: DatapathKind, one_armed: bool) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (lb_ns, lan) = (lab.netns("lb")?, lab.netns("lan")?);
    lab.bridge(&lan)?;
    let front = lab.wire(datapath, &lab.name("f"), &lan);
    let back = lab.wire(datapath, &lab.name("b"), &lan);
    let wires: Vec<&Wire> = if one_armed {
        vec![&front]
    } else {
        vec![&front, &back]
    };

    // Servers: the VIP on loopback, and no ARP answers for it.
    let mut server_macs = Vec::new();
    for n in 1..=3 {
        let mac = format!("02:00:00:00:02:0{n}");
        let (server, _) = lab.direct_return_server(
            &lan,
            &format!("s{n}"),
            &format!("10.0.0.2{n}/24"),
            &mac,
            VIP,
        )?;
        lab.http_server(&server, Ipv4Addr::UNSPECIFIED, 80, &format!("[s{n}]"))?;
        server_macs.push(mac);
    }
    let mut clients = Vec::new();
    for n in 1..=3 {
        let (client, _) = lab.host_on_bridge(&lan, &format!("c{n}"), &format!("10.0.0.1{n}/24"))?;
        clients.push(client);
    }

    lab.connect_before(datapath, &lb_ns, &wires)?;
    let mut args = vec![
        "--frontend",
        front.lb_if.as_str(),
        "--vip",
        VIP,
        "--mac",
        LB_MAC,
        "--datapath",
        datapath.name(),
    ];
    if !one_armed {
        args.extend(["--backend", back.lb_if.as_str()]);
    }
    for mac in &server_macs {
        args.extend(["--backend-mac", mac.as_str()]);
    }
    args.extend(["--algorithm", "src-ip", "--admin", "9901"]);
    let lb = lab.start_lb(&lb_ns, DSR, args)?;
    lab.connect_after(datapath, &lb_ns, &wires)?;
    for wire in &wires {
        lab.ip(&lan, &["link", "set", &wire.peer_if, "master", "br0"])?;
    }

    // Every client's requests succeed, and each client always meets the
    // same server (source-IP hashing, sessions).
    let url = format!("http://{VIP}/id");
    let mut servers_seen = HashSet::new();
    for client in &clients {
        let bodies = lab.curl(client, &url, 10, Duration::from_secs(20))?;
        let met: HashSet<String> = (1..=3)
            .map(|n| format!("[s{n}]"))
            .filter(|id| bodies.contains(id))
            .collect();
        assert_eq!(bodies.matches("[s").count(), 10, "{client}: {bodies}");
        assert_eq!(met.len(), 1, "{client} met several servers: {bodies}");
        servers_seen.extend(met);
        let neighbour = lab.exec(client, &["ip", "neigh", "show", VIP])?;
        assert!(
            neighbour.contains(LB_MAC),
            "the VIP resolves to the load balancer: {neighbour}"
        );
    }
    // ARP for an address that is not a VIP gets no answer.
    let stranger = lab.try_exec(&clients[0], &["ping", "-c", "1", "-W", "1", "10.0.0.99"])?;
    assert!(!stranger.status.success());
    let neighbour = lab.exec(&clients[0], &["ip", "neigh", "show", "10.0.0.99"])?;
    assert!(
        !neighbour.contains("lladdr"),
        "someone answered for 10.0.0.99: {neighbour}"
    );

    // Polycube's `frontend set mac=`: announced at once, the clients'
    // caches follow and their requests go on.
    let new_mac = "02:00:00:00:01:09";
    lab.exec(
        &lb_ns,
        &[
            LBCTL, "--admin", "9901", "frontend", "set", "--mac", new_mac,
        ],
    )?;
    for client in &clients {
        let mut neighbour = String::new();
        for _ in 0..50 {
            neighbour = lab.exec(client, &["ip", "neigh", "show", VIP])?;
            if neighbour.contains(new_mac) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(neighbour.contains(new_mac), "{client}: {neighbour}");
        let bodies = lab.curl(client, &url, 5, Duration::from_secs(20))?;
        assert_eq!(bodies.matches("[s").count(), 5, "{client}: {bodies}");
    }

    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert!(log.contains("(src-ip-hash): 45 new flows"), "{log}");
    assert!(!servers_seen.is_empty());
    Ok(())
}

#[test]
fn dsr_two_armed_tap() -> anyhow::Result<()> {
    direct_return(DatapathKind::Tap, false)
}

#[test]
fn dsr_two_armed_pnet() -> anyhow::Result<()> {
    direct_return(DatapathKind::Pnet, false)
}

#[test]
fn dsr_one_armed_tap() -> anyhow::Result<()> {
    direct_return(DatapathKind::Tap, true)
}
