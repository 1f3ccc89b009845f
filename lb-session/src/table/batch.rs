//! Lookups in batches: hash every key first and start loading what each
//! lookup will read, so that a batch's cache misses overlap (DPDK's
//! `rte_hash_lookup_bulk`, VPP's vectors) instead of coming one by one.

use lb_packet::FlowKey;

use super::{SessionTable, Slot, untag};
use crate::prefetch::prefetch;

/// A key's hash under a table's secret key: computed once, then used to
/// [`prefetch`](SessionTable::prefetch) and to
/// [look up](SessionTable::lookup_hashed). Only meaningful to the table
/// that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub(super) u64);

impl<V> SessionTable<V> {
    /// The hash of `key` in this table.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> KeyHash {
        KeyHash(self.hasher.flow(key))
    }

    /// Starts loading the index bucket a key with `hash` is found in.
    /// A hint: nothing changes whether it is called or not.
    #[inline]
    pub fn prefetch(&self, hash: KeyHash) {
        self.index.prefetch(hash.0);
    }

    /// Starts loading the session a key with `hash` probably belongs to
    /// (the first whose hash matches), read from its index bucket: best
    /// called once that bucket has had time to arrive after
    /// [`prefetch`](Self::prefetch). A hint, like it.
    #[inline]
    pub fn prefetch_session(&self, hash: KeyHash) {
        let Some(tag) = self.index.find(hash.0, |_| true) else {
            return;
        };
        self.prefetch_slot(untag(tag).0);
    }

    /// Starts loading the session in `slot` and its expiry time.
    #[inline]
    fn prefetch_slot(&self, slot: u32) {
        if let Some(slot @ Slot::Occupied(_)) = self.slots.get(slot as usize) {
            prefetch(slot);
        }
        if let Some(expiry) = self.expiry.get(slot as usize) {
            prefetch(expiry);
        }
    }
}
