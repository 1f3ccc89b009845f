//! One number for how an engine picks backends: instances behind ECMP
//! that show the same one pick alike.

use std::hash::Hasher;

use lb_algos::SelectorConfig;
use siphasher::sip::SipHasher13;

use crate::ServiceStats;

/// A fixed key: the fingerprint must come out the same in every process
/// and every build.
const KEY: [u8; 16] = *b"lb-fingerprint\0\0";

/// Hashes what decides each new flow's pick: the selection key and seed,
/// and each service (by name) with its policy, table size and backends
/// (by name, with their weights). The order services and backends were
/// added in, and health, are left out: instances that were configured
/// alike in another order agree, and health differs between them only
/// for a moment. 16 hex digits.
pub(crate) fn selection_fingerprint(
    selector: &SelectorConfig,
    services: &[ServiceStats],
) -> String {
    let mut hasher = SipHasher13::new_with_key(&KEY);
    hasher.write(&selector.hash_key.0);
    hasher.write_u64(selector.seed);
    let mut services: Vec<&ServiceStats> = services.iter().collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for service in services {
        write_str(&mut hasher, &service.name);
        write_str(&mut hasher, service.policy.name());
        hasher.write_u64(service.maglev_table_size.unwrap_or(0));
        let mut backends: Vec<(&str, u32)> = service
            .backends
            .iter()
            .map(|b| (b.name.as_str(), b.weight))
            .collect();
        backends.sort_unstable();
        hasher.write_usize(backends.len());
        for (name, weight) in backends {
            write_str(&mut hasher, name);
            hasher.write_u32(weight);
        }
    }
    format!("{:016x}", hasher.finish())
}

/// Writes `text` with its length first, so that no two lists of strings
/// hash alike by running together.
fn write_str(hasher: &mut SipHasher13, text: &str) {
    hasher.write_usize(text.len());
    hasher.write(text.as_bytes());
}
