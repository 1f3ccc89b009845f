//! The results as a Markdown table, with ratios to the first way, (a) the
//! bare bridge, and to the last, (d) the kernel (other ways when `--only`
//! leaves them out: the table says which).

use crate::FLOWS;
use crate::measure::Figures;

/// Prints `results`, the bridge first and the kernel last.
pub(crate) fn print_table(results: &[(&'static str, Figures)]) {
    let (Some((first, bridge)), Some((last, kernel))) = (results.first(), results.last()) else {
        return;
    };
    println!(
        "64-byte UDP over {FLOWS} flows, generator at full speed; TCP: iperf3; latency: 1000 pings"
    );
    println!("vs (a): against {first}; vs (d): against {last}");
    println!(
        "| way | offered kpps | delivered kpps | vs (a) | vs (d) | CPU busy | worker CPU | TCP Gbit/s | TCP vs (d) | p50 ms | p50 vs (d) | p99 ms | worker CPU, pings |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let ratio = |ours: f64, reference: f64| ours / reference.max(1e-9);
    let cpu = |share: Option<f64>| share.map_or("kernel".to_owned(), |c| format!("{c:.0}%"));
    for (name, f) in results {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0}% | {} | {:.2} | {:.2} | {:.3} | {:.1} | {:.3} | {} |",
            f.offered_pps / 1e3,
            f.delivered_pps / 1e3,
            ratio(f.delivered_pps, bridge.delivered_pps),
            ratio(f.delivered_pps, kernel.delivered_pps),
            f.cpu_busy,
            cpu(f.worker_cpu),
            f.tcp_gbps,
            ratio(f.tcp_gbps, kernel.tcp_gbps),
            f.p50_ms,
            ratio(f.p50_ms, kernel.p50_ms),
            f.p99_ms,
            cpu(f.ping_cpu),
        );
    }
}
