//! [`DirectReturn`]: layer-2 direct server return, as Polycube's `lbdsr`.
//!
//! `config` holds what it is configured with and names its one service
//! (its VIPs), `control` changes VIPs and servers while it runs,
//! `frontend` its MAC and algorithm, `forward` is the only path there is:
//! replies bypass the load balancer.

mod config;
mod control;
mod forward;
mod frontend;

use std::net::IpAddr;
use std::time::Instant;

use lb_packet::{FlowKey, Frame, MacAddr};

pub use config::{DirectReturnConfig, DsrBackendConfig, DsrServiceConfig, VipList};
pub use frontend::{FrontendChange, FrontendView};

use crate::core::fragments::FragmentTracker;
use crate::core::services::{Owned, Owner};
use crate::core::{Balancer, Core, unicast};
use crate::health::prober::ProbeTarget;
use crate::{ConfigError, DropReason, EngineKind, PortId, ProbeKind, Verdict};

const FRAGMENT_CAPACITY: usize = 4096;

/// The frontend port; also the only port of a one-armed engine.
pub const FRONTEND_PORT: PortId = PortId(0);
/// The backend port of a two-armed engine.
pub const BACKEND_PORT: PortId = PortId(1);

/// The slot of the engine's one service.
const SERVICE: u32 = 0;

/// A session remembers its server's slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DsrSession(u32);

impl Owned for DsrSession {
    #[inline]
    fn owner(&self) -> Owner {
        Owner {
            service: SERVICE,
            backend: self.0,
        }
    }
}

/// Direct server return at layer 2 (Polycube `lbdsr`, without its limits).
///
/// The engine answers ARP and neighbor solicitations for its VIPs (IPv4
/// and IPv6) with its own MAC. A frame to that
/// MAC and a VIP is sent to a server chosen by the policy, with only the
/// Ethernet header changed: destination the server's MAC, source the
/// backend port's own MAC. IP and transport headers are untouched, and the
/// server replies to the client directly. Sessions keep each flow on its
/// server while servers come and go; removing a server ends its sessions;
/// weight 0 drains it. Any number of VIPs and servers.
///
/// Ports: [`FRONTEND_PORT`] and [`BACKEND_PORT`], or only the frontend when
/// one-armed. Frames on the frontend that are not for the engine's MAC and
/// a VIP, and anything arriving on the backend port, are dropped and
/// counted.
pub struct DirectReturn {
    mac: MacAddr,
    backend_port_mac: MacAddr,
    one_armed: bool,
    /// One service, [`SERVICE`], keyed by the VIPs.
    core: Core<VipList, MacAddr, DsrSession>,
    fragments: FragmentTracker<u32>,
    /// A new MAC's announcements, waiting to go out.
    announcements: frontend::Announcements,
}

impl core::fmt::Debug for DirectReturn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectReturn")
            .field("vips", &self.vips())
            .field("mac", &self.mac)
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl DirectReturn {
    /// An engine from its configuration.
    pub fn new(config: &DirectReturnConfig) -> Result<Self, ConfigError> {
        let mac = unicast(config.mac)?;
        let backend_port_mac = unicast(config.backend_port_mac.unwrap_or(mac))?;
        for backend in &config.backends {
            unicast(backend.mac)?;
        }
        let probe_port = if config.one_armed {
            FRONTEND_PORT
        } else {
            BACKEND_PORT
        };
        let mut core = Core::new(
            EngineKind::DirectReturn,
            &config.sessions,
            &config.selection,
            &config.health,
            probe_port,
        )?;
        let check = config.health_check.as_ref();
        // Probes go to the first VIP, on each server.
        core.check_probe(check, config.vips.iter().min().copied())?;
        if check.is_some_and(|c| c.kind != ProbeKind::Icmp && c.port.is_none()) {
            return Err(ConfigError::Health(
                "direct-return probes need a port (tcp:80), except icmp",
            ));
        }
        let backends = core.pool(
            config.policy,
            config.backends.iter().map(|b| (b.mac, b.weight)),
            None,
        )?;
        core.services.insert(
            VipList::new(config.vips.iter().copied()),
            backends,
            config.health_check.clone(),
        );
        Ok(DirectReturn {
            mac,
            backend_port_mac,
            one_armed: config.one_armed,
            core,
            fragments: FragmentTracker::new(FRAGMENT_CAPACITY),
            announcements: frontend::Announcements::default(),
        })
    }

    /// The VIPs answered for, sorted.
    pub fn vips(&self) -> &[IpAddr] {
        self.core
            .services
            .get(SERVICE)
            .map_or(&[], |service| service.key.as_slice())
    }

    #[inline]
    fn is_vip(&self, addr: IpAddr) -> bool {
        self.core
            .services
            .get(SERVICE)
            .is_some_and(|service| service.key.contains(addr))
    }

    /// A frame that is not for the VIPs: a probe's reply or ARP for the
    /// probe source, else dropped for `reason`.
    #[cold]
    fn not_for_us(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
        reason: DropReason,
    ) -> Verdict {
        self.core
            .handle_probe_frame(now, frame)
            .unwrap_or(Verdict::Drop(reason))
    }

    fn out_port(&self) -> Verdict {
        if self.one_armed {
            Verdict::Reply
        } else {
            Verdict::Forward(BACKEND_PORT)
        }
    }
}

impl Balancer for DirectReturn {
    type Key = VipList;
    type Target = MacAddr;
    type Session = DsrSession;
    type Extra = ();

    fn core(&self) -> &Core<VipList, MacAddr, DsrSession> {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core<VipList, MacAddr, DsrSession> {
        &mut self.core
    }

    fn ports(&self) -> usize {
        if self.one_armed { 1 } else { 2 }
    }

    /// A new MAC's announcements.
    fn originate(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        self.announcements.pop_into(buffer)
    }

    fn saved_extra(&self, _: &DsrSession) {}

    fn rebuild(&mut self, owner: Owner, _: &FlowKey, _: &FlowKey, (): ()) -> Option<DsrSession> {
        (owner.service == SERVICE).then_some(DsrSession(owner.backend))
    }

    /// One name for the one service, whatever its VIPs are now.
    fn saved_name(_: &VipList) -> String {
        "vips".to_owned()
    }

    /// The first VIP, at the server's MAC: the path clients' frames take.
    fn probe_target(vips: &VipList, server: MacAddr, port: u16) -> Option<ProbeTarget> {
        Some(ProbeTarget {
            ip: *vips.as_slice().first()?,
            port,
            mac: Some(server),
        })
    }

    #[inline]
    fn dispatch(&mut self, now: Instant, port: PortId, frame: &mut Frame<&mut [u8]>) -> Verdict {
        if port == FRONTEND_PORT {
            self.handle_frontend(now, frame)
        } else {
            self.not_for_us(now, frame, DropReason::WrongPort)
        }
    }
}
