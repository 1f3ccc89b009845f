//! Keyed SipHash of flows, identical on every machine and build.

use core::fmt;
use std::net::IpAddr;

use crate::flow::{CANONICAL_LEN, FlowKey};

/// A 128-bit SipHash key.
///
/// For selection it is configuration: load balancers sharing a key and a
/// backend set pick the same backend for the same flow. Keep it secret from
/// clients, or they can aim their flows at one backend or one hash bucket.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HashKey(pub [u8; 16]);

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(..)")
    }
}

impl fmt::Debug for FlowHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlowHasher(..)")
    }
}

/// Hashes flows (or addresses) with SipHash-1-3 under a [`HashKey`].
///
/// Inputs are short and of few lengths (13 or 37 bytes, 4 or 16), so the
/// rounds run here rather than through a streaming hasher, IPv4's unrolled;
/// the output is plain SipHash-1-3 of [`FlowKey::canonical_bytes`] (or of
/// the address octets), checked against the `siphasher` crate in the tests.
#[derive(Clone, Copy)]
pub struct FlowHasher {
    k0: u64,
    k1: u64,
}

impl FlowHasher {
    /// A hasher under `key`.
    pub fn new(key: HashKey) -> Self {
        let (k0, k1) = key.0.split_at(8);
        FlowHasher {
            k0: u64::from_le_bytes(k0.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(k1.try_into().unwrap_or_default()),
        }
    }

    /// Hash of the flow's canonical (network-order) bytes. An IPv4 key's
    /// two little-endian SipHash blocks are built from the fields directly;
    /// other keys are hashed from [`FlowKey::canonical_bytes`].
    #[inline(always)]
    pub fn flow(&self, flow: &FlowKey) -> u64 {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (&flow.src, &flow.dst) else {
            return self.flow_v6(flow);
        };
        let src = u32::from_le_bytes(src.octets());
        let dst = u32::from_le_bytes(dst.octets());
        let src_port = u16::from_le_bytes(flow.src_port.to_be_bytes());
        let dst_port = u16::from_le_bytes(flow.dst_port.to_be_bytes());
        let head = u64::from(src) | u64::from(dst) << 32;
        let tail = u64::from(src_port)
            | u64::from(dst_port) << 16
            | u64::from(flow.proto.number()) << 32
            | (CANONICAL_LEN as u64) << 56;
        self.sip13(&[head, tail])
    }

    /// [`flow`](Self::flow) of a key that is not all IPv4: out of line, so
    /// that the IPv4 path stays small enough to inline.
    #[inline(never)]
    fn flow_v6(&self, flow: &FlowKey) -> u64 {
        self.bytes(&flow.canonical_bytes())
    }

    /// Hash of an address's octets: four for IPv4, sixteen for IPv6.
    #[inline]
    pub fn addr(&self, addr: IpAddr) -> u64 {
        match addr {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                self.sip13(&[u64::from_le_bytes([a, b, c, d, 0, 0, 0, 4])])
            }
            IpAddr::V6(v6) => self.bytes(&v6.octets()),
        }
    }

    /// SipHash-1-3 of a message of up to 47 bytes (a flow key takes 37),
    /// padded as the algorithm says.
    #[inline]
    fn bytes(&self, message: &[u8]) -> u64 {
        let mut blocks = [0u64; 6];
        let mut chunks = message.chunks(8);
        let count = message.len() / 8 + 1;
        for block in blocks.iter_mut().take(count) {
            let mut word = [0u8; 8];
            if let Some(chunk) = chunks.next() {
                word[..chunk.len()].copy_from_slice(chunk);
            }
            *block = u64::from_le_bytes(word);
        }
        blocks[count - 1] |= (message.len() as u64) << 56;
        self.sip13(&blocks[..count])
    }

    /// SipHash-1-3 of message blocks already padded, the last holding the
    /// length in its top byte.
    #[inline(always)]
    fn sip13(&self, blocks: &[u64]) -> u64 {
        let mut v = [
            self.k0 ^ 0x736f_6d65_7073_6575,
            self.k1 ^ 0x646f_7261_6e64_6f6d,
            self.k0 ^ 0x6c79_6765_6e65_7261,
            self.k1 ^ 0x7465_6462_7974_6573,
        ];
        for &block in blocks {
            v[3] ^= block;
            sip_round(&mut v);
            v[0] ^= block;
        }
        v[2] ^= 0xff;
        sip_round(&mut v);
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use siphasher::sip::SipHasher13;

    use super::*;
    use crate::Protocol;

    #[test]
    fn unrolled_hash_is_siphash_1_3() {
        let key = HashKey(*b"an example key!!");
        let reference = SipHasher13::new_with_key(&key.0);
        let hasher = FlowHasher::new(key);
        for n in 0..1000u32 {
            let v4 = FlowKey {
                src: Ipv4Addr::from(n.wrapping_mul(2_654_435_761)).into(),
                dst: Ipv4Addr::from(n).into(),
                src_port: n as u16,
                dst_port: (n >> 3) as u16,
                proto: [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][n as usize % 3],
            };
            let v6 = FlowKey {
                src: Ipv6Addr::from(u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15)).into(),
                dst: Ipv6Addr::from(u128::from(n) << 64 | 1).into(),
                ..v4
            };
            for flow in [v4, v6] {
                assert_eq!(hasher.flow(&flow), reference.hash(&flow.canonical_bytes()));
            }
            assert_eq!(
                hasher.addr(v4.src),
                reference.hash(&n.wrapping_mul(2_654_435_761).to_be_bytes())
            );
            let IpAddr::V6(src6) = v6.src else {
                unreachable!()
            };
            assert_eq!(hasher.addr(v6.src), reference.hash(&src6.octets()));
        }
        // Every length up to the buffer's, padding included.
        let message: Vec<u8> = (0..40).collect();
        for len in 0..=40 {
            assert_eq!(
                hasher.bytes(&message[..len]),
                reference.hash(&message[..len])
            );
        }
    }
}
