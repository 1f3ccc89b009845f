//! What an engine decided to do with a frame.

use crate::{DropReason, PortId};

/// The outcome of [`Engine::handle_frame`](crate::Engine::handle_frame).
/// The frame buffer holds the (possibly rewritten) frame to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the frame out of this port.
    Forward(PortId),
    /// Send the frame back out of the port it came in on (an ARP or echo
    /// reply, or a one-armed engine's forwarding).
    Reply,
    /// Send the frame out of every port but the one it came in on.
    Flood,
    /// The engine kept what it needed (a queued copy, an ARP answer it
    /// learned from); send nothing.
    Consumed,
    /// Send nothing, and count why.
    Drop(DropReason),
}
