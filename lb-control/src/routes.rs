//! The changes each engine takes through the admin endpoint. Bodies are
//! JSON; a change is checked whole before anything moves.
//!
//! `lb-rp`:
//!
//! | method | path | body |
//! |---|---|---|
//! | POST | `/services` | a service: `{"vip","port","proto","policy","backend":[...]}` |
//! | DELETE | `/services/VIP/PROTO/PORT` (`/services/VIP/icmp`) | |
//! | POST | `/services/VIP/PROTO/PORT/backends` | `{"ip","port","weight"}` |
//! | PUT | `/services/VIP/PROTO/PORT/backends/IP[:PORT]` | `{"weight"}` |
//! | POST | `/services/VIP/PROTO/PORT/backends/IP[:PORT]/drain` | |
//! | DELETE | `/services/VIP/PROTO/PORT/backends/IP[:PORT]` | |
//!
//! `lb-dsr` (backends are MACs) and `lb-proxy` (destinations are IPs):
//! POST `/backends` `{"mac"|"ip","weight"}`, PUT `/backends/ID` `{"weight"}`,
//! POST `/backends/ID/drain`, DELETE `/backends/ID`; `lb-dsr` also POST
//! `/vips` `{"vip"}` and DELETE `/vips/IP`.
//!
//! Answers: 200 or 201 with JSON; 400 for malformed or invalid input, 404
//! for an unknown route, service or backend, 405 for a wrong method, 409
//! for a duplicate; the configuration is then untouched.

use std::net::{Ipv4Addr, SocketAddrV4};

use lb_engine::{
    BackendConfig, ConfigError, DirectReturn, DsrBackendConfig, NatProxy, ReverseProxy,
    ServiceConfig, ServiceKey,
};
use lb_packet::{MacAddr, Protocol};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An admin request refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, message: impl std::fmt::Display) -> Self {
        ApiError {
            status,
            message: message.to_string(),
        }
    }

    fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::new(404, what)
    }
}

impl From<ConfigError> for ApiError {
    fn from(error: ConfigError) -> Self {
        let status = match error {
            ConfigError::DuplicateService(_) | ConfigError::DuplicateBackend { .. } => 409,
            ConfigError::UnknownService(_) | ConfigError::UnknownBackend { .. } => 404,
            _ => 400,
        };
        ApiError::new(status, error)
    }
}

/// What a change answers: a status and a JSON body.
pub type Outcome = Result<(u16, Value), ApiError>;

/// The changes an engine takes through the admin endpoint.
pub trait AdminRoutes {
    /// Applies `method` on `path` (split on `/`) with JSON `body`.
    fn change(&mut self, method: &str, path: &[&str], body: &str) -> Outcome;
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| ApiError::new(400, format!("invalid JSON body: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Weight {
    weight: u32,
}

fn no_route(method: &str, path: &[&str]) -> ApiError {
    ApiError::not_found(format!("no route {method} /{}", path.join("/")))
}

/// `VIP/PROTO/PORT` or `VIP/icmp` at the head of `path`; the rest after it.
fn service_key<'a, 'b>(path: &'a [&'b str]) -> Result<(ServiceKey, &'a [&'b str]), ApiError> {
    let bad = || ApiError::new(400, format!("invalid service /{}", path.join("/")));
    let vip: Ipv4Addr = path.first().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    match path.get(1).copied() {
        Some("icmp") => Ok((ServiceKey::new(vip, Protocol::Icmp, 0), &path[2..])),
        Some(proto @ ("tcp" | "udp")) => {
            let port: u16 = path.get(2).and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            let proto = if proto == "tcp" {
                Protocol::Tcp
            } else {
                Protocol::Udp
            };
            Ok((ServiceKey::new(vip, proto, port), &path[3..]))
        }
        _ => Err(bad()),
    }
}

/// `IP` or `IP:PORT` naming a backend of service `key`.
fn backend_addr(key: ServiceKey, text: &str) -> Result<SocketAddrV4, ApiError> {
    let bad = || {
        ApiError::new(
            400,
            format!("invalid backend {text:?}: expected IP or IP:PORT"),
        )
    };
    let (ip, port) = match text.parse::<SocketAddrV4>() {
        Ok(addr) => (*addr.ip(), Some(addr.port())),
        Err(_) => (text.parse().map_err(|_| bad())?, None),
    };
    let port = if key.proto == Protocol::Icmp {
        0
    } else {
        port.unwrap_or(key.port)
    };
    Ok(SocketAddrV4::new(ip, port))
}

fn find_backend(
    engine: &ReverseProxy,
    key: ServiceKey,
    addr: SocketAddrV4,
) -> Result<Option<BackendConfig>, ApiError> {
    let service = engine
        .services()
        .into_iter()
        .find(|s| s.keys().any(|k| k == key))
        .ok_or_else(|| ApiError::not_found(format!("no service {key}")))?;
    Ok(service
        .backends
        .into_iter()
        .find(|b| SocketAddrV4::new(b.ip, b.port.unwrap_or(0)) == addr))
}

impl AdminRoutes for ReverseProxy {
    fn change(&mut self, method: &str, path: &[&str], body: &str) -> Outcome {
        match (method, path) {
            ("POST", ["services"]) => {
                let service: ServiceConfig = parse(body)?;
                self.add_service(&service)?;
                let keys: Vec<String> = service.keys().map(|k| k.to_string()).collect();
                Ok((201, json!({ "added": keys })))
            }
            (_, ["services", rest @ ..]) if !rest.is_empty() => {
                let (key, rest) = service_key(rest)?;
                match (method, rest) {
                    ("DELETE", []) => {
                        let ended = self.remove_service(key)?;
                        Ok((
                            200,
                            json!({ "removed": key.to_string(), "sessions_ended": ended }),
                        ))
                    }
                    ("POST", ["backends"]) => {
                        let backend: BackendConfig = parse(body)?;
                        let port = if key.proto == Protocol::Icmp {
                            0
                        } else {
                            backend.port.unwrap_or(key.port)
                        };
                        let addr = SocketAddrV4::new(backend.ip, port);
                        if find_backend(self, key, addr)?.is_some() {
                            return Err(ApiError::new(
                                409,
                                format!("service {key} already has backend {addr}"),
                            ));
                        }
                        self.set_backend(key, backend)?;
                        Ok((
                            201,
                            json!({ "service": key.to_string(), "added": addr.to_string(), "weight": backend.weight }),
                        ))
                    }
                    (_, ["backends", backend, tail @ ..]) => {
                        let addr = backend_addr(key, backend)?;
                        let existing = find_backend(self, key, addr)?.ok_or_else(|| {
                            ApiError::not_found(format!("service {key} has no backend {addr}"))
                        })?;
                        let set_weight = |engine: &mut ReverseProxy, weight| {
                            engine.set_backend(key, BackendConfig { weight, ..existing })?;
                            Ok((
                                200,
                                json!({ "service": key.to_string(), "backend": addr.to_string(), "weight": weight }),
                            ))
                        };
                        match (method, tail) {
                            ("PUT", []) => set_weight(self, parse::<Weight>(body)?.weight),
                            ("POST", ["drain"]) => set_weight(self, 0),
                            ("DELETE", []) => {
                                let ended = self.remove_backend(key, existing.ip, existing.port)?;
                                Ok((
                                    200,
                                    json!({ "service": key.to_string(), "removed": addr.to_string(), "sessions_ended": ended }),
                                ))
                            }
                            _ => Err(no_route(method, path)),
                        }
                    }
                    _ => Err(no_route(method, path)),
                }
            }
            _ => Err(no_route(method, path)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vip {
    vip: Ipv4Addr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Destination {
    ip: Ipv4Addr,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
}

impl AdminRoutes for DirectReturn {
    fn change(&mut self, method: &str, path: &[&str], body: &str) -> Outcome {
        let parse_mac = |text: &str| text.parse::<MacAddr>().map_err(|e| ApiError::new(400, e));
        let find = |engine: &DirectReturn, mac: MacAddr| {
            engine.backends().into_iter().find(|b| b.mac == mac)
        };
        match (method, path) {
            ("POST", ["backends"]) => {
                let backend: DsrBackendConfig = parse(body)?;
                if find(self, backend.mac).is_some() {
                    return Err(ApiError::new(
                        409,
                        format!("backend {} exists", backend.mac),
                    ));
                }
                self.set_backend(backend)?;
                Ok((
                    201,
                    json!({ "added": backend.mac.to_string(), "weight": backend.weight }),
                ))
            }
            (_, ["backends", mac, tail @ ..]) => {
                let mac = parse_mac(mac)?;
                find(self, mac).ok_or_else(|| ApiError::not_found(format!("no backend {mac}")))?;
                let mut set_weight = |weight| {
                    self.set_backend(DsrBackendConfig { mac, weight })?;
                    Ok((200, json!({ "backend": mac.to_string(), "weight": weight })))
                };
                match (method, tail) {
                    ("PUT", []) => set_weight(parse::<Weight>(body)?.weight),
                    ("POST", ["drain"]) => set_weight(0),
                    ("DELETE", []) => {
                        let ended = self.remove_backend(mac)?;
                        Ok((
                            200,
                            json!({ "removed": mac.to_string(), "sessions_ended": ended }),
                        ))
                    }
                    _ => Err(no_route(method, path)),
                }
            }
            ("POST", ["vips"]) => {
                let Vip { vip } = parse(body)?;
                if self.vips().contains(&vip) {
                    return Err(ApiError::new(409, format!("VIP {vip} exists")));
                }
                self.add_vip(vip);
                Ok((201, json!({ "added": vip.to_string() })))
            }
            ("DELETE", ["vips", vip]) => {
                let vip: Ipv4Addr = vip
                    .parse()
                    .map_err(|_| ApiError::new(400, format!("invalid VIP {vip:?}")))?;
                let ended = self.remove_vip(vip).map_err(ApiError::not_found)?;
                Ok((
                    200,
                    json!({ "removed": vip.to_string(), "sessions_ended": ended }),
                ))
            }
            _ => Err(no_route(method, path)),
        }
    }
}

impl AdminRoutes for NatProxy {
    fn change(&mut self, method: &str, path: &[&str], body: &str) -> Outcome {
        let find =
            |engine: &NatProxy, ip: Ipv4Addr| engine.destinations().into_iter().find(|d| d.0 == ip);
        match (method, path) {
            ("POST", ["backends"]) => {
                let Destination { ip, weight } = parse(body)?;
                if find(self, ip).is_some() {
                    return Err(ApiError::new(409, format!("destination {ip} exists")));
                }
                self.set_destination(ip, weight)?;
                Ok((201, json!({ "added": ip.to_string(), "weight": weight })))
            }
            (_, ["backends", ip, tail @ ..]) => {
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| ApiError::new(400, format!("invalid destination {ip:?}")))?;
                find(self, ip)
                    .ok_or_else(|| ApiError::not_found(format!("no destination {ip}")))?;
                let mut set_weight = |weight| {
                    self.set_destination(ip, weight)?;
                    Ok((200, json!({ "backend": ip.to_string(), "weight": weight })))
                };
                match (method, tail) {
                    ("PUT", []) => set_weight(parse::<Weight>(body)?.weight),
                    ("POST", ["drain"]) => set_weight(0),
                    ("DELETE", []) => {
                        let ended = self.remove_destination(ip)?;
                        Ok((
                            200,
                            json!({ "removed": ip.to_string(), "sessions_ended": ended }),
                        ))
                    }
                    _ => Err(no_route(method, path)),
                }
            }
            _ => Err(no_route(method, path)),
        }
    }
}
