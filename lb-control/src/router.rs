//! One router for every engine: a request becomes a [`Command`] for the
//! packet thread, or a refusal, using nothing but the engine's
//! [`Observe`] and [`Control`] traits.

use std::fmt::Display;
use std::net::IpAddr;
use std::time::Instant;

use lb_engine::{ConfigError, Control, FrontendChange, Observe, Weighted};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    BackendAdded, HealthBody, HealthForced, Removed, Reset, ServicesAdded, SrcIpRewrite,
    SrcIpRewriteState, VipAdded, VipBody, WeightBody, WeightSet,
};
use crate::prometheus;
use crate::query::{percent_decode, session_query};
use crate::reply::{Reply, refused};

/// Work for the packet thread: it runs with the engine to itself.
pub type Command<E> = Box<dyn FnOnce(&mut E, Instant) -> Reply + Send>;

/// What an engine needs for the router to serve it: reading, changing,
/// and requests whose parts can cross to the packet thread.
pub trait Routable:
    Observe
    + Control<
        ServiceKey: Send,
        ServiceConfig: DeserializeOwned + Send,
        BackendKey: Send,
        BackendConfig: DeserializeOwned + Send,
        Config: Serialize + Send,
    > + 'static
{
}

impl<E> Routable for E
where
    E: Observe + Control + 'static,
    E::ServiceKey: Send,
    E::ServiceConfig: DeserializeOwned + Send,
    E::BackendKey: Send,
    E::BackendConfig: DeserializeOwned + Send,
    E::Config: Serialize + Send,
{
}

/// The answer of an engine without a configuration file to `/config`.
const NO_CONFIG_FILE: &str =
    "this load balancer is configured by its flags: it has no configuration file";

/// `value` as a TOML document; a comment saying why not if it cannot be
/// one.
fn to_toml(value: &impl Serialize) -> String {
    toml::to_string(value).unwrap_or_else(|e| format!("# cannot be written as TOML: {e}\n"))
}

fn parse_body<T: DeserializeOwned>(body: &str) -> Result<T, Reply> {
    serde_json::from_str(body).map_err(|e| Reply::error(400, format!("invalid JSON body: {e}")))
}

pub(crate) fn parse_key<T: std::str::FromStr<Err: Display>>(
    what: &str,
    text: &str,
) -> Result<T, Reply> {
    text.parse()
        .map_err(|e| Reply::error(400, format!("invalid {what} {text:?}: {e}")))
}

/// Runs a change and answers with `answer` of its result, or the refusal.
fn change<E, T, A: Serialize>(
    status: u16,
    apply: impl FnOnce(&mut E) -> Result<T, ConfigError> + Send + 'static,
    answer: impl FnOnce(T) -> A + Send + 'static,
) -> Command<E> {
    Box::new(move |engine, _| match apply(engine) {
        Ok(done) => Reply::json(status, &answer(done)),
        Err(error) => refused(&error),
    })
}

/// The service a backend route means: named in the path, or the only one
/// the engine has (`/backends`), which only the packet thread can tell.
enum ServiceRef<K> {
    Named(K),
    Sole,
}

impl<K: Clone + Display> ServiceRef<K> {
    fn resolve<E: Control<ServiceKey = K>>(&self, engine: &E) -> Result<K, ConfigError> {
        match self {
            ServiceRef::Named(key) => Ok(key.clone()),
            ServiceRef::Sole => engine.sole_service().ok_or(ConfigError::Unsupported(
                "this load balancer has several services: use /services/SERVICE/backends",
            )),
        }
    }

    /// The service as answers name it: only when the request named it.
    fn shown(&self) -> Option<String> {
        match self {
            ServiceRef::Named(key) => Some(key.to_string()),
            ServiceRef::Sole => None,
        }
    }
}

/// The live dashboard: one page, its script and styles inline, that polls
/// `/stats` every second and draws rates over the last five minutes.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The command for `method` on `url` with `body`, or the reply refusing it.
/// Bodies and keys are checked here, on the admin thread; the command does
/// the rest on the packet thread.
pub fn route<E: Routable>(method: &str, url: &str, body: &str) -> Result<Command<E>, Reply> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let not_allowed = || Reply::error(405, format!("{method} is not allowed on {path}"));
    let no_route = || Reply::error(404, format!("no route {method} {path}"));
    Ok(match (method, segments.as_slice()) {
        ("GET", []) => Box::new(|_, _| Reply::text(DASHBOARD, "text/html; charset=utf-8")),
        ("GET", ["ready"]) => Box::new(|_, _| Reply::text("ready\n", "text/plain")),
        ("GET", ["stats"]) => {
            Box::new(|engine: &mut E, now| Reply::json_later(200, engine.stats(now)))
        }
        ("GET", ["stats", "prometheus"]) => Box::new(|engine: &mut E, now| {
            let stats = engine.stats(now);
            Reply::text_later(
                move || prometheus::render(&stats),
                "text/plain; version=0.0.4",
            )
        }),
        ("POST", ["stats", "reset"]) => Box::new(|engine: &mut E, _| {
            engine.reset_counters();
            Reply::json(200, &Reset { reset: true })
        }),
        ("GET", ["config"]) => Box::new(|engine: &mut E, _| match engine.config() {
            Some(config) => Reply::json_later(200, config),
            None => Reply::error(404, NO_CONFIG_FILE),
        }),
        ("GET", ["config", "toml"]) => Box::new(|engine: &mut E, _| match engine.config() {
            Some(config) => Reply::text_later(move || to_toml(&config), "application/toml"),
            None => Reply::error(404, NO_CONFIG_FILE),
        }),
        ("GET", ["services"]) => {
            Box::new(|engine: &mut E, now| Reply::json_later(200, engine.stats(now).services))
        }
        ("GET", ["sessions"]) => {
            let (filter, limit) = session_query(query)?;
            Box::new(move |engine: &mut E, now| {
                Reply::json_later(200, engine.sessions(now, &filter, limit))
            })
        }
        (
            _,
            []
            | ["ready" | "stats" | "sessions" | "services" | "config"]
            | ["stats", "prometheus" | "reset"]
            | ["config", "toml"],
        ) if method != "POST" || segments != ["services"] => {
            return Err(not_allowed());
        }
        ("POST", ["services"]) => {
            let service: E::ServiceConfig = parse_body(body)?;
            change(
                201,
                move |engine: &mut E| engine.add_service(&service),
                |keys| ServicesAdded {
                    added: keys.iter().map(ToString::to_string).collect(),
                },
            )
        }
        ("POST", ["vips"]) => {
            let VipBody { vip } = parse_body(body)?;
            change(
                201,
                move |engine: &mut E| engine.add_vip(vip),
                move |()| VipAdded { added: vip },
            )
        }
        ("DELETE", ["vips", vip]) => {
            let vip: IpAddr = parse_key("VIP", vip)?;
            change(
                200,
                move |engine: &mut E| engine.remove_vip(vip),
                move |ended| Removed {
                    service: None,
                    removed: vip.to_string(),
                    sessions_ended: ended,
                },
            )
        }
        ("GET", ["src-ip-rewrite"]) => change(
            200,
            |engine: &mut E| engine.src_ip_rewrite(),
            |src_ip_rewrite| SrcIpRewriteState { src_ip_rewrite },
        ),
        ("PUT" | "DELETE", ["src-ip-rewrite"]) => {
            let rewrite = match method {
                "PUT" => Some(parse_body::<SrcIpRewrite>(body)?),
                _ => None,
            };
            change(
                200,
                move |engine: &mut E| engine.set_src_ip_rewrite(rewrite),
                move |()| SrcIpRewriteState {
                    src_ip_rewrite: rewrite,
                },
            )
        }
        (_, ["src-ip-rewrite"]) => return Err(not_allowed()),
        ("GET", ["frontend"]) => change(200, |engine: &mut E| engine.frontend(), |view| view),
        ("PUT", ["frontend"]) => {
            let wanted: FrontendChange = parse_body(body)?;
            change(
                200,
                move |engine: &mut E| engine.set_frontend(&wanted),
                |view| view,
            )
        }
        (_, ["frontend"]) => return Err(not_allowed()),
        (_, ["services", rest @ ..]) => {
            let end = rest
                .iter()
                .position(|s| *s == "backends")
                .unwrap_or(rest.len());
            let text = rest[..end].join("/");
            let key: E::ServiceKey = parse_key("service", &text)?;
            match (method, &rest[end..]) {
                ("DELETE", []) => {
                    let name = key.to_string();
                    change(
                        200,
                        move |engine: &mut E| engine.remove_service(key),
                        move |ended| Removed {
                            service: None,
                            removed: name,
                            sessions_ended: ended,
                        },
                    )
                }
                (_, ["backends", tail @ ..]) => {
                    backend_route(method, ServiceRef::Named(key), tail, body)?
                }
                _ => return Err(no_route()),
            }
        }
        (_, ["backends", tail @ ..]) => backend_route(method, ServiceRef::Sole, tail, body)?,
        _ => return Err(no_route()),
    })
}

/// The command for `method` on the path after a service's `backends`.
fn backend_route<E>(
    method: &str,
    service: ServiceRef<E::ServiceKey>,
    tail: &[&str],
    body: &str,
) -> Result<Command<E>, Reply>
where
    E: Routable,
{
    let shown = service.shown();
    let no_route = || {
        Reply::error(
            404,
            format!("no route {method} backends/{}", tail.join("/")),
        )
    };
    if let ("POST", []) = (method, tail) {
        let backend: E::BackendConfig = parse_body(body)?;
        return Ok(change(
            201,
            move |engine: &mut E| {
                let key = service.resolve(engine)?;
                Ok((engine.add_backend(key, &backend)?, backend.weight()))
            },
            move |(added, weight)| BackendAdded {
                service: shown,
                added: added.to_string(),
                weight,
            },
        ));
    }
    let [backend, rest @ ..] = tail else {
        return Err(no_route());
    };
    let backend: E::BackendKey = parse_key("backend", backend)?;
    let name = backend.to_string();
    if let ("PUT", ["health"]) = (method, rest) {
        let HealthBody { force } = parse_body(body)?;
        return Ok(change(
            200,
            move |engine: &mut E| {
                let key = service.resolve(engine)?;
                engine.force_health(key, backend, force.override_of())
            },
            move |()| HealthForced {
                service: shown,
                backend: name,
                force,
            },
        ));
    }
    let weight = match (method, rest) {
        ("PUT", []) => Some(parse_body::<WeightBody>(body)?.weight),
        ("POST", ["drain"]) => Some(0),
        ("DELETE", []) => None,
        _ => return Err(no_route()),
    };
    Ok(match weight {
        Some(weight) => change(
            200,
            move |engine: &mut E| {
                let key = service.resolve(engine)?;
                engine.set_weight(key, backend, weight)
            },
            move |()| WeightSet {
                service: shown,
                backend: name,
                weight,
            },
        ),
        None => change(
            200,
            move |engine: &mut E| {
                let key = service.resolve(engine)?;
                engine.remove_backend(key, backend)
            },
            move |ended| Removed {
                service: shown,
                removed: name,
                sessions_ended: ended,
            },
        ),
    })
}
