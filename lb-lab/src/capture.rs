//! tcpdump on a lab interface, and judging the checksums it saw.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure};

use crate::Lab;
use crate::process::run;

/// A running tcpdump; dropped unfinished (a test failed before it was
/// judged), it prints its last frames, which the test harness shows
/// beside the failure.
#[derive(Debug)]
pub struct Capture {
    pid: u32,
    file: PathBuf,
    finished: bool,
}

impl Lab {
    /// Starts tcpdump on `iface` in `ns`, incoming frames only, verbose
    /// enough to judge every checksum.
    pub fn capture(&mut self, ns: &str, iface: &str) -> anyhow::Result<Capture> {
        self.capture_first(ns, iface, None)
    }

    /// As [`capture`](Self::capture), stopping after `count` frames if
    /// given (a bulk transfer need not be judged whole).
    pub fn capture_first(
        &mut self,
        ns: &str,
        iface: &str,
        count: Option<usize>,
    ) -> anyhow::Result<Capture> {
        let file = self.path(&format!("capture-{iface}.txt"));
        let count = count.map_or(String::new(), |n| format!("-c {n} "));
        let script = format!(
            "exec tcpdump -i {iface} -Q in -nn -vv -l --immediate-mode {count}> {} 2>&1",
            file.display()
        );
        let pid = self.spawn(ns, &["sh", "-c", &script])?;
        for _ in 0..100 {
            if std::fs::read_to_string(&file).is_ok_and(|text| text.contains("listening on")) {
                return Ok(Capture {
                    pid,
                    file,
                    finished: false,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("tcpdump did not start on {iface} in {ns}")
    }
}

impl Capture {
    /// Stops tcpdump (if it has not stopped on its own); returns what it
    /// printed.
    pub fn finish(mut self) -> anyhow::Result<String> {
        self.finished = true;
        let _ = run("kill", &["-INT", &self.pid.to_string()]);
        for _ in 0..100 {
            let text = std::fs::read_to_string(&self.file).unwrap_or_default();
            if text.contains("packets captured") {
                return Ok(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(std::fs::read_to_string(&self.file)?)
    }
}

impl Drop for Capture {
    /// Unfinished, the test failing (a panic or an early error), prints
    /// the end of the capture beside the failure.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let _ = run("kill", &["-INT", &self.pid.to_string()]);
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(TAIL_ON_FAILURE)..];
        eprintln!(
            "the last frames of {}, the test failing:\n{}",
            self.file.display(),
            tail.join("\n")
        );
    }
}

/// Lines of a capture printed when a test fails.
const TAIL_ON_FAILURE: usize = 80;

/// Checks a verbose capture judged at least `expected` checksums, and none
/// wrong.
pub fn check_checksums(capture: &str, expected: usize) -> anyhow::Result<()> {
    let wrong: Vec<&str> = capture
        .lines()
        .filter(|l| l.contains("incorrect"))
        .collect();
    ensure!(
        wrong.is_empty(),
        "bad checksums on the wire:\n{}",
        wrong.join("\n")
    );
    let correct = capture.matches("(correct)").count();
    ensure!(
        correct >= expected,
        "only {correct} checksums judged correct:\n{capture}"
    );
    Ok(())
}
