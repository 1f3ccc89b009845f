//! [`Offload`]: what a device still owes a frame, as the virtio-net header
//! of a tap or packet socket says (`struct virtio_net_hdr`, virtio 1.x
//! section 5.1.6, the legacy 10-byte form in host byte order).
//!
//! With offloads on, the kernel hands over frames it has not finished: a
//! TCP "super-frame" of up to 64 KiB to be cut into segments of
//! `gso_size` bytes of payload ([`Gso`]), and TCP/UDP checksums holding
//! only the pseudo-header sum, to be completed over the data
//! ([`ChecksumOffload::Partial`]). A load balancer need not finish either:
//! it rewrites the headers once and hands the frame on with the same
//! header, and the next device does the work (or
//! [`segment`](crate::segment) does it in software where it cannot).

/// Length of the virtio-net header a tap or packet socket puts in front of
/// each frame (`sizeof(struct virtio_net_hdr)`).
pub const VIRTIO_NET_HDR_LEN: usize = 10;

/// `flags`: the checksum at `csum_start + csum_offset` is partial.
const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the device verified the checksums.
const F_DATA_VALID: u8 = 2;
/// `gso_type` values.
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// `gso_type` bit: the sender used ECN (CWR goes on the first segment).
const GSO_ECN: u8 = 0x80;

/// The state of a frame's transport checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChecksumOffload {
    /// Complete as it stands (no virtio-net header says otherwise).
    #[default]
    Complete,
    /// Complete, and verified by the device (`DATA_VALID`).
    Verified,
    /// Partial (`NEEDS_CSUM`): the field at `start + offset` holds the
    /// folded pseudo-header sum, not complemented, and the sum of the bytes
    /// from `start` to the end of the packet is still to be folded in.
    Partial {
        /// Where the checksummed data starts, from the start of the frame.
        start: u16,
        /// Where the checksum field is, from `start`.
        offset: u16,
    },
}

/// Which segmentation a super-frame awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoKind {
    /// TCP over IPv4 (TSO4).
    Tcp4,
    /// TCP over IPv6 (TSO6).
    Tcp6,
}

/// A super-frame's segmentation: cut its payload into `size`-byte pieces,
/// each behind a copy of its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso {
    /// What the frame carries.
    pub kind: GsoKind,
    /// Payload bytes per segment (the MSS).
    pub size: u16,
    /// The length of the headers as the sender gave it: a hint only (the
    /// kernel sends the length of the first buffer, which may hold data).
    pub header_len: u16,
    /// The sender used ECN: only the first segment keeps CWR.
    pub ecn: bool,
}

/// What a device still has to do to a frame: complete its checksum,
/// segment it. The default is nothing: a frame as it goes on the wire.
///
/// ```
/// use lb_packet::{ChecksumOffload, GsoKind, Offload};
///
/// // What a tap hands over for a 64 KiB TCP write (little-endian host).
/// let header = [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];
/// let offload = Offload::from_virtio_header(&header)?;
/// assert_eq!(offload.checksum, ChecksumOffload::Partial { start: 34, offset: 16 });
/// assert_eq!(offload.gso.map(|gso| (gso.kind, gso.size)), Some((GsoKind::Tcp4, 1448)));
/// assert_eq!(offload.to_virtio_header(), header);
/// # Ok::<(), lb_packet::OffloadError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offload {
    /// The transport checksum.
    pub checksum: ChecksumOffload,
    /// Segmentation still to do, for a super-frame.
    pub gso: Option<Gso>,
}

/// How much a frame is on the wire: a super-frame counts each segment it
/// will be cut into, with its own copy of the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSize {
    /// Packets.
    pub packets: u32,
    /// Their bytes, Ethernet headers included.
    pub bytes: u64,
}

impl WireSize {
    /// One packet of `len` bytes.
    #[inline]
    pub fn single(len: usize) -> Self {
        WireSize {
            packets: 1,
            bytes: len as u64,
        }
    }
}

/// Why a virtio-net header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// A segmentation type lb does not ask for (UDP fragmentation, USO).
    #[error("unsupported GSO type {0:#04x}")]
    UnsupportedGso(u8),
    /// Segmentation with a segment size of 0.
    #[error("GSO with a segment size of 0")]
    ZeroGsoSize,
    /// Segmentation without a partial checksum to complete per segment.
    #[error("GSO without a partial checksum")]
    GsoWithoutChecksum,
}

impl Offload {
    /// Nothing left to do: the frame is as it goes on the wire.
    pub const NONE: Offload = Offload {
        checksum: ChecksumOffload::Complete,
        gso: None,
    };

    /// Reads a virtio-net header.
    pub fn from_virtio_header(header: &[u8; VIRTIO_NET_HDR_LEN]) -> Result<Self, OffloadError> {
        let field = |at: usize| u16::from_ne_bytes([header[at], header[at + 1]]);
        let (flags, gso_type) = (header[0], header[1]);
        let checksum = if flags & F_NEEDS_CSUM != 0 {
            ChecksumOffload::Partial {
                start: field(6),
                offset: field(8),
            }
        } else if flags & F_DATA_VALID != 0 {
            ChecksumOffload::Verified
        } else {
            ChecksumOffload::Complete
        };
        let kind = match gso_type & !GSO_ECN {
            GSO_NONE => None,
            GSO_TCPV4 => Some(GsoKind::Tcp4),
            GSO_TCPV6 => Some(GsoKind::Tcp6),
            _ => return Err(OffloadError::UnsupportedGso(gso_type)),
        };
        let gso = match kind {
            None => None,
            Some(kind) => {
                let size = field(4);
                if size == 0 {
                    return Err(OffloadError::ZeroGsoSize);
                }
                if !matches!(checksum, ChecksumOffload::Partial { .. }) {
                    return Err(OffloadError::GsoWithoutChecksum);
                }
                Some(Gso {
                    kind,
                    size,
                    header_len: field(2),
                    ecn: gso_type & GSO_ECN != 0,
                })
            }
        };
        Ok(Offload { checksum, gso })
    }

    /// The virtio-net header that hands this frame on with its offloads.
    pub fn to_virtio_header(&self) -> [u8; VIRTIO_NET_HDR_LEN] {
        let mut header = [0u8; VIRTIO_NET_HDR_LEN];
        let mut put =
            |at: usize, value: u16| header[at..at + 2].copy_from_slice(&value.to_ne_bytes());
        match self.checksum {
            ChecksumOffload::Complete => {}
            ChecksumOffload::Verified => header[0] = F_DATA_VALID,
            ChecksumOffload::Partial { start, offset } => {
                put(6, start);
                put(8, offset);
                header[0] = F_NEEDS_CSUM;
            }
        }
        if let Some(gso) = self.gso {
            header[1] = match gso.kind {
                GsoKind::Tcp4 => GSO_TCPV4,
                GsoKind::Tcp6 => GSO_TCPV6,
            } | if gso.ecn { GSO_ECN } else { 0 };
            header[2..4].copy_from_slice(&gso.header_len.to_ne_bytes());
            header[4..6].copy_from_slice(&gso.size.to_ne_bytes());
        }
        header
    }

    /// True when a device still has work to do (a partial checksum or a
    /// segmentation): a port without offloads cannot send the frame as is.
    pub fn is_pending(&self) -> bool {
        self.gso.is_some() || matches!(self.checksum, ChecksumOffload::Partial { .. })
    }
}

/// An [`Offload`] as its virtio-net header, the form a [`Frame`] keeps:
/// plain bytes, so that a frame parsed without offloads only stores zeros,
/// and the hot path's questions are single byte tests.
///
/// [`Frame`]: crate::Frame
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PackedOffload([u8; VIRTIO_NET_HDR_LEN]);

impl PackedOffload {
    /// Nothing pending.
    pub(crate) const NONE: PackedOffload = PackedOffload([0; VIRTIO_NET_HDR_LEN]);

    pub(crate) fn new(offload: &Offload) -> Self {
        PackedOffload(offload.to_virtio_header())
    }

    /// The offload; headers are packed only from a valid [`Offload`].
    pub(crate) fn unpack(self) -> Offload {
        Offload::from_virtio_header(&self.0).unwrap_or_default()
    }

    /// The transport checksum is partial.
    #[inline(always)]
    pub(crate) fn is_partial(self) -> bool {
        self.0[0] & F_NEEDS_CSUM != 0
    }

    /// The frame is a super-frame.
    #[inline(always)]
    pub(crate) fn has_gso(self) -> bool {
        self.0[1] != GSO_NONE
    }

    /// The checksum was completed in software.
    pub(crate) fn complete_checksum(&mut self) {
        let mut offload = self.unpack();
        offload.checksum = ChecksumOffload::Complete;
        *self = PackedOffload::new(&offload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() -> Result<(), OffloadError> {
        for offload in [
            Offload::NONE,
            Offload {
                checksum: ChecksumOffload::Verified,
                gso: None,
            },
            Offload {
                checksum: ChecksumOffload::Partial {
                    start: 54,
                    offset: 6,
                },
                gso: None,
            },
            Offload {
                checksum: ChecksumOffload::Partial {
                    start: 54,
                    offset: 16,
                },
                gso: Some(Gso {
                    kind: GsoKind::Tcp6,
                    size: 1428,
                    header_len: 86,
                    ecn: true,
                }),
            },
        ] {
            assert_eq!(
                Offload::from_virtio_header(&offload.to_virtio_header())?,
                offload
            );
        }
        Ok(())
    }

    #[test]
    fn refuses_what_it_cannot_segment() {
        // UDP fragmentation offload (UFO, type 3) and USO (type 5).
        let mut header = [1, 3, 0, 0, 0xdc, 0x05, 34, 0, 6, 0];
        assert_eq!(
            Offload::from_virtio_header(&header),
            Err(OffloadError::UnsupportedGso(3))
        );
        header[1] = 5;
        assert_eq!(
            Offload::from_virtio_header(&header),
            Err(OffloadError::UnsupportedGso(5))
        );
        // TSO4 with no segment size, or without NEEDS_CSUM.
        let header = [1, 1, 0, 0, 0, 0, 34, 0, 16, 0];
        assert_eq!(
            Offload::from_virtio_header(&header),
            Err(OffloadError::ZeroGsoSize)
        );
        let header = [0, 1, 0, 0, 0xa8, 0x05, 0, 0, 0, 0];
        assert_eq!(
            Offload::from_virtio_header(&header),
            Err(OffloadError::GsoWithoutChecksum)
        );
    }
}
