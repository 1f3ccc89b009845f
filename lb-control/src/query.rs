//! Reading a request's URL: percent escapes and the session listing's
//! query.

use lb_engine::SessionFilter;

use crate::Reply;
use crate::router::parse_key;

/// Sessions listed when the request gives no limit, and the most it may ask.
const DEFAULT_SESSIONS: usize = 100;
const MAX_SESSIONS: usize = 10_000;

/// The filter and limit of `/sessions?service=&backend=&client=&limit=`.
pub(crate) fn session_query(query: &str) -> Result<(SessionFilter, usize), Reply> {
    let mut filter = SessionFilter::default();
    let mut limit = DEFAULT_SESSIONS;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "service" => filter.service = Some(value),
            "backend" => filter.backend = Some(value),
            "client" => filter.client = Some(parse_key("client", &value)?),
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_SESSIONS).contains(n))
                    .ok_or_else(|| {
                        Reply::error(
                            400,
                            format!("limit must be 1..={MAX_SESSIONS}, not {value:?}"),
                        )
                    })?;
            }
            other => return Err(Reply::error(400, format!("unknown parameter {other:?}"))),
        }
    }
    Ok((filter, limit))
}

/// `%XX` escapes decoded (and `+` left alone).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("10.0.0.1%3A80%2Ftcp"), "10.0.0.1:80/tcp");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
