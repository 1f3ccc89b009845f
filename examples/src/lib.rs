//! What the `lb` binaries share: flag parsing with one-line errors,
//! opening a datapath, signals, the `ready` line, and the stats summary;
//! and the namespace [`lab`] the demo and the end-to-end tests build on.
//!
//! The binaries themselves are in `src/bin/`: `lb-rp` (reverse proxy),
//! `lb-dsr` (direct server return), `lb-proxy` (one-armed NAT proxy) and
//! `lb-demo`.

// Binaries talk to people: `ready` and help go to standard output.
#![allow(clippy::print_stdout)]

pub mod admin;
pub mod cli;
pub mod lab;
pub mod serve;
