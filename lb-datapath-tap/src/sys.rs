//! The one place this crate needs `unsafe`: `tun-tap` hands out raw file
//! descriptors only, and watching them wants borrowed ones.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// Borrows the descriptor of `owner` for as long as `owner` is borrowed.
pub(crate) fn borrow_fd<T: AsRawFd>(owner: &T) -> BorrowedFd<'_> {
    // SAFETY: `owner` keeps its descriptor open for as long as it lives,
    // and the returned borrow cannot outlive the borrow of `owner`.
    unsafe { BorrowedFd::borrow_raw(owner.as_raw_fd()) }
}
