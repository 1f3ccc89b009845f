//! A [`Datapath`] whose ports are Linux tap devices.
//!
//! Each port is a tap device, created by name or attached to a persistent
//! one of that name (`ip tuntap add dev NAME mode tap`) in the process's
//! network namespace, without packet information or virtio-net headers, so
//! frames carry full checksums. Descriptors are non-blocking and one
//! thread serves every port, waiting on them all with one epoll instance.
//! A tap keeps working after its interface is moved to another namespace
//! (`ip link set NAME netns NS`).
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

use std::fs;
use std::io;
use std::time::Duration;

use lb_datapath::{Datapath, Poller, PortId, PortRotation, RxBatch, Waker};
use lb_packet::MacAddr;
use tun_tap::{Iface, Mode};

/// Tap devices as the ports of an engine, in the order opened.
#[derive(Debug)]
pub struct TapDatapath {
    taps: Vec<Iface>,
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
    /// Opens (or creates) the tap devices `names`, one port each.
    pub fn open(names: &[&str]) -> io::Result<Self> {
        let mut taps = Vec::with_capacity(names.len());
        let mut macs = Vec::with_capacity(names.len());
        let mut poller = Poller::new()?;
        for name in names {
            let context = |e: io::Error| io::Error::new(e.kind(), format!("tap {name}: {e}"));
            let tap = Iface::without_packet_info(name, Mode::Tap).map_err(context)?;
            tap.set_non_blocking().map_err(context)?;
            poller.add(sys::borrow_fd(&tap)).map_err(context)?;
            macs.push(interface_mac(tap.name()));
            taps.push(tap);
        }
        let drop_counters = taps
            .iter()
            .map(|tap| open_drop_counter(tap.name()))
            .collect();
        Ok(TapDatapath {
            drop_counters,
            rotation: PortRotation::new(taps.len()),
            taps,
            macs,
            poller,
            waker: None,
        })
    }

    /// The MAC the kernel side of `port` has (when it was opened).
    pub fn mac(&self, port: PortId) -> Option<MacAddr> {
        self.macs.get(port.index()).copied().flatten()
    }
}

impl Datapath for TapDatapath {
    fn port_count(&self) -> usize {
        self.taps.len()
    }

    /// The tap's interface name.
    fn port_name(&self, port: PortId) -> Option<&str> {
        self.taps.get(port.index()).map(Iface::name)
    }

    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize> {
        if !self.poller.wait(timeout.unwrap_or_default())? {
            return Ok(0);
        }
        let taps = &self.taps;
        self.rotation
            .fill(batch, |port, buffer| taps[port].recv(buffer))
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
        let tap = self
            .taps
            .get(port.index())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no {port}")))?;
        tap.send(frame).map(|_| ())
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
