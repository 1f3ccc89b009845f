//! One service, VIP:80/tcp on backends 192.168.1.N:8080, and whole TCP
//! segments through it from clients and from backends.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use lb_engine::{Engine, MacAddr, ReverseProxy, ReverseProxyConfig, Verdict};
use lb_packet::{Frame, TcpFlags};

use super::rp::{BACKENDS, FRONTEND};
use super::segment;

pub const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
pub const IN: (MacAddr, MacAddr) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
pub const OUT: (MacAddr, MacAddr) = (MacAddr([2, 0, 0, 0, 0, 3]), MacAddr([2, 0, 0, 0, 0, 2]));
/// The backends' ISN in every SYN-ACK.
pub const SERVER_ISN: u32 = 5000;

/// A reverse proxy with the service VIP:80 on backends 192.168.1.N:8080.
pub fn proxy(backends: &[u8]) -> ReverseProxy {
    proxy_with(backends, "")
}

/// The same, with more configuration (TOML) after the service.
pub fn proxy_with(backends: &[u8], more: &str) -> ReverseProxy {
    let list: Vec<String> = backends
        .iter()
        .map(|n| format!("{{ ip = \"192.168.1.{n}\", port = 8080 }}"))
        .collect();
    let text = format!(
        "[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\nbackend = [{}]\n{more}",
        list.join(", ")
    );
    let config: ReverseProxyConfig = toml::from_str(&text).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

pub fn client(n: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a09_0000 + n), 40000)
}

/// Sends a client's segment; where it went, if on to the backends.
pub fn from_client(
    lb: &mut ReverseProxy,
    now: Instant,
    c: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
) -> Option<SocketAddrV4> {
    let mut frame = segment(IN, c, VIP, flags, seq, ack);
    let verdict = lb.handle_frame(now, FRONTEND, &mut frame);
    let key = Frame::parse(&frame[..]).unwrap().flow_key().unwrap();
    (verdict == Verdict::Forward(BACKENDS)).then(|| super::v4(key.dst_endpoint()))
}

/// Sends a backend's segment to a client; the verdict, and the source the
/// client sees.
pub fn from_backend(
    lb: &mut ReverseProxy,
    now: Instant,
    backend: SocketAddrV4,
    c: SocketAddrV4,
    flags: TcpFlags,
) -> (Verdict, SocketAddrV4) {
    let mut frame = segment(OUT, backend, c, flags, SERVER_ISN, 2);
    let verdict = lb.handle_frame(now, BACKENDS, &mut frame);
    let key = Frame::parse(&frame[..]).unwrap().flow_key().unwrap();
    (verdict, super::v4(key.src_endpoint()))
}
