//! The reverse proxy the fixtures run: one VIP with tcp/80, udp/53 and
//! icmp services to one backend, and the frames' fixed endpoints.

use std::net::Ipv4Addr;
use std::time::Instant;

use lb_engine::{Engine, PortId, ReverseProxy, ReverseProxyConfig, Verdict};

use super::{BACKEND_MAC, CLIENT_MAC, ROUTER_MAC, ip};

pub const FRONTEND: PortId = PortId(0);
pub const BACKENDS: PortId = PortId(1);

pub fn vip() -> Ipv4Addr {
    ip(10, 0, 0, 1)
}
pub fn client() -> Ipv4Addr {
    ip(10, 0, 0, 2)
}
pub fn backend() -> Ipv4Addr {
    ip(192, 168, 1, 2)
}
pub const IN: (lb_packet::MacAddr, lb_packet::MacAddr) = (CLIENT_MAC, ROUTER_MAC);
pub const OUT: (lb_packet::MacAddr, lb_packet::MacAddr) = (BACKEND_MAC, CLIENT_MAC);

pub const CONFIG: &str = r#"
[[service]]
vip = "10.0.0.1"
port = 80
proto = "tcp"
[[service.backend]]
ip = "192.168.1.2"
port = 8080

[[service]]
vip = "10.0.0.1"
port = 53
proto = "udp"
[[service.backend]]
ip = "192.168.1.2"
port = 5353

[[service]]
vip = "10.0.0.1"
proto = "icmp"
[[service.backend]]
ip = "192.168.1.2"
"#;

pub fn engine() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// Runs one frame through the engine; checks verdict and output bytes.
pub fn check(
    engine: &mut ReverseProxy,
    now: Instant,
    port: PortId,
    input: &[u8],
    verdict: Verdict,
    output: &[u8],
) {
    let mut frame = input.to_vec();
    assert_eq!(engine.handle_frame(now, port, &mut frame), verdict);
    assert_eq!(frame, output, "output bytes");
}
