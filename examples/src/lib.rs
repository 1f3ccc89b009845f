//! What the `lb` binaries share: flag parsing with one-line errors,
//! opening a datapath, signals, the `ready` line, the stats summary, and
//! the sessions kept across restarts.
//!
//! The binaries themselves are in `src/bin/`: `lb-rp` (reverse proxy),
//! `lb-dsr` (direct server return), `lb-proxy` (one-armed NAT proxy),
//! `lbctl` (the admin API's client), `lb-demo`, and `lb-flood` (spoofed
//! floods at a set rate, for the tests).

// Binaries talk to people: `ready` and help go to standard output.
#![allow(clippy::print_stdout)]

pub mod alarms;
pub mod cli;
pub mod docs;
pub mod health_args;
pub mod logging;
pub mod scale_out;
pub mod serve;
pub mod state_file;
