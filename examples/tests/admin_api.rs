//! The admin API, route by route, against engines run by a stand-in packet
//! thread; and lbctl against it. No privileges needed.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lb_control::{self as admin, AdminRoutes};
use lb_engine::{
    DirectReturn, DirectReturnConfig, DsrBackendConfig, Engine, NatProxy, NatProxyConfig, PortId,
    ReverseProxy,
};
use serde_json::{Value, json};

/// A running admin endpoint over an engine on its own thread; frames sent
/// through `frames` are handed to the engine.
struct Harness {
    addr: SocketAddr,
    frames: mpsc::Sender<(PortId, Vec<u8>)>,
    stop: Arc<AtomicBool>,
    agent: ureq::Agent,
}

impl Harness {
    fn start<E: Engine + AdminRoutes + Send + 'static>(mut engine: E) -> Harness {
        let (commands, addr) = admin::start::<E>("127.0.0.1:0".parse().unwrap()).unwrap();
        let (frames, inbox) = mpsc::channel::<(PortId, Vec<u8>)>();
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !running.load(Ordering::Relaxed) {
                commands.apply(&mut engine);
                while let Ok((port, mut frame)) = inbox.try_recv() {
                    engine.handle_frame(Instant::now(), port, &mut frame);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Harness {
            addr,
            frames,
            stop,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .content_type("application/json")
                .send(body),
            ("PUT", None) => self.agent.put(&url).send_empty(),
            (_, Some(body)) => self
                .agent
                .post(&url)
                .content_type("application/json")
                .send(body),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut response = result.unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, text) = self.call(method, path, body);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn error(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let (status, value) = self.json(method, path, body);
        let message = value["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {value}"))
            .to_owned();
        (status, message)
    }

    fn lbctl(&self, args: &[&str]) -> (bool, String, String) {
        let addr = self.addr.to_string();
        let output = Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .arg("--admin")
            .arg(&addr)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn reverse_proxy() -> ReverseProxy {
    let config = toml::from_str(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        port = 8080
        "#,
    )
    .unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// A SYN from 10.0.0.`client`:`port` to the VIP.
fn syn(client: u8, port: u16) -> Vec<u8> {
    lb_engine::fuzzing::tcp_frame([10, 0, 0, client], [10, 0, 0, 1], port, 80, 0x02)
}

#[test]
fn read_routes() {
    let lb = Harness::start(reverse_proxy());
    for port in 1000..1003 {
        lb.frames.send((PortId(0), syn(7, port))).unwrap();
    }
    lb.frames.send((PortId(0), syn(8, 2000))).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(lb.call("GET", "/ready", None), (200, "ready\n".to_owned()));

    let (status, stats) = lb.json("GET", "/stats", None);
    assert_eq!(
        (status, stats["engine"].as_str()),
        (200, Some("reverse_proxy"))
    );
    assert_eq!(stats["traffic"]["frames_in"], 4);
    assert_eq!(stats["traffic"]["drops"]["malformed"], 0);

    let (status, text) = lb.call("GET", "/stats/prometheus", None);
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(value("lb_frames_received_total", None), 4.0);
    assert_eq!(
        value(
            "lb_service_new_flows_total",
            Some(("service", "10.0.0.1:80/tcp"))
        ),
        4.0
    );
    assert_eq!(
        value("lb_backend_sessions", Some(("backend", "192.168.1.2:8080"))),
        4.0
    );
    assert_eq!(value("lb_drops_total", Some(("reason", "no_service"))), 0.0);

    let (_, services) = lb.json("GET", "/services", None);
    assert_eq!(services[0]["name"], "10.0.0.1:80/tcp");
    assert_eq!(services[0]["backends"][0]["state"], "active");
    assert_eq!(services[0]["sessions"], 4);

    let (_, sessions) = lb.json("GET", "/sessions?limit=2", None);
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let (_, sessions) = lb.json("GET", "/sessions?client=10.0.0.8", None);
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(sessions[0]["backend"], "192.168.1.2:8080");
    assert_eq!(sessions[0]["state"], "TcpSynSent");
    let (_, sessions) = lb.json(
        "GET",
        "/sessions?service=10.0.0.1%3A80%2Ftcp&backend=192.168.1.9%3A1",
        None,
    );
    assert_eq!(sessions, json!([]));
    assert_eq!(lb.error("GET", "/sessions?limit=0", None).0, 400);
    assert_eq!(lb.error("GET", "/sessions?limit=99999", None).0, 400);
    assert_eq!(lb.error("GET", "/sessions?client=nobody", None).0, 400);
    assert_eq!(lb.error("GET", "/sessions?colour=red", None).0, 400);

    assert_eq!(lb.json("POST", "/stats/reset", None).0, 200);
    let (_, stats) = lb.json("GET", "/stats", None);
    assert_eq!(
        (
            stats["traffic"]["frames_in"].as_u64(),
            stats["sessions"].as_u64()
        ),
        (Some(0), Some(4))
    );

    assert_eq!(lb.error("PUT", "/stats", None).0, 405);
    assert_eq!(lb.error("DELETE", "/ready", None).0, 405);
    assert_eq!(lb.error("GET", "/nothing/here", None).0, 404);
}

#[test]
fn service_and_backend_changes() {
    let lb = Harness::start(reverse_proxy());
    let services = || lb.json("GET", "/services", None).1;
    let before = services();
    // Refused changes leave the configuration as it was.
    for (method, path, body, status, says) in [
        ("POST", "/services", "{not json", 400, "invalid JSON"),
        (
            "POST",
            "/services",
            r#"{"vip":"10.0.0.1","port":80,"proto":"tcp"}"#,
            409,
            "duplicate service",
        ),
        (
            "POST",
            "/services",
            r#"{"vip":"10.0.0.1","port":70000,"proto":"tcp"}"#,
            400,
            "invalid JSON",
        ),
        (
            "POST",
            "/services",
            r#"{"vip":"10.0.0.300","port":81,"proto":"tcp"}"#,
            400,
            "invalid JSON",
        ),
        (
            "POST",
            "/services",
            r#"{"vip":"10.0.0.1","port":81,"proto":"sctp"}"#,
            400,
            "invalid JSON",
        ),
        (
            "POST",
            "/services",
            r#"{"vip":"10.0.0.1","port":0,"proto":"udp"}"#,
            400,
            "needs a port",
        ),
        (
            "POST",
            "/services",
            r#"{"vip":"10.0.0.1","port":81,"proto":"tcp","colour":1}"#,
            400,
            "unknown field",
        ),
        (
            "POST",
            "/services/10.0.0.1/tcp/80/backends",
            r#"{"ip":"192.168.1.2","port":8080}"#,
            409,
            "already has",
        ),
        (
            "POST",
            "/services/10.0.0.1/tcp/80/backends",
            r#"{"ip":"192.168.1.3","weight":5000000000}"#,
            400,
            "invalid JSON",
        ),
        (
            "POST",
            "/services/10.0.0.1/tcp/81/backends",
            r#"{"ip":"192.168.1.3"}"#,
            404,
            "no service 10.0.0.1:81/tcp",
        ),
        (
            "PUT",
            "/services/10.0.0.1/tcp/80/backends/192.168.1.9:8080",
            r#"{"weight":3}"#,
            404,
            "has no backend",
        ),
        (
            "PUT",
            "/services/10.0.0.1/tcp/80/backends/192.168.1.2:8080",
            r#"{"weight":-1}"#,
            400,
            "invalid JSON",
        ),
        (
            "PUT",
            "/services/10.0.0.1/tcp/80/backends/bogus",
            r#"{"weight":1}"#,
            400,
            "invalid backend",
        ),
        ("DELETE", "/services/10.0.0.1/tcp/81", "", 404, "no service"),
        (
            "DELETE",
            "/services/10.0.0.999/tcp/80",
            "",
            400,
            "invalid service",
        ),
        ("PATCH", "/services/10.0.0.1/tcp/80", "", 404, "no route"),
    ] {
        let body = (!body.is_empty()).then_some(body);
        let (got, message) = lb.error(method, path, body);
        assert_eq!(got, status, "{method} {path}: {message}");
        assert!(message.contains(says), "{method} {path}: {message}");
        assert_eq!(
            services(),
            before,
            "{method} {path} changed the configuration"
        );
    }

    // Accepted changes.
    let (status, added) = lb.json("POST", "/services", Some(r#"{"vip":"10.0.0.5","port":53,"proto":"all","backend":[{"ip":"192.168.1.7","port":5353}]}"#));
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        added["added"],
        json!(["10.0.0.5:53/tcp", "10.0.0.5:53/udp", "10.0.0.5/icmp"])
    );
    let (status, added) = lb.json(
        "POST",
        "/services/10.0.0.1/tcp/80/backends",
        Some(r#"{"ip":"192.168.1.3","weight":10}"#),
    );
    assert_eq!(
        (status, added["added"].as_str()),
        (201, Some("192.168.1.3:80"))
    );
    assert_eq!(
        lb.json(
            "PUT",
            "/services/10.0.0.1/tcp/80/backends/192.168.1.3:80",
            Some(r#"{"weight":7}"#)
        )
        .0,
        200
    );
    assert_eq!(
        lb.json(
            "POST",
            "/services/10.0.0.1/tcp/80/backends/192.168.1.2:8080/drain",
            None
        )
        .0,
        200
    );
    let now = services();
    let service = now
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "10.0.0.1:80/tcp")
        .unwrap();
    let backends = service["backends"].as_array().unwrap();
    assert_eq!(
        (&backends[0]["state"], &backends[0]["weight"]),
        (&json!("draining"), &json!(0))
    );
    assert_eq!(backends[1]["weight"], 7);
    let (status, removed) = lb.json(
        "DELETE",
        "/services/10.0.0.1/tcp/80/backends/192.168.1.3:80",
        None,
    );
    assert_eq!((status, removed["sessions_ended"].as_u64()), (200, Some(0)));
    assert_eq!(lb.json("DELETE", "/services/10.0.0.5/icmp", None).0, 200);
    let names: Vec<Value> = services()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(
        names,
        json!(["10.0.0.1:80/tcp", "10.0.0.5:53/tcp", "10.0.0.5:53/udp"])
            .as_array()
            .unwrap()
            .clone()
    );
}

#[test]
fn direct_return_and_proxy_routes() {
    let dsr = Harness::start(
        DirectReturn::new(&DirectReturnConfig {
            vips: vec!["10.0.0.100".parse().unwrap()],
            mac: "02:00:00:00:01:00".parse().unwrap(),
            backend_port_mac: None,
            backends: vec![DsrBackendConfig {
                mac: "02:00:00:00:02:01".parse().unwrap(),
                weight: 1,
            }],
            policy: lb_algos::Policy::SrcIpHash,
            one_armed: true,
            sessions: Default::default(),
            selection: Default::default(),
        })
        .unwrap(),
    );
    assert_eq!(
        dsr.json(
            "POST",
            "/backends",
            Some(r#"{"mac":"02:00:00:00:02:02","weight":3}"#)
        )
        .0,
        201
    );
    assert_eq!(
        dsr.error("POST", "/backends", Some(r#"{"mac":"02:00:00:00:02:02"}"#))
            .0,
        409
    );
    assert_eq!(
        dsr.error("POST", "/backends", Some(r#"{"mac":"ff:ff:ff:ff:ff:ff"}"#))
            .0,
        400
    );
    assert_eq!(
        dsr.error("POST", "/backends", Some(r#"{"mac":"nope"}"#)).0,
        400
    );
    assert_eq!(
        dsr.json(
            "PUT",
            "/backends/02:00:00:00:02:02",
            Some(r#"{"weight":9}"#)
        )
        .0,
        200
    );
    assert_eq!(
        dsr.json("POST", "/backends/02:00:00:00:02:01/drain", None)
            .0,
        200
    );
    assert_eq!(
        dsr.error("DELETE", "/backends/02:00:00:00:02:09", None).0,
        404
    );
    assert_eq!(
        dsr.json("POST", "/vips", Some(r#"{"vip":"10.0.0.101"}"#)).0,
        201
    );
    assert_eq!(
        dsr.error("POST", "/vips", Some(r#"{"vip":"10.0.0.101"}"#))
            .0,
        409
    );
    assert_eq!(dsr.json("DELETE", "/vips/10.0.0.100", None).0, 200);
    let (_, services) = dsr.json("GET", "/services", None);
    assert_eq!(services[0]["name"], "10.0.0.101");
    let weights: Vec<Value> = services[0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["weight"].clone())
        .collect();
    assert_eq!(weights, vec![json!(0), json!(9)]);

    let proxy = Harness::start(
        NatProxy::new(&NatProxyConfig {
            ip: "192.168.0.100".parse().unwrap(),
            prefix_len: 24,
            mac: "02:00:00:00:00:64".parse().unwrap(),
            gateway: None,
            dst_addrs: vec!["192.168.0.1".parse().unwrap()],
            policy: lb_algos::Policy::Random,
            snat_ports: Default::default(),
            denied_ports: Vec::new(),
            sessions: Default::default(),
            selection: Default::default(),
            arp: Default::default(),
        })
        .unwrap(),
    );
    assert_eq!(
        proxy
            .json("POST", "/backends", Some(r#"{"ip":"192.168.0.2"}"#))
            .0,
        201
    );
    assert_eq!(
        proxy
            .error("POST", "/backends", Some(r#"{"ip":"10.9.9.9"}"#))
            .0,
        400,
        "off-link, no gateway"
    );
    assert_eq!(
        proxy.json("POST", "/backends/192.168.0.1/drain", None).0,
        200
    );
    assert_eq!(proxy.json("DELETE", "/backends/192.168.0.2", None).0, 200);
    assert_eq!(
        proxy
            .error("PUT", "/backends/192.168.0.2", Some(r#"{"weight":1}"#))
            .0,
        404
    );
}

#[test]
fn lbctl_reads_like_polycubectl() {
    let lb = Harness::start(reverse_proxy());
    let (ok, out, err) = lb.lbctl(&[
        "backend",
        "add",
        "10.0.0.1:80/tcp",
        "192.168.1.3:8080",
        "--weight",
        "10",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("added \"192.168.1.3:8080\" with weight 10"),
        "{out}"
    );
    let (ok, out, _) = lb.lbctl(&[
        "service",
        "add",
        "10.0.0.2:53/udp",
        "--backend",
        "192.168.1.9:5353@4",
    ]);
    assert!(ok && out.contains("10.0.0.2:53/udp"), "{out}");
    let (ok, out, _) = lb.lbctl(&["service", "list"]);
    assert!(ok);
    let line = out
        .lines()
        .find(|l| l.contains("192.168.1.3:8080"))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&words[1..3], ["weight", "10"], "{out}");
    assert!(out.contains("10.0.0.1:80/tcp"), "{out}");
    let (ok, out, _) = lb.lbctl(&["--json", "backend", "list", "10.0.0.2:53/udp"]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["backends"][0]["weight"], 4);
    assert!(
        lb.lbctl(&["backend", "drain", "10.0.0.1:80/tcp", "192.168.1.3:8080"])
            .0
    );
    assert!(
        lb.lbctl(&[
            "backend",
            "set",
            "10.0.0.1:80/tcp",
            "192.168.1.3:8080",
            "--weight",
            "2"
        ])
        .0
    );
    assert!(
        lb.lbctl(&["backend", "del", "10.0.0.1:80/tcp", "192.168.1.3:8080"])
            .0
    );
    let (ok, _, err) = lb.lbctl(&["backend", "del", "10.0.0.9:80/tcp", "192.168.1.3:8080"]);
    assert!(
        !ok && err.contains("no service 10.0.0.9:80/tcp (HTTP 404)"),
        "{err}"
    );
    let (ok, out, _) = lb.lbctl(&["stats", "--prometheus"]);
    assert!(ok && out.contains("lb_frames_received_total"), "{out}");
    assert!(lb.lbctl(&["stats"]).1.contains("engine      reverse_proxy"));
    assert!(lb.lbctl(&["ready"]).0);
    let unreachable = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(["--admin", "127.0.0.1:1", "ready"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the admin endpoint")
    );
}
