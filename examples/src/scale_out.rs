//! `--instance NAME`: one of several load balancers behind ECMP, which
//! must pick alike without talking to each other.

use lb_engine::{HealthSettings, Policy, SelectionSettings, SharedBackend};

/// `--instance`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstanceArgs {
    /// Run as instance NAME of several behind ECMP routes: say what would
    /// make this one pick otherwise than its peers (no shared hash key, a
    /// policy that is not a hash), and keep a client's retried SYN on its
    /// pick (sent elsewhere, its later packets would reach instances that
    /// send them to the pick).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

impl InstanceArgs {
    /// Checks a configuration for running behind ECMP, as `--instance`
    /// says, and adjusts its health settings ([`adjust`](Self::adjust));
    /// says so, and what it warns of, in the log. `key_hint` names where
    /// the hash key is set; `policies` are the services' names and
    /// policies.
    pub fn prepare(
        &self,
        selection: &SelectionSettings,
        key_hint: &str,
        policies: impl IntoIterator<Item = (String, Policy)>,
        health: &mut HealthSettings,
    ) {
        let Some(name) = &self.instance else { return };
        tracing::info!("instance {name}: one of several behind ECMP, picking as its peers do");
        if selection.hash_key.is_none() {
            tracing::warn!(
                "no hash key: instances agree on the built-in one, but anyone can \
                     predict their picks; give every instance the same {key_hint}"
            );
        }
        self.warn_policies(policies);
        if self.adjust(health) {
            tracing::info!(
                "a client's retried SYN stays on its pick (passive retry_elsewhere off): \
                 the other instances would not follow it"
            );
        }
    }

    /// Turns passive retries elsewhere off behind ECMP (a retry sent to
    /// another backend would leave the flow's later packets to instances
    /// that send them to its pick); true when that changed anything.
    pub fn adjust(&self, health: &mut HealthSettings) -> bool {
        let changed = self.instance.is_some() && health.passive.retry_elsewhere;
        if changed {
            health.passive.retry_elsewhere = false;
        }
        changed
    }

    /// Warns of services whose policy picks differently on each instance.
    pub fn warn_policies(&self, policies: impl IntoIterator<Item = (String, Policy)>) {
        if self.instance.is_none() {
            return;
        }
        for (service, policy) in policies {
            if matches!(policy, Policy::Random | Policy::RoundRobin) {
                tracing::warn!(
                    "service {service} picks by {policy}, which differs from \
                         instance to instance: a flow that moves to another one changes \
                         backend; use maglev, flow-hash or src-ip-hash"
                );
            }
        }
    }
}

/// Warns of backend endpoints several services share: a reply from one
/// without a session (another instance forwarded the request, or the
/// table was full) cannot be translated back.
pub fn warn_shared(shared: &[SharedBackend]) {
    for backend in shared {
        let vips: Vec<String> = backend.vips.iter().map(ToString::to_string).collect();
        tracing::warn!(
            "backend {}/{} serves {}: its replies are translated only by the \
                 instance that forwarded the request; behind ECMP, route them back to it",
            backend.backend,
            backend.proto,
            vips.join(" and ")
        );
    }
}
