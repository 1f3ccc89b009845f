//! An `all` service stays one thing at run time: `VIP:PORT/all` changes
//! its TCP, UDP and ICMP halves together, and a change one half refuses
//! changes none.

use std::time::Instant;

use lb_engine::{
    BackendAddr, BackendConfig, ConfigError, Control, HealthOverride, Observe, ReverseProxy,
    ReverseProxyConfig, ServiceSelector,
};

const CONFIG: &str = r#"
[[service]]
vip = "192.168.0.1"
port = 180
proto = "all"
backend = [{ ip = "10.0.0.1", port = 80 }, { ip = "10.0.0.2", port = 80 }]
"#;

fn engine() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// Each half's backends with their weights, as `/services` shows them.
fn halves(lb: &ReverseProxy) -> Vec<(String, Vec<(String, u32)>)> {
    let mut services: Vec<_> = lb
        .stats(Instant::now())
        .services
        .into_iter()
        .map(|s| {
            let backends = s.backends.iter().map(|b| (b.name.clone(), b.weight));
            (s.name, backends.collect())
        })
        .collect();
    services.sort();
    services
}

fn all() -> ServiceSelector {
    "192.168.0.1:180/all".parse().unwrap()
}

#[test]
fn backends_of_all_three_halves_change_together() {
    let mut lb = engine();
    let added = lb
        .add_backend(all(), &BackendConfig::new([10, 0, 0, 3], 4).port(80))
        .unwrap();
    assert_eq!(added.to_string(), "10.0.0.3:80");
    let backend: BackendAddr = "10.0.0.3:80".parse().unwrap();
    lb.set_weight(all(), backend, 7).unwrap();
    let each = |weight| {
        vec![
            ("10.0.0.1".to_owned(), 1),
            ("10.0.0.2".to_owned(), 1),
            ("10.0.0.3".to_owned(), weight),
        ]
    };
    let with_ports = |port: &str, weight| -> Vec<(String, u32)> {
        each(weight)
            .into_iter()
            .map(|(ip, w)| (format!("{ip}:{port}"), w))
            .collect()
    };
    assert_eq!(
        halves(&lb),
        vec![
            ("192.168.0.1/icmp".to_owned(), with_ports("0", 7)),
            ("192.168.0.1:180/tcp".to_owned(), with_ports("80", 7)),
            ("192.168.0.1:180/udp".to_owned(), with_ports("80", 7)),
        ]
    );
    lb.force_health(all(), backend, Some(HealthOverride::Down))
        .unwrap();
    let stats = lb.stats(Instant::now());
    let forced = stats
        .services
        .iter()
        .flat_map(|s| &s.backends)
        .filter(|b| b.health_detail.forced == Some(HealthOverride::Down))
        .count();
    assert_eq!(forced, 3, "each half's 10.0.0.3");
    lb.remove_backend(all(), backend).unwrap();
    assert!(halves(&lb).iter().all(|(_, backends)| backends.len() == 2));
    let ended = lb.remove_service(all()).unwrap();
    assert_eq!(ended, 0);
    assert!(halves(&lb).is_empty());
}

#[test]
fn a_change_one_half_refuses_changes_no_half() {
    let mut lb = engine();
    let tcp: ServiceSelector = "192.168.0.1:180/tcp".parse().unwrap();
    // The TCP half alone gets 10.0.0.3: adding it to all is refused.
    lb.add_backend(tcp, &BackendConfig::new([10, 0, 0, 3], 1).port(80))
        .unwrap();
    let before = halves(&lb);
    assert_eq!(
        lb.add_backend(all(), &BackendConfig::new([10, 0, 0, 3], 1).port(80)),
        Err(ConfigError::duplicate_backend(
            "192.168.0.1:180/tcp",
            "10.0.0.3:80"
        ))
    );
    // Nor can it be weighed or removed through all: the UDP half lacks it.
    let backend: BackendAddr = "10.0.0.3:80".parse().unwrap();
    assert_eq!(
        lb.set_weight(all(), backend, 3),
        Err(ConfigError::unknown_backend(
            "192.168.0.1:180/udp",
            "10.0.0.3:80"
        ))
    );
    assert!(lb.remove_backend(all(), backend).is_err());
    assert_eq!(halves(&lb), before, "nothing changed");
    // A half removed alone: all no longer names a whole service.
    let udp: ServiceSelector = "192.168.0.1:180/udp".parse().unwrap();
    lb.remove_service(udp).unwrap();
    assert_eq!(
        lb.remove_service(all()),
        Err(ConfigError::UnknownService(
            "192.168.0.1:180/udp".to_owned()
        ))
    );
    assert_eq!(halves(&lb).len(), 2, "the other halves stay");
}
