//! Flows and tables the session tests share.

#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;

use lb_packet::{FlowKey, Protocol, TcpFlags};
use lb_session::{SessionConfig, SessionTable};

/// What the table is told of a packet that is not TCP.
pub const NOT_TCP: Option<TcpFlags> = None;

pub const SYN: Option<TcpFlags> = Some(TcpFlags::SYN);
pub const SYN_ACK: Option<TcpFlags> = Some(TcpFlags::from_bits(0x12));
pub const ACK: Option<TcpFlags> = Some(TcpFlags::ACK);

pub fn key(client: u32, proto: Protocol) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::from(0x0a00_0000 + client).into(),
        dst: Ipv4Addr::new(10, 255, 0, 1).into(),
        src_port: 40000,
        dst_port: 80,
        proto,
    }
}

/// The reply key when the flow went to backend 192.168.1.2:8080.
pub fn reply(forward: FlowKey) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::new(192, 168, 1, 2).into(),
        src_port: 8080,
        ..forward.reversed()
    }
}

pub fn table(capacity: usize) -> SessionTable<u32> {
    SessionTable::new(SessionConfig {
        capacity,
        ..SessionConfig::default()
    })
    .unwrap()
}
