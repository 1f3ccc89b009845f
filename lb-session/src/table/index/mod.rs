//! The table's index: each key's hash to its tag (`slot << 1 | direction`).
//!
//! Open addressing over buckets of one cache line each: twelve tags, a
//! one-byte fingerprint of each one's hash (hashbrown's control bytes) and
//! an overflow count. A lookup compares its fingerprint with the home
//! bucket's twelve at once and reads only the sessions whose fingerprint
//! matches; it goes on to the next bucket only while the overflow count
//! says some key homed there or earlier was pushed past it (F14's scheme:
//! no tombstones, so churn never forces a rebuild). So a lookup reads one
//! line of the index whatever its size, and an entry costs five bytes and
//! a share of the count: no hash is kept beside its tag.
//!
//! It grows without stopping the packet path: a bigger index is
//! allocated zeroed (the kernel hands out its pages as they are first
//! written), and each insert then moves one bucket of the old index into
//! it, from the last, giving back the old index's memory a little at a
//! time (the few keys that overflowed round its end into its first
//! buckets move at once, as their way there goes first). A key's home is `hash * buckets >> 32` of 32 bits of its hash,
//! so the old index's buckets land in order in the new one; to move an
//! entry the table hashes its session's key again. Until the old index is
//! empty a lookup reads both.

mod line;

use crate::prefetch::prefetch;
use line::{
    OVERFLOW, TAGS, WORDS, fingerprint, fingerprints, first_way, set_fingerprint, used_ways,
    ways_with,
};

/// Keys a bucket holds on average before the index grows, and at the
/// table's capacity: three quarters of its ways. Churn leaves keys away
/// from their home (there are no tombstones to rebuild at), so the
/// overflow chains a miss follows grow with the load: at ten, an evicting
/// insert into a full table cost 1.6 times as much.
const FULL: usize = 9;
/// Buckets of the old index moved on each insert while growing: it is
/// empty after as many inserts as it has buckets, long before the new one,
/// twice its size, is due to grow.
const MOVED_PER_INSERT: usize = 1;
/// Buckets of a draining index given back to the allocator at a time:
/// 64 KiB, so that no insert pays for unmapping the whole of it (two in
/// tests, whose indexes are small).
const RELEASED_AT_ONCE: usize = if cfg!(test) { 2 } else { 1024 };
const LINE: usize = 64;
/// The hashes of the keys the index holds, which it keeps none of: it
/// asks for them to move its entries as it grows.
pub(super) trait TagHashes {
    /// The hash of the key `tag` names.
    fn hash(&self, tag: u32) -> u64;
    /// Starts loading what [`hash`](Self::hash) of `tag` will read.
    fn prefetch(&self, tag: u32);
}

/// One array of buckets, each on its own cache line.
struct Buckets {
    /// Zero-initialised words; `words[first..]` starts on a cache line.
    words: Vec<u32>,
    first: usize,
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
        prefetch(self.bucket(self.home(hash)));
    }

    /// The first tag under `hash` that `is_match` accepts.
    #[inline]
    fn find(&self, hash: u32, is_match: &mut impl FnMut(u32) -> bool) -> Option<u32> {
        let mut index = self.home(hash);
        for _ in 0..self.count {
            let bucket = self.bucket(index);
            let mut ways = ways_with(fingerprints(bucket), fingerprint(hash));
            while ways != 0 {
                let tag = bucket[TAGS + first_way(ways)];
                if is_match(tag) {
                    return Some(tag);
                }
                ways &= ways - 1;
            }
            if bucket[OVERFLOW] == 0 {
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
            let next = self.next(index);
            let Some(bucket) = self.bucket_mut(index) else {
                return;
            };
            let free = ways_with(fingerprints(bucket), 0);
            if free != 0 {
                let way = first_way(free);
                set_fingerprint(bucket, way, fingerprint(hash));
                bucket[TAGS + way] = tag;
                return;
            }
            bucket[OVERFLOW] += 1;
            index = next;
        }
    }

    /// Takes `tag` out, and its count out of the buckets it overflowed.
    fn remove(&mut self, hash: u32, tag: u32) -> bool {
        let home = self.home(hash);
        let mut index = home;
        for passed in 0..self.count {
            let bucket = self.bucket(index);
            let mut ways = ways_with(fingerprints(bucket), fingerprint(hash));
            while ways != 0 {
                let way = first_way(ways);
                if bucket[TAGS + way] == tag {
                    if let Some(bucket) = self.bucket_mut(index) {
                        set_fingerprint(bucket, way, 0);
                    }
                    self.uncount_overflow(home, passed);
                    return true;
                }
                ways &= ways - 1;
            }
            if bucket[OVERFLOW] == 0 {
                return false;
            }
            index = self.next(index);
        }
        false
    }

    fn uncount_overflow(&mut self, home: usize, passed: usize) {
        let mut index = home;
        for _ in 0..passed {
            let next = self.next(index);
            if let Some(bucket) = self.bucket_mut(index) {
                bucket[OVERFLOW] = bucket[OVERFLOW].saturating_sub(1);
            }
            index = next;
        }
    }

    /// Takes the entries out of bucket `index` whose home `is_taken` (as
    /// [`remove`](Self::remove) of each, without looking for them), and
    /// gives each to `take` with its hash; how many it took.
    fn take_from(
        &mut self,
        index: usize,
        hashes: &impl TagHashes,
        is_taken: impl Fn(usize) -> bool,
        mut take: impl FnMut(u32, u32),
    ) -> usize {
        let bucket = *self.bucket(index);
        let mut taken = 0;
        for (way, tag) in used_ways(&bucket) {
            let hash = short(hashes.hash(tag));
            let home = self.home(hash);
            if !is_taken(home) {
                continue;
            }
            if let Some(bucket) = self.bucket_mut(index) {
                set_fingerprint(bucket, way, 0);
            }
            // Buckets passed from its home to here, round the end.
            self.uncount_overflow(home, (index + self.count - home) % self.count);
            take(hash, tag);
            taken += 1;
        }
        taken
    }

    /// Takes out the entries that overflowed past the last bucket round to
    /// the first ones (as many as the last bucket's overflow count).
    /// Buckets drain from the last and are given back behind the drain, so
    /// these must leave first: the chain that led to them would be gone.
    fn take_wrapped(&mut self, hashes: &impl TagHashes, mut take: impl FnMut(u32, u32)) {
        let mut wrapped = self.bucket(self.count - 1)[OVERFLOW] as usize;
        for index in 0..self.count - 1 {
            if wrapped == 0 {
                return;
            }
            let taken = self.take_from(index, hashes, |home| home > index, &mut take);
            wrapped = wrapped.saturating_sub(taken);
        }
    }

    /// Gives back the memory of the buckets from `index` on, all empty.
    fn release_from(&mut self, index: usize) {
        self.words.truncate(self.first + index * WORDS);
        self.words.shrink_to_fit();
    }

    fn allocation_size(&self) -> usize {
        self.words.capacity() * size_of::<u32>()
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

/// The 32 bits of a key's hash the index goes by.
#[inline]
fn short(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn buckets_for(keys: usize) -> usize {
    keys.div_ceil(FULL).max(1)
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

    /// Adds `tag` under `hash`; nothing has it yet. While the index grows,
    /// `hashes` tells the hash of the tags it moves.
    pub(super) fn insert(&mut self, hash: u64, tag: u32, hashes: &impl TagHashes) {
        if self.draining.is_none()
            && self.len >= self.current.count * FULL
            && self.current.count < self.max_buckets
        {
            let bigger = (2 * self.current.count).min(self.max_buckets);
            let mut old = core::mem::replace(&mut self.current, Buckets::new(bigger));
            let current = &mut self.current;
            old.take_wrapped(hashes, |hash, tag| current.insert(hash, tag));
            self.undrained = old.count;
            self.draining = Some(old);
        }
        self.current.insert(short(hash), tag);
        self.len += 1;
        self.drain(MOVED_PER_INSERT, hashes);
    }

    /// Moves up to `buckets` buckets of the old index into the current
    /// one, and starts loading what the next one's hashes will read.
    fn drain(&mut self, buckets: usize, hashes: &impl TagHashes) {
        let Some(old) = &mut self.draining else {
            return;
        };
        let current = &mut self.current;
        for _ in 0..buckets {
            let Some(index) = self.undrained.checked_sub(1) else {
                self.draining = None;
                return;
            };
            if let Some(next) = index.checked_sub(1) {
                used_ways(old.bucket(next)).for_each(|(_, tag)| hashes.prefetch(tag));
            }
            old.take_from(
                index,
                hashes,
                |_| true,
                |hash, tag| current.insert(hash, tag),
            );
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
            // Homes in the last buckets, overflowing round to the first.
            (0u64..64).prop_map(|n| !(n << 56)),
        ];
        let op = prop_oneof![
            3 => hash.prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Remove),
        ];
        proptest::collection::vec(op, 1..600)
    }

    /// Hashes from a function of the tag.
    struct HashOf<F>(F);

    impl<F: Fn(u32) -> u64> TagHashes for HashOf<F> {
        fn hash(&self, tag: u32) -> u64 {
            (self.0)(tag)
        }
        fn prefetch(&self, _: u32) {}
    }

    /// Each bucket's overflow count is the number of entries that passed
    /// it on their way from their home.
    fn counts_are_exact(buckets: &Buckets, hashes: &impl TagHashes) -> bool {
        let mut expected = vec![0u32; buckets.count];
        for index in 0..buckets.count {
            for (_, tag) in used_ways(buckets.bucket(index)) {
                let mut passed = buckets.home(short(hashes.hash(tag)));
                while passed != index {
                    expected[passed] += 1;
                    passed = buckets.next(passed);
                }
            }
        }
        (0..buckets.count).all(|index| buckets.bucket(index)[OVERFLOW] == expected[index])
    }

    proptest! {
        /// Whatever the hashes, while it grows and drains, the index finds
        /// exactly the tags a map holds, and never under a hash of another
        /// fingerprint.
        #[test]
        fn finds_what_a_map_holds(ops in ops(), start in 1usize..40) {
            let mut index = Index::new(start, 400);
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut next_tag = 0u32;
            for op in ops {
                match op {
                    Op::Insert(hash) if model.len() < 400 => {
                        index.insert(hash, next_tag, &HashOf(|tag| model[&tag]));
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
                let hashes = HashOf(|tag| model[&tag]);
                prop_assert!(counts_are_exact(&index.current, &hashes));
                prop_assert!(index.draining.as_ref().is_none_or(|old| counts_are_exact(old, &hashes)));
                for (&tag, &hash) in &model {
                    prop_assert_eq!(index.find(hash, |found| found == tag), Some(tag));
                    prop_assert_eq!(index.find(hash ^ 1 << 33, |found| found == tag), None);
                }
            }
        }
    }

    #[test]
    fn grows_in_steps_and_lets_the_old_buckets_go() {
        let hash_of = |tag: u32| u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut index = Index::new(18, 8_000);
        assert_eq!(index.current.count, 2);
        for tag in 0..8_000u32 {
            index.insert(hash_of(tag), tag, &HashOf(hash_of));
            // The old buckets have drained by the time the new ones fill.
            let due = index.len >= index.current.count * FULL;
            assert!(!due || index.draining.is_none());
        }
        assert!(index.draining.is_none());
        assert_eq!(index.current.count, buckets_for(8_000));
        assert_eq!(index.current.bucket(0).as_ptr().addr() % LINE, 0);
        for tag in 0..8_000u32 {
            assert_eq!(index.find(hash_of(tag), |found| found == tag), Some(tag));
        }
    }
}
