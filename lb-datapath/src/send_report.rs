//! What became of the frames handed to a datapath to send.

use std::io;

use rustix::io::Errno;

use crate::PortId;

/// Frames sent and not sent by [`Datapath::send_batch`], and why the last
/// failure failed, for counters and a log that names the errno.
///
/// [`Datapath::send_batch`]: crate::Datapath::send_batch
#[derive(Debug, Default)]
pub struct SendReport {
    /// Frames sent.
    pub sent: usize,
    /// Frames not sent because their port was down ([`is_port_down`]).
    pub port_down: usize,
    /// Frames not sent for any other reason.
    pub failed: usize,
    /// The last failure, and the port it was on.
    pub last_error: Option<(PortId, io::Error)>,
}

impl SendReport {
    /// Counts `count` frames to `port` with the same outcome.
    pub fn record(&mut self, port: PortId, count: usize, outcome: io::Result<()>) {
        match outcome {
            Ok(()) => self.sent += count,
            Err(error) => self.fail(port, count, error),
        }
    }

    /// Counts `count` frames to `port` that failed with `error`.
    pub fn fail(&mut self, port: PortId, count: usize, error: io::Error) {
        if count == 0 {
            return;
        }
        if is_port_down(&error) {
            self.port_down += count;
        } else {
            self.failed += count;
        }
        self.last_error = Some((port, error));
    }

    /// Frames not sent, for either reason.
    pub fn unsent(&self) -> usize {
        self.port_down + self.failed
    }
}

/// True for the errors of a port that cannot send now but may later: its
/// link is down (`ENETDOWN`, a packet socket's), its interface is not up
/// (`EIO`, a tap's write while the interface is down), or its device is
/// gone (`ENXIO`, `ENODEV`, or the datapath's own `NotConnected`).
pub fn is_port_down(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::NotConnected {
        return true;
    }
    [Errno::NETDOWN, Errno::IO, Errno::NXIO, Errno::NODEV]
        .iter()
        .any(|errno| error.raw_os_error() == Some(errno.raw_os_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart_and_the_last_kept() {
        let mut report = SendReport::default();
        report.record(PortId(0), 3, Ok(()));
        report.record(
            PortId(1),
            2,
            Err(io::Error::from_raw_os_error(Errno::IO.raw_os_error())),
        );
        report.fail(
            PortId(0),
            1,
            io::Error::from_raw_os_error(Errno::MSGSIZE.raw_os_error()),
        );
        report.fail(
            PortId(0),
            0,
            io::Error::from_raw_os_error(Errno::NETDOWN.raw_os_error()),
        );
        assert_eq!((report.sent, report.port_down, report.failed), (3, 2, 1));
        assert_eq!(report.unsent(), 3);
        let (port, error) = report.last_error.unwrap();
        assert_eq!(port, PortId(0));
        assert_eq!(error.raw_os_error(), Some(Errno::MSGSIZE.raw_os_error()));
    }

    #[test]
    fn a_port_is_down_for_link_interface_and_device_errors_only() {
        for errno in [Errno::NETDOWN, Errno::IO, Errno::NXIO, Errno::NODEV] {
            let error = io::Error::from_raw_os_error(errno.raw_os_error());
            assert!(is_port_down(&error), "{errno}");
        }
        assert!(is_port_down(&io::Error::new(
            io::ErrorKind::NotConnected,
            "gone"
        )));
        for errno in [Errno::MSGSIZE, Errno::NOBUFS, Errno::AGAIN, Errno::INVAL] {
            let error = io::Error::from_raw_os_error(errno.raw_os_error());
            assert!(!is_port_down(&error), "{errno}");
        }
    }
}
