//! Waking a packet loop that waits in [`Datapath::recv`](crate::Datapath::recv)
//! from another thread.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::event::{EventfdFlags, eventfd};

/// An eventfd another thread writes to so that a datapath watching it
/// ([`Datapath::watch`](crate::Datapath::watch)) stops waiting at once: an
/// admin command is then run within microseconds instead of at the next
/// poll timeout. Clones share one descriptor.
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// let waker = lb_datapath::Waker::new()?;
/// let remote = waker.clone();
/// std::thread::spawn(move || remote.wake()).join().unwrap();
/// assert!(waker.reset(), "it was woken");
/// assert!(!waker.reset(), "and is quiet again");
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    /// A waker nobody woke yet.
    pub fn new() -> io::Result<Self> {
        let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(Waker { fd: Arc::new(fd) })
    }

    /// Makes the descriptor readable until [`reset`](Self::reset).
    pub fn wake(&self) {
        // Fails only when the counter would overflow: it is readable then.
        let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
    }

    /// Makes it quiet again; true if it had been woken. The woken side
    /// calls it before looking for what it was woken for, so that no wake
    /// is lost.
    pub fn reset(&self) -> bool {
        let mut count = [0u8; 8];
        rustix::io::read(&*self.fd, &mut count).is_ok()
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
