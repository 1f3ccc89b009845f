//! The admin API, route by route, against engines run by a stand-in packet
//! thread. No privileges needed.

mod common;

use std::time::Duration;

use common::*;
use lb_engine::{
    DirectReturn, DirectReturnConfig, DsrBackendConfig, NatProxy, NatProxyConfig, PortId,
};
use serde_json::{Value, json};

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
    assert_eq!(backends[1]["health"], "unknown");

    // Health forced down, shown with why, counted by Prometheus; then auto.
    let health = "/services/10.0.0.1/tcp/80/backends/192.168.1.3:80/health";
    let (status, forced) = lb.json("PUT", health, Some(r#"{"force":"down"}"#));
    assert_eq!(
        (status, &forced["force"]),
        (200, &json!("down")),
        "{forced}"
    );
    let backend = |services: Value| services[0]["backends"][1].clone();
    let down = backend(services());
    assert_eq!(
        (&down["health"], &down["health_detail"]["forced"]),
        (&json!("down"), &json!("down"))
    );
    let (_, prometheus) = lb.call("GET", "/stats/prometheus", None);
    assert!(
        prometheus.contains(r#"lb_backend_up{engine="reverse_proxy",service="10.0.0.1:80/tcp",backend="192.168.1.3:80"} 0"#),
        "{prometheus}"
    );
    assert_eq!(lb.json("PUT", health, Some(r#"{"force":"auto"}"#)).0, 200);
    assert_eq!(backend(services())["health"], "unknown");
    assert_eq!(
        lb.json("PUT", health, Some(r#"{"force":"sideways"}"#)).0,
        400
    );
    let unknown = "/services/10.0.0.1/tcp/80/backends/192.168.1.99:80/health";
    assert_eq!(lb.json("PUT", unknown, Some(r#"{"force":"down"}"#)).0, 404);

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
            policy: lb_engine::Policy::SrcIpHash,
            one_armed: true,
            sessions: Default::default(),
            selection: Default::default(),
            health: Default::default(),
            health_check: None,
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
            vips: Vec::new(),
            prefix_len: 24,
            mac: "02:00:00:00:00:64".parse().unwrap(),
            gateway: None,
            dst_addrs: vec!["192.168.0.1".parse().unwrap()],
            policy: lb_engine::Policy::Random,
            snat_ports: Default::default(),
            denied_ports: Vec::new(),
            sessions: Default::default(),
            selection: Default::default(),
            arp: Default::default(),
            health: Default::default(),
            health_check: None,
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

/// `/config` and `/config/toml`: the running configuration, changes made
/// through the API included, which a new engine reads back to the same
/// services. Engines run from flags have none.
#[test]
fn the_running_configuration_reads_back() {
    use lb_engine::{Control, ReverseProxy, ReverseProxyConfig};

    let lb = Harness::start(reverse_proxy());
    let backends = "/services/10.0.0.1/tcp/80/backends";
    let added = r#"{"ip":"192.168.1.3","port":8080,"weight":5}"#;
    assert_eq!(lb.json("POST", backends, Some(added)).0, 201);
    let added = r#"{"vip":"10.0.0.5","port":53,"proto":"udp","maglev_table_size":251}"#;
    assert_eq!(lb.json("POST", "/services", Some(added)).0, 201);
    let (status, config) = lb.json("GET", "/config", None);
    assert_eq!(status, 200);
    assert_eq!(config["service"][0]["backend"][1]["weight"], 5);
    assert_eq!(config["sessions"]["capacity"], 262_144);

    let (status, text) = lb.call("GET", "/config/toml", None);
    assert_eq!(status, 200, "{text}");
    let read: ReverseProxyConfig = toml::from_str(&text).expect("TOML it wrote");
    let again = ReverseProxy::new(vec![None], &read).unwrap();
    let from_json: ReverseProxyConfig = serde_json::from_value(config).unwrap();
    assert_eq!(again.services(), from_json.services);
    assert_eq!(read, from_json);
    assert_eq!(lb.error("POST", "/config", Some("{}")).0, 405, "read-only");

    let dsr = Harness::start(one_armed_dsr());
    let (status, error) = dsr.error("GET", "/config/toml", None);
    assert_eq!(status, 404);
    assert!(error.contains("configured by its flags"), "{error}");
}

/// IPv6 services and backends through the API: added, listed in their
/// usual forms (`[fd0d::13]:80/tcp`), changed by path (`fd0d::13/tcp/80`,
/// `[fd01::5]:8080`), labelled in Prometheus; one of the other family
/// refused.
#[test]
fn ipv6_services_and_backends() {
    let lb = Harness::start(reverse_proxy());
    let (status, added) = lb.json(
        "POST",
        "/services",
        Some(r#"{"vip":"fd0d::13","port":80,"proto":"tcp","backend":[{"ip":"fd01::2","port":8080}]}"#),
    );
    assert_eq!(
        (status, added["added"].clone()),
        (201, json!(["[fd0d::13]:80/tcp"]))
    );
    let (status, added) = lb.json(
        "POST",
        "/services/fd0d::13/tcp/80/backends",
        Some(r#"{"ip":"fd01::5","port":8080,"weight":2}"#),
    );
    assert_eq!(
        (status, added["added"].as_str()),
        (201, Some("[fd01::5]:8080"))
    );
    let (status, said) = lb.json(
        "POST",
        "/services/fd0d::13/tcp/80/backends",
        Some(r#"{"ip":"192.168.1.9"}"#),
    );
    assert_eq!(status, 400, "{said}");
    assert!(
        said.to_string()
            .contains("backend 192.168.1.9 is IPv4 where IPv6 is needed"),
        "{said}"
    );
    let (status, _) = lb.json(
        "PUT",
        "/services/fd0d::13/tcp/80/backends/[fd01::5]:8080",
        Some(r#"{"weight":7}"#),
    );
    assert_eq!(status, 200);
    let services = lb.json("GET", "/services", None).1;
    let listed = services.to_string();
    assert!(listed.contains("\"[fd0d::13]:80/tcp\""), "{listed}");
    assert!(listed.contains("\"[fd01::5]:8080\""), "{listed}");
    let (status, text) = lb.call("GET", "/stats/prometheus", None);
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"service="[fd0d::13]:80/tcp",backend="[fd01::2]:8080""#),
        "{text}"
    );
    let (status, _) = lb.json(
        "DELETE",
        "/services/fd0d::13/tcp/80/backends/[fd01::5]:8080",
        None,
    );
    assert_eq!(status, 200);
}

/// `/src-ip-rewrite`: read, set, refused when in a VIP's way, shown in the
/// running configuration, removed; other engines have none.
#[test]
fn source_ip_rewrite_routes() {
    let lb = Harness::start(reverse_proxy());
    let route = "/src-ip-rewrite";
    assert_eq!(
        lb.json("GET", route, None),
        (200, serde_json::json!({ "src_ip_rewrite": null }))
    );
    let ranges = r#"{"ip_range":"10.1.0.0/24","new_ip_range":"20.0.0.0/24"}"#;
    let (status, set) = lb.json("PUT", route, Some(ranges));
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["src_ip_rewrite"]["new_ip_range"], "20.0.0.0/24");
    assert_eq!(lb.json("GET", route, None).1, set);
    let (status, config) = lb.json("GET", "/config", None);
    assert_eq!(status, 200);
    assert_eq!(config["src_ip_rewrite"]["ip_range"], "10.1.0.0/24");
    let (status, error) = lb.error(
        "PUT",
        route,
        Some(r#"{"ip_range":"10.0.0.0/24","new_ip_range":"20.0.0.0/24"}"#),
    );
    assert_eq!(
        (status, error.as_str()),
        (
            400,
            "src_ip_rewrite: VIP 10.0.0.1 is in 10.0.0.0/24, a range of rewritten client addresses"
        )
    );
    let (status, error) = lb.error(
        "PUT",
        route,
        Some(r#"{"ip_range":"10.1.0.0/24","new_ip_range":"20.0.0.0/16"}"#),
    );
    assert_eq!(status, 400);
    assert!(error.contains("need the same prefix length"), "{error}");
    let (status, error) = lb.error("PUT", route, Some(r#"{"ip_range":"10.1.0.0/24"}"#));
    assert_eq!(status, 400);
    assert!(error.contains("missing field `new_ip_range`"), "{error}");
    assert_eq!(
        lb.json("GET", route, None).1,
        set,
        "refusals changed nothing"
    );
    assert_eq!(
        lb.json("DELETE", route, None),
        (200, serde_json::json!({ "src_ip_rewrite": null }))
    );
    assert_eq!(
        lb.json("GET", "/config", None).1.get("src_ip_rewrite"),
        None
    );
    assert_eq!(lb.error("POST", route, Some(ranges)).0, 405);

    let dsr = Harness::start(one_armed_dsr());
    let (status, error) = dsr.error("GET", route, None);
    assert_eq!(status, 404);
    assert!(error.contains("only the reverse proxy"), "{error}");
}

/// Names through the API: given when a service or backend is added,
/// shown beside the keys in `/services` and as Prometheus labels.
#[test]
fn names_in_the_api_and_prometheus() {
    let lb = Harness::start(reverse_proxy());
    let added = r#"{"vip":"10.0.0.5","port":53,"proto":"udp","name":"dns","backend":[{"ip":"192.168.1.7","name":"resolver \"a\""}]}"#;
    assert_eq!(lb.json("POST", "/services", Some(added)).0, 201);
    let backend = r#"{"ip":"192.168.1.8","port":8080,"name":"B2"}"#;
    let backends = "/services/10.0.0.1/tcp/80/backends";
    assert_eq!(lb.json("POST", backends, Some(backend)).0, 201);
    let (_, services) = lb.json("GET", "/services", None);
    let dns = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "10.0.0.5:53/udp")
        .unwrap();
    assert_eq!(dns["label"], "dns");
    assert_eq!(dns["backends"][0]["label"], "resolver \"a\"");
    let (status, text) = lb.call("GET", "/stats/prometheus", None);
    assert_eq!(status, 200);
    assert!(
        text.contains(
            "lb_backend_packets_total{engine=\"reverse_proxy\",service=\"10.0.0.5:53/udp\",service_name=\"dns\",backend=\"192.168.1.7:53\",backend_name=\"resolver \\\"a\\\"\"} 0"
        ),
        "{text}"
    );
    assert!(
        text.contains("lb_backend_weight{engine=\"reverse_proxy\",service=\"10.0.0.1:80/tcp\",backend=\"192.168.1.8:8080\",backend_name=\"B2\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "lb_service_sessions{engine=\"reverse_proxy\",service=\"10.0.0.1:80/tcp\"} 0"
        ),
        "an unnamed service has no name label: {text}"
    );
    let bad = r#"{"ip":"192.168.1.9","name":""}"#;
    let (status, error) = lb.error("POST", backends, Some(bad));
    assert_eq!(status, 400);
    assert!(error.contains("give 1 to 64 characters"), "{error}");
}

/// `VIP/all/PORT` in paths: the three halves of an `all` service change
/// together.
#[test]
fn all_services_change_as_one() {
    let lb = Harness::start(reverse_proxy());
    let service =
        r#"{"vip":"10.0.0.9","port":180,"proto":"all","backend":[{"ip":"192.168.1.5","port":80}]}"#;
    let (status, added) = lb.json("POST", "/services", Some(service));
    assert_eq!(status, 201);
    assert_eq!(
        added["added"],
        serde_json::json!(["10.0.0.9:180/tcp", "10.0.0.9:180/udp", "10.0.0.9/icmp"])
    );
    let backends = "/services/10.0.0.9/all/180/backends";
    let (status, added) = lb.json("POST", backends, Some(r#"{"ip":"192.168.1.6","port":80}"#));
    assert_eq!(
        (status, &added["service"]),
        (201, &serde_json::json!("10.0.0.9:180/all"))
    );
    let (status, _) = lb.json(
        "PUT",
        &format!("{backends}/192.168.1.6:80"),
        Some(r#"{"weight":4}"#),
    );
    assert_eq!(status, 200);
    let (_, services) = lb.json("GET", "/services", None);
    let weights: Vec<u64> = services
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("10.0.0.9"))
        .map(|s| s["backends"][1]["weight"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, [4, 4, 4]);
    let (status, removed) = lb.json("DELETE", "/services/10.0.0.9/all/180", None);
    assert_eq!(
        (status, &removed["removed"]),
        (200, &serde_json::json!("10.0.0.9:180/all"))
    );
    let (status, error) = lb.error("DELETE", "/services/10.0.0.9/all/180", None);
    assert_eq!(status, 404);
    assert_eq!(error, "no service 10.0.0.9:180/tcp");
}

/// `/frontend`: lb-dsr's MAC and algorithm, read and changed; refused
/// where there is none.
#[test]
fn frontend_routes() {
    let dsr = Harness::start(one_armed_dsr());
    let (status, view) = dsr.json("GET", "/frontend", None);
    assert_eq!(status, 200);
    assert_eq!(view["mac"], "02:00:00:00:01:00");
    assert_eq!(view["algorithm"], "src-ip-hash");
    let change = r#"{"mac":"02:00:00:00:01:01","algorithm":"maglev"}"#;
    let (status, view) = dsr.json("PUT", "/frontend", Some(change));
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (&view["mac"], &view["backend_port_mac"], &view["algorithm"]),
        (
            &serde_json::json!("02:00:00:00:01:01"),
            &serde_json::json!("02:00:00:00:01:01"),
            &serde_json::json!("maglev")
        ),
        "the backend port's MAC followed"
    );
    let (status, error) = dsr.error("PUT", "/frontend", Some(r#"{"mac":"ff:ff:ff:ff:ff:ff"}"#));
    assert_eq!(status, 400);
    assert!(error.contains("not unicast"), "{error}");
    assert_eq!(
        dsr.error("PUT", "/frontend", Some(r#"{"colour":"red"}"#)).0,
        400
    );
    let rp = Harness::start(reverse_proxy());
    let (status, error) = rp.error("GET", "/frontend", None);
    assert_eq!(status, 404);
    assert!(error.contains("only the direct-return"), "{error}");
}
