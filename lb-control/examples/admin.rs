//! The admin API in an embedder's own program: a reverse proxy, its admin
//! endpoint on a loopback port, and a stand-in packet loop that applies
//! the endpoint's commands between (here, imaginary) batches. The example
//! then calls the API the way `lbctl` or `curl` would: lists the services,
//! adds a backend, drains another, and reads one Prometheus metric.
//!
//! Run with `cargo run -p lb-control --example admin`.

// An example talks on standard output.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lb_control::api::{BackendAdded, ServiceStats, WeightSet};
use lb_engine::{ReverseProxy, ReverseProxyConfig, ServiceConfig};

use std::net::Ipv4Addr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config =
        ReverseProxyConfig::with_services([ServiceConfig::tcp(Ipv4Addr::new(10, 0, 0, 1), 80)
            .backend(Ipv4Addr::new(192, 168, 1, 2), 1)
            .backend(Ipv4Addr::new(192, 168, 1, 3), 1)]);
    let mut engine = ReverseProxy::new(vec![None], &config)?;
    let (commands, addr) = lb_control::start::<ReverseProxy>("127.0.0.1:0".parse()?)?;
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::clone(&stop);
    // The packet loop: lb_engine::run_with calls apply between batches.
    let packet_thread = std::thread::spawn(move || {
        while !running.load(Ordering::Relaxed) {
            commands.apply(&mut engine);
            std::thread::sleep(Duration::from_millis(1));
        }
    });

    let base = format!("http://{addr}");
    let agent = ureq::Agent::new_with_defaults();
    let added: BackendAdded = agent
        .post(format!("{base}/services/10.0.0.1/tcp/80/backends"))
        .send_json(serde_json::json!({ "ip": "192.168.1.4", "weight": 3 }))?
        .body_mut()
        .read_json()?;
    println!("added {} with weight {}", added.added, added.weight);
    let drained: WeightSet = agent
        .post(format!(
            "{base}/services/10.0.0.1/tcp/80/backends/192.168.1.2/drain"
        ))
        .send_empty()?
        .body_mut()
        .read_json()?;
    println!("{} now has weight {}", drained.backend, drained.weight);
    let services: Vec<ServiceStats> = agent
        .get(format!("{base}/services"))
        .call()?
        .body_mut()
        .read_json()?;
    for service in &services {
        println!("service {} ({})", service.name, service.policy);
        for backend in &service.backends {
            println!(
                "  {} weight {} {}",
                backend.name,
                backend.weight,
                backend.state.name()
            );
        }
    }
    let metrics = agent
        .get(format!("{base}/stats/prometheus"))
        .call()?
        .body_mut()
        .read_to_string()?;
    let weights = metrics
        .lines()
        .filter(|l| l.starts_with("lb_backend_weight"));
    for line in weights {
        println!("{line}");
    }

    stop.store(true, Ordering::Relaxed);
    packet_thread
        .join()
        .map_err(|_| "the packet loop panicked")?;
    Ok(())
}
