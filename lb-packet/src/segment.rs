//! Offloads done in software, for a port that cannot take a frame as its
//! [`Offload`] leaves it: [`segment`] completes a partial checksum and cuts
//! a TCP super-frame into segments, exactly as the kernel's software GSO
//! (`tcp_gso_segment`, `skb_checksum_help`) would.

use crate::checksum::{self, ChecksumDelta};
use crate::layout::{IpLayout, Layout, Transport, array_at, be16, put};
use crate::offload::{ChecksumOffload, Gso, GsoKind, Offload, WireSize};
use crate::tcp_flags::TcpFlags;
use crate::wire::{ipv4, ipv6, tcp, udp};

/// Why [`segment`] could not finish a frame. Nothing was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The frame does not hold what its offload says: no TCP header where
    /// the segmentation needs one, IPv6 extension headers, an IPv4
    /// fragment, or a checksum position outside the packet.
    #[error("frame does not match its offload metadata")]
    Mismatch,
    /// The scratch buffer cannot hold one segment.
    #[error("scratch buffer of {available} bytes cannot hold a {needed}-byte segment")]
    ScratchTooSmall {
        /// Length of the largest segment.
        needed: usize,
        /// Length of the buffer given.
        available: usize,
    },
}

/// Where a TCP super-frame's headers end and its packet ends.
#[derive(Debug, Clone, Copy)]
struct SuperFrame {
    l3: usize,
    l4: usize,
    /// Start of the TCP payload.
    payload: usize,
    /// End of the IP packet (Ethernet padding excluded).
    end: usize,
    ipv6: bool,
}

impl SuperFrame {
    /// Finds the headers of a super-frame segmented as `gso` says, with its
    /// partial checksum at the TCP checksum field.
    fn locate(frame: &[u8], gso: &Gso, checksum: ChecksumOffload) -> Result<Self, SegmentError> {
        let located = match gso.kind {
            GsoKind::Tcp4 => Self::locate_ipv4(frame)?,
            GsoKind::Tcp6 => Self::locate_ipv6(frame)?,
        };
        let ChecksumOffload::Partial { start, offset } = checksum else {
            return Err(SegmentError::Mismatch);
        };
        if usize::from(start) != located.l4 || usize::from(offset) != tcp::CHECKSUM {
            return Err(SegmentError::Mismatch);
        }
        Ok(located)
    }

    fn locate_ipv4(frame: &[u8]) -> Result<Self, SegmentError> {
        let layout = Layout::parse(frame).map_err(|_| SegmentError::Mismatch)?;
        let ip = layout.ipv4_layout().ok_or(SegmentError::Mismatch)?;
        let fragment = be16(frame, layout.l3() + ipv4::FLAGS_FRAGMENT);
        if fragment & (ipv4::MORE_FRAGMENTS | ipv4::FRAGMENT_OFFSET) != 0 {
            return Err(SegmentError::Mismatch);
        }
        Self::tcp_at(frame, layout.l3(), ip)
    }

    /// Extension headers are refused: each segment's payload length is
    /// its TCP length.
    fn locate_ipv6(frame: &[u8]) -> Result<Self, SegmentError> {
        let layout = Layout::parse(frame).map_err(|_| SegmentError::Mismatch)?;
        let ip = layout.ipv6_layout().ok_or(SegmentError::Mismatch)?;
        if ip.l4 != layout.l3() + ipv6::HEADER_LEN {
            return Err(SegmentError::Mismatch);
        }
        Self::tcp_at(frame, layout.l3(), ip)
    }

    fn tcp_at(frame: &[u8], l3: usize, ip: IpLayout) -> Result<Self, SegmentError> {
        if ip.transport != Transport::Tcp {
            return Err(SegmentError::Mismatch);
        }
        Ok(SuperFrame {
            l3,
            l4: ip.l4,
            payload: ip.l4 + tcp_header_len(frame, ip.l4),
            end: ip.end,
            ipv6: ip.ipv6,
        })
    }

    /// Segments of `size` payload bytes (the last may be shorter; a frame
    /// without payload is one segment).
    fn segments(&self, size: u16) -> usize {
        (self.end - self.payload)
            .div_ceil(usize::from(size.max(1)))
            .max(1)
    }
}

/// The TCP header length at `l4`, from its data offset.
fn tcp_header_len(frame: &[u8], l4: usize) -> usize {
    usize::from(frame[l4 + tcp::DATA_OFFSET] >> 4) * 4
}

/// How many packets and bytes `frame` is on the wire once segmented as
/// `offload` says: itself when it is not a super-frame (or not one that
/// can be segmented, which a port would refuse).
pub(crate) fn wire_size(frame: &[u8], offload: &Offload) -> WireSize {
    let single = WireSize::single(frame.len());
    let Some(gso) = offload.gso else {
        return single;
    };
    let Ok(located) = SuperFrame::locate(frame, &gso, offload.checksum) else {
        return single;
    };
    let segments = located.segments(gso.size);
    let headers = (segments as u64 - 1) * located.payload as u64;
    WireSize {
        packets: u32::try_from(segments).unwrap_or(u32::MAX),
        bytes: frame.len() as u64 + headers,
    }
}

/// Does in software what `offload` leaves to a device: each resulting
/// frame is written into `scratch` and handed to `emit`; returns how many.
///
/// - A super-frame ([`Offload::gso`]) is cut into segments of `gso.size`
///   payload bytes: IPv4 total length, identification (+1 per segment) and
///   header checksum, or the IPv6 payload length; TCP sequence numbers;
///   FIN and PSH only on the last segment, CWR only on the first; and each
///   segment's checksum completed from the partial one.
/// - A partial checksum alone is completed: the sum of the bytes from its
///   start to the end of the packet, folded into the field (0 as 0xffff,
///   as the kernel does, unless the packet is TCP).
/// - Anything else is emitted as it is.
///
/// Frames whose headers disagree with `offload` are refused whole.
pub fn segment(
    frame: &[u8],
    offload: &Offload,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, SegmentError> {
    match (offload.gso, offload.checksum) {
        (Some(gso), checksum) => segment_tcp(frame, &gso, checksum, scratch, emit),
        (None, ChecksumOffload::Partial { start, offset }) => {
            let out = copy_into(scratch, frame)?;
            complete_partial(out, usize::from(start), usize::from(offset))?;
            emit(out);
            Ok(1)
        }
        (None, _) => {
            emit(frame);
            Ok(1)
        }
    }
}

fn copy_into<'a>(scratch: &'a mut [u8], frame: &[u8]) -> Result<&'a mut [u8], SegmentError> {
    let available = scratch.len();
    let out = scratch
        .get_mut(..frame.len())
        .ok_or(SegmentError::ScratchTooSmall {
            needed: frame.len(),
            available,
        })?;
    out.copy_from_slice(frame);
    Ok(out)
}

/// The end of the IP packet in `frame`, or the frame's end when it is not
/// IP; and whether its transport is TCP.
fn packet_end(frame: &[u8]) -> (usize, bool) {
    match Layout::parse(frame)
        .ok()
        .and_then(|layout| layout.any_ip_layout())
    {
        Some(ip) => (ip.end, ip.transport == Transport::Tcp),
        None => (frame.len(), false),
    }
}

/// Completes the partial checksum at `start + offset` over the packet.
fn complete_partial(frame: &mut [u8], start: usize, offset: usize) -> Result<(), SegmentError> {
    let (end, tcp) = packet_end(frame);
    let field = start + offset;
    if field + 2 > end || offset < udp::CHECKSUM {
        return Err(SegmentError::Mismatch);
    }
    let computed = checksum::finish(checksum::sum(&frame[start..end]));
    let stored = if tcp {
        computed
    } else {
        checksum::udp_on_wire(computed)
    };
    put(frame, field, stored.to_be_bytes());
    Ok(())
}

fn segment_tcp(
    frame: &[u8],
    gso: &Gso,
    checksum_offload: ChecksumOffload,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, SegmentError> {
    let at = SuperFrame::locate(frame, gso, checksum_offload)?;
    let size = usize::from(gso.size);
    let largest = at.payload + size.min(at.end - at.payload);
    if scratch.len() < largest {
        return Err(SegmentError::ScratchTooSmall {
            needed: largest,
            available: scratch.len(),
        });
    }
    let segments = at.segments(gso.size);
    let partial = be16(frame, at.l4 + tcp::CHECKSUM);
    let old_tcp_len = (at.end - at.l4) as u16;
    let seq = u32::from_be_bytes(array_at(frame, at.l4 + tcp::SEQ));
    let ident = be16(frame, at.l3 + ipv4::IDENT);
    let flags = TcpFlags::from_bits(frame[at.l4 + tcp::FLAGS]);
    scratch[..at.payload].copy_from_slice(&frame[..at.payload]);
    for index in 0..segments {
        let from = at.payload + index * size;
        let to = (from + size).min(at.end);
        let len = at.payload + (to - from);
        let out = &mut scratch[..len];
        out[at.payload..].copy_from_slice(&frame[from..to]);
        let tcp_len = (len - at.l4) as u16;
        if at.ipv6 {
            put(out, at.l3 + ipv6::PAYLOAD_LEN, tcp_len.to_be_bytes());
        } else {
            let ip_len = (len - at.l3) as u16;
            put(out, at.l3 + ipv4::TOTAL_LEN, ip_len.to_be_bytes());
            put(
                out,
                at.l3 + ipv4::IDENT,
                ident.wrapping_add(index as u16).to_be_bytes(),
            );
            put(out, at.l3 + ipv4::CHECKSUM, [0, 0]);
            let header_checksum = checksum::finish(checksum::sum(&out[at.l3..at.l4]));
            put(out, at.l3 + ipv4::CHECKSUM, header_checksum.to_be_bytes());
        }
        let offset = (index * size) as u32;
        put(
            out,
            at.l4 + tcp::SEQ,
            seq.wrapping_add(offset).to_be_bytes(),
        );
        let mut segment_flags = flags;
        if index > 0 {
            segment_flags = segment_flags.without(TcpFlags::CWR);
        }
        if index + 1 < segments {
            segment_flags = segment_flags.without(TcpFlags::FIN | TcpFlags::PSH);
        }
        out[at.l4 + tcp::FLAGS] = segment_flags.bits();
        // The partial sum covers the super-frame's length: move it to
        // this segment's, then fold in the segment (tcp_gso_segment).
        let mut length = ChecksumDelta::default();
        length.word(old_tcp_len, tcp_len);
        put(
            out,
            at.l4 + tcp::CHECKSUM,
            length.apply_partial(partial).to_be_bytes(),
        );
        let computed = checksum::finish(checksum::sum(&out[at.l4..]));
        put(out, at.l4 + tcp::CHECKSUM, computed.to_be_bytes());
        emit(out);
    }
    Ok(segments)
}
