//! Where the later fragments of an IPv4 datagram go: wherever its first
//! went. (IPv6 fragments carry no ports at all: see `lb_packet`.)

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use lb_packet::Ipv4View;

/// How long the fragments of one datagram may trail its first.
const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A datagram, as IPv4 identifies it for reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DatagramId {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) ident: u16,
    pub(crate) protocol: u8,
}

impl DatagramId {
    /// The datagram `header` belongs to.
    pub(crate) fn of(header: &Ipv4View<'_>) -> Self {
        DatagramId {
            src: header.src(),
            dst: header.dst(),
            ident: header.ident(),
            protocol: header.protocol(),
        }
    }
}

/// Remembers, for each datagram whose first fragment was translated, what
/// its other fragments need; bounded, oldest forgotten first.
///
/// No reassembly: a fragment that arrives before its first is dropped, as a
/// router without state would have to.
#[derive(Debug)]
pub(crate) struct FragmentTracker<V> {
    entries: HashMap<DatagramId, (V, Instant, u64)>,
    order: VecDeque<(DatagramId, u64)>,
    capacity: usize,
    next_stamp: u64,
}

impl<V: Copy> FragmentTracker<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        // Grown as fragments come, not reserved: most engines never see one.
        FragmentTracker {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            next_stamp: 0,
        }
    }

    /// Records what the rest of datagram `id` needs.
    pub(crate) fn remember(&mut self, now: Instant, id: DatagramId, value: V) {
        while self.order.len() >= self.capacity {
            let Some((oldest, stamp)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&oldest)
                .is_some_and(|entry| entry.2 == stamp)
            {
                self.entries.remove(&oldest);
            }
        }
        self.next_stamp += 1;
        self.entries
            .insert(id, (value, now + FRAGMENT_TIMEOUT, self.next_stamp));
        self.order.push_back((id, self.next_stamp));
    }

    /// What a later fragment of `id` needs, if its first was seen lately.
    pub(crate) fn lookup(&self, now: Instant, id: &DatagramId) -> Option<V> {
        self.entries
            .get(id)
            .filter(|entry| entry.1 > now)
            .map(|entry| entry.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ident: u16) -> DatagramId {
        DatagramId {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::BROADCAST,
            ident,
            protocol: 17,
        }
    }

    #[test]
    fn bounded_and_expiring() {
        let now = Instant::now();
        let mut tracker = FragmentTracker::new(2);
        tracker.remember(now, id(1), 'a');
        tracker.remember(now, id(2), 'b');
        tracker.remember(now, id(1), 'c');
        tracker.remember(now, id(3), 'd');
        assert_eq!(tracker.lookup(now, &id(2)), None, "oldest forgotten");
        assert_eq!(tracker.lookup(now, &id(1)), Some('c'));
        assert_eq!(tracker.lookup(now, &id(3)), Some('d'));
        assert_eq!(tracker.lookup(now + FRAGMENT_TIMEOUT, &id(3)), None);
    }
}
