//! A [`Datapath`] whose ports are Linux tap devices.
//!
//! Each port is a tap device, created by name or attached to a persistent
//! one of that name (`ip tuntap add dev NAME mode tap`) in the process's
//! network namespace, without packet information. Descriptors are
//! non-blocking and one thread serves every port, waiting on them all with
//! one epoll instance.
//!
//! **Offloads.** [`TapDatapath::open`] asks for virtio-net headers and
//! tells the kernel it may hand over partial TCP/UDP checksums and TCP
//! super-frames of up to 64 KiB (TSO over IPv4 and IPv6), as a virtual NIC
//! does: one read and one write move what would be some 44 frames of
//! 1500 bytes. Each frame's [`Offload`] travels with it through the
//! engine, which rewrites headers once and keeps the partial checksum
//! right, and goes back to the kernel with the frame, which finishes the
//! work where it must (segmenting for a smaller MTU or a device without
//! offloads) or not at all (delivery to a local socket).
//! [`TapDatapath::open_without_offloads`] opens plain taps: every frame
//! finished, full checksums, one frame per read.
//! A tap keeps working after its interface is moved to another namespace
//! (`ip link set NAME netns NS`). A tap that is deleted is opened again
//! (created anew, in the process's namespace) every second until that
//! works; the other ports go on meanwhile, and [`TapDatapath::on_event`]
//! hears of both.
//!
//! This crate opens devices and moves frames; it decides nothing.
//!
//! ```no_run
//! use lb_datapath_tap::TapDatapath;
//!
//! let taps = TapDatapath::open(&["lbfront", "lbback"])?;
//! println!("frontend MAC {:?}", taps.mac(lb_datapath::PortId(0)));
//! # Ok::<(), std::io::Error>(())
//! ```

mod sys;

use std::cell::Cell;
use std::fs::{self, File};
use std::io;
use std::time::{Duration, Instant};

use lb_datapath::{
    Datapath, Poller, PortEvent, PortEventKind, PortEventSink, PortId, PortRotation, RxBatch,
    Waker, send_finished, vnet,
};
use lb_packet::{MacAddr, Offload};

impl core::fmt::Debug for TapDatapath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TapDatapath")
            .field("names", &self.names)
            .field(
                "open",
                &self.taps.iter().map(Option::is_some).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The kernel's answer to a tap whose device was deleted: `EBADFD`, "File
/// descriptor in bad state".
fn is_gone(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::BADFD.raw_os_error())
}

/// How often a deleted tap is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Tap devices as the ports of an engine, in the order opened.
pub struct TapDatapath {
    names: Vec<String>,
    /// None while the device is gone, to be opened again.
    taps: Vec<Option<File>>,
    /// Each frame read and written carries a virtio-net header.
    offloads: bool,
    /// When the gone taps are tried again.
    reopen_at: Option<Instant>,
    on_event: Option<PortEventSink>,
    macs: Vec<Option<MacAddr>>,
    /// Reads each port in turn, each found empty at most once per batch.
    rotation: PortRotation,
    /// Watches every tap, and the waker if one was given.
    poller: Poller,
    /// Kept open while the poller watches it.
    waker: Option<Waker>,
    /// Each tap's `tx_dropped` counter, opened with the tap (so it still
    /// reads once the tap moves to another namespace), and its value then.
    drop_counters: Vec<Option<(fs::File, u64)>>,
}

/// Tap `name`'s count of frames the kernel could not queue to its reader
/// (sent out of the interface, from the kernel's side: `tx_dropped`), and
/// its value now.
fn open_drop_counter(name: &str) -> Option<(fs::File, u64)> {
    let file = fs::File::open(format!("/sys/class/net/{name}/statistics/tx_dropped")).ok()?;
    let now = read_counter(&file)?;
    Some((file, now))
}

/// A sysfs counter's value, read afresh.
fn read_counter(file: &fs::File) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut text = [0u8; 24];
    let len = file.read_at(&mut text, 0).ok()?;
    std::str::from_utf8(&text[..len]).ok()?.trim().parse().ok()
}

/// The MAC the kernel gave interface `name`, read while it is in our
/// namespace.
fn interface_mac(name: &str) -> Option<MacAddr> {
    fs::read_to_string(format!("/sys/class/net/{name}/address"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl TapDatapath {
    /// Opens (or creates) the tap devices `names`, one port each, with
    /// virtio-net headers and offloads (see the crate documentation).
    pub fn open(names: &[&str]) -> io::Result<Self> {
        Self::open_ports(names, true)
    }

    /// As [`open`](Self::open), without offloads: every frame read is
    /// finished, one per read.
    pub fn open_without_offloads(names: &[&str]) -> io::Result<Self> {
        Self::open_ports(names, false)
    }

    fn open_ports(names: &[&str], offloads: bool) -> io::Result<Self> {
        let mut taps = Vec::with_capacity(names.len());
        let mut macs = Vec::with_capacity(names.len());
        let mut poller = Poller::new()?;
        for name in names {
            let context = |e: io::Error| io::Error::new(e.kind(), format!("tap {name}: {e}"));
            let tap = sys::open_tap(name, offloads).map_err(context)?;
            poller.add(&tap).map_err(context)?;
            macs.push(interface_mac(name));
            taps.push(tap);
        }
        let drop_counters = names.iter().map(|name| open_drop_counter(name)).collect();
        Ok(TapDatapath {
            drop_counters,
            rotation: PortRotation::new(taps.len()),
            names: names.iter().map(|name| (*name).to_owned()).collect(),
            taps: taps.into_iter().map(Some).collect(),
            offloads,
            reopen_at: None,
            on_event: None,
            macs,
            poller,
            waker: None,
        })
    }

    /// True when the taps carry virtio-net headers and take offloads.
    pub fn offloads(&self) -> bool {
        self.offloads
    }

    /// The MAC the kernel side of `port` has (when it was opened).
    pub fn mac(&self, port: PortId) -> Option<MacAddr> {
        self.macs.get(port.index()).copied().flatten()
    }

    /// Calls `report` when a tap goes away and when it is opened again.
    pub fn on_event(mut self, report: impl FnMut(&PortEvent) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(report));
        self
    }

    fn report(&mut self, port: usize, kind: PortEventKind) {
        let event = PortEvent {
            port: PortId(u16::try_from(port).unwrap_or(u16::MAX)),
            name: self.names[port].clone(),
            kind,
        };
        if let Some(report) = &mut self.on_event {
            report(&event);
        }
    }

    /// Closes `port`'s tap (the poller forgets it with its descriptor),
    /// to be opened again.
    fn lose(&mut self, port: usize, error: &io::Error) {
        if self.taps[port].take().is_some() {
            self.reopen_at = Some(Instant::now() + REOPEN_EVERY);
            self.report(port, PortEventKind::Gone(error.to_string()));
        }
    }

    /// Opens the gone taps again, when due.
    fn reopen_gone(&mut self) {
        let Some(at) = self.reopen_at else { return };
        if Instant::now() < at {
            return;
        }
        self.reopen_at = None;
        for port in 0..self.taps.len() {
            if self.taps[port].is_some() {
                continue;
            }
            let opened = sys::open_tap(&self.names[port], self.offloads)
                .and_then(|tap| self.poller.add(&tap).map(|()| tap));
            match opened {
                Ok(tap) => {
                    self.taps[port] = Some(tap);
                    self.report(port, PortEventKind::Reopened);
                }
                Err(_) => self.reopen_at = Some(Instant::now() + REOPEN_EVERY),
            }
        }
    }
}

impl Datapath for TapDatapath {
    fn port_count(&self) -> usize {
        self.taps.len()
    }

    /// The tap's interface name.
    fn port_name(&self, port: PortId) -> Option<&str> {
        self.names.get(port.index()).map(String::as_str)
    }

    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize> {
        self.reopen_gone();
        // While a tap is gone, wake at least every REOPEN_EVERY to retry.
        let mut wait = timeout.unwrap_or_default();
        if self.reopen_at.is_some() {
            wait = wait.min(REOPEN_EVERY);
        }
        // Not waiting (busy polling): the reads tell as much as the poller
        // would, one system call sooner.
        if timeout.is_some() && !self.poller.wait(wait)? {
            return Ok(0);
        }
        let (taps, offloads) = (&self.taps, self.offloads);
        let lost: Cell<Option<(usize, io::Error)>> = Cell::new(None);
        let received = self.rotation.fill(batch, |port, buffer| match &taps[port] {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(tap) => match vnet::read_frame(tap, offloads, buffer) {
                Err(error) if is_gone(&error) => {
                    lost.set(Some((port, error)));
                    Err(io::ErrorKind::WouldBlock.into())
                }
                read => read,
            },
        });
        if let Some((port, error)) = lost.into_inner() {
            self.lose(port, &error);
        }
        received
    }

    /// Each tap's `tx_dropped` counter, summed, since the taps opened.
    fn kernel_drops(&mut self) -> Option<u64> {
        let mut total = 0;
        for counter in &self.drop_counters {
            let (file, at_open) = counter.as_ref()?;
            total += read_counter(file)?.saturating_sub(*at_open);
        }
        Some(total)
    }

    fn watch(&mut self, waker: &Waker) -> io::Result<()> {
        self.poller.add(waker)?;
        self.waker = Some(waker.clone());
        Ok(())
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        self.send_offloaded(port, frame, &Offload::NONE)
    }

    /// Hands the frame and its offload to the kernel; without offloads on
    /// the taps (where no offloaded frame is received), a pending offload
    /// is finished in software first.
    fn send_offloaded(&mut self, port: PortId, frame: &[u8], offload: &Offload) -> io::Result<()> {
        if !self.offloads && offload.is_pending() {
            return send_finished(self, port, frame, offload);
        }
        let tap = self
            .taps
            .get(port.index())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no {port}")))?
            .as_ref()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, format!("{port} is gone"))
            })?;
        match vnet::write_frame(tap, self.offloads, frame, offload) {
            Ok(()) => Ok(()),
            Err(error) if is_gone(&error) => {
                self.lose(port.index(), &error);
                Err(error)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A datapath can be moved to the thread that runs it.
    #[test]
    fn is_send() {
        fn send<T: Send>() {}
        send::<super::TapDatapath>();
    }
}
