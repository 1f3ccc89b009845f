//! Calls to the admin endpoint, answered with the API's typed bodies.

use lb_control::api::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fail;

/// Ends with the API's error message, or the text of an answer that has
/// none.
fn fail_with(status: u16, text: &str) -> ! {
    let message = serde_json::from_str::<ErrorBody>(text)
        .map_or_else(|_| text.trim().to_owned(), |e| e.error);
    fail(format_args!("{message} (HTTP {status})"))
}

/// The admin endpoint of one load balancer.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    /// `Bearer TOKEN`, sent with every request when a token is given.
    authorization: Option<String>,
}

impl Client {
    pub(crate) fn new(admin: std::net::SocketAddr, token: Option<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            base: format!("http://{admin}"),
            authorization: token.map(|token| format!("Bearer {token}")),
        }
    }

    /// The status and text of `method` on `path`, with `body` as JSON.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> (u16, String) {
        let url = format!("{}/{path}", self.base);
        let body = body.map(|b| serde_json::to_string(b).unwrap_or_default());
        let authorization = self.authorization.as_deref().unwrap_or_default();
        let with_body = |request: ureq::RequestBuilder<ureq::typestate::WithBody>| {
            let request = request.content_type("application/json");
            match &self.authorization {
                Some(_) => request.header("Authorization", authorization),
                None => request,
            }
        };
        let without_body = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &self
            .authorization
        {
            Some(_) => request.header("Authorization", authorization),
            None => request,
        };
        let result = match (method, body) {
            ("GET", _) => without_body(self.agent.get(&url)).call(),
            ("DELETE", _) => without_body(self.agent.delete(&url)).call(),
            ("PUT", Some(body)) => with_body(self.agent.put(&url)).send(body),
            (_, Some(body)) => with_body(self.agent.post(&url)).send(body),
            (_, None) => with_body(self.agent.post(&url)).send_empty(),
        };
        let mut response = result.unwrap_or_else(|e| {
            fail(format_args!(
                "cannot reach the admin endpoint at {}: {e}",
                self.base
            ))
        });
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// The text of a successful call of `method` on `path`; the API's error
    /// otherwise.
    pub(crate) fn text(&self, method: &str, path: &str) -> String {
        let (status, text) = self.call(method, path, None::<&()>);
        if !(200..300).contains(&status) {
            fail_with(status, &text);
        }
        text
    }

    /// The answer of a successful call, as `T`; the API's error otherwise.
    pub(crate) fn typed<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> (T, String) {
        let (status, text) = self.call(method, path, body);
        if !(200..300).contains(&status) {
            fail_with(status, &text);
        }
        match serde_json::from_str(&text) {
            Ok(value) => (value, text),
            Err(error) => fail(format_args!("unexpected answer from {path}: {error}")),
        }
    }

    /// As [`typed`](Self::typed), without a body.
    pub(crate) fn get<T: DeserializeOwned>(&self, method: &str, path: &str) -> (T, String) {
        self.typed(method, path, None::<&()>)
    }
}
