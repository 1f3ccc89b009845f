//! A simulated backend network for health fixtures: backends that answer
//! probes (ARP, TCP, HTTP, UDP, echo) the way a live, refusing or dead
//! server would, and a virtual clock that drives the engine's timers.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use lb_engine::{Engine, HealthEvent, Observe, PortId, Verdict};
use lb_packet::{
    ArpOp, ArpRepr, EthernetRepr, Frame, FrameRepr, Icmp, IcmpRepr, Ipv4Repr, MacAddr, Protocol,
    TcpFlags, TcpRepr, UdpRepr,
};

/// How a simulated backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Listens: SYN-ACK, `HTTP/1.0 200`, datagrams and echoes answered.
    Live,
    /// Up, but its port is closed: RST, ICMP port unreachable.
    Refusing,
    /// Gone: answers nothing, ARP included once it is known.
    Dead,
    /// Listens, and answers HTTP with this status.
    Status(u16),
}

/// A backend on the simulated network.
#[derive(Debug, Clone, Copy)]
pub struct SimBackend {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    pub behaviour: Behaviour,
}

/// The server's initial sequence number.
const SERVER_ISN: u32 = 0x5000_0000;

fn emit(repr: FrameRepr<'_>) -> Vec<u8> {
    repr.to_vec().expect("valid frame")
}

impl SimBackend {
    pub fn new(last: u8, behaviour: Behaviour) -> Self {
        SimBackend {
            ip: Ipv4Addr::new(192, 168, 1, last),
            mac: MacAddr([2, 0, 0, 0, 0xb0, last]),
            behaviour,
        }
    }

    /// What it sends back for `frame`, if the frame is for it.
    pub fn answer(&self, frame: &[u8]) -> Vec<Vec<u8>> {
        let Ok(frame) = Frame::parse(frame) else {
            return Vec::new();
        };
        let to = EthernetRepr::new(self.mac, frame.src_mac());
        if let Some(arp) = frame.arp() {
            if arp.op() != ArpOp::Request || arp.target_ip() != self.ip {
                return Vec::new();
            }
            let reply = ArpRepr {
                op: ArpOp::Reply,
                sender_mac: self.mac,
                sender_ip: self.ip,
                target_mac: arp.sender_mac(),
                target_ip: arp.sender_ip(),
            };
            return vec![emit(FrameRepr::arp(to, reply))];
        }
        let Some(header) = frame.ipv4() else {
            return Vec::new();
        };
        if self.behaviour == Behaviour::Dead || frame.dst_mac() != self.mac {
            return Vec::new();
        }
        let (src, dst) = (header.src(), header.dst());
        let ip = Ipv4Repr::new(dst, src);
        let Some(key) = frame.flow_key() else {
            return Vec::new();
        };
        let refusing = self.behaviour == Behaviour::Refusing;
        match key.proto {
            Protocol::Tcp => {
                let segment = frame.tcp_segment().expect("a TCP segment");
                let reply = |seq, ack, flags, payload: &[u8]| {
                    let tcp = TcpRepr {
                        seq,
                        ack,
                        ..TcpRepr::new(key.dst_port, key.src_port, flags)
                    };
                    emit(FrameRepr::ipv4(to, ip, tcp, payload))
                };
                let their_next = segment.seq.wrapping_add(1);
                if segment.flags.contains(TcpFlags::RST) {
                    Vec::new()
                } else if segment.flags.contains(TcpFlags::SYN) {
                    if refusing {
                        vec![reply(0, their_next, TcpFlags::RST | TcpFlags::ACK, b"")]
                    } else {
                        vec![reply(
                            SERVER_ISN,
                            their_next,
                            TcpFlags::SYN | TcpFlags::ACK,
                            b"",
                        )]
                    }
                } else if segment.payload.starts_with(b"GET ") {
                    let status = match self.behaviour {
                        Behaviour::Status(status) => status,
                        _ => 200,
                    };
                    let answer = format!("HTTP/1.0 {status} Whatever\r\nServer: sim\r\n\r\nhello");
                    let acked = segment.seq.wrapping_add(segment.payload.len() as u32);
                    let flags = TcpFlags::PSH | TcpFlags::ACK;
                    vec![
                        reply(SERVER_ISN + 1, acked, TcpFlags::ACK, b""),
                        reply(SERVER_ISN + 1, acked, flags, answer.as_bytes()),
                    ]
                } else {
                    Vec::new()
                }
            }
            Protocol::Udp if refusing => {
                let quote = frame.ipv4_packet().expect("IPv4");
                let quote = &quote[..quote.len().min(28)];
                let icmp = IcmpRepr::DestUnreachable { code: 3 };
                vec![emit(FrameRepr::ipv4(to, ip, icmp, quote))]
            }
            Protocol::Udp => {
                let udp = UdpRepr::new(key.dst_port, key.src_port);
                vec![emit(FrameRepr::ipv4(to, ip, udp, b"pong"))]
            }
            Protocol::Icmp => match frame.icmp() {
                Some(Icmp::EchoRequest { id, seq }) if !refusing => {
                    let echo = IcmpRepr::EchoReply { id, seq };
                    vec![emit(FrameRepr::ipv4(to, ip, echo, b"lb-health\n"))]
                }
                _ => Vec::new(),
            },
        }
    }
}

/// An engine, its backend port, the simulated backends behind it, and a
/// virtual clock. Every frame the engine originates is kept in `sent`.
pub struct Sim<E> {
    pub engine: E,
    pub port: PortId,
    pub backends: Vec<SimBackend>,
    pub now: Instant,
    pub start: Instant,
    pub sent: Vec<Vec<u8>>,
    /// Health events, with the virtual time they were read at.
    pub events: Vec<(Duration, HealthEvent)>,
}

/// The step of the virtual clock.
pub const TICK: Duration = Duration::from_millis(5);

impl<E: Engine + Observe> Sim<E> {
    pub fn new(engine: E, port: PortId, backends: Vec<SimBackend>) -> Self {
        let now = Instant::now();
        Sim {
            engine,
            port,
            backends,
            now,
            start: now,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Runs timers and delivers frames both ways for `duration`.
    pub fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += TICK;
            if self.engine.poll_timeout().is_none_or(|at| at <= self.now) {
                self.engine.handle_timeout(self.now);
            }
            self.deliver();
            while let Some(event) = self.engine.poll_health_event() {
                self.events.push((self.now - self.start, event));
            }
        }
    }

    /// Sends what the engine originates to the backends, and their answers
    /// back, until nothing moves.
    pub fn deliver(&mut self) {
        let mut buffer = Vec::new();
        for _ in 0..64 {
            let mut answers = Vec::new();
            while let Some(port) = self.engine.poll_transmit(&mut buffer) {
                assert_eq!(port, self.port, "probes leave by the backend port");
                self.sent.push(buffer.clone());
                for backend in &self.backends {
                    answers.extend(backend.answer(&buffer));
                }
            }
            if answers.is_empty() {
                return;
            }
            for mut answer in answers {
                let verdict = self.engine.handle_frame(self.now, self.port, &mut answer);
                if verdict == Verdict::Reply {
                    self.sent.push(answer);
                }
            }
        }
    }

    /// The first time an event said `backend` is `usable`.
    pub fn changed_at(&self, backend: &str, usable: bool) -> Option<Duration> {
        self.events
            .iter()
            .find(|(_, e)| e.backend.starts_with(backend) && e.usable == usable)
            .map(|(at, _)| *at)
    }

    /// The health of `backend` (by name prefix) in the first service.
    pub fn health_of(&self, backend: &str) -> lb_engine::BackendStats {
        self.engine
            .stats(self.now)
            .services
            .iter()
            .flat_map(|s| s.backends.clone())
            .find(|b| b.name.starts_with(backend))
            .unwrap_or_else(|| panic!("no backend {backend}"))
    }
}

/// A client's SYN to `vip:port` from `client:src_port`.
pub fn syn(vip: SocketAddrV4, client: SocketAddrV4) -> Vec<u8> {
    let ethernet = EthernetRepr::new(
        MacAddr([2, 0, 0, 0, 0, 0x0c]),
        MacAddr([2, 0, 0, 0, 0, 0x0f]),
    );
    let tcp = TcpRepr {
        seq: 77,
        ..TcpRepr::new(client.port(), vip.port(), TcpFlags::SYN)
    };
    emit(FrameRepr::ipv4(
        ethernet,
        Ipv4Repr::new(*client.ip(), *vip.ip()),
        tcp,
        b"",
    ))
}

/// Where `frame`, after the engine, is addressed (IP).
pub fn dst_of(frame: &[u8]) -> Ipv4Addr {
    Frame::parse(frame)
        .expect("valid")
        .ipv4()
        .expect("IPv4")
        .dst()
}
