//! What the packets of real traffic say about a backend's handshakes,
//! read from a session's state before the packet and the packet's flags.

use lb_packet::{IcmpError, TcpFlags};
use lb_session::SessionState;

use super::backend::PassiveFailure;

/// The first answer of a backend to a new flow: `Ok` when it answered
/// (SYN-ACK, a datagram or echo back), `Err` when it refused (RST to a
/// SYN); None for any other packet.
#[inline]
pub(crate) fn reply_verdict(
    previous: SessionState,
    flags: Option<TcpFlags>,
) -> Option<Result<(), PassiveFailure>> {
    match previous {
        SessionState::TcpSynSent => {
            let flags = flags.unwrap_or_default();
            if flags.contains(TcpFlags::RST) {
                Some(Err(PassiveFailure::Refused))
            } else if flags.contains(TcpFlags::SYN | TcpFlags::ACK) {
                Some(Ok(()))
            } else {
                None
            }
        }
        SessionState::UdpUnreplied | SessionState::IcmpUnreplied => Some(Ok(())),
        _ => None,
    }
}

/// A client's SYN on a session that never got a SYN-ACK: `Some(true)`
/// when its first SYN went unanswered (silence), `Some(false)` when the
/// backend refused it (the RST held back); None for anything else.
#[inline]
pub(crate) fn retried_syn(previous: SessionState, flags: Option<TcpFlags>) -> Option<bool> {
    let flags = flags?;
    if !flags.contains(TcpFlags::SYN) || flags.contains(TcpFlags::ACK) {
        return None;
    }
    match previous {
        SessionState::TcpSynSent => Some(true),
        SessionState::TcpReset => Some(false),
        _ => None,
    }
}

/// A client's ACK after its SYN, which it only sends once the server
/// answered: how a path that sees only clients (direct return) knows a
/// handshake succeeded.
#[inline]
pub(crate) fn client_acked(previous: SessionState, flags: Option<TcpFlags>) -> bool {
    previous == SessionState::TcpSynSent
        && flags.is_some_and(|f| f.contains(TcpFlags::ACK) && !f.contains(TcpFlags::SYN))
}

/// True for an ICMP (ICMPv6) error saying a backend cannot be reached
/// (not the path-MTU kind, which is about the path, not the backend).
pub(crate) fn is_unreachable(error: Option<IcmpError>) -> bool {
    matches!(
        error,
        Some(IcmpError::Unreachable | IcmpError::PortUnreachable)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    #[test]
    fn handshakes_read_from_state_and_flags() {
        let (syn, ack, rst) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::RST);
        assert_eq!(reply_verdict(TcpSynSent, Some(syn | ack)), Some(Ok(())));
        assert_eq!(
            reply_verdict(TcpSynSent, Some(rst | ack)),
            Some(Err(PassiveFailure::Refused))
        );
        assert_eq!(
            reply_verdict(TcpEstablished, Some(rst)),
            None,
            "an abort is no refusal"
        );
        assert_eq!(reply_verdict(TcpSynSent, Some(ack)), None);
        assert_eq!(reply_verdict(UdpUnreplied, None), Some(Ok(())));
        assert_eq!(reply_verdict(UdpReplied, None), None);
        assert_eq!(retried_syn(TcpSynSent, Some(syn)), Some(true));
        assert_eq!(retried_syn(TcpReset, Some(syn)), Some(false));
        assert_eq!(retried_syn(TcpSynReceived, Some(syn)), None, "answered");
        assert_eq!(retried_syn(TcpSynSent, Some(ack)), None);
        assert_eq!(retried_syn(TcpSynSent, Some(syn | ack)), None);
        assert!(client_acked(TcpSynSent, Some(ack)));
        assert!(!client_acked(TcpEstablished, Some(ack)) && !client_acked(TcpSynSent, Some(syn)));
        assert!(is_unreachable(Some(IcmpError::Unreachable)));
        assert!(is_unreachable(Some(IcmpError::PortUnreachable)));
        let too_big = IcmpError::PacketTooBig { mtu: 1400 };
        assert!(!is_unreachable(Some(too_big)), "path MTU");
        assert!(!is_unreachable(Some(IcmpError::TimeExceeded)));
        assert!(!is_unreachable(None));
    }
}
