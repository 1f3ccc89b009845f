//! `--state-file`: sessions written out when a load balancer stops and
//! put back when it starts, so that its flows survive a restart.

use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use lb_engine::{Observe, Persist};

use crate::cli;

/// Refuses a state file that could not be written when the process stops,
/// so that the mistake shows now rather than losing the sessions then.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    cli::check_writable(path)
        .with_context(|| format!("state file {}: cannot write beside it", path.display()))
}

/// Puts back the sessions in `path`, if there is such a file, and removes
/// it (a later crash must not bring them back). A file that cannot be
/// used is logged and left for the operator; the engine starts empty.
pub fn restore<E: Persist>(path: &Path, engine: &mut E) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                "no state file {}: starting without sessions",
                path.display()
            );
            return;
        }
        Err(error) => {
            tracing::warn!(
                "state file {} unreadable ({error}): starting without sessions",
                path.display()
            );
            return;
        }
    };
    match engine.restore_sessions(Instant::now(), SystemTime::now(), &bytes) {
        Ok(restored) => {
            tracing::info!(
                "restored {} sessions from {}, saved {:.1} s ago ({} expired meanwhile, \
                     {} of backends no longer configured, {} without room)",
                restored.restored,
                path.display(),
                restored.age.as_secs_f64(),
                restored.expired,
                restored.orphaned,
                restored.refused
            );
            if let Err(error) = std::fs::remove_file(path) {
                tracing::warn!("cannot remove state file {}: {error}", path.display());
            }
        }
        Err(error) => tracing::warn!(
            "state file {} not used ({error}): starting without sessions",
            path.display()
        ),
    }
}

/// Writes the engine's live sessions to `path`.
pub fn save<E: Persist + Observe>(path: &Path, engine: &E) -> anyhow::Result<()> {
    let now = Instant::now();
    let bytes = engine.save_sessions(now, SystemTime::now());
    cli::write_whole(path, &bytes).with_context(|| format!("state file {}", path.display()))?;
    tracing::info!(
        "saved {} sessions to {} ({} bytes)",
        engine.stats(now).sessions,
        path.display(),
        bytes.len()
    );
    Ok(())
}
