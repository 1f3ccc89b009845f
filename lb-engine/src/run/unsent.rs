//! Frames the datapath could not send: counted by why, and logged with
//! the error the kernel gave, at most once a second however many fail.

use std::io;
use std::time::{Duration, Instant};

use lb_datapath::{SendReport, is_port_down};

use crate::{Datapath, PortId};

/// How often a warning about unsent frames is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// The run loop's count of unsent frames, and what it last logged.
#[derive(Debug, Default)]
pub(super) struct Unsent {
    /// To a port that was down, in all.
    pub(super) port_down: u64,
    /// For any other reason, in all.
    pub(super) failed: u64,
    /// The totals when last logged.
    logged: (u64, u64),
    logged_at: Option<Instant>,
    last_error: Option<(PortId, io::Error)>,
}

impl Unsent {
    /// Counts what a batch did not send.
    pub(super) fn note_batch(&mut self, report: SendReport) {
        self.port_down += report.port_down as u64;
        self.failed += report.failed as u64;
        if report.last_error.is_some() {
            self.last_error = report.last_error;
        }
    }

    /// Counts one frame that failed with `error`.
    pub(super) fn note_one(&mut self, port: PortId, error: io::Error) {
        if is_port_down(&error) {
            self.port_down += 1;
        } else {
            self.failed += 1;
        }
        self.last_error = Some((port, error));
    }

    /// Logs what failed since the last warning, if anything did and the
    /// last warning is a second old (`force`: whatever its age).
    pub(super) fn warn<D: Datapath + ?Sized>(&mut self, datapath: &D, now: Instant, force: bool) {
        let (down, failed) = (self.port_down - self.logged.0, self.failed - self.logged.1);
        let due = force
            || self
                .logged_at
                .is_none_or(|at| now.duration_since(at) >= LOG_EVERY);
        if down + failed == 0 || !due {
            return;
        }
        let (port, error) = match &self.last_error {
            Some((port, error)) => (*port, error.to_string()),
            None => (PortId(0), "no error given".to_owned()),
        };
        let name = datapath
            .port_name(port)
            .map_or_else(|| port.to_string(), str::to_owned);
        let errno = self.last_error.as_ref().and_then(|(_, e)| e.raw_os_error());
        tracing::warn!(
            port_down = down,
            failed,
            port = %name,
            errno,
            "{} frames not sent ({down} to a port that was down, {failed} failed), \
             the last out of {name}: {error}",
            down + failed,
        );
        self.logged = (self.port_down, self.failed);
        self.logged_at = Some(now);
    }
}
