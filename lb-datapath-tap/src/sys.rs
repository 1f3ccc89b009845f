//! The one place this crate needs `unsafe`: the two `ioctl`s that make a
//! tap. They are done here rather than through the `tun-tap` crate, which
//! cannot ask for virtio-net headers or set offloads.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// The offloads a tap with virtio-net headers is told it may leave to us:
/// partial checksums and TCP super-frames over IPv4 and IPv6, with ECN.
/// Not UDP fragmentation or segmentation, which lb does not do.
const OFFLOADS: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;

/// Opens (creating it if needed) the tap device `name`, non-blocking,
/// without packet information; with `offloads`, each frame read or written
/// carries a virtio-net header and the kernel hands over large TCP
/// segments and partial checksums.
pub(crate) fn open_tap(name: &str, offloads: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    // SAFETY: an all-zero ifreq is valid (an empty name, no flags).
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= request.ifr_name.len() || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a valid interface name (1 to 15 bytes)"),
        ));
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if offloads {
        flags |= libc::IFF_VNET_HDR;
    }
    request.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: the descriptor is open (owned by `file`); TUNSETIFF reads and
    // writes one ifreq, which `request` is, alive for the whole call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &raw mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if offloads {
        // SAFETY: the descriptor is an attached tap; TUNSETOFFLOAD takes
        // its argument by value.
        let set = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(OFFLOADS),
            )
        };
        if set < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}
