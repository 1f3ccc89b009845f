//! Backends on a bridge with their gateway, the load balancer's backend
//! port on the same bridge: a topology where only full NAT brings the
//! backends' replies back once the gateway stops routing them to the
//! clients.

use std::net::Ipv4Addr;

use lb_datapath::DatapathKind;

use crate::{Host, Lab, Wire};

/// The client behind the load balancer, whose backend port joins `br0`
/// with the gateway (10.0.0.1/24 and 192.168.1.1/24, the client's and the
/// backends' default route) and the backends (192.168.1.2 onwards):
///
/// ```text
///  client 10.0.0.2 ── lb ── br0 ─┬─ gw 10.0.0.1, 192.168.1.1
///                                ├─ b1 192.168.1.2
///                                └─ ...
/// ```
///
/// [`build`](Self::build) makes everything but the load balancer's own
/// part; start it on [`front`](Self::front) and [`back`](Self::back) in
/// [`lb_ns`](Self::lb_ns), then [`attach`](Self::attach).
/// [`isolate_backends`](Self::isolate_backends) has the gateway drop what
/// the backends send the clients' network.
#[derive(Debug, Clone)]
pub struct BridgedNetwork {
    /// Where the load balancer runs.
    pub lb_ns: String,
    /// The client's namespace.
    pub client: String,
    /// The namespace of the bridge.
    pub lan: String,
    /// The gateway's namespace.
    pub gateway: String,
    /// The frontend port's wire.
    pub front: Wire,
    /// The backend port's wire.
    pub back: Wire,
    /// The backends, `b1` at 192.168.1.2 onwards.
    pub backends: Vec<Host>,
    datapath: DatapathKind,
}

impl BridgedNetwork {
    /// The client's address.
    pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// The network with `backends` backend hosts, wired for `datapath`.
    pub fn build(lab: &mut Lab, datapath: DatapathKind, backends: usize) -> anyhow::Result<Self> {
        let (lb_ns, client, lan) = (lab.netns("lb")?, lab.netns("client")?, lab.netns("lan")?);
        lab.bridge(&lan)?;
        let (gateway, gateway_if) = lab.host_on_bridge(&lan, "gw", "10.0.0.1/24")?;
        lab.ip(
            &gateway,
            &["addr", "add", "192.168.1.1/24", "dev", &gateway_if],
        )?;
        // It forwards out of the interface it heard on: no redirects.
        lab.exec(
            &gateway,
            &[
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.send_redirects=0",
                &format!("net.ipv4.conf.{gateway_if}.send_redirects=0"),
            ],
        )?;
        let mut hosts = Vec::new();
        for n in 1..=backends {
            let addr = Ipv4Addr::new(192, 168, 1, u8::try_from(n + 1)?);
            let (ns, _) = lab.host_on_bridge(&lan, &format!("b{n}"), &format!("{addr}/24"))?;
            lab.ip(&ns, &["route", "add", "default", "via", "192.168.1.1"])?;
            hosts.push(Host { ns, addr });
        }
        let front = lab.wire(datapath, &lab.name("f"), &client);
        let back = lab.wire(datapath, &lab.name("b"), &lan);
        lab.connect_before(datapath, &lb_ns, &[&front, &back])?;
        Ok(BridgedNetwork {
            lb_ns,
            client,
            lan,
            gateway,
            front,
            back,
            backends: hosts,
            datapath,
        })
    }

    /// Finishes wiring once the load balancer runs: its backend port on
    /// the bridge, the client's address and default route.
    pub fn attach(&self, lab: &mut Lab) -> anyhow::Result<()> {
        lab.connect_after(self.datapath, &self.lb_ns, &[&self.front, &self.back])?;
        lab.ip(
            &self.lan,
            &["link", "set", &self.back.peer_if, "master", "br0"],
        )?;
        let client = format!("{}/24", Self::CLIENT_ADDR);
        lab.ip(
            &self.client,
            &["addr", "add", &client, "dev", &self.front.peer_if],
        )?;
        lab.ip(
            &self.client,
            &["route", "add", "default", "via", "10.0.0.1"],
        )
    }

    /// Has the gateway drop what the backends send the clients' network:
    /// their replies reach a client only through the load balancer's own
    /// address.
    pub fn isolate_backends(&self, lab: &Lab) -> anyhow::Result<()> {
        let rules = self.lan_file(lab)?;
        lab.exec(&self.gateway, &["nft", "-f", &rules]).map(drop)
    }

    /// The gateway's rules, as `nft -f` reads them.
    fn lan_file(&self, lab: &Lab) -> anyhow::Result<String> {
        let rules = "table ip isolate {\n  chain forward {\n    type filter hook forward priority 0;\n    \
                     ip saddr 192.168.1.0/24 ip daddr 10.0.0.0/24 drop\n  }\n}\n";
        let path = lab.write_file("isolate.nft", rules)?;
        Ok(path.to_string_lossy().into_owned())
    }
}
