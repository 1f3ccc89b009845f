//! What every end-to-end test does first.

#![allow(dead_code, unreachable_pub)]

pub mod failover;

pub use lb_lab::*;

/// A lab, or `None` (after saying why) when not root. In CI (`CI` set) not
/// being root fails the test: these tests never skip there.
pub fn lab() -> Option<Lab> {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "end-to-end tests need root in CI"
        );
        eprintln!("skipped: end-to-end tests need root (network namespaces, taps)");
        return None;
    }
    Some(Lab::new().expect("a lab"))
}
