//! Backend health: a pure model of each backend's state, fed by in-band
//! probes and by the handshakes of real traffic.
//!
//! - [`BackendHealth`]: one backend's state machine (`rise`/`fall`
//!   thresholds, passive failures and ejections with growing back-off, an
//!   operator's override). Time is an argument; it performs no I/O.
//! - Settings: [`HealthCheck`] (`[service.health]`: kind, interval,
//!   timeout, thresholds, jitter) and [`HealthSettings`] (`[health]`: the
//!   probe source, passive detection, the panic threshold).
//! - The prober (crate-private): probes are frames the engine originates
//!   through [`Engine::poll_transmit`](crate::Engine::poll_transmit) from
//!   an address it owns on the backend side, so they travel the path data
//!   travels; their replies come back through
//!   [`Engine::handle_frame`](crate::Engine::handle_frame).
//!
//! A backend that is not usable leaves its service's selector (Maglev is
//! rebuilt without it, so the others keep their slots); its sessions stay
//! unless [`HealthSettings::end_sessions_on_down`] says otherwise. Changes
//! are reported as [`HealthEvent`]s through
//! [`Observe::poll_health_event`](crate::Observe::poll_health_event).

mod backend;
mod event;
pub(crate) mod passive;
pub(crate) mod prober;
pub(crate) mod schedule;
mod settings;

pub use backend::{
    BackendHealth, Health, HealthCounters, HealthDetail, HealthOverride, PassiveFailure,
    ProbeResult,
};
pub use event::{HealthEvent, HealthReason};
pub use settings::{HealthCheck, HealthSettings, PassiveSettings, ProbeKind};
