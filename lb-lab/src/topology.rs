//! Wiring a load balancer's ports for either datapath, and the two
//! topologies most tests run: one subnet, and a routed network.

use std::net::Ipv4Addr;

use lb_datapath::DatapathKind;

use crate::Lab;

/// One load-balancer port: its interface in the load balancer's namespace
/// and the peer interface in the namespace traffic comes from.
#[derive(Debug, Clone)]
pub struct Wire {
    /// Interface the load balancer opens.
    pub lb_if: String,
    /// Namespace at the other end.
    pub peer_ns: String,
    /// Interface at the other end.
    pub peer_if: String,
}

impl Lab {
    /// The wire of a load-balancer port for `datapath`: a tap moves whole
    /// into the peer namespace once the load balancer made it; a veth pair
    /// is made before it starts.
    pub fn wire(&self, datapath: DatapathKind, lb_if: &str, peer_ns: &str) -> Wire {
        let peer_if = match datapath {
            DatapathKind::Tap => lb_if.to_owned(),
            DatapathKind::Pnet => format!("{lb_if}p"),
        };
        Wire {
            lb_if: lb_if.to_owned(),
            peer_ns: peer_ns.to_owned(),
            peer_if,
        }
    }

    /// What must exist before the load balancer starts: veths for pnet.
    pub fn connect_before(
        &mut self,
        datapath: DatapathKind,
        lb_ns: &str,
        wires: &[&Wire],
    ) -> anyhow::Result<()> {
        if datapath != DatapathKind::Pnet {
            return Ok(());
        }
        for wire in wires {
            self.veth((lb_ns, &wire.lb_if), (&wire.peer_ns, &wire.peer_if))?;
        }
        Ok(())
    }

    /// What must happen once it runs: moving its taps out.
    pub fn connect_after(
        &mut self,
        datapath: DatapathKind,
        lb_ns: &str,
        wires: &[&Wire],
    ) -> anyhow::Result<()> {
        if datapath != DatapathKind::Tap {
            return Ok(());
        }
        for wire in wires {
            self.ip(lb_ns, &["link", "set", &wire.lb_if, "netns", &wire.peer_ns])?;
            self.ip(&wire.peer_ns, &["link", "set", &wire.peer_if, "up"])?;
        }
        Ok(())
    }
}

/// Client and server on one subnet, the load balancer between them as a
/// bump in the wire (Polycube's test_single):
///
/// ```text
///  client 10.0.0.2 ── front · lb · back ── server 10.0.0.3
/// ```
///
/// [`build`](Self::build) makes everything but the load balancer's own
/// part; start it on [`front`](Self::front) and [`back`](Self::back) in
/// [`lb_ns`](Self::lb_ns), then [`attach`](Self::attach).
#[derive(Debug, Clone)]
pub struct SingleSubnet {
    /// Where the load balancer runs.
    pub lb_ns: String,
    /// The client's namespace.
    pub client: String,
    /// The server's namespace.
    pub server: String,
    /// The frontend port's wire.
    pub front: Wire,
    /// The backend port's wire.
    pub back: Wire,
    datapath: DatapathKind,
}

impl SingleSubnet {
    /// The client's address.
    pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    /// The server's address.
    pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

    /// The namespaces and wires for `datapath`.
    pub fn build(lab: &mut Lab, datapath: DatapathKind) -> anyhow::Result<Self> {
        let (lb_ns, client, server) =
            (lab.netns("lb")?, lab.netns("client")?, lab.netns("server")?);
        let front = lab.wire(datapath, &lab.name("f"), &client);
        let back = lab.wire(datapath, &lab.name("b"), &server);
        lab.connect_before(datapath, &lb_ns, &[&front, &back])?;
        Ok(SingleSubnet {
            lb_ns,
            client,
            server,
            front,
            back,
            datapath,
        })
    }

    /// Finishes wiring once the load balancer runs: the addresses, and the
    /// client's route to `vip` through the server's address.
    pub fn attach(&self, lab: &mut Lab, vip: Ipv4Addr) -> anyhow::Result<()> {
        lab.connect_after(self.datapath, &self.lb_ns, &[&self.front, &self.back])?;
        let (client_addr, server_addr) = (
            format!("{}/24", Self::CLIENT_ADDR),
            format!("{}/24", Self::SERVER_ADDR),
        );
        let (vip, via) = (format!("{vip}/32"), Self::SERVER_ADDR.to_string());
        lab.ip(
            &self.client,
            &["addr", "add", &client_addr, "dev", &self.front.peer_if],
        )?;
        lab.ip(&self.client, &["route", "add", &vip, "via", &via])?;
        lab.ip(
            &self.server,
            &["addr", "add", &server_addr, "dev", &self.back.peer_if],
        )
    }
}

/// A host of a topology: its namespace and address.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its namespace.
    pub ns: String,
    /// Its address.
    pub addr: Ipv4Addr,
}

/// Client, load balancer, router and a bridge of backends (Polycube's ex1):
///
/// ```text
///  client 10.0.0.2 ── lb ── router 10.0.0.1 | 192.168.1.1 ── br0 ─┬─ b1 192.168.1.2
///                                                                 ├─ b2 192.168.1.3
///                                                                 └─ ...
/// ```
///
/// [`build`](Self::build) makes everything but the load balancer's own
/// part; start it on [`front`](Self::front) and [`back`](Self::back) in
/// [`lb_ns`](Self::lb_ns), then [`attach`](Self::attach).
#[derive(Debug, Clone)]
pub struct RoutedNetwork {
    /// Where the load balancer runs.
    pub lb_ns: String,
    /// The client's namespace.
    pub client: String,
    /// The router's namespace.
    pub router: String,
    /// The frontend port's wire.
    pub front: Wire,
    /// The backend port's wire.
    pub back: Wire,
    /// The backends, `b1` at 192.168.1.2 onwards.
    pub backends: Vec<Host>,
    datapath: DatapathKind,
}

impl RoutedNetwork {
    /// The network with `backends` backend hosts, wired for `datapath`.
    pub fn build(lab: &mut Lab, datapath: DatapathKind, backends: usize) -> anyhow::Result<Self> {
        let (lb_ns, client, router) =
            (lab.netns("lb")?, lab.netns("client")?, lab.netns("router")?);
        let front = lab.wire(datapath, &lab.name("f"), &client);
        let back = lab.wire(datapath, &lab.name("b"), &router);
        lab.exec(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        lab.bridge(&router)?;
        lab.ip(&router, &["addr", "add", "192.168.1.1/24", "dev", "br0"])?;
        let mut hosts = Vec::new();
        for n in 1..=backends {
            let addr = Ipv4Addr::new(192, 168, 1, u8::try_from(n + 1)?);
            let (ns, _) = lab.host_on_bridge(&router, &format!("b{n}"), &format!("{addr}/24"))?;
            lab.ip(&ns, &["route", "add", "default", "via", "192.168.1.1"])?;
            hosts.push(Host { ns, addr });
        }
        lab.connect_before(datapath, &lb_ns, &[&front, &back])?;
        Ok(RoutedNetwork {
            lb_ns,
            client,
            router,
            front,
            back,
            backends: hosts,
            datapath,
        })
    }

    /// Finishes wiring once the load balancer runs.
    pub fn attach(&self, lab: &mut Lab) -> anyhow::Result<()> {
        lab.connect_after(self.datapath, &self.lb_ns, &[&self.front, &self.back])?;
        lab.ip(
            &self.client,
            &["addr", "add", "10.0.0.2/24", "dev", &self.front.peer_if],
        )?;
        lab.ip(
            &self.client,
            &["route", "add", "default", "via", "10.0.0.1"],
        )?;
        lab.ip(
            &self.router,
            &["addr", "add", "10.0.0.1/24", "dev", &self.back.peer_if],
        )
    }
}
