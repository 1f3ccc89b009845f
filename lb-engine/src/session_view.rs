//! Listing live sessions for people and scripts.

use std::net::IpAddr;

use lb_session::{SessionInfo, SessionState};
use serde::{Deserialize, Serialize};

/// A live session as an admin listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The service it belongs to.
    pub service: String,
    /// The backend (or destination) it goes to.
    pub backend: String,
    /// The flow as its first packet had it.
    pub forward: String,
    /// The flow its replies carry.
    pub reverse: String,
    /// Protocol state.
    pub state: SessionState,
    /// Seen both ways (never evicted for room).
    pub assured: bool,
    /// Milliseconds before it expires unless refreshed.
    pub expires_in_ms: u64,
}

/// Which sessions a listing shows; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this service (as stats name it).
    pub service: Option<String>,
    /// Only this backend (as stats name it).
    pub backend: Option<String>,
    /// Only flows from this client address.
    pub client: Option<IpAddr>,
}

impl SessionFilter {
    /// A view of `session` under `service` and `backend`, if it matches.
    pub(crate) fn view<V>(
        &self,
        session: &SessionInfo<'_, V>,
        service: String,
        backend: String,
    ) -> Option<SessionView> {
        let wanted =
            |filter: &Option<String>, value: &String| filter.as_ref().is_none_or(|f| f == value);
        if !wanted(&self.service, &service)
            || !wanted(&self.backend, &backend)
            || self
                .client
                .is_some_and(|client| client != session.forward.src)
        {
            return None;
        }
        Some(SessionView {
            service,
            backend,
            forward: session.forward.to_string(),
            reverse: session.reverse.to_string(),
            state: session.state,
            assured: session.assured,
            expires_in_ms: u64::try_from(session.expires_in.as_millis()).unwrap_or(u64::MAX),
        })
    }
}
