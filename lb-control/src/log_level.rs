//! `/log`: the process's log level, read and changed at run time, as
//! Polycube's `loglevel`. Served on the admin thread: the log is the
//! process's, not the engine's.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Reply;

/// What the process lets the admin endpoint do with its log: the binary
/// that installed the log gives one in [`AdminOptions`](crate::AdminOptions).
pub trait LogLevel: Send + Sync {
    /// The filter in force: a level (`info`) or `RUST_LOG` directives.
    fn current(&self) -> String;

    /// Puts `filter` in force, or says why it cannot be.
    fn set(&self, filter: &str) -> Result<(), String>;
}

/// A shared [`LogLevel`], as [`AdminOptions`](crate::AdminOptions) holds it.
#[derive(Clone)]
pub struct LogControl(pub Arc<dyn LogLevel>);

impl fmt::Debug for LogControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LogControl")
            .field(&self.0.current())
            .finish()
    }
}

/// `GET /log` answers it, `PUT /log` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    /// `off`, `error`, `warn`, `info`, `debug`, `trace`, or directives
    /// (`info,lb_engine::frames=trace`).
    pub level: String,
}

/// The answer to `method` on `/log`, or `None` for another path.
pub(crate) fn answer(
    method: &str,
    path: &str,
    body: &str,
    control: Option<&LogControl>,
) -> Option<Reply> {
    if path.trim_end_matches('/') != "/log" {
        return None;
    }
    let Some(LogControl(log)) = control else {
        return Some(Reply::error(
            404,
            "this process does not change its log level at run time",
        ));
    };
    let current = || LogFilter {
        level: log.current(),
    };
    Some(match method {
        "GET" => Reply::json(200, &current()),
        "PUT" => match serde_json::from_str::<LogFilter>(body) {
            Err(error) => Reply::error(400, format_args!("expected {{\"level\": LEVEL}}: {error}")),
            Ok(wanted) => match log.set(&wanted.level) {
                Ok(()) => Reply::json(200, &current()),
                Err(reason) => Reply::error(400, reason),
            },
        },
        _ => Reply::error(405, format_args!("{method} is not allowed on /log")),
    })
}
