//! A point on `0..total_weight` mapped to the backend whose share covers it.

use crate::canonical::Ranked;
use crate::reduce::reduce;

/// Backends with weight laid end to end in canonical order: backend `k`
/// covers `ends[k - 1]..ends[k]`. Weight-0 backends cover nothing.
#[derive(Debug, Clone)]
pub(crate) struct WeightedPoints {
    ends: Vec<u64>,
    indices: Vec<u32>,
}

impl WeightedPoints {
    pub(crate) fn new(ranked: &[Ranked]) -> Self {
        let mut total = 0u64;
        let (mut ends, mut indices) = (Vec::new(), Vec::new());
        for backend in ranked.iter().filter(|backend| backend.weight > 0) {
            total += u64::from(backend.weight);
            ends.push(total);
            indices.push(backend.index);
        }
        WeightedPoints { ends, indices }
    }

    /// The backend whose share holds the point `hash` maps to.
    #[inline]
    pub(crate) fn pick(&self, hash: u64) -> Option<usize> {
        let total = *self.ends.last()?;
        let point = reduce(hash, total);
        let slot = self.ends.partition_point(|&end| end <= point);
        self.indices.get(slot).map(|&index| index as usize)
    }
}
