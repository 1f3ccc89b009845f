//! [`SnatAllocator`]: source ports per destination, handed out and given
//! back in constant time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use lb_packet::{FlowHasher, FlowKey, HashKey, Protocol};

use super::{PortRange, SnatError};

/// Tries at finding a permutation step coprime with the range's length
/// before settling for 1 (a walk in order).
const STRIDE_TRIES: u64 = 16;

/// What a port is unique towards: replies from `remote` to `proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Destination {
    proxy: IpAddr,
    remote: SocketAddr,
    proto: Protocol,
}

impl Destination {
    fn new(proxy: IpAddr, remote: SocketAddr, proto: Protocol) -> Self {
        Destination {
            proxy,
            remote,
            proto,
        }
    }
}

/// The ports of one destination.
#[derive(Debug)]
struct PortPool {
    /// Ports handed out so far from the pool's permutation of the range:
    /// the next fresh port is the `fresh`-th.
    fresh: u32,
    /// Where the permutation starts, and its step (coprime with the length).
    start: u32,
    stride: u32,
    /// Ports given back, oldest first. Reused last, so that a destination
    /// still holding a closed connection in TIME_WAIT meets its port again
    /// as late as possible.
    free: VecDeque<u16>,
    /// Ports in use whose connection may be taken over when nothing is
    /// free (half-open ones, closed ones), oldest first; the caller checks
    /// each against its table, since some have moved on.
    reclaimable: VecDeque<u16>,
    /// Ports [claimed](SnatAllocator::claim) that the permutation has not
    /// reached yet: passed over (and forgotten) when it does.
    claimed: HashSet<u16>,
    in_use: u32,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Chooses source ports for connections a full NAT makes on its clients'
/// behalf, each unique towards its destination (proxy address, remote
/// address and port, protocol).
///
/// Allocation and release take constant time: each destination walks a
/// keyed permutation of the range (so ports are not predictable from
/// outside), then reuses given-back ports oldest first. The caller gives a
/// port back when its session ends ([`release`](Self::release)), which a
/// [`SessionTable`](crate::SessionTable) that
/// [reports departures](crate::SessionTable::report_departures) tells it.
/// When a destination has no port left,
/// [`reclaim_candidate`](Self::reclaim_candidate) offers the ports of half-open and closed
/// connections, oldest first, for the caller to end and reuse: established
/// connections are never taken over. A destination's state is freed with its
/// last port.
#[derive(Debug)]
pub struct SnatAllocator {
    range: PortRange,
    hasher: FlowHasher,
    pools: HashMap<Destination, PortPool>,
}

impl SnatAllocator {
    /// An allocator over `range`, hashing with `key`.
    pub fn new(range: PortRange, key: HashKey) -> Self {
        SnatAllocator {
            range,
            hasher: FlowHasher::new(key),
            pools: HashMap::new(),
        }
    }

    /// The range ports come from.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// The key a reply from `remote` to `proxy:port` carries.
    pub fn reply_key(proxy: IpAddr, port: u16, remote: SocketAddr, proto: Protocol) -> FlowKey {
        // ICMP echo carries its identifier in both port slots.
        let src_port = if proto == Protocol::Icmp {
            port
        } else {
            remote.port()
        };
        FlowKey {
            src: remote.ip(),
            dst: proxy,
            src_port,
            dst_port: port,
            proto,
        }
    }

    /// A free port on `proxy` for `client`'s new connection to `remote`,
    /// in use until [released](Self::release).
    pub fn allocate(
        &mut self,
        client: &FlowKey,
        proxy: IpAddr,
        remote: SocketAddr,
    ) -> Result<u16, SnatError> {
        let destination = Destination::new(proxy, remote, client.proto);
        let (range, hasher) = (self.range, &self.hasher);
        let pool = self
            .pools
            .entry(destination)
            .or_insert_with(|| PortPool::new(range, hasher, &destination));
        let Some(port) = pool.free.pop_front().or_else(|| pool.next_fresh(range)) else {
            return Err(SnatError::Exhausted {
                proxy,
                remote,
                proto: client.proto,
            });
        };
        pool.in_use += 1;
        pool.mark_reclaimable(port, range);
        Ok(port)
    }

    /// Marks `port` towards `remote` in use, as if
    /// [`allocate`](Self::allocate) had handed it out: for sessions put
    /// back after a restart. The port must not be in use towards `remote`
    /// already (a session table's reply keys see to that).
    pub fn claim(
        &mut self,
        proxy: IpAddr,
        remote: SocketAddr,
        proto: Protocol,
        port: u16,
    ) -> Result<(), SnatError> {
        let range = self.range;
        if !range.contains(port) {
            return Err(SnatError::OutOfRange { port, range });
        }
        let destination = Destination::new(proxy, remote, proto);
        let hasher = &self.hasher;
        let pool = self
            .pools
            .entry(destination)
            .or_insert_with(|| PortPool::new(range, hasher, &destination));
        if let Some(at) = pool.free.iter().position(|&free| free == port) {
            pool.free.remove(at);
        } else {
            pool.claimed.insert(port);
        }
        pool.in_use += 1;
        pool.mark_reclaimable(port, range);
        Ok(())
    }

    /// Gives `port` back: its connection to `remote` is gone. Call it once
    /// per allocation.
    pub fn release(&mut self, proxy: IpAddr, remote: SocketAddr, proto: Protocol, port: u16) {
        let destination = Destination::new(proxy, remote, proto);
        let Some(pool) = self.pools.get_mut(&destination) else {
            return;
        };
        pool.in_use = pool.in_use.saturating_sub(1);
        if pool.in_use == 0 {
            self.pools.remove(&destination);
        } else {
            pool.free.push_back(port);
        }
    }

    /// Notes that the connection on `port` to `remote` closed, so the port
    /// may be taken over before it is released.
    pub fn closed(&mut self, proxy: IpAddr, remote: SocketAddr, proto: Protocol, port: u16) {
        let destination = Destination::new(proxy, remote, proto);
        if let Some(pool) = self.pools.get_mut(&destination) {
            pool.mark_reclaimable(port, self.range);
        }
    }

    /// For a caller [`allocate`](Self::allocate) refused: the oldest port
    /// towards `remote` whose connection was half-open or closed when last
    /// heard of. The caller checks it still is, ends it (then
    /// [releases](Self::release) the port) and allocates again.
    pub fn reclaim_candidate(
        &mut self,
        proxy: IpAddr,
        remote: SocketAddr,
        proto: Protocol,
    ) -> Option<u16> {
        let destination = Destination::new(proxy, remote, proto);
        self.pools.get_mut(&destination)?.reclaimable.pop_front()
    }

    /// Ports in use, over every destination.
    pub fn in_use(&self) -> usize {
        self.pools.values().map(|pool| pool.in_use as usize).sum()
    }
}

impl PortPool {
    fn new(range: PortRange, hasher: &FlowHasher, destination: &Destination) -> Self {
        let key =
            SnatAllocator::reply_key(destination.proxy, 0, destination.remote, destination.proto);
        let (hash, len) = (hasher.flow(&key), u64::from(range.len()));
        let stride = (0..STRIDE_TRIES)
            .map(|try_| (hash >> 32).wrapping_add(try_) % len)
            .find(|&stride| stride > 0 && gcd(stride, len) == 1)
            .unwrap_or(1);
        PortPool {
            fresh: 0,
            start: (hash % len) as u32,
            stride: stride as u32,
            free: VecDeque::new(),
            reclaimable: VecDeque::new(),
            claimed: HashSet::new(),
            in_use: 0,
        }
    }

    /// The next port of the permutation not claimed already, if any is left.
    fn next_fresh(&mut self, range: PortRange) -> Option<u16> {
        while self.fresh < range.len() {
            let offset = (u64::from(self.start) + u64::from(self.fresh) * u64::from(self.stride))
                % u64::from(range.len());
            self.fresh += 1;
            // offset < len <= 65536 - first, so the sum is a port.
            let port = range.first() + offset as u16;
            if !self.claimed.remove(&port) {
                return Some(port);
            }
        }
        None
    }

    /// Queues `port` for taking over, forgetting the oldest candidate once
    /// the queue holds as many as the range.
    fn mark_reclaimable(&mut self, port: u16, range: PortRange) {
        if self.reclaimable.len() >= range.len() as usize {
            self.reclaimable.pop_front();
        }
        self.reclaimable.push_back(port);
    }
}
