//! Frames behind virtio-net headers, as taps (`IFF_VNET_HDR`) and packet
//! sockets (`PACKET_VNET_HDR`) read and write them: the I/O the device
//! datapaths share.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::AsFd;

use lb_packet::{Offload, VIRTIO_NET_HDR_LEN};

/// Reads one frame from `fd` into `buffer`: its length, and its offload
/// when the descriptor has virtio-net headers (`vnet`). A frame whose
/// header asks for an offload lb does not take (the devices are told not
/// to send them) is passed over: nobody could finish it.
pub fn read_frame(fd: impl AsFd, vnet: bool, buffer: &mut [u8]) -> io::Result<(usize, Offload)> {
    loop {
        if let Some(frame) = read_next(&fd, vnet, buffer)? {
            return Ok(frame);
        }
    }
}

/// As [`read_frame`], for exactly one frame: `None` when it was one to
/// pass over.
pub fn read_next(
    fd: impl AsFd,
    vnet: bool,
    buffer: &mut [u8],
) -> io::Result<Option<(usize, Offload)>> {
    if !vnet {
        return Ok(Some((rustix::io::read(&fd, buffer)?, Offload::NONE)));
    }
    let mut header = [0u8; VIRTIO_NET_HDR_LEN];
    let read = rustix::io::readv(
        &fd,
        &mut [IoSliceMut::new(&mut header), IoSliceMut::new(buffer)],
    )?;
    Ok(read
        .checked_sub(VIRTIO_NET_HDR_LEN)
        .zip(Offload::from_virtio_header(&header).ok()))
}

/// Writes `frame` to `fd`, behind the virtio-net header of its offload
/// when the descriptor has them (`vnet`). A device takes a frame whole or
/// not at all; anything else is an error.
pub fn write_frame(fd: impl AsFd, vnet: bool, frame: &[u8], offload: &Offload) -> io::Result<()> {
    let header = offload.to_virtio_header();
    let (written, whole) = if vnet {
        let parts = [IoSlice::new(&header), IoSlice::new(frame)];
        (rustix::io::writev(&fd, &parts)?, header.len() + frame.len())
    } else {
        (rustix::io::write(&fd, frame)?, frame.len())
    };
    if written == whole {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("the device took {written} of {whole} bytes"),
        ))
    }
}
