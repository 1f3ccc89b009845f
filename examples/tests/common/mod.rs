//! What every end-to-end test does first.

#![allow(dead_code, unreachable_pub)]

pub mod failover;
pub mod web;

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

/// `net`'s backends as a TOML list, `{ ip = "..." }, ...`: for files
/// written by hand, so that an older binary (`LB_RP=...`) reads them too.
pub fn backend_list(net: &RoutedNetwork) -> String {
    let backends: Vec<String> = net
        .backends
        .iter()
        .map(|host| format!("{{ ip = \"{}\" }}", host.addr))
        .collect();
    backends.join(", ")
}

/// The MAC of the router's side of `net`'s back link: where a spoofing
/// client's frames go to reach the VIP, as `lb-flood --dst-mac` wants it.
pub fn router_mac(lab: &Lab, net: &RoutedNetwork) -> anyhow::Result<String> {
    let path = format!("/sys/class/net/{}/address", net.back.peer_if);
    Ok(lab.exec(&net.router, &["cat", &path])?.trim().to_owned())
}
