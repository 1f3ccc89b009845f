//! A [`Datapath`] whose ports are existing network interfaces (a NIC, one
//! end of a veth pair), through pnet's datalink channels over AF_PACKET.
//!
//! Each port is a promiscuous packet socket bound to its interface that
//! ignores the frames it sends itself; one thread waits on all of them with
//! one epoll instance, reads frames from each socket's receive ring (memory
//! the kernel shares, no system call per frame; 4 MiB a port) and sends a
//! batch with one `sendmmsg` per port.
//!
//! **Link changes.** A link that goes down (carrier lost, `ip link set
//! down`) is an event, not an error: the socket reports `ENETDOWN` once
//! (taken when a wait ends with nothing to read), the port is read as
//! empty (and sends to it fail, which the run loop counts), and traffic
//! resumes on the same socket when the link comes back.
//!
//! **Offloads.** [`PnetDatapath::open`] asks for virtio-net headers
//! (`PACKET_VNET_HDR`): a frame a Linux veth peer (or the local stack)
//! sends with checksum and segmentation offload on reaches the socket
//! unfinished, a partial TCP/UDP checksum, a TCP super-frame of up to
//! 64 KiB, and says so; its [`Offload`] travels with it through the engine
//! and back to the kernel with the frame, which finishes it where it must
//! (segmenting it for a port without segmentation offload, or completing
//! its checksum). [`PnetDatapath::open_without_offloads`] opens plain
//! packet sockets, whose frames go out past the queueing discipline
//! (`PACKET_QDISC_BYPASS`; with offloads it cannot be used, as the
//! kernel's direct transmit drops a frame it would have to segment). They
//! cannot tell a partial checksum from a wrong one: turn transmit offload
//! off on the peers that send into them (`ethtool -K PEER tx off`).
//! Physical NICs deliver complete checksums either way.
//!
//! ```no_run
//! use lb_datapath_pnet::PnetDatapath;
//!
//! let nics = PnetDatapath::open(&["veth-front", "veth-back"])?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod ring;
mod sys;

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, IntoRawFd};
use std::time::Duration;

use lb_datapath::{
    Datapath, Poller, PortEvent, PortEventKind, PortEventSink, PortId, PortRotation, RxBatch,
    SendReport, Waker, send_finished, vnet,
};
use lb_packet::{MacAddr, Offload};
use pnet::datalink::{self, Channel, DataLinkReceiver, DataLinkSender, NetworkInterface};
use socket2::{Domain, Protocol, Socket, Type};

use crate::ring::RxRing;
use crate::sys::PacketOption;

/// Bytes a port buffers per frame in each direction: room for 64 KiB
/// frames (large segments on interfaces with offload).
const BUFFER_SIZE: usize = 65_536 + 64;

/// `ETH_P_ALL`, every protocol.
const ETH_P_ALL: u16 = 0x0003;

struct Port {
    interface: NetworkInterface,
    /// pnet's channel: it opened and bound the socket and owns it.
    _channel: (Box<dyn DataLinkSender>, Box<dyn DataLinkReceiver>),
    /// A duplicate of the channel's (non-blocking) socket: frames are
    /// written through it directly, one system call per batch, where the
    /// channel's own calls take two per frame.
    socket: Socket,
    /// The socket's receive ring: frames are read from it, no system call
    /// per frame.
    ring: RxRing,
}

/// Network interfaces as the ports of an engine, in the order opened.
pub struct PnetDatapath {
    ports: Vec<Port>,
    /// Each frame read and written carries a virtio-net header.
    offloads: bool,
    /// Reads each port in turn, each found empty at most once per batch.
    rotation: PortRotation,
    /// Watches every port's socket, and the waker if one was given.
    poller: Poller,
    /// Kept open while the poller watches it.
    waker: Option<Waker>,
    /// Drops the sockets reported so far (each read resets the kernel's).
    drops: u64,
    /// A bit per port whose link was last seen down (a read failed with
    /// ENETDOWN); ports past the 64th are not followed.
    down: u64,
    on_event: Option<PortEventSink>,
}

impl core::fmt::Debug for PnetDatapath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names: Vec<&str> = self
            .ports
            .iter()
            .map(|p| p.interface.name.as_str())
            .collect();
        f.debug_struct("PnetDatapath")
            .field("ports", &names)
            .finish_non_exhaustive()
    }
}

fn open_port(interface: NetworkInterface, offloads: bool) -> io::Result<Port> {
    let name = interface.name.clone();
    let context = |e: io::Error| io::Error::new(e.kind(), format!("interface {name}: {e}"));
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
    )
    .map_err(context)?;
    sys::enable(&socket, PacketOption::IgnoreOutgoing).map_err(context)?;
    if offloads {
        sys::enable(&socket, PacketOption::VnetHeader).map_err(context)?;
    } else {
        // Bypassing the queueing discipline also bypasses software
        // segmentation (the kernel's direct transmit drops a frame it
        // would have to segment): only for frames that never need it.
        sys::enable(&socket, PacketOption::QdiscBypass).map_err(context)?;
    }
    let watch = socket.try_clone().map_err(context)?;
    let config = datalink::Config {
        read_timeout: Some(Duration::ZERO),
        read_buffer_size: BUFFER_SIZE,
        write_buffer_size: BUFFER_SIZE,
        promiscuous: true,
        // pnet binds it and owns it from here on.
        socket_fd: Some(socket.into_raw_fd()),
        ..datalink::Config::default()
    };
    match datalink::channel(&interface, config).map_err(context)? {
        Channel::Ethernet(tx, rx) => Ok(Port {
            ring: RxRing::attach(&watch).map_err(context)?,
            interface,
            _channel: (tx, rx),
            socket: watch,
        }),
        _ => Err(io::Error::other(format!(
            "interface {name}: not an Ethernet channel"
        ))),
    }
}

impl PnetDatapath {
    /// Opens the interfaces `names`, one port each, with virtio-net
    /// headers (see the crate documentation).
    pub fn open(names: &[&str]) -> io::Result<Self> {
        Self::open_ports(names, true)
    }

    /// As [`open`](Self::open), without virtio-net headers.
    pub fn open_without_offloads(names: &[&str]) -> io::Result<Self> {
        Self::open_ports(names, false)
    }

    /// True when the sockets carry virtio-net headers.
    pub fn offloads(&self) -> bool {
        self.offloads
    }

    fn open_ports(names: &[&str], offloads: bool) -> io::Result<Self> {
        let interfaces = datalink::interfaces();
        let ports = names
            .iter()
            .map(|name| {
                let interface = interfaces
                    .iter()
                    .find(|i| i.name == *name)
                    .cloned()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}"))
                    })?;
                open_port(interface, offloads)
            })
            .collect::<io::Result<Vec<Port>>>()?;
        let mut poller = Poller::new()?;
        for port in &ports {
            poller.add(&port.socket).map_err(|e| {
                io::Error::new(e.kind(), format!("interface {}: {e}", port.interface.name))
            })?;
        }
        Ok(PnetDatapath {
            rotation: PortRotation::new(ports.len()),
            ports,
            offloads,
            poller,
            waker: None,
            drops: 0,
            down: 0,
            on_event: None,
        })
    }

    /// Calls `report` when a port's link goes down and when frames arrive
    /// on it again.
    pub fn on_event(mut self, report: impl FnMut(&PortEvent) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(report));
        self
    }

    /// Reports the ports whose link changed in the last read: `down_now`
    /// holds a bit per port that failed with ENETDOWN, `read` one per port
    /// a frame came from.
    fn note_links(&mut self, down_now: u64, read: u64) {
        for port in 0..self.ports.len().min(64) {
            let bit = 1u64 << port;
            let kind = if down_now & bit != 0 && self.down & bit == 0 {
                self.down |= bit;
                PortEventKind::LinkDown
            } else if read & bit != 0 && self.down & bit != 0 {
                self.down &= !bit;
                PortEventKind::LinkUp
            } else {
                continue;
            };
            let event = PortEvent {
                port: PortId(port as u16),
                name: self.ports[port].interface.name.clone(),
                kind,
            };
            if let Some(report) = &mut self.on_event {
                report(&event);
            }
        }
    }

    /// The MAC of the interface behind `port`.
    pub fn mac(&self, port: PortId) -> Option<MacAddr> {
        self.ports
            .get(port.index())?
            .interface
            .mac
            .map(|mac| MacAddr(mac.octets()))
    }
}

impl Datapath for PnetDatapath {
    fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// The interface's name.
    fn port_name(&self, port: PortId) -> Option<&str> {
        self.ports
            .get(port.index())
            .map(|p| p.interface.name.as_str())
    }

    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize> {
        // Not waiting (busy polling): the rings tell what is there without
        // a system call; a socket error waits for the next wait.
        if let Some(timeout) = timeout {
            if !self.poller.wait(timeout)? {
                return Ok(0);
            }
        }
        let (ports, offloads) = (&mut self.ports, self.offloads);
        let (down_now, read) = (Cell::new(0u64), Cell::new(0u64));
        let received = self.rotation.fill(batch, |port, buffer| {
            let bit = 1u64.checked_shl(port as u32).unwrap_or(0);
            let Port { socket, ring, .. } = &mut ports[port];
            match ring.read(socket, offloads, buffer) {
                Ok(frame) => {
                    read.set(read.get() | bit);
                    Ok(frame)
                }
                Err(error) if is_link_down(&error) => {
                    down_now.set(down_now.get() | bit);
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(error) => Err(error),
            }
        })?;
        let mut down_now = down_now.get();
        if received == 0 && timeout.is_some() {
            // Woken with nothing to read: a socket error (read from the
            // ring, frames never raise one), which would wake every wait
            // until taken.
            for (port, Port { socket, .. }) in self.ports.iter().enumerate() {
                match socket.take_error()? {
                    Some(error) if is_link_down(&error) => {
                        down_now |= 1u64.checked_shl(port as u32).unwrap_or(0);
                    }
                    Some(error) => return Err(error),
                    None => {}
                }
            }
        }
        let read = read.get();
        if down_now & !self.down != 0 || read & self.down != 0 {
            self.note_links(down_now, read);
        }
        Ok(received)
    }

    /// Every socket's `PACKET_STATISTICS` drops (its ring was full),
    /// summed since they opened, and the frames their rings lost (cut
    /// short with no room to queue them whole).
    fn kernel_drops(&mut self) -> Option<u64> {
        for port in &self.ports {
            self.drops += sys::take_drops(&port.socket).ok()?;
        }
        Some(self.drops + self.ports.iter().map(|p| p.ring.lost()).sum::<u64>())
    }

    fn watch(&mut self, waker: &Waker) -> io::Result<()> {
        self.poller.add(waker)?;
        self.waker = Some(waker.clone());
        Ok(())
    }

    /// One `sendmmsg` per port for the whole batch (for up to 64 frames a
    /// port; one per 64 beyond), each frame behind its virtio-net header
    /// when the sockets have them.
    fn send_batch(&mut self, batch: &RxBatch, sends: &[(PortId, usize)]) -> SendReport {
        let offloads = self.offloads;
        let mut report = SendReport::default();
        for (index, port) in self.ports.iter().enumerate() {
            let frames = || {
                sends
                    .iter()
                    .filter(move |(out, _)| out.index() == index)
                    .filter_map(|&(_, i)| batch.frame(i).map(|(_, f)| (f, batch.offload(i))))
                    .filter(|(_, offload)| offloads || !offload.is_pending())
            };
            let (sent, error) = sys::send_frames(port.socket.as_fd(), offloads, frames());
            report.sent += sent;
            if let Some(error) = error {
                let port = PortId(u16::try_from(index).unwrap_or(u16::MAX));
                report.fail(port, frames().count().saturating_sub(sent), error);
            }
        }
        if !offloads {
            // Frames a plain socket cannot take as they are, one by one.
            for &(port, index) in sends {
                let offload = batch.offload(index);
                if let Some((_, frame)) = batch.frame(index).filter(|_| offload.is_pending()) {
                    let outcome = send_finished(self, port, frame, &offload);
                    report.record(port, 1, outcome);
                }
            }
        }
        report
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        self.send_offloaded(port, frame, &Offload::NONE)
    }

    /// Hands the frame and its offload to the kernel; on a socket without
    /// virtio-net headers, a pending offload is finished in software first.
    fn send_offloaded(&mut self, port: PortId, frame: &[u8], offload: &Offload) -> io::Result<()> {
        if !self.offloads && offload.is_pending() {
            return send_finished(self, port, frame, offload);
        }
        let socket = &self
            .ports
            .get(port.index())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no {port}")))?
            .socket;
        vnet::write_frame(socket, self.offloads, frame, offload)
    }
}

/// The link went down (`ENETDOWN`): nothing to read until it is back.
fn is_link_down(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::NETDOWN.raw_os_error())
}

#[cfg(test)]
mod tests {
    /// A datapath can be moved to the thread that runs it.
    #[test]
    fn is_send() {
        fn send<T: Send>() {}
        send::<super::PnetDatapath>();
    }
}
