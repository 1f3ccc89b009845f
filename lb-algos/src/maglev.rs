//! Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016), filled
//! with the weighted turns of Katran's MaglevHashV2.

use lb_packet::FlowKey;
use siphasher::sip::SipHasher13;

use crate::canonical::{Ranked, canonical_order};
use lb_packet::FlowHasher;

use crate::reduce::reduce;
use crate::{Backend, BuildError, HashKey, Selector};

/// Table size used unless configured otherwise: the paper's 65537.
pub const DEFAULT_TABLE_SIZE: u64 = 65_537;

/// Largest table size accepted (the table holds one `u32` per slot).
pub const MAX_TABLE_SIZE: u64 = 1 << 24;

/// The sizes [`Maglev::size_for`] chooses from: primes just below powers
/// of two, with the paper's 65537 in the place of 65521.
const SIZE_LADDER: [u64; 15] = [
    1021, 2039, 4093, 8191, 16381, 32749, 65537, 131_071, 262_139, 524_287, 1_048_573, 2_097_143,
    4_194_301, 8_388_593, 16_777_213,
];

/// Slots per backend [`Maglev::size_for`] aims at: taking one of five
/// backends out then moves under 1% of the others' slots (0.4% at 8191
/// slots, where 1021 moves 1.1% and 65537 0.07%).
const SLOTS_PER_BACKEND: u64 = 1000;

/// Slots per backend [`Maglev::size_for`] never goes below, past
/// [`DEFAULT_TABLE_SIZE`]: shares then lie within about 1% of the weights.
const MIN_SLOTS_PER_BACKEND: u64 = 100;

/// Marks a slot no backend claimed (only when no backend has weight).
const EMPTY: u32 = u32::MAX;

/// Free slots left when the fill stops walking permutations. With `F` free
/// slots a walk takes about `size / F` probes to find one, while computing
/// how far along the walk each free slot lies takes `F` multiplications.
/// With 1000 backends and 65537 slots, a third of a plain fill's probes go
/// to its last 64 slots.
const ENDGAME_FREE_SLOTS: usize = 64;

/// Fixed keys for deriving a backend's permutation from its identity: the
/// table must depend on the backend set alone, identically everywhere.
const OFFSET_KEY: [u8; 16] = *b"lb-maglev-offset";
const SKIP_KEY: [u8; 16] = *b"lb-maglev-skip\0\0";

/// A backend's permutation of the table, `(offset + j * skip) mod size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permutation {
    /// First slot the backend prefers.
    pub offset: u64,
    /// Step between its preferences; in `1..size`.
    pub skip: u64,
    /// Relative share of slots; 0 claims none.
    pub weight: u32,
}

/// Maps each flow's hash to a slot of a prime-sized table whose slots the
/// backends claimed in proportion to their weights.
///
/// Adding or removing a backend moves few slots besides its own, and every
/// instance with the same backend set and key builds the same table. The
/// build walks each backend's permutation incrementally and never
/// materialises it.
#[derive(Debug, Clone)]
pub struct Maglev {
    /// Slot -> index of the backend in the slice the table was built from.
    table: Vec<u32>,
    hasher: FlowHasher,
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut divisor = 2;
    while divisor * divisor <= n {
        if n % divisor == 0 {
            return false;
        }
        divisor += 1;
    }
    true
}

fn check_size(size: u64, backends: usize) -> Result<(), BuildError> {
    if size > MAX_TABLE_SIZE {
        return Err(BuildError::TableTooLarge(size));
    }
    if !is_prime(size) {
        return Err(BuildError::TableSizeNotPrime(size));
    }
    if size < u64::try_from(backends).unwrap_or(u64::MAX) {
        return Err(BuildError::TableTooSmall { size, backends });
    }
    Ok(())
}

impl Maglev {
    /// A table size for `backends` backends, when none is configured: the
    /// smallest of a fixed ladder of primes (1021, 2039, 4093, ... 65537,
    /// ... 16777213) with 1000 slots per backend, up to the paper's 65537,
    /// which it exceeds only to keep 100 per backend (past 655 backends).
    /// A service with few backends then takes 4 to 32 KiB instead of 256
    /// KiB, shares stay within about 1% of the weights, and a backend
    /// leaving moves under 1% of the other backends' flows. It depends on
    /// the count alone, so instances with the same backends agree; a count
    /// that crosses a step (2, 3, 5, 9, 17, 33, 656, ... backends) changes
    /// the size, and with it most flows' picks, once.
    pub fn size_for(backends: usize) -> u64 {
        let backends = u64::try_from(backends).unwrap_or(u64::MAX);
        let wanted = backends
            .saturating_mul(SLOTS_PER_BACKEND)
            .min(DEFAULT_TABLE_SIZE.max(backends.saturating_mul(MIN_SLOTS_PER_BACKEND)));
        SIZE_LADDER
            .iter()
            .copied()
            .find(|&size| size >= wanted)
            .unwrap_or(SIZE_LADDER[SIZE_LADDER.len() - 1])
    }

    /// A Maglev table of prime `size` over `backends`, hashing flows with `key`.
    pub fn new(backends: &[Backend], key: HashKey, size: u64) -> Result<Self, BuildError> {
        check_size(size, backends.len())?;
        let ranked = canonical_order(backends)?;
        let offset_hasher = SipHasher13::new_with_key(&OFFSET_KEY);
        let skip_hasher = SipHasher13::new_with_key(&SKIP_KEY);
        let permutations: Vec<(Ranked, Permutation)> = ranked
            .into_iter()
            .map(|backend| {
                let id = backends[backend.index as usize].id.as_bytes();
                let permutation = Permutation {
                    offset: offset_hasher.hash(id) % size,
                    skip: skip_hasher.hash(id) % (size - 1) + 1,
                    weight: backend.weight,
                };
                (backend, permutation)
            })
            .collect();
        Ok(Maglev {
            table: fill(size, &permutations),
            hasher: FlowHasher::new(key),
        })
    }

    /// A table from explicit permutations, taken in the order given (backend
    /// `i` is `permutations[i]`), to reproduce published tables.
    pub fn with_permutations(
        size: u64,
        permutations: &[Permutation],
        key: HashKey,
    ) -> Result<Self, BuildError> {
        check_size(size, permutations.len())?;
        if let Some(p) = permutations
            .iter()
            .find(|p| p.offset >= size || p.skip == 0 || p.skip >= size)
        {
            return Err(BuildError::InvalidPermutation {
                offset: p.offset,
                skip: p.skip,
                size,
            });
        }
        let listed: Vec<(Ranked, Permutation)> = permutations
            .iter()
            .enumerate()
            .map(|(index, &p)| {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                (
                    Ranked {
                        index,
                        weight: p.weight,
                    },
                    p,
                )
            })
            .collect();
        Ok(Maglev {
            table: fill(size, &listed),
            hasher: FlowHasher::new(key),
        })
    }

    /// Slot -> backend index (`None` where no backend has weight).
    pub fn slots(&self) -> impl ExactSizeIterator<Item = Option<usize>> + '_ {
        self.table
            .iter()
            .map(|&slot| (slot != EMPTY).then_some(slot as usize))
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.table.len()
    }
}

/// A backend's progress through its permutation during the fill.
struct Cursor {
    next_slot: u32,
    skip: u32,
    /// `2 * skip mod size`: the stride of the two interleaved walks.
    double_skip: u32,
    weight: u64,
    credit: u64,
    index: u32,
}

/// `(slot + step) mod size`, for both below `size`.
fn step(slot: u32, step: u32, size: u32) -> u32 {
    let next = slot + step;
    if next >= size { next - size } else { next }
}

fn is_free(taken: &[u64], slot: u32) -> bool {
    taken[slot as usize / 64] & 1 << (slot % 64) == 0
}

impl Cursor {
    fn advance(&self, slot: u32, size: u32) -> u32 {
        step(slot, self.skip, size)
    }

    /// Claims the backend's next preferred free slot.
    ///
    /// The permutation visits every slot (skip is coprime with the prime
    /// size), and one is free while the table is not full. Occupancy is
    /// probed in a bitmap (8 KiB for 65537 slots) that stays in L1, where
    /// the table itself would not. The walk runs as two interleaved walks
    /// striding two steps, so that neither waits on the other's addition.
    #[inline]
    fn claim(&mut self, taken: &mut [u64], table: &mut [u32], size: u32) {
        let mut even = self.next_slot;
        let mut odd = self.advance(even, size);
        let slot = loop {
            if is_free(taken, even) {
                self.next_slot = odd;
                break even;
            }
            let after_odd = step(even, self.double_skip, size);
            if is_free(taken, odd) {
                self.next_slot = after_odd;
                break odd;
            }
            even = after_odd;
            odd = step(odd, self.double_skip, size);
        };
        taken[slot as usize / 64] |= 1 << (slot % 64);
        table[slot as usize] = self.index;
    }

    /// Claims the same slot as [`claim`](Self::claim) would, from the short
    /// list of free slots: the one the walk reaches first, `k` steps on,
    /// where `next_slot + k * skip = slot (mod size)`.
    fn claim_among(&mut self, free: &mut Vec<u32>, table: &mut [u32], size: u32) {
        let size = u64::from(size);
        let inverse = inverse_mod(u64::from(self.skip), size);
        let next = u64::from(self.next_slot);
        let steps = |slot: u64| (slot + size - next) % size * inverse % size;
        let nearest = free
            .iter()
            .enumerate()
            .min_by_key(|&(_, &slot)| steps(u64::from(slot)));
        let Some((nearest, _)) = nearest else {
            return;
        };
        let slot = free.swap_remove(nearest);
        table[slot as usize] = self.index;
        self.next_slot = self.advance(slot, size as u32);
    }
}

/// The inverse of `value` modulo the prime `modulus` (extended Euclid).
fn inverse_mod(value: u64, modulus: u64) -> u64 {
    // Both below 2^24 (MAX_TABLE_SIZE): i64 holds every intermediate.
    let (mut r0, mut r1) = (value as i64, modulus as i64);
    let (mut s0, mut s1) = (1i64, 0i64);
    while r1 != 0 {
        let quotient = r0 / r1;
        (r0, r1) = (r1, r0 - quotient * r1);
        (s0, s1) = (s1, s0 - quotient * s1);
    }
    s0.rem_euclid(modulus as i64) as u64
}

/// The slots a fill has not claimed yet, from its occupancy bitmap.
fn free_slots(taken: &[u64], size: u32) -> Vec<u32> {
    let mut free = Vec::new();
    for (word, &bits) in (0u32..).zip(taken) {
        let mut vacant = !bits;
        while vacant != 0 {
            let slot = word * 64 + vacant.trailing_zeros();
            vacant &= vacant - 1;
            if slot < size {
                free.push(slot);
            }
        }
    }
    free
}

/// Katran's weighted fill: each round every backend earns its weight in
/// credit; whenever its credit reaches the largest weight it spends that
/// much and claims its next preferred free slot. The last
/// [`ENDGAME_FREE_SLOTS`] are found by arithmetic instead of by walking.
fn fill(size: u64, permutations: &[(Ranked, Permutation)]) -> Vec<u32> {
    // Checked by the callers: size <= MAX_TABLE_SIZE, offsets and skips below it.
    let (Ok(size), Ok(len)) = (u32::try_from(size), usize::try_from(size)) else {
        return Vec::new();
    };
    let mut table = vec![EMPTY; len];
    let mut taken = vec![0u64; len.div_ceil(64)];
    let mut cursors: Vec<Cursor> = permutations
        .iter()
        .filter(|(_, p)| p.weight > 0)
        .map(|(backend, p)| Cursor {
            next_slot: u32::try_from(p.offset).unwrap_or(0),
            skip: u32::try_from(p.skip).unwrap_or(1),
            double_skip: u32::try_from(2 * p.skip % u64::from(size)).unwrap_or(1),
            weight: u64::from(p.weight),
            credit: 0,
            index: backend.index,
        })
        .collect();
    let Some(max_weight) = cursors.iter().map(|c| c.weight).max() else {
        return table;
    };
    let mut filled = 0;
    let mut endgame: Option<Vec<u32>> = None;
    loop {
        for cursor in &mut cursors {
            cursor.credit += cursor.weight;
            if cursor.credit < max_weight {
                continue;
            }
            cursor.credit -= max_weight;
            match endgame.as_mut() {
                Some(free) => cursor.claim_among(free, &mut table, size),
                None => cursor.claim(&mut taken, &mut table, size),
            }
            filled += 1;
            if filled == len {
                return table;
            }
            // With F free slots left a walk takes size / F probes and the
            // endgame F multiplications: small tables walk longer.
            let free = len - filled;
            if endgame.is_none() && free <= ENDGAME_FREE_SLOTS && free * free < len {
                endgame = Some(free_slots(&taken, size));
            }
        }
    }
}

impl Selector for Maglev {
    #[inline]
    fn pick(&self, flow: &FlowKey) -> Option<usize> {
        let len = self.table.len() as u64;
        let slot = usize::try_from(reduce(self.hasher.flow(flow), len)).ok()?;
        self.table
            .get(slot)
            .filter(|&&index| index != EMPTY)
            .map(|&index| index as usize)
    }
}
