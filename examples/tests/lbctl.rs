//! lbctl against an admin endpoint served by a stand-in packet thread.

#[path = "../../lb-control/tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn lbctl(lb: &Harness, args: &[&str]) -> (bool, String, String) {
    let addr = lb.addr.to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .arg("--admin")
        .arg(&addr)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn lbctl_reads_like_polycubectl() {
    let lb = Harness::start(reverse_proxy());
    let (ok, out, err) = lbctl(
        &lb,
        &[
            "backend",
            "add",
            "10.0.0.1:80/tcp",
            "192.168.1.3:8080",
            "--weight",
            "10",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("added \"192.168.1.3:8080\" with weight 10"),
        "{out}"
    );
    let (ok, out, _) = lbctl(
        &lb,
        &[
            "service",
            "add",
            "10.0.0.2:53/udp",
            "--backend",
            "192.168.1.9:5353@4",
        ],
    );
    assert!(ok && out.contains("10.0.0.2:53/udp"), "{out}");
    let (ok, out, _) = lbctl(&lb, &["service", "list"]);
    assert!(ok);
    let line = out
        .lines()
        .find(|l| l.contains("192.168.1.3:8080"))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&words[1..3], ["weight", "10"], "{out}");
    assert!(out.contains("10.0.0.1:80/tcp"), "{out}");
    let (ok, out, _) = lbctl(&lb, &["--json", "backend", "list", "10.0.0.2:53/udp"]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["backends"][0]["weight"], 4);
    assert!(
        lbctl(
            &lb,
            &["backend", "drain", "10.0.0.1:80/tcp", "192.168.1.3:8080"]
        )
        .0
    );
    assert!(
        lbctl(
            &lb,
            &[
                "backend",
                "set",
                "10.0.0.1:80/tcp",
                "192.168.1.3:8080",
                "--weight",
                "2"
            ]
        )
        .0
    );
    // Health: forced down, shown in its column with why; then auto again.
    let (ok, out, err) = lbctl(
        &lb,
        &[
            "backend",
            "health",
            "10.0.0.1:80/tcp",
            "192.168.1.3:8080",
            "down",
        ],
    );
    assert!(
        ok && out.contains("192.168.1.3:8080 forced down"),
        "{out}{err}"
    );
    let (_, out, _) = lbctl(&lb, &["backend", "list", "10.0.0.1:80/tcp"]);
    let line = out
        .lines()
        .find(|l| l.contains("192.168.1.3:8080"))
        .unwrap_or_default();
    assert!(
        line.contains("health down") && line.ends_with("forced down"),
        "{out}"
    );
    let (ok, _, err) = lbctl(
        &lb,
        &[
            "backend",
            "health",
            "10.0.0.1:80/tcp",
            "192.168.1.3:8080",
            "sideways",
        ],
    );
    assert!(!ok && err.contains("expected up, down or auto"), "{err}");
    assert!(
        lbctl(
            &lb,
            &[
                "backend",
                "health",
                "10.0.0.1:80/tcp",
                "192.168.1.3:8080",
                "auto"
            ]
        )
        .0
    );
    assert!(
        lbctl(
            &lb,
            &["backend", "del", "10.0.0.1:80/tcp", "192.168.1.3:8080"]
        )
        .0
    );
    let (ok, _, err) = lbctl(
        &lb,
        &["backend", "del", "10.0.0.9:80/tcp", "192.168.1.3:8080"],
    );
    assert!(
        !ok && err.contains("no service 10.0.0.9:80/tcp (HTTP 404)"),
        "{err}"
    );
    let (ok, out, _) = lbctl(&lb, &["stats", "--prometheus"]);
    assert!(ok && out.contains("lb_frames_received_total"), "{out}");
    assert!(
        lbctl(&lb, &["stats"])
            .1
            .contains("engine      reverse_proxy")
    );
    assert!(lbctl(&lb, &["ready"]).0);
    let unreachable = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(["--admin", "127.0.0.1:1", "ready"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the admin endpoint")
    );
}

#[test]
fn lbctl_sets_shows_and_removes_the_source_ip_rewrite() {
    let lb = Harness::start(reverse_proxy());
    let (ok, out, err) = lbctl(&lb, &["src-ip-rewrite", "show"]);
    assert!(ok, "{err}");
    assert_eq!(out, "no source-IP rewrite\n");
    let set = [
        "src-ip-rewrite",
        "set",
        "--ip-range",
        "10.1.0.0/24",
        "--new-ip-range",
        "20.0.0.0/24",
    ];
    let (ok, out, err) = lbctl(&lb, &set);
    assert!(ok, "{err}");
    assert_eq!(out, "10.1.0.0/24 -> 20.0.0.0/24\n");
    let (ok, out, _) = lbctl(&lb, &["--json", "src-ip-rewrite", "show"]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert!(ok);
    assert_eq!(shown["src_ip_rewrite"]["ip_range"], "10.1.0.0/24");
    let (ok, out, _) = lbctl(&lb, &["config", "show"]);
    assert!(ok && out.contains("[src_ip_rewrite]"), "{out}");
    // In a VIP's way: refused with the engine's reason, nothing changed.
    let (ok, _, err) = lbctl(
        &lb,
        &[
            "src-ip-rewrite",
            "set",
            "--ip-range",
            "10.0.0.0/24",
            "--new-ip-range",
            "20.0.0.0/24",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("VIP 10.0.0.1 is in 10.0.0.0/24, a range of rewritten client addresses"),
        "{err}"
    );
    let (_, out, _) = lbctl(&lb, &["src-ip-rewrite", "show"]);
    assert_eq!(out, "10.1.0.0/24 -> 20.0.0.0/24\n");
    let (ok, _, err) = lbctl(&lb, &["src-ip-rewrite", "set", "--ip-range", "10.1.0.0"]);
    assert!(!ok && err.contains("IP/PREFIX"), "{err}");
    let (ok, out, _) = lbctl(&lb, &["src-ip-rewrite", "del"]);
    assert!(ok);
    assert_eq!(out, "no source-IP rewrite\n");
}

#[test]
fn lbctl_names_services_and_backends() {
    let lb = Harness::start(reverse_proxy());
    let (ok, _, err) = lbctl(
        &lb,
        &[
            "service",
            "add",
            "10.0.0.7:80/tcp",
            "--name",
            "web",
            "--backend",
            "192.168.1.4:8080",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = lbctl(
        &lb,
        &[
            "backend",
            "add",
            "10.0.0.7:80/tcp",
            "192.168.1.5:8080",
            "--name",
            "B2",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = lbctl(&lb, &["service", "list"]);
    assert!(ok);
    assert!(out.contains("10.0.0.7:80/tcp (web)"), "{out}");
    assert!(out.contains("192.168.1.5:8080 (B2)"), "{out}");
    let (ok, out, _) = lbctl(&lb, &["stats", "--prometheus"]);
    assert!(ok && out.contains("service_name=\"web\""), "{out}");
    let (ok, _, err) = lbctl(&lb, &["backend", "add", "02:00:00:00:00:01", "--name", "x"]);
    assert!(
        !ok && err.contains("--name is for backends of lb-rp's services"),
        "{err}"
    );
}

#[test]
fn lbctl_changes_an_all_service_as_one() {
    let lb = Harness::start(reverse_proxy());
    let (ok, out, err) = lbctl(
        &lb,
        &[
            "service",
            "add",
            "10.0.0.9:180/all",
            "--backend",
            "192.168.1.5:80",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("10.0.0.9:180/tcp, 10.0.0.9:180/udp, 10.0.0.9/icmp"),
        "{out}"
    );
    let (ok, _, err) = lbctl(
        &lb,
        &["backend", "add", "10.0.0.9:180/all", "192.168.1.6:80"],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = lbctl(
        &lb,
        &["backend", "del", "10.0.0.9:180/all", "192.168.1.5:80"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("removed 192.168.1.5:80"), "{out}");
    let (_, out, _) = lbctl(&lb, &["service", "list"]);
    assert_eq!(out.matches("192.168.1.6").count(), 3, "{out}");
    assert!(!out.contains("192.168.1.5"), "{out}");
    let (ok, out, err) = lbctl(&lb, &["service", "del", "10.0.0.9:180/all"]);
    assert!(ok, "{err}");
    assert!(out.contains("removed 10.0.0.9:180/all"), "{out}");
}

#[test]
fn lbctl_sets_the_direct_return_frontend() {
    let lb = Harness::start(one_armed_dsr());
    let (ok, out, err) = lbctl(
        &lb,
        &[
            "frontend",
            "set",
            "--mac",
            "02:00:00:00:01:07",
            "--algorithm",
            "5-tuple",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "mac 02:00:00:00:01:07  backend port mac 02:00:00:00:01:07  algorithm flow-hash\n"
    );
    let (ok, out, _) = lbctl(&lb, &["frontend", "show"]);
    assert!(ok && out.contains("mac 02:00:00:00:01:07"), "{out}");
    let (ok, _, err) = lbctl(&lb, &["frontend", "set", "--algorithm", "fastest"]);
    assert!(!ok && err.contains("unknown policy"), "{err}");
}

/// `lbctl ... | head` ends quietly with status 0; an endpoint nobody
/// serves is one line and status 1; a mistake on the command line, 2.
#[test]
fn lbctl_exits_cleanly_on_a_closed_pipe_and_a_dead_endpoint() {
    let lb = Harness::start(reverse_proxy());
    let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(["--admin", &lb.addr.to_string(), "--json", "stats"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before lbctl writes.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = free.local_addr().unwrap().to_string();
    drop(free);
    let output = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(["--admin", &dead, "stats"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("lbctl: "), "{stderr}");
    // Mistakes, the parser's and those it cannot see: status 2, one line.
    for args in [
        &["stats", "--no-such-flag"][..],
        &["backend", "add", "10.0.0.1:80/tcp", "not-an-address"],
        &[
            "backend",
            "health",
            "10.0.0.1:80/tcp",
            "192.168.1.2",
            "sideways",
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// `lbctl top` into a pipe: views one after another, the first without
/// rates, the next with them; a zero interval refused.
#[test]
fn top_shows_views_with_rates_after_the_first() {
    let lb = Harness::start(reverse_proxy());
    let (ok, out, err) = lbctl(&lb, &["top", "--interval", "0.1", "--count", "3"]);
    assert!(ok, "{err}");
    let views: Vec<&str> = out.split("lb ").skip(1).collect();
    assert_eq!(views.len(), 3, "{out}");
    let service = |view: &str| {
        let row = view
            .lines()
            .find(|line| line.starts_with("10.0.0.1:80/tcp"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned();
        row.split_whitespace()
            .rev()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(service(views[0]), ["-", "-"], "{out}");
    assert_eq!(service(views[2]), ["0.0", "0.0"], "{out}");
    assert!(views[0].contains("SERVICE / BACKEND"), "{out}");
    let (ok, _, err) = lbctl(&lb, &["top", "--interval", "0"]);
    assert!(
        !ok && err.contains("expected seconds between 0.01 and 86400"),
        "{err}"
    );
    let (ok, _, err) = lbctl(&lb, &["--json", "top"]);
    assert!(!ok && err.contains("top shows tables"), "{err}");
}
