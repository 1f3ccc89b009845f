//! The admin endpoint's thread: HTTP in (hyper, on a single-threaded
//! tokio runtime), commands to the packet thread, answers back.
//!
//! One client cannot stop it: connections are tasks, not threads, at most
//! [`MAX_CONNECTIONS`] at once (the next are closed at once); headers must
//! arrive within [`HEADER_TIMEOUT`] and fit [`MAX_HEADER_BYTES`], bodies
//! within [`BODY_TIMEOUT`] and [`MAX_BODY`]; a connection lives at most
//! [`CONNECTION_LIFETIME`]; a failed accept (no descriptor left) is
//! retried, never fatal.

use std::convert::Infallible;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use lb_engine::Waker;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

use crate::Reply;
use crate::guard::{Guard, RequestHead};
use crate::log_level::{self, LogControl};
use crate::router::{Command, Routable, route};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// Largest request head (request line and headers) accepted.
pub const MAX_HEADER_BYTES: usize = 16 << 10;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest a client may take to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a client may take to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection stays open, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Longest a request waits for the packet thread.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

type Pending<E> = (Command<E>, oneshot::Sender<Reply>);

/// How the endpoint admits requests.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    /// The bearer token: required for every request on a non-loopback
    /// address (which refuses to start without one), and for writes on a
    /// loopback one.
    pub token: Option<String>,
    /// The process's log level, for `GET` and `PUT /log`; without it
    /// `/log` answers 404.
    pub log: Option<LogControl>,
}

/// The packet thread's end of the admin endpoint: run what it sent.
#[derive(Debug)]
pub struct AdminCommands<E> {
    commands: Receiver<Pending<E>>,
    waker: Waker,
}

impl<E> AdminCommands<E> {
    /// Runs every pending command against `engine`; call it between
    /// batches, where changes land whole.
    pub fn apply(&self, engine: &mut E) {
        self.waker.reset();
        while let Ok((command, reply)) = self.commands.try_recv() {
            let _ = reply.send(command(engine, Instant::now()));
        }
    }

    /// Woken with each command: a datapath watching it
    /// ([`Datapath::watch`](lb_engine::Datapath::watch)) returns from its
    /// wait at once, so commands run without waiting for a poll timeout.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }
}

/// `PORT` or `HOST:PORT`; a bare port listens on loopback.
pub fn parse_admin_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("invalid admin address {text:?}; expected PORT or HOST:PORT"))
}

/// Starts the admin endpoint for an engine of type `E` on `addr` (on
/// loopback, without a token), on a thread of its own; returns the packet
/// thread's end and the address it listens on.
pub fn start<E: Routable>(addr: SocketAddr) -> anyhow::Result<(AdminCommands<E>, SocketAddr)> {
    start_with(addr, AdminOptions::default())
}

/// As [`start`], with `options`.
pub fn start_with<E: Routable>(
    addr: SocketAddr,
    options: AdminOptions,
) -> anyhow::Result<(AdminCommands<E>, SocketAddr)> {
    let loopback = addr.ip().is_loopback();
    if !loopback && options.token.is_none() {
        anyhow::bail!(
            "admin endpoint {addr}: not a loopback address, so it needs a token (--admin-token-file FILE)"
        );
    }
    if options.token.as_deref().is_some_and(str::is_empty) {
        anyhow::bail!("admin endpoint {addr}: the token is empty");
    }
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("admin endpoint {addr}"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let (sender, commands) = mpsc::channel();
    let waker = Waker::new().context("admin endpoint: eventfd")?;
    let shared = Arc::new(Shared {
        sender,
        waker: waker.clone(),
        guard: Guard::new(options.token, loopback),
        log: options.log,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("admin endpoint: runtime")?;
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            yield_to_packets();
            runtime.block_on(accept_loop::<E>(listener, shared))
        })
        .context("starting the admin thread")?;
    Ok((AdminCommands { commands, waker }, bound))
}

/// Lowers this thread's priority (nice 10), so that on a busy machine the
/// packet thread gets the CPU first and a flood of admin requests slows
/// the answers, not the traffic.
fn yield_to_packets() {
    let tid = rustix::thread::gettid();
    let _ = rustix::process::setpriority_process(Some(tid), 10);
}

/// What every connection's task shares.
struct Shared<E> {
    sender: Sender<Pending<E>>,
    waker: Waker,
    guard: Guard,
    log: Option<LogControl>,
}

async fn accept_loop<E: Routable>(listener: std::net::TcpListener, shared: Arc<Shared<E>>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => return tracing::error!("admin endpoint stopped: {error}"),
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut last_complaint: Option<Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors, most likely: say so now and then, wait,
                // and go on accepting.
                if last_complaint.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!("admin endpoint: accept failed, retrying: {error}");
                    last_complaint = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Over the limit, the connection is closed at once.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move {
                    let method = request.method().clone();
                    let url = request.uri().path_and_query().map(ToString::to_string);
                    let (reply, body) = answer(request, &shared).await;
                    let url = url.as_deref().unwrap_or("/");
                    log_request(method.as_str(), url, &body, &reply);
                    Ok::<_, Infallible>(respond(reply))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

/// The request's answer: refused by the guard, or routed to the packet
/// thread and answered there.
async fn answer<E: Routable>(request: Request<Incoming>, shared: &Shared<E>) -> (Reply, String) {
    let (parts, body) = request.into_parts();
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let head = RequestHead {
        method: parts.method.as_str(),
        host: header(HOST).or(parts.uri.authority().map(|a| a.as_str())),
        origin: header(ORIGIN),
        authorization: header(AUTHORIZATION),
        content_type: header(CONTENT_TYPE),
        has_body: parts.headers.contains_key(TRANSFER_ENCODING)
            || header(CONTENT_LENGTH).is_some_and(|length| length.trim() != "0"),
    };
    if let Err(refusal) = shared.guard.check(&head) {
        return (refusal, String::new());
    }
    let body =
        match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
            Err(_) => return (Reply::error(408, "the body took too long"), String::new()),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                let too_long = format_args!("the body is over {MAX_BODY} bytes");
                return (Reply::error(413, too_long), String::new());
            }
            Ok(Err(_)) => {
                return (
                    Reply::error(400, "the body could not be read"),
                    String::new(),
                );
            }
            Ok(Ok(body)) => body.to_bytes(),
        };
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return (
            Reply::error(400, "the body is not UTF-8 text"),
            String::new(),
        );
    };
    let url = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = url.split_once('?').map_or(url, |(path, _)| path);
    if let Some(reply) = log_level::answer(parts.method.as_str(), path, &body, shared.log.as_ref())
    {
        return (reply, body);
    }
    let command = match route::<E>(parts.method.as_str(), url, &body) {
        Ok(command) => command,
        Err(reply) => return (reply, body),
    };
    let (reply_to, reply) = oneshot::channel();
    if shared.sender.send((command, reply_to)).is_err() {
        return (Reply::error(503, "the load balancer is stopping"), body);
    }
    shared.waker.wake();
    let reply = match tokio::time::timeout(COMMAND_TIMEOUT, reply).await {
        Ok(Ok(reply)) => reply,
        _ => Reply::error(503, "the packet loop did not answer"),
    };
    (reply, body)
}

/// Logs a request: a change as news, with what it asked for (its body, cut
/// at 200 bytes); a refusal as a warning with its reason; a reading at
/// debug level only (dashboards poll).
fn log_request(method: &str, url: &str, body: &str, reply: &Reply) {
    let status = reply.status;
    let mut asked = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if asked.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&at| asked.is_char_boundary(at))
            .unwrap_or(0);
        asked.truncate(cut);
        asked.push_str("...");
    }
    let asked = if asked.is_empty() {
        asked
    } else {
        format!(" {asked}")
    };
    if status >= 400 {
        let reason = reply.error_message().unwrap_or_default();
        tracing::warn!(
            method,
            url,
            status,
            "admin {method} {url}{asked}: {status} {reason}"
        );
    } else if method == "GET" || method == "HEAD" {
        tracing::debug!(method, url, status, "admin {method} {url}: {status}");
    } else {
        tracing::info!(method, url, status, "admin {method} {url}{asked}: {status}");
    }
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let (status, content_type) = (reply.status, reply.content_type);
    // Rendered here, on the admin thread.
    let mut response = Response::new(Full::new(Bytes::from(reply.into_body())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    if status == 401 {
        let bearer = hyper::header::HeaderValue::from_static("Bearer");
        response
            .headers_mut()
            .insert(hyper::header::WWW_AUTHENTICATE, bearer);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        assert_eq!(
            parse_admin_addr("9901").unwrap(),
            "127.0.0.1:9901".parse().unwrap()
        );
        assert_eq!(
            parse_admin_addr("0.0.0.0:80").unwrap(),
            "0.0.0.0:80".parse().unwrap()
        );
        assert!(parse_admin_addr("nowhere").is_err());
    }
}
