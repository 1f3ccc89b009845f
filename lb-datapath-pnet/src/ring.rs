//! A packet socket's receive ring (`PACKET_RX_RING`, `TPACKET_V2`): the
//! kernel copies each frame into a slot of memory shared with this process
//! and flips the slot's status, so reading a frame is a copy out of the
//! slot, not a system call, and the kernel queues nothing per frame.
//!
//! Slots are [`SLOT_SIZE`] bytes, room for a 1500-byte MTU frame behind
//! the slot's header and virtio-net header. A longer frame (a TCP
//! super-frame, a jumbo frame) leaves a cut copy in its slot marked
//! `TP_STATUS_COPY` and is queued whole on the socket as well
//! (`PACKET_COPY_THRESH`), where it is read with a `recv`, in order. The
//! kernel queues it only while the socket buffer has room; a frame it cut
//! without queueing is lost and counted ([`RxRing::lost`]).
//!
//! `TPACKET_V2`, not V3: V3 hands blocks of frames over when a block fills
//! or its timer (a millisecond at least) expires, which would put that
//! much latency on sparse traffic; V2 hands over each frame at once.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use lb_packet::{Offload, VIRTIO_NET_HDR_LEN};
use socket2::Socket;

use crate::sys;
use lb_datapath::vnet;

/// Bytes per slot: the slot header (32), the kernel's alignment padding,
/// a virtio-net header and 2004 bytes of frame (an MTU of 1500 with a VLAN
/// tag fits).
const SLOT_SIZE: usize = 2048;
/// Bytes per block the kernel allocates: contiguous pages, a whole number
/// of slots.
const BLOCK_SIZE: usize = 1 << 16;
/// Slots per ring: 4 MiB a port, a burst four times the length of a
/// socket's default buffer of small frames.
const SLOTS: usize = 2048;

/// A packet socket's mapped receive ring, read in the kernel's order.
pub(crate) struct RxRing {
    map: NonNull<u8>,
    /// The slot to read next.
    next: usize,
    /// Frames lost: cut to their slot with no room to queue them whole, or
    /// asking for an offload nobody could finish.
    lost: u64,
}

// SAFETY: the ring owns its mapping outright (nothing else in this process
// points into it), so it may move to another thread with its socket.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Gives `socket` (a packet socket, options that must precede a ring,
    /// such as `PACKET_VNET_HDR`, already set) a receive ring and maps it.
    pub(crate) fn attach(socket: &Socket) -> io::Result<Self> {
        sys::set_option(
            socket,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V2 as libc::c_int),
        )?;
        // Any threshold turns the whole-frame queueing on.
        sys::set_option(socket, libc::PACKET_COPY_THRESH, &(1 as libc::c_int))?;
        let request = libc::tpacket_req {
            tp_block_size: BLOCK_SIZE as u32,
            tp_block_nr: (SLOTS * SLOT_SIZE / BLOCK_SIZE) as u32,
            tp_frame_size: SLOT_SIZE as u32,
            tp_frame_nr: SLOTS as u32,
        };
        sys::set_option(socket, libc::PACKET_RX_RING, &request)?;
        // SAFETY: a fresh shared mapping of the socket's ring, at an
        // address the kernel picks, of the length just requested; nothing
        // else refers to the memory.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SLOTS * SLOT_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                socket.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(map.cast()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(RxRing {
            map,
            next: 0,
            lost: 0,
        })
    }

    /// Frames lost so far: cut short (see the module), or asking for an
    /// offload nobody could finish.
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }

    /// Reads the next frame into `buffer`: its length and, when the socket
    /// has virtio-net headers (`vnet`), its offload. A frame longer than a
    /// slot is read whole from `socket`. [`WouldBlock`] when the ring holds
    /// nothing more.
    ///
    /// [`WouldBlock`]: io::ErrorKind::WouldBlock
    pub(crate) fn read(
        &mut self,
        socket: &Socket,
        vnet: bool,
        buffer: &mut [u8],
    ) -> io::Result<(usize, Offload)> {
        loop {
            let slot = self.slot(self.next);
            let status = slot.status.load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let frame = if status & libc::TP_STATUS_COPY != 0 {
                // Queued whole, in the ring's order; the slot holds a cut copy.
                match vnet::read_next(socket, vnet, buffer) {
                    Ok(frame) => frame,
                    // Not queued after all.
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
                    // The slot stays unread, for the next call (ENETDOWN is
                    // reported once; a signal interrupts once).
                    Err(error) => return Err(error),
                }
            } else {
                slot.frame(vnet, buffer)
            };
            // Back to the kernel, after the frame was copied out.
            slot.status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.next = (self.next + 1) % SLOTS;
            match frame {
                Some(frame) => return Ok(frame),
                None => self.lost += 1,
            }
        }
    }

    fn slot(&self, index: usize) -> Slot<'_> {
        // SAFETY: `index` is below SLOTS (the callers keep it so), so the
        // slot lies inside the mapping, which lives as long as `self`; a
        // slot starts with its status word, a u32 at a 2048-byte aligned
        // address, which the kernel and this process only touch atomically.
        unsafe {
            let start = self.map.as_ptr().add(index * SLOT_SIZE);
            Slot {
                status: &*start.cast::<AtomicU32>(),
                bytes: start,
                _ring: std::marker::PhantomData,
            }
        }
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `attach`, of that length, unmapped
        // once; no slot outlives the ring.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), SLOTS * SLOT_SIZE);
        }
    }
}

/// One slot, between the moment this process sees it is its own and the
/// moment it hands it back.
struct Slot<'ring> {
    status: &'ring AtomicU32,
    bytes: *const u8,
    _ring: std::marker::PhantomData<&'ring RxRing>,
}

impl Slot<'_> {
    /// Copies the slot's frame into `buffer`: its length and offload;
    /// `None` when the kernel cut it, says something that does not fit the
    /// slot, or asks for an offload lb does not take.
    fn frame(&self, vnet: bool, buffer: &mut [u8]) -> Option<(usize, Offload)> {
        // SAFETY: the slot is this process's (status USER, read with
        // acquire ordering), so the kernel wrote its header and frame before
        // and leaves them alone until the status goes back; the header sits
        // at the slot's start, aligned.
        let header = unsafe { std::ptr::read(self.bytes.cast::<libc::tpacket2_hdr>()) };
        let (len, snapped, mac) = (
            header.tp_len as usize,
            header.tp_snaplen as usize,
            usize::from(header.tp_mac),
        );
        let vnet_len = if vnet { VIRTIO_NET_HDR_LEN } else { 0 };
        if snapped < len || mac < vnet_len || mac + len > SLOT_SIZE || len > buffer.len() {
            return None;
        }
        // SAFETY: as above; `mac - vnet_len .. mac + len` lies inside the
        // slot (checked just above).
        let (virtio, frame) = unsafe {
            (
                std::slice::from_raw_parts(self.bytes.add(mac - vnet_len), vnet_len),
                std::slice::from_raw_parts(self.bytes.add(mac), len),
            )
        };
        buffer[..len].copy_from_slice(frame);
        let offload = if vnet {
            Offload::from_virtio_header(virtio.try_into().ok()?).ok()?
        } else {
            Offload::NONE
        };
        Some((len, offload))
    }
}
