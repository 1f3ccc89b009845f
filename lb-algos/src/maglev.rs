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

/// Marks a slot no backend claimed (only when no backend has weight).
const EMPTY: u32 = u32::MAX;

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
    weight: u64,
    credit: u64,
    index: u32,
}

impl Cursor {
    fn advance(&self, slot: u32, size: u32) -> u32 {
        let next = slot + self.skip;
        if next >= size { next - size } else { next }
    }

    /// Claims the backend's next preferred free slot.
    ///
    /// The permutation visits every slot (skip is coprime with the prime
    /// size), and one is free while the table is not full. Occupancy is
    /// probed in a bitmap (8 KiB for 65537 slots) that stays in L1, where
    /// the table itself would not.
    #[inline]
    fn claim(&mut self, taken: &mut [u64], table: &mut [u32], size: u32) {
        loop {
            let slot = self.next_slot;
            self.next_slot = self.advance(slot, size);
            let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
            if taken[word] & bit == 0 {
                taken[word] |= bit;
                table[slot as usize] = self.index;
                return;
            }
        }
    }
}

/// Katran's weighted fill: each round every backend earns its weight in
/// credit; whenever its credit reaches the largest weight it spends that
/// much and claims its next preferred free slot.
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
            weight: u64::from(p.weight),
            credit: 0,
            index: backend.index,
        })
        .collect();
    let Some(max_weight) = cursors.iter().map(|c| c.weight).max() else {
        return table;
    };
    let mut filled = 0;
    loop {
        for cursor in &mut cursors {
            cursor.credit += cursor.weight;
            if cursor.credit < max_weight {
                continue;
            }
            cursor.credit -= max_weight;
            cursor.claim(&mut taken, &mut table, size);
            filled += 1;
            if filled == len {
                return table;
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
