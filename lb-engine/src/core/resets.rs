//! Resets owed to clients, sent at once rather than leaving them to time
//! out: a connection that found no source port (full NAT), and a segment
//! of a connection the proxy does not have (another instance's behind
//! ECMP, or one it lost), as a host that does not know a connection
//! answers.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use lb_packet::{EthernetRepr, FlowKey, FrameRepr, Ipv4Repr, Ipv6Repr, MacAddr, TcpFlags, TcpRepr};
use lb_session::Segment;

use crate::PortId;

/// Resets waiting to be sent, at most: past it, a segment goes unanswered
/// (a SYN flood cannot grow the queue).
const RESET_QUEUE: usize = 256;

/// A reset owed to a client.
#[derive(Debug, Clone, Copy)]
struct Reset {
    client: SocketAddr,
    /// What the client connected to.
    listen: SocketAddr,
    seq: u32,
    /// The acknowledgment number, for a reset that acknowledges (RST|ACK).
    ack: Option<u32>,
    /// From the MAC the client addressed, to the client's.
    macs: (MacAddr, MacAddr),
    port: PortId,
}

/// The resets owed, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Resets {
    queue: VecDeque<Reset>,
}

impl Resets {
    /// Owes the client of `key` a reset for `segment` (RFC 9293 3.10.7.1:
    /// its own acknowledgment number as the sequence, or an ACK of it),
    /// sent from `macs.0` to `macs.1` out of `port`.
    pub(crate) fn owe(
        &mut self,
        key: &FlowKey,
        segment: Segment,
        macs: (MacAddr, MacAddr),
        port: PortId,
    ) {
        if self.queue.len() >= RESET_QUEUE {
            return;
        }
        let (seq, ack) = if segment.flags.contains(TcpFlags::ACK) {
            (segment.ack, None)
        } else {
            let syn = u32::from(segment.flags.contains(TcpFlags::SYN));
            (0, Some(segment.seq.wrapping_add(syn)))
        };
        self.queue.push_back(Reset {
            client: key.src_endpoint(),
            listen: key.dst_endpoint(),
            seq,
            ack,
            macs,
            port,
        });
    }

    /// The next reset owed, written into `buffer`; the port it goes out of.
    pub(crate) fn pop_into(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        let reset = self.queue.pop_front()?;
        let flags = match reset.ack {
            Some(_) => TcpFlags::RST | TcpFlags::ACK,
            None => TcpFlags::RST,
        };
        let tcp = TcpRepr {
            seq: reset.seq,
            ack: reset.ack.unwrap_or(0),
            window: 0,
            ..TcpRepr::new(reset.listen.port(), reset.client.port(), flags)
        };
        let ethernet = EthernetRepr::new(reset.macs.0, reset.macs.1);
        let frame = match (reset.listen.ip(), reset.client.ip()) {
            (IpAddr::V4(listen), IpAddr::V4(client)) => {
                FrameRepr::ipv4(ethernet, Ipv4Repr::new(listen, client), tcp, b"")
            }
            (IpAddr::V6(listen), IpAddr::V6(client)) => {
                FrameRepr::ipv6(ethernet, Ipv6Repr::new(listen, client), tcp, b"")
            }
            // Both ends of one flow key are of one family.
            _ => return None,
        };
        buffer.clear();
        buffer.resize(frame.buffer_len().ok()?, 0);
        let len = frame.emit(buffer).ok()?;
        buffer.truncate(len);
        Some(reset.port)
    }
}
