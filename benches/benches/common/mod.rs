//! What the engine benchmarks share: a reverse proxy with one TCP
//! service, and its clients' frames.

// Each benchmark uses some of these.
#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;

use lb_engine::{PortId, ReverseProxy, ReverseProxyConfig, SessionSettings};
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr};

pub const FRONTEND: PortId = PortId(0);

/// A reverse proxy in SINGLE mode with room for `capacity` sessions.
pub fn engine(capacity: usize) -> ReverseProxy {
    engine_with(SessionSettings {
        capacity,
        ..SessionSettings::default()
    })
}

/// The same with these session settings: one TCP service, 10.0.0.1:80 to
/// 192.168.1.2 and .3, port 8080.
pub fn engine_with(sessions: SessionSettings) -> ReverseProxy {
    engine_of(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        port = 8080
        [[service.backend]]
        ip = "192.168.1.3"
        port = 8080
        "#,
        sessions,
    )
}

/// A reverse proxy in SINGLE mode serving `services` (TOML).
pub fn engine_of(services: &str, sessions: SessionSettings) -> ReverseProxy {
    let mut config: ReverseProxyConfig = toml::from_str(services).unwrap();
    config.sessions = sessions;
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// A 64-byte TCP segment with `flags` from client `n` to the VIP.
pub fn client_frame(n: u32, flags: u8) -> Vec<u8> {
    let (client, lb) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    let mut frame = FrameRepr::ipv4(
        EthernetRepr::new(client, lb),
        Ipv4Repr::new(Ipv4Addr::from(0x0a01_0000 + n), Ipv4Addr::new(10, 0, 0, 1)),
        TcpRepr::new(1024 + (n % 60000) as u16, 80, TcpFlags::from_bits(flags)),
        b"",
    )
    .to_vec()
    .unwrap();
    frame.resize(64, 0);
    frame
}
