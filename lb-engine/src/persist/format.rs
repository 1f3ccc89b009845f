//! The state file: a header naming the format and its version, then the
//! sessions in postcard (compact, varint-encoded serde).

use std::net::{IpAddr, Ipv6Addr};

use lb_packet::{FlowKey, Protocol};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StateError;

/// What every state file starts with: the format's name and its version.
const MAGIC: &[u8; 7] = b"LBSTATE";
/// The version this build writes and reads: 2 took addresses of either
/// family, 3 a reverse-proxy session's full-NAT MACs.
pub(super) const VERSION: u8 = 3;

/// The owner index of a session that belongs to no service.
pub(super) const NO_OWNER: u32 = u32::MAX;

/// Everything a restart keeps.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StateFile<X> {
    /// Which engine wrote it ([`EngineKind::name`](crate::EngineKind::name)).
    pub(super) engine: String,
    /// When, in milliseconds since the Unix epoch.
    pub(super) saved_at_ms: u64,
    /// The services and backends sessions belong to, by name: each
    /// session names one by its index here.
    pub(super) owners: Vec<(String, String)>,
    /// Assured sessions first, so that a smaller table keeps those.
    pub(super) sessions: Vec<SavedSession<X>>,
}

/// One session, and what its engine keeps beside its keys (`X`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SavedSession<X> {
    pub(super) forward: SavedKey,
    pub(super) reverse: SavedKey,
    /// [`Tracker::to_bytes`](lb_session::Tracker::to_bytes).
    pub(super) tracker: [u8; 6],
    /// Time it had left when saved.
    pub(super) expires_in_ms: u64,
    /// Index into [`StateFile::owners`], or [`NO_OWNER`].
    pub(super) owner: u32,
    pub(super) extra: X,
}

/// A flow key as saved: addresses in 16 bytes, IPv4 ones mapped
/// (`::ffff:a.b.c.d`, which no IPv6 packet carries on the wire). Version
/// 1 held IPv4 addresses only.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct SavedKey {
    src: [u8; 16],
    dst: [u8; 16],
    src_port: u16,
    dst_port: u16,
    proto: u8,
}

impl From<FlowKey> for SavedKey {
    fn from(key: FlowKey) -> Self {
        SavedKey {
            src: saved_addr(key.src),
            dst: saved_addr(key.dst),
            src_port: key.src_port,
            dst_port: key.dst_port,
            proto: key.proto.number(),
        }
    }
}

fn saved_addr(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn restored_addr(octets: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(octets);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.into(),
        None => v6.into(),
    }
}

impl TryFrom<SavedKey> for FlowKey {
    type Error = StateError;

    fn try_from(key: SavedKey) -> Result<Self, StateError> {
        Ok(FlowKey {
            src: restored_addr(key.src),
            dst: restored_addr(key.dst),
            src_port: key.src_port,
            dst_port: key.dst_port,
            proto: Protocol::from_number(key.proto)
                .ok_or(StateError::Damaged("a flow of an unknown protocol"))?,
        })
    }
}

impl<X: Serialize> StateFile<X> {
    /// The file's bytes.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.push(VERSION);
        // Writing into a Vec fails only for types serde cannot write,
        // which these are not.
        bytes.extend(postcard::to_stdvec(self).unwrap_or_default());
        bytes
    }
}

impl<X: DeserializeOwned> StateFile<X> {
    /// The file in `bytes`, checked to be one of this version.
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StateError> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(StateError::NotStateFile)?;
        let (&version, body) = body.split_first().ok_or(StateError::NotStateFile)?;
        if version != VERSION {
            return Err(StateError::Version(version));
        }
        match postcard::take_from_bytes(body) {
            Ok((file, [])) => Ok(file),
            Ok(_) => Err(StateError::Damaged("bytes after its end")),
            Err(_) => Err(StateError::Damaged("cut short or not written by lb")),
        }
    }
}
