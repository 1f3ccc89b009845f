//! Backends in canonical order: sorted by identity, so that what a selector
//! builds depends on the set, never on the order it was listed in.

use crate::{Backend, BuildError};

/// A backend in canonical order, with its index in the caller's slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ranked {
    /// Index into the slice the selector was built from.
    pub(crate) index: u32,
    pub(crate) weight: u32,
}

/// The backends sorted by identity; duplicates refused.
pub(crate) fn canonical_order(backends: &[Backend]) -> Result<Vec<Ranked>, BuildError> {
    if u32::try_from(backends.len()).is_err() {
        return Err(BuildError::TooManyBackends(backends.len()));
    }
    let mut order: Vec<usize> = (0..backends.len()).collect();
    order.sort_unstable_by(|&a, &b| backends[a].id.cmp(&backends[b].id));
    if let Some(pair) = order
        .windows(2)
        .find(|pair| backends[pair[0]].id == backends[pair[1]].id)
    {
        return Err(BuildError::DuplicateBackend(backends[pair[0]].id.clone()));
    }
    Ok(order
        .into_iter()
        .map(|index| Ranked {
            // Checked above: every index fits in u32.
            index: u32::try_from(index).unwrap_or(u32::MAX),
            weight: backends[index].weight,
        })
        .collect())
}
