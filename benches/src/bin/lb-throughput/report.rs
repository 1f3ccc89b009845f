//! The results as a Markdown table, with ratios to ways (a) and (d).

use crate::FLOWS;
use crate::measure::Figures;

/// Prints `results`, ways (a) to (d) in order.
pub(crate) fn print_table(results: &[(&'static str, Figures)]) {
    let bridge = results[0].1.delivered_pps.max(1.0);
    let kernel = results[3].1.delivered_pps.max(1.0);
    println!(
        "64-byte UDP over {FLOWS} flows, generator at full speed; TCP: iperf3; latency: 1000 pings"
    );
    println!(
        "| way | offered kpps | delivered kpps | vs (a) | vs (d) | CPU busy | worker CPU | TCP Gbit/s | p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, f) in results {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0}% | {} | {:.2} | {:.3} | {:.3} |",
            f.offered_pps / 1e3,
            f.delivered_pps / 1e3,
            f.delivered_pps / bridge,
            f.delivered_pps / kernel,
            f.cpu_busy,
            f.worker_cpu
                .map_or("kernel".to_owned(), |c| format!("{c:.0}%")),
            f.tcp_gbps,
            f.p50_ms,
            f.p99_ms
        );
    }
}
