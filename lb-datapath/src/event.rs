//! What happens to a port that the traffic does not say: its link went
//! down or came back, its device went away or was opened again.

use core::fmt;

use crate::PortId;

/// Who hears of port events: the callback a datapath was given.
pub type PortEventSink = Box<dyn FnMut(&PortEvent) + Send>;

/// A change in a port's device, as a datapath reports it to the callback
/// it was given (`on_event`). None of them stops the datapath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEvent {
    /// The port.
    pub port: PortId,
    /// Its device's name.
    pub name: String,
    /// What happened.
    pub kind: PortEventKind,
}

/// What happened to a port's device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortEventKind {
    /// The link went down: nothing arrives or leaves until it is back.
    LinkDown,
    /// Frames arrive again after the link was down.
    LinkUp,
    /// The device is gone (deleted); the datapath tries to open it again
    /// every second. The error the kernel gave.
    Gone(String),
    /// A device of the same name was opened again after it was gone.
    Reopened,
}

impl fmt::Display for PortEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            PortEventKind::LinkDown => write!(f, "{name}: link down, waiting for it"),
            PortEventKind::LinkUp => write!(f, "{name}: link up, frames arrive again"),
            PortEventKind::Gone(error) => {
                write!(f, "{name} is gone ({error}): opening it again every second")
            }
            PortEventKind::Reopened => write!(f, "{name} opened again"),
        }
    }
}
