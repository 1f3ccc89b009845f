//! Lookups in batches: hash every key first and start loading what each
//! lookup will read, so that a batch's cache misses overlap (DPDK's
//! `rte_hash_lookup_bulk`, VPP's vectors) instead of coming one by one.

use lb_packet::FlowKey;

use super::{SessionTable, untag};
use crate::prefetch::prefetch;

/// A key's hash under a table's secret key: computed once, then used to
/// [`prefetch`](SessionTable::prefetch) and to
/// [look up](SessionTable::lookup_hashed). Only meaningful to the table
/// that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash {
    pub(super) hash: u64,
    /// The index tag [`prefetch_session`](SessionTable::prefetch_session)
    /// found under the hash: where the lookup looks first (checked, so a
    /// session gone since is no answer). [`NO_HINT`]: none.
    pub(super) hint: u32,
}

/// No tag is ever this: slots are fewer than `u32::MAX / 2`.
pub(super) const NO_HINT: u32 = u32::MAX;

impl<V> SessionTable<V> {
    /// The hash of `key` in this table.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> KeyHash {
        KeyHash {
            hash: self.hasher.flow(key),
            hint: NO_HINT,
        }
    }

    /// Starts loading the index bucket a key with `hash` is found in.
    /// A hint: nothing changes whether it is called or not.
    #[inline]
    pub fn prefetch(&self, hash: KeyHash) {
        self.index.prefetch(hash.hash);
    }

    /// Starts loading the session a key with `hash` probably belongs to
    /// (the first whose fingerprint matches), read from its index bucket, and
    /// keeps it in `hash` for the lookup to try first, so that the lookup
    /// need not read the bucket again: best called once that bucket has
    /// had time to arrive after [`prefetch`](Self::prefetch). A hint, like
    /// it: the lookup checks the session's key, so an answer never depends
    /// on it, even when the table changed in between.
    #[inline]
    pub fn prefetch_session(&self, hash: &mut KeyHash) {
        let Some(tag) = self.index.find(hash.hash, |_| true) else {
            return;
        };
        hash.hint = tag;
        self.prefetch_slot(untag(tag).0);
    }

    /// Starts loading the session in `slot` and its expiry time. Whether
    /// the slot is occupied is not asked: that would read it, waiting for
    /// the very miss the prefetch is there to overlap.
    #[inline]
    fn prefetch_slot(&self, slot: u32) {
        if let Some(slot) = self.slots.get(slot as usize) {
            prefetch(slot);
        }
        if let Some(expiry) = self.expiry.get(slot as usize) {
            prefetch(expiry);
        }
    }
}
