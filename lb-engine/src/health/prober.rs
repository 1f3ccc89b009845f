//! In-band probes: frames the engine originates from an address it owns on
//! the backend side, and the replies that conclude them. Each probe is a
//! tiny client (a TCP handshake, an HTTP request, an echo, a datagram)
//! that ends in a [`ProbeResult`].

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use lb_packet::{
    ArpOp, EthernetRepr, Frame, FrameRepr, Icmp, IcmpError, IcmpRepr, Icmpv6Repr, Ipv4Repr,
    Ipv6Repr, MacAddr, Protocol, TcpFlags, TcpRepr, UdpRepr,
};

use super::backend::ProbeResult;
use super::schedule::Rng;
use super::settings::{HealthCheck, ProbeKind};
use crate::core::arp_resolver::ArpResolver;
use crate::core::services::Owner;
use crate::{ArpSettings, IpCidr, PortId, Verdict};

/// Probe ports and echo identifiers come from here (the dynamic range).
const FIRST_PROBE_PORT: u16 = 49152;
/// What a UDP probe sends.
const UDP_PAYLOAD: &[u8] = b"lb-health\n";

/// Where a probe goes: an address and port, and the MAC to send to when
/// the engine knows it (direct return); otherwise it is resolved with ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProbeTarget {
    pub(crate) ip: IpAddr,
    pub(crate) port: u16,
    pub(crate) mac: Option<MacAddr>,
}

/// How far a TCP probe has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// SYN sent.
    Connecting,
    /// HTTP: request sent; the answer starts at this sequence number.
    Requested { answer_at: u32 },
    /// Datagram or echo sent.
    Sent,
}

#[derive(Debug)]
struct Probe {
    owner: Owner,
    kind: ProbeKind,
    target: ProbeTarget,
    deadline: Instant,
    /// Our initial sequence number (TCP); the echo sequence (ICMP).
    isn: u32,
    stage: Stage,
    /// The HTTP request line and headers.
    request: Vec<u8>,
}

/// A probe that ended.
pub(crate) type Concluded = (Owner, ProbeResult);

/// Probes in flight from one source address, with the ARP cache that
/// finds their next hops.
#[derive(Debug)]
pub(crate) struct Prober {
    source: IpCidr,
    mac: MacAddr,
    gateway: Option<IpAddr>,
    port: PortId,
    arp: ArpResolver,
    rng: Rng,
    /// By our port (TCP, UDP) or echo identifier (ICMP).
    in_flight: HashMap<u16, Probe>,
    outbox: VecDeque<Vec<u8>>,
}

impl Prober {
    /// Probes from `source` (at `mac`) out of `port`.
    pub(crate) fn new(
        source: IpCidr,
        mac: MacAddr,
        gateway: Option<IpAddr>,
        port: PortId,
        seed: u64,
    ) -> Self {
        Prober {
            source,
            mac,
            gateway,
            port,
            arp: ArpResolver::new(mac, source.ip, ArpSettings::default()),
            rng: Rng::new(seed),
            in_flight: HashMap::new(),
            outbox: VecDeque::new(),
        }
    }

    /// The address probes come from.
    pub(crate) fn source(&self) -> IpAddr {
        self.source.ip
    }

    /// The generator the schedule draws from too.
    pub(crate) fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Sends a probe of `owner` at `target` as `check` says; `taken` tells
    /// which of our ports a live session already uses. False when no port
    /// was free (the probe counts as timed out at its deadline anyway).
    pub(crate) fn send(
        &mut self,
        now: Instant,
        owner: Owner,
        check: &HealthCheck,
        target: ProbeTarget,
        taken: impl Fn(Protocol, u16) -> bool,
    ) -> bool {
        let protocol = match check.kind {
            ProbeKind::Tcp | ProbeKind::Http => Protocol::Tcp,
            ProbeKind::Udp => Protocol::Udp,
            ProbeKind::Icmp => Protocol::Icmp,
        };
        let span = u32::from(u16::MAX - FIRST_PROBE_PORT) + 1;
        let Some(local) = (0..16)
            .map(|_| FIRST_PROBE_PORT + (self.rng.next_u32() % span) as u16)
            .find(|&port| !self.in_flight.contains_key(&port) && !taken(protocol, port))
        else {
            return false;
        };
        // An IPv6 host goes in brackets (RFC 3986).
        let host = match target.ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let request = match check.kind {
            ProbeKind::Http => format!(
                "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lb-health\r\nConnection: close\r\n\r\n",
                check.path
            )
            .into_bytes(),
            _ => Vec::new(),
        };
        let probe = Probe {
            owner,
            kind: check.kind,
            target,
            deadline: now + check.timeout(),
            isn: self.rng.next_u32(),
            stage: match check.kind {
                ProbeKind::Tcp | ProbeKind::Http => Stage::Connecting,
                ProbeKind::Udp | ProbeKind::Icmp => Stage::Sent,
            },
            request,
        };
        let frame = match probe.kind {
            ProbeKind::Tcp | ProbeKind::Http => {
                self.tcp_frame(&probe, local, probe.isn, 0, TcpFlags::SYN, b"")
            }
            ProbeKind::Udp => {
                self.frame(&probe, UdpRepr::new(local, target.port).into(), UDP_PAYLOAD)
            }
            ProbeKind::Icmp => {
                let (id, seq) = (local, probe.isn as u16);
                let echo = if target.ip.is_ipv6() {
                    Icmpv6Repr::EchoRequest { id, seq }.into()
                } else {
                    IcmpRepr::EchoRequest { id, seq }.into()
                };
                self.frame(&probe, echo, UDP_PAYLOAD)
            }
        };
        self.in_flight.insert(local, probe);
        self.transmit(now, target, frame);
        true
    }

    /// Concludes the probes whose time is up.
    pub(crate) fn expire(&mut self, now: Instant, concluded: &mut Vec<Concluded>) {
        self.arp.handle_timeout(now);
        self.in_flight.retain(|_, probe| {
            let over = probe.deadline <= now;
            if over {
                concluded.push((probe.owner, ProbeResult::TimedOut));
            }
            !over
        });
    }

    /// When [`expire`](Self::expire) next has work.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let probes = self.in_flight.values().map(|probe| probe.deadline).min();
        match (probes, self.arp.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes the next probe frame into `buffer`; the port it leaves by.
    pub(crate) fn pop_into(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        if let Some(frame) = self.outbox.pop_front() {
            buffer.clear();
            buffer.extend_from_slice(&frame);
            return Some(self.port);
        }
        self.arp.pop_into(buffer).then_some(self.port)
    }

    /// Answers and learns from ARP and neighbor discovery for the source
    /// address; None for frames about anything else.
    pub(crate) fn handle_arp(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
    ) -> Option<Verdict> {
        if let Some(arp) = frame.arp() {
            if IpAddr::from(arp.target_ip()) != self.source.ip {
                return None;
            }
            let (op, sender_ip, sender_mac) = (arp.op(), arp.sender_ip(), arp.sender_mac());
            self.arp.learn(now, sender_ip.into(), sender_mac, true);
            return match op {
                ArpOp::Request if frame.make_arp_reply(self.mac).is_ok() => Some(Verdict::Reply),
                _ => Some(Verdict::Consumed),
            };
        }
        if let Some(advertisement) = frame.neighbor_advertisement() {
            // Another host's answer to another's question passes by.
            if frame.dst_ip() != Some(self.source.ip) {
                return None;
            }
            let mac = advertisement.target_mac?;
            self.arp.learn(now, advertisement.target.into(), mac, true);
            return Some(Verdict::Consumed);
        }
        let solicitation = frame.neighbor_solicitation()?;
        if IpAddr::from(solicitation.target) != self.source.ip {
            return None;
        }
        if let Some(mac) = solicitation.source_mac {
            self.arp.learn(now, solicitation.source.into(), mac, true);
        }
        match frame.make_neighbor_advertisement(self.mac) {
            Ok(()) => Some(Verdict::Reply),
            Err(_) => Some(Verdict::Consumed),
        }
    }

    /// Reads a frame addressed to the source: the answer to a probe, which
    /// may conclude it (and send a RST or the HTTP request). None when it
    /// is not about a probe in flight.
    pub(crate) fn handle(&mut self, now: Instant, frame: &Frame<&mut [u8]>) -> Option<Concluded> {
        if let Some(Icmp::Error { .. }) = frame.icmp() {
            return self.handle_icmp_error(frame);
        }
        let key = frame.flow_key()?;
        let probe = self.in_flight.get(&key.dst_port)?;
        if key.src != probe.target.ip
            || (key.proto != Protocol::Icmp && key.src_port != probe.target.port)
        {
            return None;
        }
        let result = match (probe.kind, key.proto) {
            (ProbeKind::Icmp, Protocol::Icmp) => match frame.icmp() {
                Some(Icmp::EchoReply { seq, .. }) if seq == probe.isn as u16 => ProbeResult::Passed,
                _ => return None,
            },
            (ProbeKind::Udp, Protocol::Udp) => ProbeResult::Passed,
            (ProbeKind::Tcp | ProbeKind::Http, Protocol::Tcp) => {
                return self.handle_tcp(now, key.dst_port, frame);
            }
            _ => return None,
        };
        self.conclude(key.dst_port, result)
    }

    fn handle_tcp(
        &mut self,
        now: Instant,
        local: u16,
        frame: &Frame<&mut [u8]>,
    ) -> Option<Concluded> {
        let segment = frame.tcp_segment()?;
        let probe = self.in_flight.get_mut(&local)?;
        let flags = segment.flags;
        if flags.contains(TcpFlags::RST) {
            return self.conclude(local, ProbeResult::Refused);
        }
        let our_next = probe.isn.wrapping_add(1);
        match probe.stage {
            Stage::Connecting if flags.contains(TcpFlags::SYN | TcpFlags::ACK) => {
                if segment.ack != our_next {
                    return None;
                }
                let their_next = segment.seq.wrapping_add(1);
                if probe.kind == ProbeKind::Tcp {
                    self.send_segment(
                        now,
                        local,
                        (our_next, their_next),
                        TcpFlags::RST | TcpFlags::ACK,
                        false,
                    );
                    return self.conclude(local, ProbeResult::Passed);
                }
                probe.stage = Stage::Requested {
                    answer_at: their_next,
                };
                self.send_segment(
                    now,
                    local,
                    (our_next, their_next),
                    TcpFlags::PSH | TcpFlags::ACK,
                    true,
                );
                None
            }
            Stage::Requested { answer_at } if !segment.payload.is_empty() => {
                if segment.seq != answer_at {
                    return None;
                }
                let result = http_status(segment.payload);
                let sent = our_next.wrapping_add(probe.request.len() as u32);
                let their_next = segment.seq.wrapping_add(segment.payload.len() as u32);
                self.send_segment(
                    now,
                    local,
                    (sent, their_next),
                    TcpFlags::RST | TcpFlags::ACK,
                    false,
                );
                self.conclude(local, result)
            }
            Stage::Requested { .. } if flags.contains(TcpFlags::FIN) => {
                self.conclude(local, ProbeResult::BadReply)
            }
            _ => None,
        }
    }

    fn handle_icmp_error(&mut self, frame: &Frame<&mut [u8]>) -> Option<Concluded> {
        let quoted = frame.quoted_flow()?;
        let probe = self.in_flight.get(&quoted.src_port)?;
        if quoted.src != self.source.ip || quoted.dst != probe.target.ip {
            return None;
        }
        let result = match frame.icmp_error()? {
            IcmpError::PacketTooBig { .. } => return None,
            IcmpError::PortUnreachable => ProbeResult::Refused,
            _ => ProbeResult::Unreachable,
        };
        self.conclude(quoted.src_port, result)
    }

    fn conclude(&mut self, local: u16, result: ProbeResult) -> Option<Concluded> {
        self.in_flight
            .remove(&local)
            .map(|probe| (probe.owner, result))
    }

    /// Sends a segment of the probe on `local`, with the request as
    /// payload when `with_request`.
    fn send_segment(
        &mut self,
        now: Instant,
        local: u16,
        (seq, ack): (u32, u32),
        flags: TcpFlags,
        with_request: bool,
    ) {
        let Some(probe) = self.in_flight.get(&local) else {
            return;
        };
        let payload: &[u8] = if with_request { &probe.request } else { b"" };
        let frame = self.tcp_frame(probe, local, seq, ack, flags, payload);
        let target = probe.target;
        self.transmit(now, target, frame);
    }

    fn tcp_frame(
        &self,
        probe: &Probe,
        local: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> Vec<u8> {
        let tcp = TcpRepr {
            seq,
            ack,
            ..TcpRepr::new(local, probe.target.port, flags)
        };
        self.frame(probe, tcp.into(), payload)
    }

    fn frame(
        &self,
        probe: &Probe,
        transport: lb_packet::TransportRepr<'_>,
        payload: &[u8],
    ) -> Vec<u8> {
        let ethernet = EthernetRepr::new(self.mac, probe.target.mac.unwrap_or(MacAddr([0; 6])));
        // Every field is in range: a probe frame builds, unless the target
        // is of the other family (configuration refuses that); then it is
        // empty, never sent, and the probe times out.
        let built = match (self.source.ip, probe.target.ip) {
            (IpAddr::V4(source), IpAddr::V4(target)) => {
                FrameRepr::ipv4(ethernet, Ipv4Repr::new(source, target), transport, payload)
                    .to_vec()
            }
            (IpAddr::V6(source), IpAddr::V6(target)) => {
                FrameRepr::ipv6(ethernet, Ipv6Repr::new(source, target), transport, payload)
                    .to_vec()
            }
            _ => return Vec::new(),
        };
        built.unwrap_or_default()
    }

    /// Sends `frame` to `target`, through ARP unless its MAC is known.
    fn transmit(&mut self, now: Instant, target: ProbeTarget, mut frame: Vec<u8>) {
        if frame.is_empty() {
            return;
        }
        if target.mac.is_some() {
            self.outbox.push_back(frame);
            return;
        }
        let next_hop = match self.gateway {
            Some(gateway) if !self.source.contains(target.ip) => gateway,
            _ => target.ip,
        };
        match self.arp.lookup(now, next_hop) {
            Some(mac) => {
                frame[0..6].copy_from_slice(&mac.0);
                self.outbox.push_back(frame);
            }
            // A full queue loses the frame; the probe times out.
            None => {
                let _ = self.arp.enqueue(now, next_hop, &frame);
            }
        }
    }
}

/// The result an HTTP answer's status line gives: 2xx and 3xx pass.
fn http_status(answer: &[u8]) -> ProbeResult {
    let status = answer
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(1..5))
        .filter(|code| code[0] == b' ' && code[1..].iter().all(u8::is_ascii_digit))
        .map(|code| {
            code[1..]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
        });
    match status {
        Some(200..=399) => ProbeResult::Passed,
        Some(status) => ProbeResult::BadStatus(status),
        None => ProbeResult::BadReply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(http_status(b"HTTP/1.0 200 OK\r\n"), ProbeResult::Passed);
        assert_eq!(http_status(b"HTTP/1.1 302 Found\r\n"), ProbeResult::Passed);
        assert_eq!(
            http_status(b"HTTP/1.1 503 Unavailable\r\n"),
            ProbeResult::BadStatus(503)
        );
        assert_eq!(http_status(b"HTTP/1.1 404"), ProbeResult::BadStatus(404));
        for bad in [
            &b"SSH-2.0-OpenSSH"[..],
            b"HTTP/1.1 2x0 OK",
            b"HTTP/1.1",
            b"",
        ] {
            assert_eq!(http_status(bad), ProbeResult::BadReply, "{bad:?}");
        }
    }
}
