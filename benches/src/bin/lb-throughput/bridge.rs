//! Way (a)'s middle box: a userspace bridge between two taps, the tap
//! datapath's ceiling with no load balancing (run as `lb-throughput
//! bridge`).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use lb_datapath_tap::TapDatapath;
use lb_engine::{Engine, PortId, RunOptions, Verdict, run};
use lb_packet::Offload;

/// An engine that forwards every frame to the other port: all datapath,
/// no load balancing.
struct Bridge;

impl Engine for Bridge {
    fn port_count(&self) -> usize {
        2
    }
    fn handle_offloaded(
        &mut self,
        _now: Instant,
        port: PortId,
        _frame: &mut [u8],
        _offload: &mut Offload,
    ) -> Verdict {
        Verdict::Forward(PortId(1 - port.0.min(1)))
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// Bridges `taps` until SIGINT or SIGTERM; says `bridge ready` once open.
pub(crate) fn bridge(taps: &[String]) -> anyhow::Result<()> {
    let names: Vec<&str> = taps.iter().map(String::as_str).collect();
    let mut datapath = TapDatapath::open(&names)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    println!("bridge ready");
    std::io::stdout().flush()?;
    run(&mut datapath, &mut Bridge, &stop, RunOptions::default())?;
    Ok(())
}
