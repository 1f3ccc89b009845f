//! The one place this crate needs `unsafe`: a socket option that neither
//! pnet nor socket2 exposes.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// Stops a packet socket from receiving the frames it sends itself, which
/// AF_PACKET otherwise loops back (Linux 4.20 and later).
pub(crate) fn ignore_outgoing(socket: &impl AsRawFd) -> io::Result<()> {
    let enable: libc::c_int = 1;
    // SAFETY: the descriptor is open (borrowed from its owner), the option
    // value points to a live c_int and the length passed is its size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&raw const enable).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
