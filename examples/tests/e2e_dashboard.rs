//! The dashboard at `/` of lb-rp's admin address, in a real browser:
//! headless Chromium in the load balancer's namespace loads it while
//! clients use the service, waits six seconds of real time, and hands
//! over the page as rendered (DOM) and a screenshot, saved as
//! `target/dashboard.png`. And `lbctl top` beside it, with live rates.

mod common;

use std::path::PathBuf;

use common::web::{ADMIN_PORT, VIP};
use common::*;

const CDP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/cdp.py");

/// The number in the element `id="ID"` of `dom` (`1.2k` is 1200).
fn number_in(dom: &str, id: &str) -> f64 {
    let marker = format!("id=\"{id}\">");
    let Some(start) = dom.find(&marker) else {
        return f64::NAN;
    };
    let text = &dom[start + marker.len()..];
    let text = &text[..text.find('<').unwrap_or(text.len())];
    let (digits, scale) = match text.strip_suffix('k') {
        Some(digits) => (digits, 1e3),
        None => (
            text.strip_suffix('M').map_or(text, |d| d),
            if text.ends_with('M') { 1e6 } else { 1.0 },
        ),
    };
    digits.parse::<f64>().map_or(f64::NAN, |n| n * scale)
}

/// The rates of the table row whose `attribute` is `value`, in order.
fn row_rates(dom: &str, attribute: &str, value: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"{value}\"");
    let Some(start) = dom.find(&marker) else {
        return Vec::new();
    };
    let row = &dom[start..];
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    row.split("data-rate=\"")
        .skip(1)
        .filter_map(|cell| Some(cell.split_once('>')?.1.split('<').next()?.to_owned()))
        .collect()
}

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("dashboard.png")
}

#[test]
fn the_dashboard_shows_services_and_live_rates_in_a_browser() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (net, lb) = common::web::start(&mut lab, DatapathKind::Tap, &[])?;
    // Clients for about ten seconds: web requests and pings.
    let requests = format!(
        "for i in $(seq 1 200); do curl -s -m 1 -o /dev/null http://{VIP}/id; sleep 0.03; done"
    );
    lab.spawn(&net.client, &["sh", "-c", &requests])?;
    lab.spawn(
        &net.client,
        &["ping", "-q", "-c", "200", "-i", "0.05", &VIP.to_string()],
    )?;
    // `lbctl top` beside it: two views a second apart, the second with rates.
    let admin = ADMIN_PORT.to_string();
    let top = ["--admin", &admin, "top", "--interval", "1", "--count", "2"];
    let mut command = vec![env!("CARGO_BIN_EXE_lbctl")];
    command.extend(top);
    let top = lab.exec(&net.lb_ns, &command)?;
    let shot = screenshot_path();
    let url = format!("http://127.0.0.1:{ADMIN_PORT}/");
    let dom = lab.exec(
        &net.lb_ns,
        &["python3", CDP, &url, "6", &shot.to_string_lossy()],
    )?;
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");

    assert!(dom.contains("reverse proxy"), "{dom}");
    assert!(dom.contains("web (172.16.0.100:80/tcp)"), "{dom}");
    assert!(dom.contains("data-service=\"172.16.0.100/icmp\""), "{dom}");
    for backend in &net.backends {
        assert!(
            dom.contains(&format!("data-backend=\"{}:80\"", backend.addr)),
            "{dom}"
        );
    }
    assert!(dom.contains("class=\"badge active\""), "{dom}");
    assert!(
        dom.contains("<span id=\"status\" class=\"dim\">live, "),
        "{dom}"
    );
    let frames = number_in(&dom, "packets-rate");
    assert!(frames > 0.0, "frames in /s {frames}: {dom}");
    // The web service's packets and new flows, each a second, above zero.
    let rates = row_rates(&dom, "data-service", "172.16.0.100:80/tcp");
    assert_eq!(rates.len(), 2, "{dom}");
    assert!(
        rates
            .iter()
            .all(|rate| rate.parse::<f64>().is_ok_and(|r| r > 0.0)),
        "{rates:?}"
    );
    // Two samples a second apart at least: the charts have lines.
    assert!(dom.contains("<polyline points=\""), "{dom}");
    // Each view begins with its `lb ENGINE ...` line.
    let views: Vec<&str> = top.split("lb ").skip(1).collect();
    let [first, second] = views[..] else {
        panic!("{top}")
    };
    let web_row = |view: &str| {
        let row = view
            .lines()
            .find(|l| l.starts_with("web "))
            .unwrap_or_else(|| panic!("{top}"));
        row.split_whitespace()
            .rev()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(web_row(first), ["-", "-"], "{top}");
    let rates = web_row(second);
    assert!(
        rates
            .iter()
            .all(|r| r.parse::<f64>().is_ok_and(|r| r > 0.0)),
        "{top}"
    );
    let png = std::fs::read(&shot)?;
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    eprintln!("the dashboard's screenshot: {}", shot.display());
    Ok(())
}
