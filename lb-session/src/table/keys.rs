//! A session's two keys as the table stores them: two IPv4 keys packed in
//! 28 bytes, as small as before IPv6, and any other pair boxed. A table
//! of IPv4 sessions so stays at its old size per session; an IPv6
//! session costs one allocation when it is made, none when it is used.

use std::net::{IpAddr, Ipv4Addr};

use lb_packet::{FlowKey, Protocol};

use crate::Direction;

/// An IPv4 key: addresses and ports in 12 bytes, and the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PackedV4 {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    proto: Protocol,
}

impl PackedV4 {
    #[inline]
    fn pack(key: &FlowKey) -> Option<Self> {
        match (&key.src, &key.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(PackedV4 {
                src: *src,
                dst: *dst,
                src_port: key.src_port,
                dst_port: key.dst_port,
                proto: key.proto,
            }),
            _ => None,
        }
    }

    #[inline]
    fn unpack(self) -> FlowKey {
        FlowKey {
            src: self.src.into(),
            dst: self.dst.into(),
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
        }
    }
}

/// A key being looked up, packed once for all the entries it meets.
pub(super) enum Probe<'a> {
    V4(PackedV4),
    Other(&'a FlowKey),
}

impl<'a> Probe<'a> {
    #[inline]
    pub(super) fn of(key: &'a FlowKey) -> Self {
        match PackedV4::pack(key) {
            Some(packed) => Probe::V4(packed),
            None => Probe::Other(key),
        }
    }
}

/// The forward then the reverse key of a session.
#[derive(Debug)]
pub(super) enum StoredKeys {
    V4([PackedV4; 2]),
    Other(Box<[FlowKey; 2]>),
}

impl StoredKeys {
    pub(super) fn new(forward: &FlowKey, reverse: &FlowKey) -> Self {
        match (PackedV4::pack(forward), PackedV4::pack(reverse)) {
            (Some(forward), Some(reverse)) => StoredKeys::V4([forward, reverse]),
            _ => StoredKeys::Other(Box::new([*forward, *reverse])),
        }
    }

    /// The key of `direction`.
    #[inline]
    pub(super) fn get(&self, direction: Direction) -> FlowKey {
        let index = direction as usize;
        match self {
            StoredKeys::V4(keys) => keys[index].unpack(),
            StoredKeys::Other(keys) => keys[index],
        }
    }

    /// True when the key of `direction` is `key`.
    #[inline]
    pub(super) fn matches(&self, direction: Direction, key: &Probe<'_>) -> bool {
        let index = direction as usize;
        match (self, key) {
            (StoredKeys::V4(keys), Probe::V4(key)) => keys[index] == *key,
            (StoredKeys::Other(keys), Probe::Other(key)) => keys[index] == **key,
            // An IPv4 key boxed beside a key of another family.
            (StoredKeys::Other(keys), Probe::V4(key)) => keys[index] == key.unpack(),
            (StoredKeys::V4(_), Probe::Other(_)) => false,
        }
    }

    /// Both keys, forward first.
    pub(super) fn pair(&self) -> [FlowKey; 2] {
        [self.get(Direction::Forward), self.get(Direction::Reverse)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_either_family_come_back_as_given() {
        let v4 = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            src_port: 1,
            dst_port: 2,
            proto: Protocol::Udp,
        };
        let v6 = FlowKey {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            ..v4
        };
        let mixed = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            ..v6
        };
        for (forward, reverse) in [(v4, v4.reversed()), (v6, v6.reversed()), (mixed, v4)] {
            let stored = StoredKeys::new(&forward, &reverse);
            assert_eq!(stored.pair(), [forward, reverse]);
            assert!(stored.matches(Direction::Forward, &Probe::of(&forward)));
            assert!(stored.matches(Direction::Reverse, &Probe::of(&reverse)));
            let other = FlowKey {
                src_port: 9,
                ..forward
            };
            assert!(!stored.matches(Direction::Forward, &Probe::of(&other)));
        }
        assert!(matches!(
            StoredKeys::new(&v4, &v4.reversed()),
            StoredKeys::V4(_)
        ));
        assert!(matches!(StoredKeys::new(&mixed, &v4), StoredKeys::Other(_)));
        // The old per-session size: two IPv4 keys were 28 bytes.
        assert!(size_of::<StoredKeys>() <= 32);
    }
}
