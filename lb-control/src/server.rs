//! The admin endpoint's thread: HTTP in, commands to the packet thread,
//! answers back.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::Reply;
use crate::router::{Command, Routable, route};
use anyhow::Context;

/// Largest request body accepted.
const MAX_BODY: u64 = 1 << 20;
/// Longest a request waits for the packet thread.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

type Request<E> = (Command<E>, Sender<Reply>);

/// The packet thread's end of the admin endpoint: run what it sent.
#[derive(Debug)]
pub struct AdminCommands<E> {
    commands: Receiver<Request<E>>,
}

impl<E> AdminCommands<E> {
    /// Runs every pending command against `engine`; call it between
    /// batches, where changes land whole.
    pub fn apply(&self, engine: &mut E) {
        while let Ok((command, reply)) = self.commands.try_recv() {
            let _ = reply.send(command(engine, Instant::now()));
        }
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

/// Starts the admin endpoint for an engine of type `E` on `addr`, on a
/// thread of its own; returns the packet thread's end and the address it
/// listens on.
pub fn start<E>(addr: SocketAddr) -> anyhow::Result<(AdminCommands<E>, SocketAddr)>
where
    E: Routable,
{
    let server =
        tiny_http::Server::http(addr).map_err(|e| anyhow::anyhow!("admin endpoint {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .context("admin endpoint is not on IP")?;
    let (sender, commands) = mpsc::channel();
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                serve::<E>(request, &sender);
            }
        })
        .context("starting the admin thread")?;
    Ok((AdminCommands { commands }, bound))
}

fn serve<E>(mut request: tiny_http::Request, sender: &Sender<Request<E>>)
where
    E: Routable,
{
    let mut body = String::new();
    let reply = match request.as_reader().take(MAX_BODY).read_to_string(&mut body) {
        Err(_) => Reply::error(400, "the body is not UTF-8 text"),
        Ok(_) => match route::<E>(request.method().as_str(), request.url(), &body) {
            Err(reply) => reply,
            Ok(command) => {
                let (reply_to, reply) = mpsc::channel();
                match sender.send((command, reply_to)) {
                    Err(_) => Reply::error(503, "the load balancer is stopping"),
                    Ok(()) => reply
                        .recv_timeout(COMMAND_TIMEOUT)
                        .unwrap_or_else(|_| Reply::error(503, "the packet loop did not answer")),
                }
            }
        },
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], reply.content_type.as_bytes());
    let mut response = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
    if let Ok(header) = header {
        response = response.with_header(header);
    }
    let _ = request.respond(response);
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
