//! Source ports for full NAT: an allocator per source address the load
//! balancer owns, each over its own range.

use std::net::IpAddr;

use lb_algos::HashKey;
use lb_session::{PortRange, SnatAllocator};

/// The allocators, by source address (few: a linear search).
#[derive(Debug, Default)]
pub(crate) struct SnatPools {
    pools: Vec<(IpAddr, SnatAllocator)>,
}

impl SnatPools {
    /// The allocator of `ip`'s ports.
    #[inline]
    pub(crate) fn get_mut(&mut self, ip: IpAddr) -> Option<&mut SnatAllocator> {
        self.pools
            .iter_mut()
            .find(|(own, _)| *own == ip)
            .map(|(_, pool)| pool)
    }

    /// Makes the pools `wanted`, keeping the allocator (and the ports it
    /// handed out) of each address whose range stays.
    pub(crate) fn set(&mut self, wanted: &[(IpAddr, PortRange)], key: HashKey) {
        let mut old = core::mem::take(&mut self.pools);
        for &(ip, range) in wanted {
            let kept = old
                .iter()
                .position(|(own, pool)| *own == ip && pool.range() == range)
                .map(|at| old.swap_remove(at).1);
            let pool = kept.unwrap_or_else(|| SnatAllocator::new(range, key));
            self.pools.push((ip, pool));
        }
    }
}
