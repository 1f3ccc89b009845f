//! An HTTP answer, and how a refused change answers.

use std::fmt::Display;

use lb_engine::{ConfigError, ConfigErrorKind};
use serde::Serialize;

use crate::api::ErrorBody;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
    /// Its content type.
    pub content_type: &'static str,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
        Reply {
            status,
            body,
            content_type: "application/json",
        }
    }

    /// A refusal, `{"error": message}`.
    pub fn error(status: u16, message: impl Display) -> Self {
        Reply::json(
            status,
            &ErrorBody {
                error: message.to_string(),
            },
        )
    }

    pub(crate) fn text(body: impl Into<String>, content_type: &'static str) -> Self {
        Reply {
            status: 200,
            body: body.into(),
            content_type,
        }
    }
}

/// The status a refused change answers with.
pub(crate) fn refused(error: &ConfigError) -> Reply {
    let status = match error.kind() {
        ConfigErrorKind::Duplicate => 409,
        ConfigErrorKind::Unknown | ConfigErrorKind::Unsupported => 404,
        _ => 400,
    };
    Reply::error(status, error)
}
