//! Each service's Maglev table: sized from its backend count unless the
//! configuration sets a size, for the service or for all of them; sizes
//! that cannot work are refused with their reason.

use std::time::Instant;

use lb_engine::{
    BackendConfig, ConfigError, Control, Observe, ReverseProxy, ReverseProxyConfig, ServiceConfig,
    ServiceSelector,
};

fn engine(text: &str) -> Result<ReverseProxy, ConfigError> {
    let config: ReverseProxyConfig = toml::from_str(text).unwrap();
    ReverseProxy::new(vec![None], &config)
}

/// The table size `/services` shows for each service, by name.
fn sizes(lb: &ReverseProxy) -> Vec<(String, Option<u64>)> {
    let stats = lb.stats(Instant::now());
    let services = stats.services.into_iter();
    services.map(|s| (s.name, s.maglev_table_size)).collect()
}

const TWO_SERVICES: &str = r#"
    [[service]]
    vip = "10.0.0.1"
    port = 80
    proto = "tcp"
    backend = [{ ip = "192.168.1.2" }]
    [[service]]
    vip = "10.0.0.1"
    port = 443
    proto = "tcp"
    maglev_table_size = 251
    backend = [{ ip = "192.168.1.2" }, { ip = "192.168.1.3" }]
"#;

#[test]
fn sizes_follow_the_backend_count_unless_set() {
    let mut lb = engine(TWO_SERVICES).unwrap();
    assert_eq!(
        sizes(&lb),
        [
            ("10.0.0.1:443/tcp".to_owned(), Some(251)),
            ("10.0.0.1:80/tcp".to_owned(), Some(1021)),
        ]
    );
    let web: ServiceSelector = "10.0.0.1:80/tcp".parse().unwrap();
    for n in 3..6 {
        let backend: BackendConfig = format!("192.168.1.{n}").parse().unwrap();
        lb.add_backend(web, &backend).unwrap();
    }
    assert_eq!(sizes(&lb)[1].1, Some(4093), "four backends");
    // A drained backend still holds its place in the table's sizing.
    lb.drain(web, "192.168.1.5".parse().unwrap()).unwrap();
    assert_eq!(sizes(&lb)[1].1, Some(4093));
    // The configuration round-trips: only the size that was set is written.
    let services = lb.services();
    assert_eq!(services[0].maglev_table_size, None);
    assert_eq!(services[1].maglev_table_size, Some(251));
}

#[test]
fn a_size_for_every_service_and_one_of_its_own() {
    let text = format!("[selection]\nmaglev_table_size = 65537\n{TWO_SERVICES}");
    let lb = engine(&text).unwrap();
    assert_eq!(
        sizes(&lb),
        [
            ("10.0.0.1:443/tcp".to_owned(), Some(251)),
            ("10.0.0.1:80/tcp".to_owned(), Some(65537)),
        ]
    );
}

#[test]
fn sizes_that_cannot_work_are_refused() {
    let not_prime = TWO_SERVICES.replace("251", "250");
    assert_eq!(
        engine(&not_prime).unwrap_err().to_string(),
        "backend selection: Maglev table size 250 is not prime"
    );
    let round_robin = TWO_SERVICES.replace(
        "maglev_table_size = 251",
        "policy = \"round-robin\"\n    maglev_table_size = 251",
    );
    assert_eq!(
        engine(&round_robin).unwrap_err().to_string(),
        "service 10.0.0.1:443/tcp: maglev_table_size applies to the maglev policy only"
    );
    // A running service refuses a backend its table has no room for.
    let mut lb = engine(&TWO_SERVICES.replace("251", "3")).unwrap();
    let tls: ServiceSelector = "10.0.0.1:443/tcp".parse().unwrap();
    let third: BackendConfig = "192.168.1.4".parse().unwrap();
    lb.add_backend(tls, &third).unwrap();
    let fourth: BackendConfig = "192.168.1.9".parse().unwrap();
    assert_eq!(
        lb.add_backend(tls, &fourth).unwrap_err().to_string(),
        "backend selection: Maglev table size 3 is smaller than the 4 backends"
    );
    assert_eq!(lb.services()[1].backends.len(), 3, "unchanged");
}

#[test]
fn a_reload_resizes_a_table() {
    let mut lb = engine(TWO_SERVICES).unwrap();
    let mut services: Vec<ServiceConfig> = lb.services();
    services[0].maglev_table_size = Some(8191);
    services[1].maglev_table_size = None;
    lb.replace_services(&services).unwrap();
    assert_eq!(
        sizes(&lb),
        [
            ("10.0.0.1:443/tcp".to_owned(), Some(2039)),
            ("10.0.0.1:80/tcp".to_owned(), Some(8191)),
        ]
    );
}
