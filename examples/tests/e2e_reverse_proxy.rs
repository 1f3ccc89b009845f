//! lb-rp end to end: real clients and servers in network namespaces, on
//! both datapaths (Polycube's test_single, ex1 and test_multi).

mod common;

use common::*;

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const VIP: &str = "10.0.0.100";

fn write_config(lab: &Lab, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}-rp.toml", lab.id));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Client and server on either side of the load balancer, one subnet; a
/// tcp+udp+icmp service to the one server.
fn single_mode(datapath: &str) {
    let Some(mut lab) = Lab::new() else { return };
    let (lb_ns, client, server) = (lab.netns("lb"), lab.netns("client"), lab.netns("server"));
    let front = lab.wire(datapath, &lab.name("f"), &client);
    let back = lab.wire(datapath, &lab.name("b"), &server);
    let config = write_config(
        &lab,
        &format!(
            r#"
            [[service]]
            vip = "{VIP}"
            port = 80
            proto = "tcp"
            [[service.backend]]
            ip = "10.0.0.3"
            port = 8080
            [[service]]
            vip = "{VIP}"
            port = 53
            proto = "udp"
            [[service.backend]]
            ip = "10.0.0.3"
            port = 5353
            [[service]]
            vip = "{VIP}"
            proto = "icmp"
            [[service.backend]]
            ip = "10.0.0.3"
            "#
        ),
    );
    lab.connect_before(datapath, &lb_ns, &[&front, &back]);
    let lb = lab.start_lb(
        &lb_ns,
        RP,
        &[
            "--frontend",
            &front.lb_if,
            "--backend",
            &back.lb_if,
            "--config",
            &config,
            "--datapath",
            datapath,
        ],
    );
    lab.connect_after(datapath, &lb_ns, &[&front, &back]);
    lab.ip(
        &client,
        &["addr", "add", "10.0.0.2/24", "dev", &front.peer_if],
    );
    lab.ip(
        &client,
        &["route", "add", &format!("{VIP}/32"), "via", "10.0.0.3"],
    );
    lab.ip(
        &server,
        &["addr", "add", "10.0.0.3/24", "dev", &back.peer_if],
    );
    lab.http_server(&server, "10.0.0.3", 8080, "server");
    lab.spawn(
        Some(&server),
        &["socat", "UDP-RECVFROM:5353,bind=10.0.0.3,fork", "EXEC:cat"],
    );

    let capture = lab.capture(&client, &front.peer_if);
    // Plain traffic between client and server passes unchanged.
    let direct = lab.exec(
        &client,
        &["curl", "-sf", "-m", "5", "http://10.0.0.3:8080/id"],
    );
    assert_eq!(direct, "server");
    // The service, on all three protocols; replies must come from the VIP
    // (a connected socket and ping would not take them otherwise).
    assert_eq!(
        lab.exec(
            &client,
            &["curl", "-sf", "-m", "5", &format!("http://{VIP}/id")]
        ),
        "server"
    );
    let udp = lab.exec(
        &client,
        &[
            "sh",
            "-c",
            &format!("echo hello-udp | socat -t 3 - UDP:{VIP}:53"),
        ],
    );
    assert_eq!(udp.trim(), "hello-udp");
    let ping = lab.exec(&client, &["ping", "-c", "3", "-i", "0.2", "-W", "2", VIP]);
    assert_eq!(
        ping.matches(&format!("bytes from {VIP}")).count(),
        3,
        "{ping}"
    );
    assert_checksums_correct(&capture.finish(), 10);

    let (status, log) = lb.stop();
    assert!(status.success(), "lb-rp exited with {status}: {log}");
    assert!(
        log.contains("service 10.0.0.100:80/tcp (maglev): 1 new flows"),
        "{log}"
    );
    assert!(
        log.contains("service 10.0.0.100:53/udp (maglev): 1 new flows"),
        "{log}"
    );
}

#[test]
fn rp_single_mode_tap() {
    single_mode("tap");
}

#[test]
fn rp_single_mode_pnet() {
    single_mode("pnet");
}
