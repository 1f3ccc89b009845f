//! Frames in batches, in three passes (VPP's vectors, DPDK's bulk lookup):
//! first every frame's flow key is read and hashed and the index bucket
//! it lives in starts loading; then, the buckets arrived, the session each
//! points at starts loading; only then is each frame handled, as on its
//! own, its key's hash and where its session was handed over. At a
//! million sessions every bucket and session is a cache miss: this way a
//! batch's misses overlap instead of coming one after the other. A table
//! of fewer sessions than [`SessionSettings::prefetch_from`] stays in the
//! caches, and its batches skip the first two passes, which would cost
//! more than they save.
//!
//! [`SessionSettings::prefetch_from`]: crate::SessionSettings::prefetch_from

use lb_packet::{FlowKey, Frame};
use lb_session::{KeyHash, SessionTable};

/// What a batch's first pass found, kept from batch to batch so that no
/// batch allocates.
#[derive(Debug)]
pub(crate) struct BatchScratch {
    /// Live sessions from which batches are prefetched.
    prefetch_from: usize,
    /// The hash of each frame's flow key, in batch order (none: no key
    /// read, the frame being neither peeked nor parsed into one).
    hashes: Vec<Option<KeyHash>>,
    /// The hash of the flow key of the frame being handled, until its
    /// engine takes it.
    current: Option<KeyHash>,
    /// The key it is the hash of, to check the engine asks for that key.
    #[cfg(debug_assertions)]
    keys: Vec<Option<FlowKey>>,
    #[cfg(debug_assertions)]
    current_key: Option<FlowKey>,
}

impl BatchScratch {
    /// Scratch that prefetches once the table holds `prefetch_from`
    /// sessions.
    pub(crate) fn new(prefetch_from: usize) -> Self {
        BatchScratch {
            prefetch_from,
            hashes: Vec::new(),
            current: None,
            #[cfg(debug_assertions)]
            keys: Vec::new(),
            #[cfg(debug_assertions)]
            current_key: None,
        }
    }

    /// First and second passes over `frames`: hashes each frame's flow
    /// key and prefetches its index bucket, then its session.
    pub(crate) fn prepare<'a, V>(
        &mut self,
        sessions: &SessionTable<V>,
        frames: impl Iterator<Item = &'a [u8]>,
    ) {
        self.hashes.clear();
        #[cfg(debug_assertions)]
        self.keys.clear();
        if sessions.len() < self.prefetch_from {
            // In the caches already: the frames take their keys' hashes
            // one by one.
            return;
        }
        for bytes in frames {
            // No combinators: a key moved as a whole after being written
            // field by field is read back through a store-forwarding stall.
            let mut hash = None;
            // Most frames' keys sit at fixed offsets: read without parsing.
            let mut key = FlowKey::peek(bytes);
            if key.is_none() {
                if let Ok(frame) = Frame::parse(bytes) {
                    key = frame.flow_key();
                }
            }
            if let Some(key) = &key {
                let found = sessions.hash(key);
                sessions.prefetch(found);
                hash = Some(found);
            }
            self.hashes.push(hash);
            #[cfg(debug_assertions)]
            self.keys.push(key);
        }
        for hash in self.hashes.iter_mut().flatten() {
            sessions.prefetch_session(hash);
        }
    }

    /// Makes frame `index`'s hash the one [`hash_of`] gives first.
    #[inline]
    pub(crate) fn start(&mut self, index: usize) {
        self.current = self.hashes.get(index).copied().flatten();
        #[cfg(debug_assertions)]
        {
            self.current_key = self.keys.get(index).copied().flatten();
        }
    }

    /// Forgets the current frame's hash, so that no other frame takes it.
    #[inline]
    pub(crate) fn finish(&mut self) {
        self.current = None;
    }
}

/// The hash of `key`, the flow key of the frame being handled (its engine
/// asks for it before anything else, and before rewriting the frame):
/// the batch's first pass's, else computed now. Once only: later calls
/// compute it.
#[inline]
pub(crate) fn hash_of<V>(
    scratch: &mut BatchScratch,
    sessions: &SessionTable<V>,
    key: &FlowKey,
) -> KeyHash {
    match scratch.current.take() {
        Some(hash) => {
            #[cfg(debug_assertions)]
            assert_eq!(scratch.current_key.take().as_ref(), Some(key));
            hash
        }
        None => sessions.hash(key),
    }
}
