//! An HTTP answer, and how a refused change answers.

use std::fmt::Display;

use lb_engine::{ConfigError, ConfigErrorKind};
use serde::Serialize;

use crate::api::ErrorBody;

/// An HTTP answer.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Its content type.
    pub content_type: &'static str,
    body: Body,
}

/// A body as text, or as the work of making it: a snapshot taken on the
/// packet thread is rendered on the admin thread, off the packet path.
enum Body {
    Text(String),
    Deferred(Box<dyn FnOnce() -> String + Send>),
}

impl core::fmt::Debug for Reply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let body = match &self.body {
            Body::Text(text) => text.as_str(),
            Body::Deferred(_) => "(not rendered yet)",
        };
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &body)
            .finish()
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: Body::Text(to_json(value)),
        }
    }

    /// A JSON answer of `value`, rendered only when the body is asked for
    /// ([`into_body`](Self::into_body)): on the admin thread, so the packet
    /// thread pays for the snapshot only.
    pub fn json_later(status: u16, value: impl Serialize + Send + 'static) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: Body::Deferred(Box::new(move || to_json(&value))),
        }
    }

    /// What went wrong, for an error answer made by [`error`](Self::error).
    pub fn error_message(&self) -> Option<String> {
        let Body::Text(text) = &self.body else {
            return None;
        };
        let body: ErrorBody = serde_json::from_str(text).ok()?;
        Some(body.error)
    }

    /// The body, rendered now if it was deferred.
    pub fn into_body(self) -> String {
        match self.body {
            Body::Text(text) => text,
            Body::Deferred(render) => render(),
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
            content_type,
            body: Body::Text(body.into()),
        }
    }

    /// A text answer that `render` makes on the admin thread.
    pub(crate) fn text_later(
        render: impl FnOnce() -> String + Send + 'static,
        content_type: &'static str,
    ) -> Self {
        Reply {
            status: 200,
            content_type,
            body: Body::Deferred(Box::new(render)),
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
