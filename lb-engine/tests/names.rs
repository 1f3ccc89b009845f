//! Names given to services and backends (polycubectl's `name=`): in
//! stats beside their keys, in the running configuration, through changes
//! and reloads; names that cannot print on a line refused.

use std::time::Instant;

use lb_engine::{
    BackendConfig, ConfigError, Control, Observe, ReverseProxy, ReverseProxyConfig, ServiceKey,
    ServiceSelector, ServiceStats,
};

const CONFIG: &str = r#"
[[service]]
vip = "192.168.0.1"
port = 180
proto = "all"
name = "service1"
backend = [
    { ip = "10.0.0.1", port = 80, weight = 50, name = "B1" },
    { ip = "10.0.0.2", port = 80 },
]
"#;

fn engine() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// A key or address, and the name given to it.
type Labelled = (String, Option<String>);

/// Each service's key and name, with its backends' addresses and names.
fn labels(services: &[ServiceStats]) -> Vec<(String, Option<String>, Vec<Labelled>)> {
    services
        .iter()
        .map(|s| {
            let backends = s.backends.iter().map(|b| (b.name.clone(), b.label.clone()));
            (s.name.clone(), s.label.clone(), backends.collect())
        })
        .collect()
}

fn named(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[test]
fn names_show_beside_keys_and_follow_changes() {
    let mut lb = engine();
    let now = Instant::now();
    let stats = lb.stats(now);
    let expected_backends = vec![
        ("10.0.0.1:80".to_owned(), named("B1")),
        ("10.0.0.2:80".to_owned(), None),
    ];
    let mut shown = labels(&stats.services);
    shown.sort();
    assert_eq!(
        shown,
        vec![
            (
                "192.168.0.1/icmp".to_owned(),
                named("service1"),
                vec![
                    ("10.0.0.1:0".to_owned(), named("B1")),
                    ("10.0.0.2:0".to_owned(), None),
                ]
            ),
            (
                "192.168.0.1:180/tcp".to_owned(),
                named("service1"),
                expected_backends.clone()
            ),
            (
                "192.168.0.1:180/udp".to_owned(),
                named("service1"),
                expected_backends
            ),
        ]
    );
    let json = serde_json::to_value(&stats.services[0]).unwrap();
    assert_eq!(json["label"], "service1");

    // Written back: the running configuration reads as the file did.
    let config = lb.config().unwrap();
    let tcp = config.services.iter().find(|s| s.port == 180).unwrap();
    assert_eq!(tcp.name.as_deref(), Some("service1"));
    assert_eq!(tcp.backends[0].name.as_deref(), Some("B1"));
    assert_eq!(tcp.backends[1].name, None);

    // A backend added with a name; a removed one forgets its own.
    let key: ServiceSelector = "192.168.0.1:180/tcp".parse().unwrap();
    lb.add_backend(
        key,
        &BackendConfig::new([10, 0, 0, 3], 1).port(80).named("B3"),
    )
    .unwrap();
    lb.remove_backend(key, "10.0.0.1:80".parse().unwrap())
        .unwrap();
    lb.add_backend(key, &BackendConfig::new([10, 0, 0, 1], 1).port(80))
        .unwrap();
    let stats = lb.stats(now);
    let tcp = stats
        .services
        .iter()
        .find(|s| s.name == "192.168.0.1:180/tcp")
        .unwrap();
    let backends: Vec<_> = labels(std::slice::from_ref(tcp)).remove(0).2;
    assert!(
        backends.contains(&("10.0.0.3:80".to_owned(), named("B3"))),
        "{backends:?}"
    );
    assert!(
        backends.contains(&("10.0.0.1:80".to_owned(), None)),
        "{backends:?}"
    );

    // A reload renames and unnames.
    let mut reloaded: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    reloaded.services[0].name = Some("web".to_owned());
    reloaded.services[0].backends[0].name = None;
    lb.replace_services(&reloaded.services).unwrap();
    let stats = lb.stats(now);
    assert!(
        stats
            .services
            .iter()
            .all(|s| s.label.as_deref() == Some("web"))
    );
    assert!(
        stats
            .services
            .iter()
            .flat_map(|s| &s.backends)
            .all(|b| b.label.is_none()),
        "{:?}",
        labels(&stats.services)
    );
    // A service removed takes its names with it.
    lb.remove_service(key).unwrap();
    let config = lb.config().unwrap();
    assert!(
        config
            .services
            .iter()
            .all(|s| s.port != 180 || s.proto != lb_engine::ServiceProtocol::Tcp)
    );
}

#[test]
fn names_that_would_not_print_on_a_line_are_refused() {
    for bad in ["", "line\nbreak", &"x".repeat(65)] {
        let config = CONFIG.replace("\"service1\"", &format!("{bad:?}"));
        let config: ReverseProxyConfig = toml::from_str(&config).unwrap();
        let error = ReverseProxy::new(vec![None], &config).unwrap_err();
        assert_eq!(error, ConfigError::Name(bad.to_owned()));
        assert!(
            error
                .to_string()
                .ends_with("give 1 to 64 characters, none of them control characters"),
            "{error}"
        );
    }
    let mut lb = engine();
    let key: ServiceSelector = "192.168.0.1:180/tcp".parse().unwrap();
    let tab = BackendConfig::new([10, 0, 0, 9], 1).named("a\tb");
    assert!(matches!(
        lb.add_backend(key, &tab),
        Err(ConfigError::Name(_))
    ));
    let tcp: ServiceKey = "192.168.0.1:180/tcp".parse().unwrap();
    assert!(lb.set_backend(tcp, &tab).is_err());
    assert_eq!(
        lb.stats(Instant::now()).services[0].backends.len(),
        2,
        "nothing added"
    );
    // 64 characters, any script, is a name.
    let long = "é".repeat(64);
    lb.add_backend(
        key,
        &BackendConfig::new([10, 0, 0, 9], 1).named(long.as_str()),
    )
    .unwrap();
}
