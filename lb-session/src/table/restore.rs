//! Putting back sessions another table held: how a restarted load
//! balancer keeps its flows.

use core::time::Duration;
use std::time::Instant;

use lb_packet::FlowKey;

use super::{SessionTable, millis};
use crate::{InsertError, Tracker};

impl<V> SessionTable<V> {
    /// Puts back a session another table held (written out with
    /// [`iter`](Self::iter) before a restart): its keys, its tracker, the
    /// time it had left, and a value. It lives for `expires_in`, at most
    /// the timeout its state has in this table, and is assured or not as
    /// it was. Room is made as for [`insert`](Self::insert), so put
    /// assured sessions back first; refused like an insert when a live
    /// session has either key or nothing may be evicted.
    pub fn restore(
        &mut self,
        now: Instant,
        forward: FlowKey,
        reverse: FlowKey,
        tracker: Tracker,
        expires_in: Duration,
        value: V,
    ) -> Result<&mut V, InsertError> {
        let hashes = [self.hash(&forward), self.hash(&reverse)];
        let now = self.check_keys(now, [&forward, &reverse], hashes)?;
        self.make_room_for(now, &tracker)?;
        let lives = expires_in.min(tracker.timeout(&self.config.timeouts));
        let expires_at = now + millis(lives);
        self.place(hashes, &forward, &reverse, tracker, expires_at, value)
    }
}
