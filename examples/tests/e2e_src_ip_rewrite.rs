//! Polycube's `test_srcIpRewrite.sh`, ported: three hosts that are
//! clients and backends at once, each behind its own lb-rp, the backend
//! ports on one bridge with a router. Clients of 10.0.0.0/24 reach the
//! backends as 20.0.0.x, whose replies only the router can deliver, back
//! through the load balancer that rewrote them. Polycube's script asserts
//! nothing; here every step is checked, on both datapaths.

mod common;

use std::time::Duration;

use common::*;

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const VIP: &str = "192.168.0.1";

/// Polycube's services on every load balancer: `service add 192.168.0.1
/// 180 ALL name=service1`, backends 10.0.0.1 `name=B1 weight=50`, 10.0.0.2
/// `name=B2`, 10.0.0.3 `name=B3 weight=0`, on port 80; `src-ip-rewrite set ip-range=10.0.0.1/24
/// new_ip_range=20.0.0.1/24`.
const CONFIG: &str = r#"
[src_ip_rewrite]
ip_range = "10.0.0.1/24"
new_ip_range = "20.0.0.1/24"

[[service]]
vip = "192.168.0.1"
port = 180
proto = "all"
name = "service1"
backend = [
    { ip = "10.0.0.1", port = 80, weight = 50, name = "B1" },
    { ip = "10.0.0.2", port = 80, name = "B2" },
    { ip = "10.0.0.3", port = 80, weight = 0, name = "B3" },
]
"#;

/// An HTTP server on `addr:80` answering `NAME CLIENT-ADDRESS`: what the
/// backend saw.
const WHO_ASKS: &str = r#"
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (sys.argv[2] + " " + self.client_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[1], 80), Handler).serve_forever()
"#;

fn lbctl(lab: &Lab, admin: u16, net: &SharedBridge, args: &[&str]) -> anyhow::Result<String> {
    let admin = admin.to_string();
    let mut full = vec![LBCTL, "--admin", &admin];
    full.extend_from_slice(args);
    lab.exec(&net.lb_ns, &full)
}

fn rewrite(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let net = SharedBridge::build(&mut lab, datapath, 3)?;
    let config = lab.write_file("rp.toml", CONFIG)?;
    let admin = |i: usize| 9901 + u16::try_from(i).unwrap_or(0);
    let mut lbs = Vec::new();
    for i in 0..3 {
        let mut flags = ReverseProxyFlags::new(datapath, &net.fronts[i], &net.backs[i], &config);
        flags.admin = Some(admin(i));
        lbs.push(lab.start_lb(&net.lb_ns, RP, flags.args())?);
    }
    net.attach(&mut lab)?;
    let (h1, h2, h3) = (&net.hosts[0], &net.hosts[1], &net.hosts[2]);
    // Full checksums from the client, for tcpdump on the backend to judge
    // the rewrites.
    lab.no_tx_offload(&h3.ns, &net.fronts[2].peer_if)?;
    let script = lab.write_file("who_asks.py", WHO_ASKS)?;
    let script = script.to_string_lossy().into_owned();
    for (host, name) in [(h1, "B1"), (h2, "B2")] {
        let addr = host.addr.to_string();
        lab.spawn(&host.ns, &["python3", &script, &addr, name])?;
        lab.wait_for_tcp(&host.ns, host.addr, 80)?;
        let bind = format!("UDP-RECVFROM:80,bind={addr},fork");
        lab.spawn(&host.ns, &["socat", &bind, "EXEC:cat"])?;
    }
    let capture = lab.capture(&h1.ns, &net.fronts[0].peer_if)?;

    // h3 `wget 192.168.0.1:180` a hundred times: every backend saw the
    // rewritten address, and the one of weight 0 none.
    let url = format!("http://{VIP}:180/");
    let answers = lab.curl(&h3.ns, &url, 100, Duration::from_secs(10))?;
    let lines: Vec<&str> = answers.lines().collect();
    assert_eq!(lines.len(), 100, "{answers}");
    assert!(
        lines
            .iter()
            .all(|l| *l == "B1 20.0.0.3" || *l == "B2 20.0.0.3"),
        "every backend sees 20.0.0.3: {answers}"
    );
    assert!(lines.contains(&"B1 20.0.0.3"), "weight 50 gets flows");
    // UDP and ping through the VIP, answered from it.
    let udp = lab.exec(
        &h3.ns,
        &[
            "sh",
            "-c",
            &format!("echo hello-udp | socat -t 3 - UDP:{VIP}:180"),
        ],
    )?;
    assert_eq!(udp.trim(), "hello-udp");
    let ping = lab.exec(&h3.ns, &["ping", "-c", "3", "-i", "0.2", "-W", "2", VIP])?;
    assert_eq!(ping.matches(&format!("from {VIP}")).count(), 3, "{ping}");
    // lb3's table, names and all: B1 took flows, B3 none.
    let table = lbctl(&lab, admin(2), &net, &["service", "list"])?;
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!("10.0.0.{}:80 ({name})", &name[1..])))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(table.contains("192.168.0.1:180/tcp (service1)"), "{table}");
    assert!(!row("B1").contains("new flows         0"), "{table}");
    assert!(row("B3").contains("new flows         0"), "{table}");
    // The router learned the rewritten address at h3's MAC: the copy of
    // h3's ARP answer lb3 sent.
    let h3_mac = lab.exec(
        &h3.ns,
        &[
            "cat",
            &format!("/sys/class/net/{}/address", net.fronts[2].peer_if),
        ],
    )?;
    let neighbor = lab.exec(&net.router, &["ip", "neigh", "show", "20.0.0.3"])?;
    assert!(neighbor.contains(h3_mac.trim()), "{neighbor}");
    let seen = capture.finish()?;
    check_checksums(&seen, 100)?;
    assert!(
        seen.contains("20.0.0.3.") && !seen.contains("10.0.0.3."),
        "h1 hears from 20.0.0.3 only: {seen}"
    );

    // Polycube's pings between hosts, past the load balancers untouched.
    for (from, to) in [(h1, h2), (h2, h1), (h3, h2), (h1, h3)] {
        let to = to.addr.to_string();
        let ping = lab.exec(&from.ns, &["ping", "-c", "1", "-W", "2", &to])?;
        assert!(ping.contains(&format!("from {to}")), "{ping}");
    }

    // `backend del 10.0.0.2` on every load balancer: all to B1 now.
    for i in 0..3 {
        for service in [&format!("{VIP}:180/tcp"), &format!("{VIP}:180/udp")] {
            lbctl(
                &lab,
                admin(i),
                &net,
                &["backend", "del", service, "10.0.0.2:80"],
            )?;
        }
        lbctl(
            &lab,
            admin(i),
            &net,
            &["backend", "del", &format!("{VIP}/icmp"), "10.0.0.2"],
        )?;
    }
    let answers = lab.curl(&h3.ns, &url, 10, Duration::from_secs(10))?;
    assert_eq!(answers, "B1 20.0.0.3\n".repeat(10));
    let ping = lab.exec(&h3.ns, &["ping", "-c", "1", "-W", "2", VIP])?;
    assert!(ping.contains(&format!("from {VIP}")), "{ping}");

    // `service add 33.33.66.7 0 ICMP` on lb3, to 10.0.0.1.
    lbctl(
        &lab,
        admin(2),
        &net,
        &["service", "add", "33.33.66.7/icmp", "--backend", "10.0.0.1"],
    )?;
    let ping = lab.exec(
        &h3.ns,
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", "33.33.66.7"],
    )?;
    assert_eq!(ping.matches("from 33.33.66.7").count(), 2, "{ping}");

    for lb in lbs {
        let (status, log) = lb.stop()?;
        assert!(status.success(), "{log}");
    }
    Ok(())
}

#[test]
fn src_ip_rewrite_on_tap() -> anyhow::Result<()> {
    rewrite(DatapathKind::Tap)
}

#[test]
fn src_ip_rewrite_on_pnet() -> anyhow::Result<()> {
    rewrite(DatapathKind::Pnet)
}
