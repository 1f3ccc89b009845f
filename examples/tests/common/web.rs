//! lb-rp in front of two web servers, with its admin endpoint: what the
//! tests of the operator's view (logs, dashboard) look at.

use std::net::Ipv4Addr;
use std::time::Duration;

use lb_lab::{DatapathKind, Lab, LoadBalancer, ReverseProxyFlags, RoutedNetwork};

/// The service's VIP: port 80 and ping.
pub const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
/// The admin endpoint's port, on the load balancer's loopback.
pub const ADMIN_PORT: u16 = 9901;

/// Starts lb-rp with `extra` flags before two web servers (`b1`, `b2`,
/// serving `/id`), a service named `web` and its admin endpoint.
pub fn start(
    lab: &mut Lab,
    datapath: DatapathKind,
    extra: &[&str],
) -> anyhow::Result<(RoutedNetwork, LoadBalancer)> {
    start_wrapped(lab, datapath, &[], extra)
}

/// As [`start`], lb-rp run by `wrapper` (a command and its flags, which
/// runs the rest of its command line: `setpriv ...`).
pub fn start_wrapped(
    lab: &mut Lab,
    datapath: DatapathKind,
    wrapper: &[&str],
    extra: &[&str],
) -> anyhow::Result<(RoutedNetwork, LoadBalancer)> {
    let net = RoutedNetwork::build(lab, datapath, 2)?;
    for (n, host) in net.backends.iter().enumerate() {
        lab.http_server(&host.ns, host.addr, 80, &format!("b{}", n + 1))?;
    }
    let backends = super::backend_list(&net);
    let text = format!(
        "[[service]]\nname = \"web\"\nvip = \"{VIP}\"\nport = 80\nproto = \"tcp\"\n\
         backend = [{backends}]\n\
         [[service]]\nvip = \"{VIP}\"\nproto = \"icmp\"\nbackend = [{backends}]\n"
    );
    let config = lab.write_file("rp.toml", &text)?;
    let flags = ReverseProxyFlags {
        admin: Some(ADMIN_PORT),
        ..ReverseProxyFlags::new(datapath, &net.front, &net.back, &config)
    };
    let rp = env!("CARGO_BIN_EXE_lb-rp");
    let mut command: Vec<String> = wrapper.iter().map(|arg| (*arg).to_owned()).collect();
    command.push(rp.to_owned());
    command.extend(flags.args());
    command.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let lb = lab.start_lb(&net.lb_ns, &command[0], &command[1..])?;
    net.attach(lab)?;
    Ok((net, lb))
}

/// `count` GETs of `/id` through the VIP from the client, each answered
/// by a web server.
pub fn requests(lab: &Lab, net: &RoutedNetwork, count: usize) -> anyhow::Result<()> {
    let url = format!("http://{VIP}/id");
    let answers = lab.curl(&net.client, &url, count, Duration::from_secs(10))?;
    let served = answers.matches("b1").count() + answers.matches("b2").count();
    anyhow::ensure!(served == count, "{served} of {count} answered: {answers}");
    Ok(())
}
