//! Waiting for any of a set of descriptors to become readable.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::{Timespec, epoll};
use rustix::io::Errno;

/// The longest wait handed to the kernel in one call: `epoll_pwait` takes
/// milliseconds in a C `int`, and rustix would reach for `epoll_pwait2`
/// (Linux 5.11) beyond.
const MAX_WAIT: Duration = Duration::from_millis(i32::MAX as u64);

/// An epoll instance over a fixed set of descriptors, registered once: each
/// [`wait`](Self::wait) is one system call and builds nothing. For
/// [`Datapath`](crate::Datapath)s whose ports are non-blocking descriptors,
/// which then read every port in turn ([`PortRotation`](crate::PortRotation)).
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
}

impl Poller {
    /// A poller watching nothing yet.
    pub fn new() -> io::Result<Self> {
        Ok(Poller {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Watches `fd` for readability (level-triggered) for as long as it is
    /// open.
    pub fn add(&mut self, fd: impl AsFd) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )?;
        Ok(())
    }

    /// Waits until a descriptor watched is readable or `timeout` passes
    /// (rounded up to a millisecond); true when one is. A signal ends the
    /// wait as a timeout would, so the caller gets to look at its stop flag.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let timeout = timeout.min(MAX_WAIT);
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        // One event is all the answer needed: the caller reads every port
        // until it would block. On the stack, because rustix's `Event` holds
        // a pointer: a buffer kept in the struct would make it, and every
        // datapath holding one, neither `Send` nor `Sync`.
        let mut events = [MaybeUninit::uninit(); 1];
        match epoll::wait(&self.epoll, &mut events, Some(&timeout)) {
            Ok((ready, _)) => Ok(!ready.is_empty()),
            Err(Errno::INTR) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    #[test]
    fn reports_readiness_and_times_out() -> io::Result<()> {
        let (mut a, mut a_peer) = UnixStream::pair()?;
        let (b, mut b_peer) = UnixStream::pair()?;
        let mut poller = Poller::new()?;
        poller.add(&a)?;
        poller.add(&b)?;

        let started = Instant::now();
        assert!(!poller.wait(Duration::from_millis(30))?, "nothing sent yet");
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(!poller.wait(Duration::ZERO)?, "a zero wait returns at once");

        b_peer.write_all(b"x")?;
        let started = Instant::now();
        assert!(
            poller.wait(Duration::from_secs(5))?,
            "the second is readable"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        // Level-triggered: still ready until read, then quiet again.
        assert!(poller.wait(Duration::ZERO)?);
        let mut byte = [0u8; 1];
        (&b).read_exact(&mut byte)?;
        assert!(!poller.wait(Duration::ZERO)?);

        a_peer.write_all(b"y")?;
        assert!(
            poller.wait(Duration::from_secs(5))?,
            "the first is readable"
        );
        a.read_exact(&mut byte)?;
        assert_eq!(&byte, b"y");
        Ok(())
    }
}
