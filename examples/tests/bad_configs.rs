//! Values that used to pass validation and then break traffic or crash
//! (issue 20, finding 6), given to the lb-rp binary: each is refused at
//! start with exit status 2 and one line naming the file and the cause.
//! Configuration is checked before any device is opened, so this needs no
//! privileges.

use std::process::Command;

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");

const SERVICE: &str = "[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\nbackend = [{ ip = \"192.168.1.2\" }]\n";

/// Runs lb-rp with `config` and `extra` flags; its exit status and stderr.
fn start(name: &str, config: &str, extra: &[&str]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("lb-bad-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let output = Command::new(RP)
        .args([
            "--frontend",
            "nosuchif0",
            "--backend",
            "nosuchif1",
            "--config",
        ])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (
        output.status.code(),
        stderr.replace(&*path.to_string_lossy(), "FILE"),
    )
}

#[test]
fn values_that_cannot_work_are_refused_with_their_cause() {
    let cases = [
        (
            "zero_timeout",
            format!("{SERVICE}[sessions]\ntimeouts = {{ tcp_established = 0 }}\n"),
            "timeout tcp_established = 0 s is outside 1 ms to one year",
        ),
        (
            "wrapping_timeout",
            format!(
                "{SERVICE}[sessions]\ntimeouts = {{ tcp_established = 18446744073709551615 }}\n"
            ),
            "timeout tcp_established = 18446744073709551615 s is outside 1 ms to one year",
        ),
        (
            "huge_table",
            format!("{SERVICE}[sessions]\ncapacity = 1073741824\n"),
            "no memory for 1073741824 sessions: give a smaller capacity",
        ),
        (
            "unspecified_backend",
            SERVICE.replace("192.168.1.2", "0.0.0.0"),
            "backend 0.0.0.0 is unspecified (0.0.0.0)",
        ),
        (
            "broadcast_vip",
            SERVICE.replace("10.0.0.1", "255.255.255.255"),
            "VIP 255.255.255.255 is the broadcast address",
        ),
        (
            "multicast_vip",
            SERVICE.replace("10.0.0.1", "224.0.0.1"),
            "VIP 224.0.0.1 is a multicast address",
        ),
        (
            "backend_is_vip",
            SERVICE.replace("192.168.1.2", "10.0.0.1"),
            "backend 10.0.0.1 is a VIP",
        ),
        (
            "table_not_prime",
            SERVICE.replace("proto", "maglev_table_size = 250\nproto"),
            "Maglev table size 250 is not prime",
        ),
        (
            "table_without_maglev",
            SERVICE.replace(
                "proto",
                "maglev_table_size = 251\npolicy = \"random\"\nproto",
            ),
            "maglev_table_size applies to the maglev policy only",
        ),
        (
            "rewrite_prefixes_differ",
            format!(
                "{SERVICE}[src_ip_rewrite]\nip_range = \"10.1.0.0/24\"\nnew_ip_range = \"20.0.0.0/16\"\n"
            ),
            "src_ip_rewrite: ip_range 10.1.0.0/24 and new_ip_range 20.0.0.0/16 need the same prefix length (/24 and /16)",
        ),
        (
            "rewrite_over_vip",
            format!(
                "{SERVICE}[src_ip_rewrite]\nip_range = \"10.0.0.0/24\"\nnew_ip_range = \"20.0.0.0/24\"\n"
            ),
            "src_ip_rewrite: VIP 10.0.0.1 is in 10.0.0.0/24, a range of rewritten client addresses",
        ),
        (
            "rewrite_over_backend",
            format!(
                "{SERVICE}[src_ip_rewrite]\nip_range = \"10.1.0.0/24\"\nnew_ip_range = \"192.168.1.0/24\"\n"
            ),
            "src_ip_rewrite: backend 192.168.1.2 is in 192.168.1.0/24, a range of rewritten client addresses",
        ),
        (
            "rewrite_ranges_overlap",
            format!(
                "{SERVICE}[src_ip_rewrite]\nip_range = \"10.1.0.0/16\"\nnew_ip_range = \"10.1.128.0/16\"\n"
            ),
            "src_ip_rewrite: ip_range 10.1.0.0/16 and new_ip_range 10.1.128.0/16 overlap",
        ),
    ];
    for (name, config, cause) in cases {
        let (status, stderr) = start(name, &config, &[]);
        assert_eq!(status, Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        assert!(
            stderr.starts_with("lb-rp: config FILE: ") && stderr.contains(cause),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_state_file_that_could_not_be_written_is_refused_at_start() {
    let (status, stderr) = start(
        "state",
        SERVICE,
        &["--state-file", "/nonexistent-dir/sessions.state"],
    );
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains("state file /nonexistent-dir/sessions.state: cannot write beside it"),
        "{stderr}"
    );
}

#[test]
fn toml_mistakes_name_their_place_and_reason_on_one_line() {
    let typo = SERVICE.replace(
        "backend = [{ ip = \"192.168.1.2\" }]",
        "\n[[service.backend]]\nip = \"192.168.1.2\"\nwieght = 3",
    );
    let (status, stderr) = start("typo", &typo, &[]);
    assert_eq!(status, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "lb-rp: config FILE: line 8, column 1: unknown field `wieght`, expected one of `ip`, `port`, `weight`, `name`\n"
    );
    let (status, stderr) = start("syntax", "[[service]\nvip = 1\n", &[]);
    refused_on_one_line(status, &stderr, "lb-rp: config FILE: line 1, column ");
}

/// Exit status 2, and one line on stderr beginning with `start`.
fn refused_on_one_line(status: Option<i32>, stderr: &str, start: &str) {
    assert_eq!(status, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(start), "{stderr}");
}

/// `--check-config FILE` loads a file as a start would, opening nothing:
/// 0 and a line saying so for a good one, 2 and the reason for a bad one.
#[test]
fn check_config_validates_without_interfaces() {
    let dir = std::env::temp_dir().join(format!("lb-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let output = Command::new(RP)
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr =
            String::from_utf8_lossy(&output.stderr).replace(&*path.to_string_lossy(), "FILE");
        (output.status.code(), stderr)
    };
    assert_eq!(
        check("good.toml", SERVICE),
        (
            Some(0),
            "lb-rp: config FILE: valid, 1 services\n".to_owned()
        )
    );
    let (status, stderr) = check("bad.toml", &SERVICE.replace("192.168.1.2", "10.0.0.1"));
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("lb-rp: config FILE: backend 10.0.0.1 is a VIP"),
        "{stderr}"
    );
    // Alone: it takes no other flag.
    let output = Command::new(RP)
        .args(["--check-config", "x.toml", "--backend", "b0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A mistake on the command line is named whole on one line.
#[test]
fn flag_mistakes_are_named_whole_on_one_line() {
    // Every required flag, then the mistake.
    let with = |mistake: &[&'static str]| [&REQUIRED[..], mistake].concat();
    for (args, expected) in [
        (
            vec!["--backend", "b0", "--config", "x.toml"],
            "lb-rp: the following required arguments were not provided: --frontend <IF[=IP]>\n",
        ),
        (
            vec!["--fronted", "f0"],
            "lb-rp: unexpected argument '--fronted' found tip: a similar argument exists: '--frontend'\n",
        ),
        (
            with(&["--log-format", "xml"]),
            "lb-rp: invalid value 'xml' for '--log-format <FORMAT>' [possible values: text, json]\n",
        ),
        (
            with(&["--log-level", "loud"]),
            "lb-rp: invalid value 'loud' for '--log-level <LEVEL>': error parsing level filter: \
             expected one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 0-5\n",
        ),
    ] {
        let output = Command::new(RP).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected);
    }
}

/// lb-rp's required flags, for interfaces that do not exist.
const REQUIRED: [&str; 6] = ["--frontend", "f0", "--backend", "b0", "--config", "x.toml"];

/// A `RUST_LOG` that does not parse stops the start, named on one line,
/// before any interface is touched.
#[test]
fn a_bad_rust_log_is_named() {
    let output = Command::new(RP)
        .args(REQUIRED)
        .env("RUST_LOG", "lb_engine=loud")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let start = "lb-rp: RUST_LOG=\"lb_engine=loud\": error parsing level filter";
    refused_on_one_line(output.status.code(), &stderr, start);
}

/// With `--log-format json`, a configuration refused at start is a JSON
/// error event like every other line.
#[test]
fn refusals_are_json_when_the_log_is() {
    let (status, stderr) = start(
        "json",
        &SERVICE.replace("192.168.1.2", "10.0.0.1"),
        &["--log-format", "json"],
    );
    refused_on_one_line(status, &stderr, "{");
    let event: serde_json::Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(
        (&event["level"], &event["program"]),
        (&"ERROR".into(), &"lb-rp".into())
    );
    let message = event["message"].as_str().unwrap();
    assert!(
        message.starts_with("config FILE: backend 10.0.0.1 is a VIP"),
        "{message}"
    );
}
