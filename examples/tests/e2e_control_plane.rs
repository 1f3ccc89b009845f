//! Changing a running lb-rp through lbctl while long-lived connections
//! stream: they keep their backends; new ones follow the new weights;
//! removing a backend ends only its connections; Prometheus counters match
//! the connections made; SIGHUP reloads the configuration file and says
//! what changed, and a broken file, one without services or one that
//! changes `[sessions]` changes nothing.

mod common;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use lb_engine::{ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
const SERVICE: &str = "172.16.0.100:9000/tcp";
const STREAMS: usize = 6;

/// Each stream's file: which backend it talks to, and how much it got.
fn stream_state(lab: &Lab, n: usize) -> (String, usize) {
    let text = std::fs::read_to_string(lab.path(&format!("stream{n}"))).unwrap_or_default();
    let ids: Vec<&str> = text.lines().collect();
    let first = ids.first().copied().unwrap_or_default().to_owned();
    assert!(
        ids.iter().all(|id| *id == first),
        "stream {n} changed backend: {text}"
    );
    (first, ids.len())
}

fn wait() {
    std::thread::sleep(Duration::from_millis(600));
}

/// Waits up to ten seconds for `ready`.
fn wait_until(mut ready: impl FnMut() -> bool) -> bool {
    (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        ready()
    })
}

#[test]
fn changes_at_runtime_keep_connections() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let net = RoutedNetwork::build(&mut lab, datapath, 3)?;
    let (b1, b2) = (net.backends[0].addr, net.backends[1].addr);
    let config = lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([ServiceConfig::tcp(VIP, 9000)
            .backend(b1, 1)
            .backend(b2, 1)]),
    )?;
    let flags = ReverseProxyFlags {
        admin: Some(9901),
        ..ReverseProxyFlags::new(datapath, &net.front, &net.back, &config)
    };
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab)?;
    // Every backend streams its name, five lines a second, on each connection.
    for (n, host) in net.backends.iter().enumerate() {
        let script = format!("SYSTEM:while echo b{}; do sleep 0.2; done", n + 1);
        lab.spawn(
            &host.ns,
            &[
                "socat",
                &format!("TCP-LISTEN:9000,bind={},reuseaddr,fork", host.addr),
                &script,
            ],
        )?;
        lab.wait_for_tcp(&host.ns, host.addr, 9000)?;
    }
    let lbctl = |lab: &Lab, args: &[&str]| -> anyhow::Result<String> {
        let mut full = vec![LBCTL, "--admin", "9901"];
        full.extend_from_slice(args);
        lab.exec(&net.lb_ns, &full)
    };

    // Long-lived connections.
    for n in 0..STREAMS {
        let file = lab
            .path(&format!("stream{n}"))
            .to_string_lossy()
            .into_owned();
        lab.spawn(
            &net.client,
            &[
                "socat",
                "-u",
                &format!("TCP:{VIP}:9000"),
                &format!("CREATE:{file}"),
            ],
        )?;
    }
    // A lost SYN is retried a second later: wait for every stream.
    let flowing = || (0..STREAMS).all(|n| stream_state(&lab, n).1 > 0);
    assert!(wait_until(flowing), "streams did not start");
    let streams: Vec<(String, usize)> = (0..STREAMS).map(|n| stream_state(&lab, n)).collect();

    // Add, re-weight, drain: every stream keeps its backend and keeps going.
    lbctl(
        &lab,
        &[
            "backend",
            "add",
            SERVICE,
            "192.168.1.4:9000",
            "--weight",
            "5",
        ],
    )?;
    lbctl(
        &lab,
        &[
            "backend",
            "set",
            SERVICE,
            "192.168.1.2:9000",
            "--weight",
            "3",
        ],
    )?;
    lbctl(&lab, &["backend", "drain", SERVICE, "192.168.1.3:9000"])?;
    let mut sizes: Vec<usize> = streams.iter().map(|s| s.1).collect();
    for _ in 0..2 {
        wait();
        for (n, size) in sizes.iter_mut().enumerate() {
            let (id, lines) = stream_state(&lab, n);
            assert_eq!(id, streams[n].0, "stream {n} moved");
            assert!(lines > *size, "stream {n} stalled at {lines} lines");
            *size = lines;
        }
    }

    // New connections follow the new weights: 3 for b1, 0 for b2, 5 for b3.
    // Each from a port of its own: a client that resets its connection
    // (head leaves unread lines behind) may reuse a port at once, and a
    // SYN on that closed session continues it instead of making a new
    // flow.
    const NEW: usize = 80;
    let first_lines = lab.exec(
        &net.client,
        &[
            "sh",
            "-c",
            &format!(
                "for i in $(seq {NEW}); do \
                 socat -u TCP:{VIP}:9000,sourceport=$((20000 + i)) - | head -n 1; done"
            ),
        ],
    )?;
    let mut met: HashMap<&str, usize> = HashMap::new();
    for id in first_lines.lines() {
        *met.entry(id).or_default() += 1;
    }
    assert_eq!(met.values().sum::<usize>(), NEW, "{met:?}");
    assert_eq!(
        met.get("b2"),
        None,
        "a drained backend got new connections: {met:?}"
    );
    assert!(met.get("b1").copied().unwrap_or(0) >= 10, "{met:?}");
    assert!(met.get("b3").copied().unwrap_or(0) >= 25, "{met:?}");

    // Prometheus: parses, and its counters are the connections made. Read
    // before removing a backend: stray segments of the connections that ends
    // may then open mid-stream sessions.
    let text = lbctl(&lab, &["stats", "--prometheus"])?;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))?;
    let counter = |metric: &str, backend: Option<&str>| -> u64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && s.labels.get("service") == Some(SERVICE))
            .filter(|s| backend.is_none_or(|b| s.labels.get("backend") == Some(b)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v as u64,
                _ => 0,
            })
            .sum()
    };
    assert_eq!(
        counter("lb_service_new_flows_total", None),
        (STREAMS + NEW) as u64
    );
    let streams_to = |id: &str| streams.iter().filter(|s| s.0 == id).count();
    assert_eq!(
        counter("lb_backend_new_flows_total", Some("192.168.1.3:9000")),
        streams_to("b2") as u64
    );
    assert_eq!(
        counter("lb_backend_new_flows_total", Some("192.168.1.4:9000")),
        met.get("b3").copied().unwrap_or(0) as u64
    );
    assert_eq!(counter("lb_backend_weight", Some("192.168.1.3:9000")), 0);

    // Removing b1 ends its connections only.
    let removed = lbctl(
        &lab,
        &["--json", "backend", "del", SERVICE, "192.168.1.2:9000"],
    )?;
    let removed: serde_json::Value = serde_json::from_str(&removed)?;
    let b1_streams = streams.iter().filter(|s| s.0 == "b1").count();
    assert!(
        removed["sessions_ended"].as_u64().unwrap_or(0) >= b1_streams as u64,
        "{removed}"
    );
    wait();
    let before: Vec<usize> = (0..STREAMS).map(|n| stream_state(&lab, n).1).collect();
    wait();
    for (n, (id, _)) in streams.iter().enumerate() {
        let grew = stream_state(&lab, n).1 > before[n];
        assert_eq!(grew, id != "b1", "stream {n} to {id}: grew {grew}");
    }

    let listed = || lbctl(&lab, &["backend", "list", SERVICE]).unwrap_or_default();
    let hup = || run("kill", &["-HUP", &lb.pid().to_string()]);
    // SIGHUP reloads the file: a broken one changes nothing; then b3 goes,
    // b2 is back at weight 2, and only b3's connections end.
    // Broken on purpose, so no config type can write it.
    std::fs::write(&config, "[[service]]\nvip = ")?;
    hup()?;
    wait();
    assert!(listed().contains("192.168.1.4:9000"), "{}", listed());
    // A file without services, and one that changes [sessions]: refused too.
    lab.write_config("rp.toml", &ReverseProxyConfig::default())?;
    hup()?;
    wait();
    assert!(listed().contains("192.168.1.4:9000"), "{}", listed());
    let mut resized =
        ReverseProxyConfig::with_services([ServiceConfig::tcp(VIP, 9000).backend(b2, 2)]);
    resized.sessions.capacity = 1024;
    lab.write_config("rp.toml", &resized)?;
    hup()?;
    wait();
    assert!(listed().contains("192.168.1.4:9000"), "{}", listed());
    lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([ServiceConfig::tcp(VIP, 9000).backend(b2, 2)]),
    )?;
    hup()?;
    assert!(
        wait_until(|| !listed().contains("192.168.1.4")),
        "reload did not remove b3: {}",
        listed()
    );
    assert!(listed().contains("192.168.1.3:9000"), "{}", listed());
    wait();
    let before: Vec<usize> = (0..STREAMS).map(|n| stream_state(&lab, n).1).collect();
    wait();
    for (n, (id, _)) in streams.iter().enumerate() {
        let grew = stream_state(&lab, n).1 > before[n];
        assert_eq!(
            grew,
            id == "b2",
            "after reload, stream {n} to {id}: grew {grew}"
        );
    }

    // `lbctl config save` writes the running configuration, a change made
    // through the API included: reloaded from it, nothing changes.
    lbctl(
        &lab,
        &[
            "backend",
            "set",
            SERVICE,
            "192.168.1.3:9000",
            "--weight",
            "3",
        ],
    )?;
    let running = lbctl(&lab, &["--json", "config", "show"])?;
    assert!(running.contains("\"weight\": 3"), "{running}");
    let saved = lab.path("saved.toml");
    lbctl(&lab, &["config", "save", &saved.to_string_lossy()])?;
    std::fs::copy(&saved, &config)?;
    hup()?;
    wait();
    assert_eq!(lbctl(&lab, &["--json", "config", "show"])?, running);

    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!("reloaded {}: no change\n", config.display())),
        "the saved configuration is the running one: {log}"
    );
    assert!(
        log.contains("reload failed, configuration unchanged"),
        "{log}"
    );
    assert!(log.contains("the file has no services"), "{log}");
    assert!(
        log.contains("[sessions] changed, which takes a restart"),
        "{log}"
    );
    // It says what changed, the API's changes it replaced included (b2
    // drained, b3 re-weighted to 5).
    assert!(
        log.contains("-172.16.0.100:9000/tcp backend 192.168.1.3:9000 weight 0")
            && log.contains("-172.16.0.100:9000/tcp backend 192.168.1.4:9000 weight 5")
            && log.contains("+172.16.0.100:9000/tcp backend 192.168.1.3:9000 weight 2"),
        "the reload says what changed: {log}"
    );
    // And which of those the API had made (b2 drained, b3 added at 10 and
    // re-weighted to 5).
    let (_, api) = log
        .split_once("the API's changes since the last load are replaced: ")
        .unwrap_or_else(|| panic!("the reload names the API's changes: {log}"));
    let api = api.lines().next().unwrap_or_default();
    for change in [
        "-172.16.0.100:9000/tcp backend 192.168.1.3:9000 weight 1",
        "+172.16.0.100:9000/tcp backend 192.168.1.3:9000 weight 0",
        "+172.16.0.100:9000/tcp backend 192.168.1.4:9000 weight 5",
    ] {
        assert!(api.contains(change), "{change} missing from {api}");
    }
    Ok(())
}
