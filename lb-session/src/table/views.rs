//! What the table shows of a session: [`Hit`], for the packet that found
//! it, and [`SessionInfo`], for a listing.

use core::time::Duration;

use lb_packet::FlowKey;

use super::keys::StoredKeys;
use crate::tracker::Tracker;
use crate::{Direction, SessionState};

/// A session found by [`SessionTable::lookup`](crate::SessionTable::lookup).
#[derive(Debug)]
pub struct Hit<'a, V> {
    /// Which way the packet travels: [`Direction::Forward`] when it matched
    /// the forward key.
    pub direction: Direction,
    /// The state before this packet (a SYN seen again in
    /// [`SessionState::TcpSynSent`] is the client retrying unanswered).
    pub previous: SessionState,
    /// The state after this packet.
    pub state: SessionState,
    /// The caller's value (backend, NAT mapping, ...).
    pub value: &'a mut V,
    pub(super) keys: &'a StoredKeys,
}

impl<V> Hit<'_, V> {
    /// The session's key of `direction`: what a packet the other way
    /// than this one looks like, say, so that NAT need not store it again.
    #[inline]
    pub fn key(&self, direction: Direction) -> FlowKey {
        self.keys.get(direction)
    }
}

/// A live session as [`SessionTable::iter`](crate::SessionTable::iter) shows it.
#[derive(Debug)]
pub struct SessionInfo<'a, V> {
    /// The key of the packet that created it.
    pub forward: FlowKey,
    /// The key its replies carry.
    pub reverse: FlowKey,
    /// Protocol state.
    pub state: SessionState,
    /// Seen as a real two-way exchange (never evicted for room).
    pub assured: bool,
    /// All the table follows of it, to [restore](crate::SessionTable::restore)
    /// it in another table.
    pub tracker: Tracker,
    /// Time left before it expires unless a packet refreshes it.
    pub expires_in: Duration,
    /// The caller's value.
    pub value: &'a V,
}
