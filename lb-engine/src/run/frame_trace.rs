//! One `trace` event per frame, as Polycube's `loglevel=TRACE` logs: the
//! port it came in on, what it was, and what became of it. Asked for once
//! per batch; when the level is off, that is all it costs.

use core::fmt;

use lb_packet::{ArpOp, EtherType, Frame};

use crate::{PortId, Verdict};

/// Where the events go, so that `RUST_LOG=lb_engine::frames=trace` turns
/// them on alone.
const TARGET: &str = "lb_engine::frames";

/// True when frame events are logged now.
pub(super) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::TRACE)
}

/// Logs a frame that came in on `port` as `before` and became `verdict`,
/// now `after` (rewritten in place).
pub(super) fn frame(port: PortId, before: &str, verdict: Verdict, after: &[u8]) {
    let outcome = match verdict {
        Verdict::Forward(out) => format!("forwarded out of {out} as {}", Summary(after)),
        Verdict::Reply => format!("answered on {port} with {}", Summary(after)),
        Verdict::Flood => "flooded to every other port".to_owned(),
        Verdict::Consumed => "consumed".to_owned(),
        Verdict::Drop(reason) => format!("dropped: {reason}"),
    };
    tracing::trace!(target: TARGET, port = port.index(), "{port}: {before}: {outcome}");
}

/// What a frame is, in a few words.
pub(super) struct Summary<'a>(pub(super) &'a [u8]);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(frame) = Frame::parse(self.0) else {
            return write!(f, "malformed frame of {} bytes", self.0.len());
        };
        let size = self.0.len();
        if let Some(flow) = frame.flow_key() {
            return write!(f, "{flow} ({size} bytes)");
        }
        if let Some(arp) = frame.arp() {
            let (sender, target) = (arp.sender_ip(), arp.target_ip());
            return match arp.op() {
                ArpOp::Request => write!(f, "arp who-has {target} tell {sender}"),
                ArpOp::Reply => write!(f, "arp {sender} is-at {}", arp.sender_mac()),
                ArpOp::Other(code) => write!(f, "arp op {code}"),
            };
        }
        if let Some(ip) = frame.ipv4() {
            let (src, dst, proto) = (ip.src(), ip.dst(), ip.protocol());
            return write!(f, "ipv4 {src} -> {dst} protocol {proto} ({size} bytes)");
        }
        if let Some(ip) = frame.ipv6() {
            let (src, dst, next) = (ip.src(), ip.dst(), ip.next_header());
            return write!(f, "ipv6 {src} -> {dst} next header {next} ({size} bytes)");
        }
        match frame.ethertype() {
            EtherType::Other(ethertype) => write!(f, "ethertype {ethertype:#06x} ({size} bytes)"),
            _ => write!(f, "frame of {size} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, UdpRepr};

    use super::*;

    #[test]
    fn frames_are_summed_up_in_a_few_words() {
        let ethernet = EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let ip = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 100));
        let udp = FrameRepr::ipv4(ethernet, ip, UdpRepr::new(4000, 53), b"hi")
            .to_vec()
            .unwrap();
        assert_eq!(
            Summary(&udp).to_string(),
            format!("udp 10.0.0.1:4000 -> 10.0.0.100:53 ({} bytes)", udp.len())
        );
        assert_eq!(
            Summary(&udp[..20]).to_string(),
            "malformed frame of 20 bytes"
        );
    }
}
