//! The README's demo command, run as a newcomer would.

mod common;

use std::process::Command;

#[test]
fn demo_runs_and_cleans_up() {
    if common::lab().is_none() {
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_lb-demo"))
        .args(["--requests", "60"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for n in 1..=3 {
        assert!(stdout.contains(&format!("web{n}")), "{stdout}");
    }
    assert!(stdout.contains("60 new flows"), "{stdout}");
    // Frames to a port not up yet are counted apart: no send errors.
    assert!(stdout.contains(", 0 send errors"), "{stdout}");
    assert!(
        stdout.contains("Removing the namespaces. Done."),
        "{stdout}"
    );
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&namespaces.stdout).contains("-web1"),
        "namespaces left behind"
    );
}
