//! Weighted hashing of the source address or the 5-tuple.

use lb_packet::FlowKey;

use crate::canonical::canonical_order;
use crate::weighted_points::WeightedPoints;
use crate::{Backend, BuildError, HashKey, Selector};
use lb_packet::FlowHasher;

/// What a [`WeightedHash`] hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashInput {
    /// The source address: every flow of a client goes to one backend.
    Source,
    /// The whole 5-tuple.
    Flow,
}

/// Hashes each flow onto the backends' weights laid end to end.
///
/// Deterministic for a key and a backend set, but not minimally disruptive:
/// a change to the set remaps many flows. Connection tables keep existing
/// flows where they are; use [`Maglev`](crate::Maglev) when remapping itself
/// must be rare.
#[derive(Debug)]
pub struct WeightedHash {
    points: WeightedPoints,
    hasher: FlowHasher,
    input: HashInput,
}

impl WeightedHash {
    /// A hash selector over `backends`.
    pub fn new(backends: &[Backend], key: HashKey, input: HashInput) -> Result<Self, BuildError> {
        let points = WeightedPoints::new(&canonical_order(backends)?);
        Ok(WeightedHash {
            points,
            hasher: FlowHasher::new(key),
            input,
        })
    }
}

impl Selector for WeightedHash {
    #[inline]
    fn pick(&self, flow: &FlowKey) -> Option<usize> {
        let hash = match self.input {
            HashInput::Source => self.hasher.addr(flow.src),
            HashInput::Flow => self.hasher.flow(flow),
        };
        self.points.pick(hash)
    }
}
