//! Who may use the admin endpoint: a bearer token where one is set, and
//! no writes from web pages (another origin, a rebound DNS name, a form's
//! content type).

use std::net::IpAddr;

use crate::Reply;

/// The parts of a request the checks read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestHead<'a> {
    pub(crate) method: &'a str,
    pub(crate) host: Option<&'a str>,
    pub(crate) origin: Option<&'a str>,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) content_type: Option<&'a str>,
    /// It carries a body (a length above zero, or chunks).
    pub(crate) has_body: bool,
}

/// The rules for one listening address.
#[derive(Clone)]
pub(crate) struct Guard {
    token: Option<String>,
    loopback: bool,
}

impl core::fmt::Debug for Guard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Guard")
            .field("token", &self.token.as_ref().map(|_| "..."))
            .field("loopback", &self.loopback)
            .finish()
    }
}

/// Compares in time that depends on the lengths only.
fn same_secret(given: &[u8], wanted: &[u8]) -> bool {
    given.len() == wanted.len()
        && given
            .iter()
            .zip(wanted)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A `Host` (or an origin's authority) with its port taken off.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// A name no DNS answer can point at the endpoint behind a browser's back:
/// an address, or `localhost`.
fn cannot_be_rebound(host: &str) -> bool {
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

impl Guard {
    /// The rules for an endpoint on a loopback address or not, with or
    /// without a token.
    pub(crate) fn new(token: Option<String>, loopback: bool) -> Self {
        Guard { token, loopback }
    }

    /// Ok, or the refusal to answer with.
    pub(crate) fn check(&self, head: &RequestHead<'_>) -> Result<(), Reply> {
        let write = !matches!(head.method, "GET" | "HEAD");
        if let Some(token) = &self.token {
            if !self.loopback || write {
                let given = head
                    .authorization
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .map(str::trim);
                if !given.is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes())) {
                    return Err(Reply::error(
                        401,
                        "this request needs the admin token: Authorization: Bearer TOKEN",
                    ));
                }
            }
        }
        if self.loopback {
            if let Some(host) = head.host.filter(|host| !cannot_be_rebound(host)) {
                return Err(Reply::error(
                    403,
                    format_args!("Host {host:?} is not an address or localhost"),
                ));
            }
        }
        if !write {
            return Ok(());
        }
        if let Some(origin) = head.origin {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            if authority.is_none() || authority != head.host {
                return Err(Reply::error(
                    403,
                    format_args!("cross-origin write from {origin:?} refused"),
                ));
            }
        }
        let json = head.content_type.is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
        });
        if head.has_body && !json {
            return Err(Reply::error(
                415,
                "a request body must be JSON: Content-Type: application/json",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &'static str) -> RequestHead<'static> {
        RequestHead {
            method,
            host: Some("127.0.0.1:9901"),
            ..RequestHead::default()
        }
    }

    fn status(guard: &Guard, head: &RequestHead<'_>) -> u16 {
        guard
            .check(head)
            .map_or_else(|reply| reply.status, |()| 200)
    }

    #[test]
    fn a_token_guards_every_request_off_loopback_and_writes_on_it() {
        let remote = Guard::new(Some("s3cret".into()), false);
        let local = Guard::new(Some("s3cret".into()), true);
        let bearer = RequestHead {
            authorization: Some("Bearer s3cret"),
            ..head("GET")
        };
        let wrong = RequestHead {
            authorization: Some("Bearer s3creT"),
            ..head("GET")
        };
        assert_eq!(status(&remote, &head("GET")), 401);
        assert_eq!(status(&remote, &wrong), 401);
        assert_eq!(status(&remote, &bearer), 200);
        assert_eq!(
            status(&local, &head("GET")),
            200,
            "reads stay open on loopback"
        );
        assert_eq!(status(&local, &head("POST")), 401);
        let write = RequestHead {
            method: "DELETE",
            ..bearer
        };
        assert_eq!(status(&local, &write), 200);
        assert_eq!(status(&Guard::new(None, true), &head("POST")), 200);
    }

    #[test]
    fn browsers_cannot_write_from_another_origin() {
        let guard = Guard::new(None, true);
        let from = |origin| RequestHead {
            origin: Some(origin),
            ..head("POST")
        };
        assert_eq!(status(&guard, &from("http://evil.example")), 403);
        assert_eq!(status(&guard, &from("null")), 403);
        assert_eq!(status(&guard, &from("http://127.0.0.1:9901")), 200);
        let rebound = RequestHead {
            host: Some("evil.example:9901"),
            ..head("GET")
        };
        assert_eq!(status(&guard, &rebound), 403, "a rebound name is refused");
        for host in ["localhost:9901", "[::1]:9901", "10.0.0.1"] {
            let fine = RequestHead {
                host: Some(host),
                ..head("GET")
            };
            assert_eq!(status(&guard, &fine), 200, "{host}");
        }
        let form = RequestHead {
            has_body: true,
            content_type: Some("application/x-www-form-urlencoded"),
            ..head("POST")
        };
        assert_eq!(status(&guard, &form), 415);
        let json = RequestHead {
            content_type: Some("application/json; charset=utf-8"),
            ..form
        };
        assert_eq!(status(&guard, &json), 200);
    }
}
