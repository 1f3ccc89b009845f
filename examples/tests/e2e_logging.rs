//! lb-rp's log as an operator reads it: JSON lines that parse, with the
//! events that matter (ready, an API change, the exit summary) and, at
//! `trace` level, every frame with what became of it, until `lbctl log
//! set info` turns the trace off at run time; then text at
//! `warn` level, which says only what went wrong: a capture that reached
//! its limit.

mod common;

use common::web::{ADMIN_PORT, VIP};
use common::*;
use serde_json::Value;

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");

#[test]
fn json_lines_with_events_and_traced_frames() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let flags = ["--log-format", "json", "--log-level", "trace"];
    let (net, lb) = common::web::start(&mut lab, DatapathKind::Tap, &flags)?;
    common::web::requests(&lab, &net, 4)?;
    let admin = ADMIN_PORT.to_string();
    let backend = format!("{}:80", net.backends[0].addr);
    lab.exec(
        &net.lb_ns,
        &[
            LBCTL,
            "--admin",
            &admin,
            "backend",
            "set",
            &format!("{VIP}:80/tcp"),
            &backend,
            "--weight",
            "3",
        ],
    )?;
    // The trace turned off at run time (Polycube's loglevel): the next
    // flows are not traced.
    let lbctl = |args: &[&str]| {
        let mut command = vec![LBCTL, "--admin", &admin];
        command.extend(args);
        lab.exec(&net.lb_ns, &command)
    };
    lbctl(&["log", "set", "info"])?;
    assert_eq!(lbctl(&["log", "show"])?.trim(), "log level info");
    common::web::requests(&lab, &net, 2)?;
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");

    let events: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for event in &events {
        assert_eq!(event["program"], "lb-rp", "{event}");
        assert!(
            event["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{event}"
        );
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                .contains(&event["level"].as_str().unwrap_or(""))
        );
    }
    let said = |needle: &str| {
        events
            .iter()
            .find(|e| e["message"].as_str().is_some_and(|m| m.contains(needle)))
    };
    assert!(said("ready: 2 ports on tap").is_some(), "{log}");
    let change =
        said(&format!("/backends/{backend}")).unwrap_or_else(|| panic!("no API change: {log}"));
    assert_eq!(
        (&change["level"], &change["method"], &change["status"]),
        (&"INFO".into(), &"PUT".into(), &200.into()),
        "{change}"
    );
    // What was asked for, in the message.
    let asked = format!("backends/{backend} {{\"weight\":3}}: 200");
    assert!(
        change["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(&asked)),
        "{change}"
    );
    assert!(
        said("service 172.16.0.100:80/tcp (maglev): 6 new flows").is_some(),
        "{log}"
    );
    let quieted = events
        .iter()
        .position(|e| e["message"] == "admin PUT /log {\"level\":\"info\"}: 200")
        .unwrap_or_else(|| panic!("{log}"));
    let traced_after = events[quieted..]
        .iter()
        .filter(|e| e["level"] == "TRACE" || e["level"] == "DEBUG")
        .count();
    assert_eq!(traced_after, 0, "{log}");
    // Each frame of the flows: the SYN to the VIP forwarded to a backend.
    let frames: Vec<&str> = events
        .iter()
        .filter(|e| e["target"] == "lb_engine::frames")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        frames.iter().any(|m| m.starts_with("port 0: ")
            && m.contains("tcp 10.0.0.2:")
            && m.contains(&format!("-> {VIP}:80"))
            && m.contains("forwarded out of port 1 as tcp 10.0.0.2:")),
        "{frames:#?}"
    );
    assert!(
        frames
            .iter()
            .any(|m| m.starts_with("port 1: ") && m.contains("forwarded out of port 0")),
        "{frames:#?}"
    );
    Ok(())
}

/// At `warn` level nothing is said while all is well; a capture that
/// reaches its limit (`--capture-limit`) is, once, and stays readable.
#[test]
fn text_at_warn_level_says_only_what_went_wrong() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let pcapng = lab.path("capped.pcapng");
    let file = pcapng.to_string_lossy().into_owned();
    let flags = [
        "--log-level",
        "warn",
        "--capture",
        &file,
        "--capture-limit",
        "20K",
    ];
    let (net, lb) = common::web::start(&mut lab, DatapathKind::Pnet, &flags)?;
    common::web::requests(&lab, &net, 2)?;
    // 30 KB of pings and their replies, well past the limit.
    let ping = lab.exec(
        &net.client,
        &[
            "ping",
            "-c",
            "15",
            "-i",
            "0.05",
            "-s",
            "1000",
            &VIP.to_string(),
        ],
    )?;
    assert!(ping.contains(" 15 received"), "{ping}");
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .iter()
            .all(|line| line.contains(" WARN lb-rp: ") || line.contains(" ERROR lb-rp: ")),
        "{log}"
    );
    let stopped: Vec<&&str> = lines
        .iter()
        .filter(|line| line.contains("capture"))
        .collect();
    assert_eq!(stopped.len(), 1, "{log}");
    assert!(
        stopped[0].contains(&format!("ERROR lb-rp: capture {file} stopped, traffic goes on: it reached its limit of 20480 bytes")),
        "{log}"
    );
    let size = std::fs::metadata(&pcapng)?.len();
    assert!((20_480..20_480 + 1_200).contains(&size), "{size} bytes");
    let read = lab.exec(&net.lb_ns, &["tcpdump", "-r", &file, "-nn"])?;
    assert!(read.lines().count() > 10, "{read}");
    Ok(())
}
