//! Warnings of trouble the counters show: said at most once a second,
//! with how much happened since the last warning and in all.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lb_engine::{Observe, Stats};

/// How often the counters are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The counters as last seen.
#[derive(Debug, Default)]
pub struct Alarms {
    kernel_drops: u64,
    flood_guarded: u64,
    table_refused: u64,
    table_evicted: u64,
    /// New flows refused for want of a source port, by service.
    refused: HashMap<String, u64>,
    checked: Option<Instant>,
}

impl Alarms {
    /// Looks at `engine`'s counters, if a second has passed since the last
    /// look, and warns of each that grew.
    pub fn check<E: Observe>(&mut self, engine: &E) {
        let now = Instant::now();
        if self
            .checked
            .is_some_and(|at| now.duration_since(at) < CHECK_EVERY)
        {
            return;
        }
        self.checked = Some(now);
        let stats = engine.stats(now);
        self.check_datapath_and_table(&stats);
        for service in stats.services.iter().filter(|s| s.refused > 0) {
            let before = self.refused.insert(service.name.clone(), service.refused);
            let new = service.refused - before.unwrap_or(0).min(service.refused);
            if new > 0 {
                let named = service
                    .label
                    .as_ref()
                    .map_or(String::new(), |name| format!(" ({name})"));
                tracing::warn!(
                    service = service.name,
                    "service {}{named}: {new} new flows refused: no free source port on its \
                     source_nat address ({} in all)",
                    service.name,
                    service.refused
                );
            }
        }
    }

    fn check_datapath_and_table(&mut self, stats: &Stats) {
        let grown = |before: &mut u64, now: u64| {
            let new = now.saturating_sub(*before);
            *before = now;
            new
        };
        let total = stats.kernel_drops;
        let new = grown(&mut self.kernel_drops, total);
        if new > 0 {
            tracing::warn!(
                "the kernel dropped {new} frames before they were read ({total} in all): \
                 the packet thread does not keep up"
            );
        }
        let total = stats.traffic.flood_guarded;
        let new = grown(&mut self.flood_guarded, total);
        if new > 0 {
            tracing::warn!(
                "flood guard: {new} new flows went on without a session ({total} in all): \
                 more new flows in a second than the flood guard allows"
            );
        }
        let table = &stats.session_table;
        let capacity = stats.session_capacity;
        let refused = grown(&mut self.table_refused, table.refused);
        let evicted = grown(&mut self.table_evicted, table.evicted);
        if refused + evicted > 0 {
            tracing::warn!(
                "session table full ({capacity} sessions): {evicted} unassured sessions evicted \
                 and {refused} new flows found no room ({} and {} in all): more flows than \
                 it holds, or a flood",
                table.evicted,
                table.refused
            );
        }
    }
}
