//! System calls neither pnet nor socket2 offers: packet socket options, and
//! `sendmmsg` over message headers that live on the stack (rustix's
//! `MMsgHdr` borrows its buffers, so an array of them cannot be kept and
//! refilled). With [`crate::ring`], the only `unsafe` in this crate.
//!
//! The packet socket options set here:
//! - `PACKET_IGNORE_OUTGOING`: it does not receive the frames it sends
//!   itself, which AF_PACKET otherwise loops back (Linux 4.20 and later);
//! - `PACKET_QDISC_BYPASS`: frames it sends go straight to the device
//!   driver, past the queueing discipline (`tc` rules on the port do not
//!   see them) and past software segmentation, so only without virtio-net
//!   headers;
//! - `PACKET_VNET_HDR`: each frame read and written carries a virtio-net
//!   header, so offloaded frames (partial checksums, TCP super-frames) pass
//!   through unfinished.

#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use lb_packet::{Offload, VIRTIO_NET_HDR_LEN};

/// Frames per `sendmmsg`: a batch of `lb_engine::RunOptions::default()`,
/// so a port takes one call per batch unless it floods. 64 headers and
/// iovecs are 5 KiB of stack, left uninitialised past what a call uses.
const CHUNK: usize = 64;

/// A packet socket option that can be turned on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PacketOption {
    IgnoreOutgoing,
    QdiscBypass,
    VnetHeader,
}

/// Turns `option` on for the packet socket `socket`.
pub(crate) fn enable(socket: &impl AsRawFd, option: PacketOption) -> io::Result<()> {
    let name = match option {
        PacketOption::IgnoreOutgoing => libc::PACKET_IGNORE_OUTGOING,
        PacketOption::QdiscBypass => libc::PACKET_QDISC_BYPASS,
        PacketOption::VnetHeader => libc::PACKET_VNET_HDR,
    };
    set_option(socket, name, &(1 as libc::c_int))
}

/// Sets the packet socket option `name` of `socket` to `value`, a plain C
/// value (an int, a `tpacket_req`).
pub(crate) fn set_option<T: Copy>(
    socket: &impl AsRawFd,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the descriptor is open (borrowed from its owner), the value
    // points to a live T and the length passed is its size; the kernel
    // only reads it.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            name,
            std::ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Frames the packet socket dropped (its buffer was full) since the last
/// call: `PACKET_STATISTICS`, which the kernel resets as it reads it.
pub(crate) fn take_drops(socket: &impl AsRawFd) -> io::Result<u64> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: the descriptor is open (borrowed from its owner); the value
    // points to a live tpacket_stats and `len` holds its size, which the
    // kernel writes at most.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &raw mut len,
        )
    };
    if result == 0 {
        Ok(u64::from(stats.tp_drops))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `frames` out of the bound packet socket `socket`, [`CHUNK`] to a
/// `sendmmsg`, without blocking; returns how many went out, and the error
/// that stopped the rest. With `vnet_headers` (the socket has
/// `PACKET_VNET_HDR`), each goes behind the virtio-net header of its
/// offload. An interrupted call is made again; any other failure (a full
/// socket buffer, a link down) drops the rest, as a NIC's full queue
/// would.
pub(crate) fn send_frames<'a>(
    socket: BorrowedFd<'_>,
    vnet_headers: bool,
    frames: impl Iterator<Item = (&'a [u8], Offload)>,
) -> (usize, Option<io::Error>) {
    let mut frames = frames.peekable();
    let parts = if vnet_headers { 2 } else { 1 };
    let mut vnet = [[0u8; VIRTIO_NET_HDR_LEN]; CHUNK];
    let mut iovecs = [[MaybeUninit::<libc::iovec>::uninit(); 2]; CHUNK];
    let mut headers = [MaybeUninit::<libc::mmsghdr>::uninit(); CHUNK];
    let mut sent = 0;
    while frames.peek().is_some() {
        let mut count = 0;
        for ((iovec, vnet), (frame, offload)) in
            iovecs.iter_mut().zip(vnet.iter_mut()).zip(frames.by_ref())
        {
            *vnet = offload.to_virtio_header();
            let [first, second] = iovec;
            let frame = libc::iovec {
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            };
            if vnet_headers {
                first.write(libc::iovec {
                    iov_base: vnet.as_mut_ptr().cast(),
                    iov_len: VIRTIO_NET_HDR_LEN,
                });
                second.write(frame);
            } else {
                first.write(frame);
            }
            count += 1;
        }
        for (header, iovec) in headers.iter_mut().zip(&mut iovecs[..count]) {
            // SAFETY: a msghdr of zeroes is valid (no address, no control
            // data, null pointers with zero lengths); zeroing spares naming
            // the padding fields some C libraries add.
            let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
            message.msg_iov = iovec.as_mut_ptr().cast();
            message.msg_iovlen = parts;
            header.write(libc::mmsghdr {
                msg_hdr: message,
                msg_len: 0,
            });
        }
        let mut offset = 0;
        while offset < count {
            let pending = &mut headers[offset..count];
            // SAFETY: the first `count` headers, and the first `parts`
            // iovecs of each of the first `count` pairs, were written just
            // above, and no array moves until the call returns; each header
            // points to its own iovecs and each iovec to a frame borrowed
            // for this whole function or to its virtio-net header in `vnet`. The kernel reads `pending`
            // (`MaybeUninit` is layout-transparent) and writes only their
            // `msg_len`; the descriptor is borrowed, so open.
            let result = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    pending.as_mut_ptr().cast::<libc::mmsghdr>(),
                    pending.len() as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                )
            };
            match usize::try_from(result) {
                Ok(0) => return (sent + offset, None),
                Ok(n) => offset += n,
                Err(_) => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return (sent + offset, Some(error));
                    }
                }
            }
        }
        sent += count;
    }
    (sent, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    fn unfinished(frames: &[Vec<u8>]) -> impl Iterator<Item = (&[u8], Offload)> {
        frames.iter().map(|frame| (frame.as_slice(), Offload::NONE))
    }

    /// With virtio-net headers, each datagram is the header, then the frame.
    #[test]
    fn puts_each_offload_in_front() -> io::Result<()> {
        let (sender, receiver) = UnixDatagram::pair()?;
        let offload = Offload {
            checksum: lb_packet::ChecksumOffload::Partial {
                start: 34,
                offset: 6,
            },
            gso: None,
        };
        let frames = [(&b"first"[..], offload), (&b"second"[..], Offload::NONE)];
        assert_eq!(send_frames(sender.as_fd(), true, frames.into_iter()).0, 2);
        let mut buffer = [0u8; 64];
        for (frame, offload) in frames {
            let len = receiver.recv(&mut buffer)?;
            let (header, rest) = buffer[..len].split_at(VIRTIO_NET_HDR_LEN);
            assert_eq!((header, rest), (&offload.to_virtio_header()[..], frame));
        }
        Ok(())
    }

    /// Frames of different lengths and contents, over more than one chunk,
    /// through a connected UDP socket on loopback: each is a datagram.
    #[test]
    fn sends_every_frame_in_order_across_chunks() -> io::Result<()> {
        let receiver = UdpSocket::bind("127.0.0.1:0")?;
        let sender = UdpSocket::bind("127.0.0.1:0")?;
        sender.connect(receiver.local_addr()?)?;
        let frames: Vec<Vec<u8>> = (0..CHUNK + 36).map(|n| vec![n as u8; 1 + n % 50]).collect();
        let (sent, error) = send_frames(sender.as_fd(), false, unfinished(&frames));
        assert_eq!(sent, frames.len());
        assert!(error.is_none(), "{error:?}");
        let mut buffer = [0u8; 64];
        for frame in &frames {
            let len = receiver.recv(&mut buffer)?;
            assert_eq!(&buffer[..len], &frame[..]);
        }
        Ok(())
    }

    /// A queue that fills (nobody reads this Unix datagram socket) drops
    /// the rest, without blocking; what went out arrives whole.
    #[test]
    fn a_full_queue_drops_the_rest() -> io::Result<()> {
        let (sender, receiver) = UnixDatagram::pair()?;
        let frames = vec![vec![7u8; 100]; 600];
        let (sent, error) = send_frames(sender.as_fd(), false, unfinished(&frames));
        assert!((1..frames.len()).contains(&sent), "{sent} sent");
        let error = error.expect("the error that stopped the rest");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock, "{error}");
        receiver.set_nonblocking(true)?;
        let mut buffer = [0u8; 200];
        let mut received = 0;
        while let Ok(len) = receiver.recv(&mut buffer) {
            assert_eq!(len, 100);
            received += 1;
        }
        assert_eq!(received, sent);
        Ok(())
    }
}
