//! Sessions that outlive the process: written out when a load balancer
//! stops, put back when it starts again, so that its flows keep their
//! backends across a restart, even one that changed the backend set.

mod format;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use lb_packet::FlowKey;
use lb_session::Tracker;
use serde::Serialize;

use crate::core::services::{Owned, Owner};
use crate::core::{Balancer, Core};
use format::{NO_OWNER, SavedSession, StateFile, VERSION};

/// Sessions written out and put back: the state a restart keeps.
///
/// ```
/// # use std::time::{Instant, SystemTime};
/// # use lb_engine::{Persist, ReverseProxy, ReverseProxyConfig, ServiceConfig};
/// # let config = ReverseProxyConfig::with_services([
/// #     ServiceConfig::tcp(std::net::Ipv4Addr::new(10, 0, 0, 1), 80).backend(std::net::Ipv4Addr::new(192, 168, 1, 2), 1),
/// # ]);
/// let old = ReverseProxy::new(vec![None], &config)?;
/// let saved = old.save_sessions(Instant::now(), SystemTime::now());
/// // ... the process restarts, maybe with another backend set ...
/// let mut new = ReverseProxy::new(vec![None], &config)?;
/// let restored = new.restore_sessions(Instant::now(), SystemTime::now(), &saved)?;
/// assert_eq!(restored.restored, 0, "there were none");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Persist {
    /// The live sessions at `now`, as bytes
    /// [`restore_sessions`](Self::restore_sessions) takes back.
    /// `wall_clock` is the time of day now, so that a restore can tell how
    /// long the load balancer was down.
    fn save_sessions(&self, now: Instant, wall_clock: SystemTime) -> Vec<u8>;

    /// Puts back the sessions [`save_sessions`](Self::save_sessions) wrote,
    /// each with the time it had left less the time since (by
    /// `wall_clock`). A session keeps its backend while the configuration
    /// has a backend of that name in a service of that name, whatever else
    /// changed; the others are left out and counted. Refuses, changing
    /// nothing, bytes that are not a whole state file of this engine.
    fn restore_sessions(
        &mut self,
        now: Instant,
        wall_clock: SystemTime,
        saved: &[u8],
    ) -> Result<Restored, StateError>;
}

/// What came of putting saved sessions back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// Sessions put back.
    pub restored: usize,
    /// Sessions that expired while the load balancer was down.
    pub expired: usize,
    /// Sessions whose service or backend the configuration no longer has.
    pub orphaned: usize,
    /// Sessions the table had no room for.
    pub refused: usize,
    /// How long before `wall_clock` the sessions were saved.
    pub age: Duration,
}

/// Why saved sessions could not be put back. Nothing was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The bytes do not start as a state file does.
    #[error("not a session state file")]
    NotStateFile,
    /// A state file of another version of the format.
    #[error("state file version {0}, where this build reads version {VERSION}")]
    Version(u8),
    /// A state file another kind of load balancer wrote.
    #[error("state file of a {found} engine, not of a {expected} one")]
    Engine {
        /// The engine that wrote it.
        found: String,
        /// This engine.
        expected: &'static str,
    },
    /// A state file whose contents cannot be read.
    #[error("state file damaged: {0}")]
    Damaged(&'static str),
}

/// A saved session, read and checked.
struct Checked<X> {
    forward: FlowKey,
    reverse: FlowKey,
    tracker: Tracker,
    expires_in: Duration,
    owner: u32,
    extra: X,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl<B: Balancer> Persist for B {
    fn save_sessions(&self, now: Instant, wall_clock: SystemTime) -> Vec<u8> {
        let core = self.core();
        let mut owners = Vec::new();
        let mut indices: HashMap<Owner, u32> = HashMap::new();
        let mut sessions = Vec::with_capacity(core.sessions.len());
        for session in core.sessions.iter(now) {
            let owner = session.value.owner();
            let index = if owner == Owner::NONE {
                NO_OWNER
            } else if let Some(&index) = indices.get(&owner) {
                index
            } else {
                let Some(names) = owner_names::<B>(core, owner) else {
                    continue;
                };
                let index = u32::try_from(owners.len()).unwrap_or(NO_OWNER);
                owners.push(names);
                indices.insert(owner, index);
                index
            };
            let saved = SavedSession {
                forward: session.forward.into(),
                reverse: session.reverse.into(),
                tracker: session.tracker.to_bytes(),
                expires_in_ms: millis(session.expires_in),
                owner: index,
                extra: self.saved_extra(session.value),
            };
            sessions.push((session.assured, saved));
        }
        // Assured first: a smaller table then keeps those.
        sessions.sort_by_key(|(assured, _)| !assured);
        let sessions = sessions.into_iter().map(|(_, saved)| saved).collect();
        let saved_at = wall_clock.duration_since(SystemTime::UNIX_EPOCH);
        StateFile {
            engine: core.kind().name().to_owned(),
            saved_at_ms: saved_at.map_or(0, millis),
            owners,
            sessions,
        }
        .encode()
    }

    fn restore_sessions(
        &mut self,
        now: Instant,
        wall_clock: SystemTime,
        saved: &[u8],
    ) -> Result<Restored, StateError> {
        let file = StateFile::<B::Extra>::decode(saved)?;
        let expected = self.core().kind().name();
        if file.engine != expected {
            return Err(StateError::Engine {
                found: file.engine,
                expected,
            });
        }
        let checked = file
            .sessions
            .into_iter()
            .map(|saved| {
                Ok(Checked {
                    forward: saved.forward.try_into()?,
                    reverse: saved.reverse.try_into()?,
                    tracker: Tracker::from_bytes(saved.tracker)
                        .ok_or(StateError::Damaged("a session in no known state"))?,
                    expires_in: Duration::from_millis(saved.expires_in_ms),
                    owner: saved.owner,
                    extra: saved.extra,
                })
            })
            .collect::<Result<Vec<_>, StateError>>()?;
        let now_ms = wall_clock
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, millis);
        let age = Duration::from_millis(now_ms.saturating_sub(file.saved_at_ms));
        let owners = find_owners::<B>(self.core(), &file.owners);
        let mut report = Restored {
            age,
            ..Restored::default()
        };
        for session in checked {
            let Some(left) = session.expires_in.checked_sub(age).filter(|d| !d.is_zero()) else {
                report.expired += 1;
                continue;
            };
            let owner = match session.owner {
                NO_OWNER => Some(Owner::NONE),
                index => owners.get(index as usize).copied().flatten(),
            };
            let Some(value) = owner.and_then(|owner| {
                self.rebuild(owner, &session.forward, &session.reverse, session.extra)
            }) else {
                report.orphaned += 1;
                continue;
            };
            let core = self.core_mut();
            match core.restore_session(
                now,
                session.forward,
                session.reverse,
                session.tracker,
                left,
                value,
            ) {
                Ok(()) => report.restored += 1,
                Err(_) => report.refused += 1,
            }
        }
        self.core_mut().settle();
        Ok(report)
    }
}

/// The names a session of `owner` is saved under: its service's and its
/// backend's.
fn owner_names<B: Balancer>(
    core: &Core<B::Key, B::Target, B::Session>,
    owner: Owner,
) -> Option<(String, String)> {
    let service = core.services.get(owner.service)?;
    let backend = service.backends.get(owner.backend)?;
    Some((B::saved_name(&service.key), backend.target.to_string()))
}

/// Where each saved owner is now, if the configuration still has it.
fn find_owners<B: Balancer>(
    core: &Core<B::Key, B::Target, B::Session>,
    saved: &[(String, String)],
) -> Vec<Option<Owner>> {
    let mut now: HashMap<(String, String), Owner> = HashMap::new();
    for (service_slot, service) in core.services.iter() {
        for (backend_slot, member) in service.backends.members() {
            let names = (B::saved_name(&service.key), member.target.to_string());
            let owner = Owner {
                service: service_slot,
                backend: backend_slot,
            };
            now.insert(names, owner);
        }
    }
    saved.iter().map(|names| now.get(names).copied()).collect()
}
