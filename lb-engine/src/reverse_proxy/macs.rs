//! The Ethernet addresses a full-NAT session's replies go back with: the
//! client's MAC and the one it addressed, interned, so that a session
//! holds a 16-bit index instead of twelve bytes (its entry stays one
//! cache line).

use std::collections::HashMap;

use lb_packet::MacAddr;

/// `(client, addressed)` pairs by index; index 0 stands for none.
#[derive(Debug, Default)]
pub(super) struct MacPairs {
    pairs: Vec<(MacAddr, MacAddr)>,
    index: HashMap<(MacAddr, MacAddr), u16>,
}

impl MacPairs {
    /// The index of `pair` (from 1), added if new; None when 65535 pairs
    /// are held (a new full-NAT flow is then refused).
    pub(super) fn intern(&mut self, pair: (MacAddr, MacAddr)) -> Option<u16> {
        if let Some(&at) = self.index.get(&pair) {
            return Some(at);
        }
        let at = u16::try_from(self.pairs.len() + 1).ok()?;
        self.pairs.push(pair);
        self.index.insert(pair, at);
        Some(at)
    }

    /// The pair at `at`, if it is one.
    #[inline]
    pub(super) fn get(&self, at: u16) -> Option<(MacAddr, MacAddr)> {
        self.pairs.get(usize::from(at).checked_sub(1)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_interned_from_one() {
        let mut pairs = MacPairs::default();
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(pairs.intern((a, b)), Some(1));
        assert_eq!(pairs.intern((b, a)), Some(2));
        assert_eq!(pairs.intern((a, b)), Some(1));
        assert_eq!(pairs.get(2), Some((b, a)));
        assert_eq!(pairs.get(0), None);
        assert_eq!(pairs.get(3), None);
    }
}
