//! The table's index: each key's hash to its tag (`slot << 1 | direction`).
//!
//! Open addressing over cache-line buckets of eight entries, each entry
//! 32 bits of the key's hash and its tag. Beside each bucket, apart, a
//! word of eight one-byte fingerprints (hashbrown's control bytes) and an
//! overflow count: a lookup reads the fingerprints of the key's home
//! bucket, the bucket itself only where one matches, and the next buckets
//! only while the overflow count says some key homed there or earlier was
//! pushed past it (F14's scheme: no tombstones, so churn never forces a
//! rebuild). The fingerprints are an eighth of the buckets' size, so a
//! miss (every new flow has one) reads memory that stays in cache.
//!
//! It grows without stopping the packet path: a bigger index is
//! allocated zeroed (the kernel hands out its pages as they are first
//! written), and each insert then moves two buckets of the old index into
//! it, from the last, giving back the old index's memory a little at a
//! time. A key's home is `hash * buckets >> 32` from the 32 stored bits,
//! so moving an entry reads neither the session nor the key, and the old
//! index's buckets land in order in the new one. Until the old index is
//! empty a lookup reads both.

use crate::prefetch::prefetch;

/// Entries in a bucket.
const WAYS: usize = 8;
/// Words of a bucket: `WAYS` hashes, then `WAYS` tags: 64 bytes.
const WORDS: usize = 2 * WAYS;
const TAGS: usize = WAYS;
/// Keys a bucket holds on average before the index grows: seven eighths
/// full, as hashbrown.
const GROW_AT: usize = 7;
/// Keys a bucket holds on average when the table is full: the index's
/// last size leaves three quarters of its entries used.
const AT_CAPACITY: usize = 6;
/// Buckets of the old index moved on each insert while growing: the old
/// index is empty before the new one is half as full as it may get.
const MOVED_PER_INSERT: usize = 2;
/// Buckets of a draining index given back to the allocator at a time:
/// 64 KiB, so that no insert pays for unmapping the whole of it.
const RELEASED_AT_ONCE: usize = 1024;
/// A saturated overflow count is never decremented: it only costs probes.
const SATURATED: u8 = u8::MAX;
const LINE: usize = 64;
const LOW_SEVEN_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const EVERY_BYTE: u64 = 0x0101_0101_0101_0101;

/// The byte of a hash that stands for it among its bucket's
/// fingerprints; never zero, which marks a free entry.
#[inline]
fn fingerprint(hash: u32) -> u8 {
    (hash as u8).max(1)
}

/// Which of the fingerprints in `word` are `fingerprint`: the high bit of
/// each such byte (exactly those, no false positive).
#[inline]
fn ways_with(word: u64, fingerprint: u8) -> u64 {
    let zero_where_equal = word ^ (u64::from(fingerprint) * EVERY_BYTE);
    !(((zero_where_equal & LOW_SEVEN_BITS) + LOW_SEVEN_BITS) | zero_where_equal | LOW_SEVEN_BITS)
}

/// The way of the lowest byte flagged by [`ways_with`].
#[inline]
fn first_way(ways: u64) -> usize {
    ways.trailing_zeros() as usize / 8
}

/// One array of buckets, each on its own cache line.
struct Buckets {
    /// Zero-initialised words; `words[first..]` starts on a cache line.
    words: Vec<u32>,
    first: usize,
    /// Each bucket's fingerprints, a byte for each way.
    fingerprints: Vec<u64>,
    /// How many keys homed in each bucket or before it were pushed past it.
    overflow: Vec<u8>,
    count: usize,
}

impl Buckets {
    fn new(count: usize) -> Self {
        // `vec![0; n]` of integers asks the allocator for zeroed memory,
        // which a large allocation gets from fresh pages without writing
        // them; aligning by hand keeps it so (over-aligned zeroed
        // allocations are zeroed by writing).
        let words = vec![0u32; (count + 1) * WORDS];
        let misalignment = words.as_ptr().addr() % LINE;
        let first = (LINE - misalignment) % LINE / size_of::<u32>();
        Buckets {
            words,
            first,
            fingerprints: vec![0; count],
            overflow: vec![0; count],
            count,
        }
    }

    #[inline]
    fn bucket(&self, index: usize) -> &[u32; WORDS] {
        let start = self.first + index * WORDS;
        match self.words.get(start..start + WORDS) {
            Some(words) => words.try_into().unwrap_or(&[0; WORDS]),
            None => &[0; WORDS],
        }
    }

    #[inline]
    fn bucket_mut(&mut self, index: usize) -> Option<&mut [u32; WORDS]> {
        let start = self.first + index * WORDS;
        self.words.get_mut(start..start + WORDS)?.try_into().ok()
    }

    #[inline]
    fn fingerprints(&self, index: usize) -> u64 {
        self.fingerprints.get(index).copied().unwrap_or(0)
    }

    /// Sets the fingerprint of entry `way` of bucket `index` (0: free).
    #[inline]
    fn set_fingerprint(&mut self, index: usize, way: usize, fingerprint: u8) {
        if let Some(word) = self.fingerprints.get_mut(index) {
            let mut bytes = word.to_le_bytes();
            bytes[way] = fingerprint;
            *word = u64::from_le_bytes(bytes);
        }
    }

    #[inline]
    fn overflows(&self, index: usize) -> bool {
        self.overflow.get(index).is_some_and(|&count| count > 0)
    }

    /// The bucket a hash belongs in: order-preserving, so that buckets
    /// split into neighbouring buckets when the index grows.
    #[inline]
    fn home(&self, hash: u32) -> usize {
        ((u64::from(hash) * self.count as u64) >> 32) as usize
    }

    #[inline]
    fn next(&self, index: usize) -> usize {
        if index + 1 == self.count {
            0
        } else {
            index + 1
        }
    }

    #[inline]
    fn prefetch(&self, hash: u32) {
        let home = self.home(hash);
        prefetch(self.bucket(home));
        if let Some(fingerprints) = self.fingerprints.get(home) {
            prefetch(fingerprints);
        }
    }

    /// The first tag under `hash` that `is_match` accepts.
    #[inline]
    fn find(&self, hash: u32, is_match: &mut impl FnMut(u32) -> bool) -> Option<u32> {
        let mut index = self.home(hash);
        for _ in 0..self.count {
            let mut ways = ways_with(self.fingerprints(index), fingerprint(hash));
            while ways != 0 {
                let way = first_way(ways);
                ways &= ways - 1;
                let bucket = self.bucket(index);
                if bucket[way] == hash && is_match(bucket[TAGS + way]) {
                    return Some(bucket[TAGS + way]);
                }
            }
            if !self.overflows(index) {
                return None;
            }
            index = self.next(index);
        }
        None
    }

    /// Puts `tag` in the first free entry from the home bucket on,
    /// counting the overflow of each full bucket passed. There is room.
    fn insert(&mut self, hash: u32, tag: u32) {
        let mut index = self.home(hash);
        for _ in 0..self.count {
            let free = ways_with(self.fingerprints(index), 0);
            if free != 0 {
                let way = first_way(free);
                self.set_fingerprint(index, way, fingerprint(hash));
                if let Some(bucket) = self.bucket_mut(index) {
                    (bucket[way], bucket[TAGS + way]) = (hash, tag);
                }
                return;
            }
            if let Some(count) = self.overflow.get_mut(index) {
                *count = count.saturating_add(1);
            }
            index = self.next(index);
        }
    }

    /// Takes `tag` out, and its count out of the buckets it overflowed.
    fn remove(&mut self, hash: u32, tag: u32) -> bool {
        let home = self.home(hash);
        let mut index = home;
        for passed in 0..self.count {
            let mut ways = ways_with(self.fingerprints(index), fingerprint(hash));
            while ways != 0 {
                let way = first_way(ways);
                ways &= ways - 1;
                let bucket = self.bucket(index);
                if bucket[way] == hash && bucket[TAGS + way] == tag {
                    self.set_fingerprint(index, way, 0);
                    self.uncount_overflow(home, passed);
                    return true;
                }
            }
            if !self.overflows(index) {
                return false;
            }
            index = self.next(index);
        }
        false
    }

    fn uncount_overflow(&mut self, home: usize, passed: usize) {
        let mut index = home;
        for _ in 0..passed {
            if let Some(count) = self.overflow.get_mut(index) {
                if *count != SATURATED {
                    *count -= 1;
                }
            }
            index = self.next(index);
        }
    }

    /// Takes every entry out of bucket `index`, as `(hash, tag)`: as
    /// [`remove`](Self::remove) of each, without looking for them.
    fn empty_bucket(&mut self, index: usize) -> impl Iterator<Item = (u32, u32)> + use<> {
        let (bucket, used) = (*self.bucket(index), self.fingerprints(index).to_le_bytes());
        let taken = (0..WAYS)
            .filter(move |&way| used[way] != 0)
            .map(move |way| (bucket[way], bucket[TAGS + way]));
        for (hash, _) in taken.clone() {
            let home = self.home(hash);
            // Buckets passed from its home to here, round the end.
            let passed = (index + self.count - home) % self.count;
            self.uncount_overflow(home, passed);
        }
        if let Some(fingerprints) = self.fingerprints.get_mut(index) {
            *fingerprints = 0;
        }
        taken
    }

    /// Gives back the memory of the buckets from `index` on, all empty.
    fn release_from(&mut self, index: usize) {
        self.words.truncate(self.first + index * WORDS);
        self.words.shrink_to_fit();
    }

    fn allocation_size(&self) -> usize {
        self.words.capacity() * size_of::<u32>()
            + self.fingerprints.capacity() * size_of::<u64>()
            + self.overflow.capacity()
    }
}

/// The index: the current buckets, and the old ones while they drain.
pub(super) struct Index {
    current: Buckets,
    draining: Option<Buckets>,
    /// Buckets of `draining` still to move: those before this one.
    undrained: usize,
    /// Keys held, in both.
    len: usize,
    /// Buckets the index never grows beyond: room for `max_keys`.
    max_buckets: usize,
}

/// The 32 bits of a key's hash the index keeps.
#[inline]
fn short(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn buckets_for(keys: usize) -> usize {
    keys.div_ceil(AT_CAPACITY).max(1)
}

impl Index {
    /// An index with room for `keys` now, growing to `max_keys`.
    pub(super) fn new(keys: usize, max_keys: usize) -> Self {
        let max_buckets = buckets_for(max_keys);
        Index {
            current: Buckets::new(buckets_for(keys).min(max_buckets)),
            draining: None,
            undrained: 0,
            len: 0,
            max_buckets,
        }
    }

    /// The tag under `hash` that `is_match` accepts.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut is_match: impl FnMut(u32) -> bool) -> Option<u32> {
        let hash = short(hash);
        let found = self.current.find(hash, &mut is_match);
        match &self.draining {
            Some(old) if found.is_none() => old.find(hash, &mut is_match),
            _ => found,
        }
    }

    /// Starts loading the bucket `hash` lives in.
    #[inline]
    pub(super) fn prefetch(&self, hash: u64) {
        self.current.prefetch(short(hash));
        if let Some(old) = &self.draining {
            old.prefetch(short(hash));
        }
    }

    /// Adds `tag` under `hash`; nothing has it yet.
    pub(super) fn insert(&mut self, hash: u64, tag: u32) {
        if self.draining.is_none()
            && self.len >= self.current.count * GROW_AT
            && self.current.count < self.max_buckets
        {
            let bigger = (2 * self.current.count).min(self.max_buckets);
            self.draining = Some(core::mem::replace(&mut self.current, Buckets::new(bigger)));
            self.undrained = self.draining.as_ref().map_or(0, |old| old.count);
        }
        self.current.insert(short(hash), tag);
        self.len += 1;
        self.drain(MOVED_PER_INSERT);
    }

    /// Moves up to `buckets` buckets of the old index into the current one.
    fn drain(&mut self, buckets: usize) {
        let Some(old) = &mut self.draining else {
            return;
        };
        for _ in 0..buckets {
            let Some(index) = self.undrained.checked_sub(1) else {
                self.draining = None;
                return;
            };
            for (hash, tag) in old.empty_bucket(index) {
                self.current.insert(hash, tag);
            }
            self.undrained = index;
            if index % RELEASED_AT_ONCE == 0 {
                old.release_from(index);
            }
        }
    }

    /// Removes `tag` from under `hash`; false when it was not there.
    pub(super) fn remove(&mut self, hash: u64, tag: u32) -> bool {
        let hash = short(hash);
        let removed = self.current.remove(hash, tag)
            || self
                .draining
                .as_mut()
                .is_some_and(|old| old.remove(hash, tag));
        self.len -= usize::from(removed);
        removed
    }

    /// Bytes allocated, for both while the old index drains.
    pub(super) fn allocation_size(&self) -> usize {
        self.current.allocation_size() + self.draining.as_ref().map_or(0, Buckets::allocation_size)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        // Hashes from a few values make long overflow chains; the 32 bits
        // kept are the high ones, so vary those.
        let hash = prop_oneof![
            (0u64..4).prop_map(|n| n << 62),
            any::<u64>(),
            (0u64..64).prop_map(|n| n << 58 | 1),
        ];
        let op = prop_oneof![
            3 => hash.prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Remove),
        ];
        proptest::collection::vec(op, 1..600)
    }

    /// Each bucket's overflow count is the number of entries that passed
    /// it on their way from their home (or saturated).
    fn counts_are_exact(buckets: &Buckets) -> bool {
        let mut expected = vec![0usize; buckets.count];
        for index in 0..buckets.count {
            let used = buckets.fingerprints(index).to_le_bytes();
            for way in (0..WAYS).filter(|&way| used[way] != 0) {
                let mut passed = buckets.home(buckets.bucket(index)[way]);
                while passed != index {
                    expected[passed] += 1;
                    passed = buckets.next(passed);
                }
            }
        }
        expected
            .iter()
            .zip(&buckets.overflow)
            .all(|(&want, &have)| have == SATURATED || usize::from(have) == want)
    }

    proptest! {
        /// Whatever the hashes, while it grows and drains, the index finds
        /// exactly the tags a map holds, and only under their own hash.
        #[test]
        fn finds_what_a_map_holds(ops in ops(), start in 1usize..40) {
            let mut index = Index::new(start, 400);
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut next_tag = 0u32;
            for op in ops {
                match op {
                    Op::Insert(hash) if model.len() < 400 => {
                        index.insert(hash, next_tag);
                        model.insert(next_tag, hash);
                        next_tag += 1;
                    }
                    Op::Insert(_) => {}
                    Op::Remove(pick) => {
                        let mut tags: Vec<u32> = model.keys().copied().collect();
                        tags.sort_unstable();
                        if let Some(&tag) = tags.get(pick % tags.len().max(1)) {
                            prop_assert!(index.remove(model[&tag], tag));
                            prop_assert!(!index.remove(model[&tag], tag));
                            model.remove(&tag);
                        }
                    }
                }
                prop_assert_eq!(index.len, model.len());
                prop_assert!(counts_are_exact(&index.current));
                prop_assert!(index.draining.as_ref().is_none_or(counts_are_exact));
                for (&tag, &hash) in &model {
                    prop_assert_eq!(index.find(hash, |found| found == tag), Some(tag));
                    prop_assert_eq!(index.find(hash ^ 1 << 40, |found| found == tag), None);
                }
            }
        }
    }

    #[test]
    fn grows_in_steps_and_lets_the_old_buckets_go() {
        let mut index = Index::new(12, 10_000);
        assert_eq!(index.current.count, 2);
        for tag in 0..10_000u32 {
            let hash = u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            index.insert(hash, tag);
            // The old buckets drain long before the new ones fill.
            let old = index.draining.as_ref().map_or(0, |old| old.count);
            assert!(index.len <= index.current.count * GROW_AT + old);
        }
        assert!(index.draining.is_none());
        assert_eq!(index.current.count, buckets_for(10_000));
        assert_eq!(index.current.bucket(0).as_ptr().addr() % LINE, 0);
        for tag in 0..10_000u32 {
            let hash = u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            assert_eq!(index.find(hash, |found| found == tag), Some(tag));
        }
    }
}
