//! A backend failure while traffic flows, measured as an operator would:
//! a client requests every 100 ms and a slow download runs to another
//! backend; a server is killed (kill -9) or its link deleted; the admin
//! API says when the load balancer noticed; the server comes back.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lb_lab::{Lab, run};
use serde_json::Value;

/// Requests in the loop, one every 100 ms.
pub const REQUESTS: usize = 100;
/// Bytes of the slow download (at 300 kB/s, about 17 s).
const DOWNLOAD_BYTES: usize = 5_000_000;

/// A backend as the test knows it.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its namespace.
    pub ns: String,
    /// Where its HTTP server binds (`0.0.0.0` for every address).
    pub bind: std::net::Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// How the admin API names it.
    pub name: String,
    /// What `/id` answers.
    pub identity: String,
    /// Its link to the network, in `link_ns`: deleting it cuts it off.
    pub link: (String, String),
}

/// What breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of its server process.
    KillServer,
    /// `ip link del` of its only link.
    DeleteLink,
}

/// The load balancer under test, and where to reach it and its servers.
#[derive(Debug)]
pub struct Setup {
    /// Its namespace, where its admin API listens on loopback.
    pub lb_ns: String,
    /// The admin API's port.
    pub admin: u16,
    /// The client's namespace.
    pub client: String,
    /// `http://VIP:PORT`, without a path.
    pub url: String,
    /// The servers, each serving `/id` and `/big`.
    pub servers: Vec<Server>,
}

/// What one failure cost.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// From the fault to the API saying down.
    pub detected: Duration,
    /// Requests of the loop that failed.
    pub failed: usize,
    /// New flows the dead backend got after it was marked down.
    pub new_flows_after: u64,
    /// From the server's restart to the API saying up (KillServer only).
    pub recovered: Option<Duration>,
}

/// The backends of a routed network as servers on `port`: `b1`, `b2`, ...
/// each cut off by deleting its link to the router's bridge.
pub fn routed_servers(lab: &Lab, net: &lb_lab::RoutedNetwork, port: u16) -> Vec<Server> {
    net.backends
        .iter()
        .enumerate()
        .map(|(n, host)| Server {
            ns: host.ns.clone(),
            bind: host.addr,
            port,
            name: format!("{}:{port}", host.addr),
            identity: format!("b{}", n + 1),
            link: (net.router.clone(), lab.name(&format!("b{}b", n + 1))),
        })
        .collect()
}

/// Starts every server: `/id` answers its identity, `/big` is the slow
/// download (its identity on the first line). Returns their pids.
pub fn start_servers(lab: &mut Lab, servers: &[Server]) -> anyhow::Result<Vec<u32>> {
    servers.iter().map(|s| start_server(lab, s)).collect()
}

fn start_server(lab: &mut Lab, server: &Server) -> anyhow::Result<u32> {
    let pid = lab.http_server(&server.ns, server.bind, server.port, &server.identity)?;
    let mut big = format!("{}\n", server.identity).into_bytes();
    big.resize(DOWNLOAD_BYTES, b'.');
    std::fs::write(
        lab.path(&format!("www-{}-{}", server.ns, server.port))
            .join("big"),
        big,
    )?;
    Ok(pid)
}

/// A backend as `/services` shows it.
fn backend(lab: &Lab, setup: &Setup, name: &str) -> anyhow::Result<Value> {
    let url = format!("http://127.0.0.1:{}/services", setup.admin);
    let text = lab.exec(&setup.lb_ns, &["curl", "-sf", "-m", "2", &url])?;
    let services: Value = serde_json::from_str(&text)?;
    services
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["backends"].as_array().cloned().unwrap_or_default())
        .find(|b| b["name"] == name)
        .with_context(|| format!("no backend {name} in {text}"))
}

/// Polls until `name`'s health is `wanted`; how long that took.
pub fn wait_health(lab: &Lab, setup: &Setup, name: &str, wanted: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if backend(lab, setup, name)?["health"] == wanted {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "{name} never became {wanted}: {}",
        backend(lab, setup, name)?
    )
}

/// Breaks one server while traffic flows; measures. `pids` are the
/// servers' processes. With `restart`, a killed server is started again
/// and the time until it is back measured.
pub fn fail_one(
    lab: &mut Lab,
    setup: &Setup,
    pids: &mut [u32],
    fault: Fault,
    restart: bool,
) -> anyhow::Result<Figures> {
    // The download first, to learn which backend serves it.
    let download = lab.path("download");
    let script = format!(
        "curl -s -m 60 --limit-rate 300k -o {} {}/big; echo $? > {}.done",
        download.display(),
        setup.url,
        download.display()
    );
    lab.spawn(&setup.client, &["sh", "-c", &script])?;
    let serving = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            let text = std::fs::read_to_string(&download).unwrap_or_default();
            let first = text
                .lines()
                .next()
                .filter(|_| text.contains('\n'))?
                .to_owned();
            setup.servers.iter().position(|s| s.identity == first)
        })
        .context("the download never started")?;
    let victim = (serving + 1) % setup.servers.len();
    let dead = &setup.servers[victim];

    // A request every 100 ms, each on its own connection.
    let codes = lab.path("codes");
    let script = format!(
        "for i in $(seq {REQUESTS}); do curl -s -o /dev/null -m 5 -w '%{{http_code}}\\n' {}/id >> {} & sleep 0.1; done; wait; echo done > {}.done",
        setup.url,
        codes.display(),
        codes.display()
    );
    lab.spawn(&setup.client, &["sh", "-c", &script])?;
    std::thread::sleep(Duration::from_millis(1000));
    let fault_at = Instant::now();
    match fault {
        Fault::KillServer => run("kill", &["-9", &pids[victim].to_string()]).map(drop)?,
        Fault::DeleteLink => lab.ip(&dead.link.0, &["link", "del", &dead.link.1])?,
    }
    wait_health(lab, setup, &dead.name, "down")?;
    let detected = fault_at.elapsed();
    let flows_at_down = backend(lab, setup, &dead.name)?["new_flows"]
        .as_u64()
        .unwrap_or(0);

    let loop_done = lab.path("codes.done");
    for _ in 0..400 {
        if loop_done.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&codes)?;
    let answered = text.lines().filter(|code| *code == "200").count();
    let new_flows_after = backend(lab, setup, &dead.name)?["new_flows"]
        .as_u64()
        .unwrap_or(0)
        - flows_at_down;

    let recovered = match fault {
        Fault::KillServer if restart => {
            let restart = Instant::now();
            pids[victim] = start_server(lab, dead)?;
            let listening = restart.elapsed();
            Some(wait_health(lab, setup, &dead.name, "up")? + listening)
        }
        _ => None,
    };

    // The download, to another backend, went on untouched.
    let done = lab.path("download.done");
    for _ in 0..600 {
        if done.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::fs::read_to_string(&done).unwrap_or_default();
    let got = std::fs::metadata(&download).map_or(0, |m| m.len());
    anyhow::ensure!(
        status.trim() == "0" && got == DOWNLOAD_BYTES as u64,
        "the download to {} broke: curl {status:?}, {got} bytes",
        setup.servers[serving].name
    );
    Ok(Figures {
        detected,
        failed: REQUESTS - answered,
        new_flows_after,
        recovered,
    })
}

/// Prints the figures for the record (README, closing note).
pub fn report(what: &str, figures: &Figures) {
    eprintln!(
        "FIGURES {what}: detected in {} ms, {} of {REQUESTS} requests failed, {} new flows to it after, back in {}",
        figures.detected.as_millis(),
        figures.failed,
        figures.new_flows_after,
        figures
            .recovered
            .map_or("-".to_owned(), |d| format!("{} ms", d.as_millis()))
    );
}
