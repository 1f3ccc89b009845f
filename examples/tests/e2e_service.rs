//! Running as a service: the systemd unit verifies for each binary (with
//! the man pages the binaries print, which it names), and lb-rp started
//! as nobody with only CAP_NET_ADMIN and CAP_NET_RAW opens its ports and
//! forwards.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const UNIT: &str = include_str!("../../dist/systemd/lb@.service");
const BINARIES: [(&str, &str); 3] = [
    ("lb-rp", env!("CARGO_BIN_EXE_lb-rp")),
    ("lb-dsr", env!("CARGO_BIN_EXE_lb-dsr")),
    ("lb-proxy", env!("CARGO_BIN_EXE_lb-proxy")),
];

/// True when `tool` runs here; in CI it must (install-deps installs it).
fn present(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "{tool} is missing in CI"
    );
    if !found {
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

#[test]
fn the_unit_verifies_for_each_binary_with_its_man_page() -> anyhow::Result<()> {
    if !present("systemd-analyze") || !present("man") {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("lb-units-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("man1"))?;
    for (name, binary) in BINARIES {
        let page = Command::new(binary).arg("--man").output()?;
        assert!(
            page.status.success() && page.stdout.starts_with(b".ie"),
            "{name} --man"
        );
        std::fs::write(dir.join(format!("man1/{name}.1")), &page.stdout)?;
        // The unit as installed, but for where the binary and its flags are.
        let bin_dir = Path::new(binary).parent().unwrap().display().to_string();
        let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/systemd");
        let env = env.canonicalize()?.display().to_string();
        let unit = UNIT
            .replace("/usr/local/bin/", &format!("{bin_dir}/"))
            .replace("/etc/lb/", &format!("{env}/"));
        let path = dir.join(format!("lb@{name}.service"));
        std::fs::write(&path, unit)?;
        let verified = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .env("MANPATH", &dir)
            .output()?;
        let said = String::from_utf8_lossy(&verified.stderr);
        assert!(verified.status.success(), "{name}: {said}");
        assert!(said.trim().is_empty(), "{name}: {said}");
        let completions = Command::new(binary)
            .args(["--completions", "bash"])
            .output()?;
        let script = String::from_utf8_lossy(&completions.stdout);
        assert!(
            script.contains(&format!("complete -F _{}", name.replace('-', "__"))),
            "{script}"
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `setpriv`'s flags for `nobody` with the two capabilities as ambient
/// ones, as the unit gives them.
const AS_NOBODY: &str = "setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all,+net_admin,+net_raw --ambient-caps=-all,+net_admin,+net_raw \
    --bounding-set=-all,+net_admin,+net_raw";

/// On packet sockets (CAP_NET_RAW).
#[test]
fn lb_rp_on_pnet_forwards_with_only_two_capabilities() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let setpriv: Vec<&str> = AS_NOBODY.split_whitespace().collect();
    let (net, lb) = common::web::start_wrapped(&mut lab, DatapathKind::Pnet, &setpriv, &[])?;
    serves_with_only_two_capabilities(&lab, &net, lb)
}

/// On taps (CAP_NET_ADMIN), with `/dev/net/tun` open to everyone as most
/// distributions ship it: this host's is 0600, so a mode-0666 node of the
/// same device is mounted over it, in a mount namespace of lb-rp's own.
#[test]
fn lb_rp_on_taps_forwards_with_only_two_capabilities() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let node = lab.path("tun");
    let script = format!(
        "mknod -m 666 {node} c 10 200 && mount --bind {node} /dev/net/tun && exec {AS_NOBODY} \"$@\"",
        node = node.display()
    );
    let wrapper = ["unshare", "-m", "sh", "-c", &script, "sh"];
    let (net, lb) = common::web::start_wrapped(&mut lab, DatapathKind::Tap, &wrapper, &[])?;
    let served = serves_with_only_two_capabilities(&lab, &net, lb);
    let _ = std::fs::remove_file(&node);
    served
}

/// Checks `lb`'s user and capabilities, then sends requests through it.
fn serves_with_only_two_capabilities(
    lab: &Lab,
    net: &RoutedNetwork,
    lb: LoadBalancer,
) -> anyhow::Result<()> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", lb.pid()))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
    assert_eq!(field("CapEff:"), "0000000000003000", "{status}");
    assert_eq!(field("CapBnd:"), "0000000000003000", "{status}");
    assert!(field("Uid:").starts_with("65534"), "{status}");
    common::web::requests(lab, net, 6)?;
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    Ok(())
}
