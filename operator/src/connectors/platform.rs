//! A client of a national platform's HTTP API, shared by every tenant's calls to it: one rate
//! of calls (evenly spaced), each call given up after a timeout, retried on a refusal for load
//! (429), and on a server error or a timeout where repeating it is harmless, after a growing,
//! jittered pause; counted in the metrics by operation and result. A connector's own client
//! (`io::client`) says which calls it makes.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Jitter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;

/// The header that carries the key of the pagoPA platforms' APIs (IO's, the back office's).
pub const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// Tries of one call refused for load or failed on the server's side, the pause doubling from
/// the first.
const TRIES: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Why a call to a platform did not do what it was for, and which platform's API. Never
/// carries a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{api} {failure}")]
pub struct CallError {
    pub api: &'static str,
    pub failure: Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("did not answer {operation} in time")]
    TimedOut { operation: &'static str },
    #[error("could not be reached for {operation}: {detail}")]
    Unreachable {
        operation: &'static str,
        detail: String,
    },
    #[error("refused {operation} for load (429) {TRIES} times")]
    RateLimited { operation: &'static str },
    #[error("failed {operation} ({status})")]
    ServerError {
        operation: &'static str,
        status: u16,
    },
    #[error("refused the key ({status}) for {operation}")]
    KeyRefused {
        operation: &'static str,
        status: u16,
    },
    #[error("refused {operation} ({status}){}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        operation: &'static str,
        status: u16,
        detail: Option<String>,
    },
    #[error("answered {operation} with what its contract does not have: {detail}")]
    Unexpected {
        operation: &'static str,
        detail: String,
    },
}

impl CallError {
    /// The short reason status and metrics give.
    pub fn reason(&self) -> &'static str {
        match self.failure {
            Failure::TimedOut { .. } | Failure::Unreachable { .. } => "PlatformUnreachable",
            Failure::RateLimited { .. } => "PlatformRateLimited",
            Failure::ServerError { .. } => "PlatformFailed",
            Failure::KeyRefused { .. } => "PlatformKeyRefused",
            Failure::Refused { .. } => "PlatformRefused",
            Failure::Unexpected { .. } => "PlatformAnswerUnexpected",
        }
    }

    /// Whether the call may have been carried out although its answer is not known.
    pub fn maybe_done(&self) -> bool {
        matches!(
            self.failure,
            Failure::TimedOut { .. } | Failure::Unreachable { .. } | Failure::ServerError { .. }
        )
    }

    /// The platform refused this one request (a 4xx other than the key's): others may still
    /// go through.
    pub fn refused(&self) -> bool {
        matches!(self.failure, Failure::Refused { .. })
    }
}

/// Where and how fast a platform is called.
pub struct Endpoint<'a> {
    /// Its name in errors and on status (`IO's manage API`).
    pub api: &'static str,
    /// Its label in the metrics (`io`).
    pub platform: &'static str,
    pub base: &'a str,
    pub per_second: NonZeroU32,
    pub timeout: Duration,
}

/// One call: its name (the contract's operationId), and whether repeating it is harmless.
pub struct Call<'a, B> {
    pub operation: &'static str,
    pub method: Method,
    pub path: String,
    pub query: &'a [(&'a str, String)],
    pub body: Option<&'a B>,
    pub repeatable: bool,
}

/// A GET, repeatable.
pub fn get<'a>(
    operation: &'static str,
    path: String,
    query: &'a [(&'a str, String)],
) -> Call<'a, ()> {
    Call {
        operation,
        method: Method::GET,
        path,
        query,
        body: None,
        repeatable: true,
    }
}

/// A call with no body, repeatable.
pub fn no_body(operation: &'static str, method: Method, path: String) -> Call<'static, ()> {
    Call {
        operation,
        method,
        path,
        query: &[],
        body: None,
        repeatable: true,
    }
}

/// A path segment from a value the platform gave (an id), escaped.
pub fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The client of one platform's API.
pub struct PlatformClient {
    api: &'static str,
    platform: &'static str,
    http: reqwest::Client,
    base: String,
    limiter: DefaultDirectRateLimiter,
    metrics: Arc<Metrics>,
}

impl PlatformClient {
    pub fn new(endpoint: &Endpoint<'_>, metrics: Arc<Metrics>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("municipio/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls");
        Self {
            api: endpoint.api,
            platform: endpoint.platform,
            http,
            base: endpoint.base.trim_end_matches('/').to_owned(),
            // Evenly spaced, no burst: the platform sees at most `per_second` in any second.
            limiter: RateLimiter::direct(
                Quota::per_second(endpoint.per_second).allow_burst(NonZeroU32::MIN),
            ),
            metrics,
        }
    }

    /// An error of this platform.
    pub fn error(&self, failure: Failure) -> CallError {
        CallError {
            api: self.api,
            failure,
        }
    }

    /// The call's status and body: a success, or a not-found the caller reads; else the error.
    pub async fn send<B: Serialize>(
        &self,
        key: &str,
        call: &Call<'_, B>,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let sent = self
            .send_once_or_again(key, call)
            .await
            .map_err(|failure| self.error(failure));
        let result = match &sent {
            Ok((status, _)) if *status == StatusCode::NOT_FOUND => "not_found",
            Ok(_) => "ok",
            Err(e) => e.reason(),
        };
        self.metrics
            .platform_call(self.platform, call.operation, result);
        sent
    }

    async fn send_once_or_again<B: Serialize>(
        &self,
        key: &str,
        call: &Call<'_, B>,
    ) -> Result<(StatusCode, Vec<u8>), Failure> {
        let operation = call.operation;
        let mut pause = FIRST_PAUSE;
        for attempt in 1..=TRIES {
            self.limiter
                .until_ready_with_jitter(Jitter::up_to(Duration::from_millis(50)))
                .await;
            let mut request = self
                .http
                .request(call.method.clone(), format!("{}{}", self.base, call.path))
                .header(KEY_HEADER, key)
                .query(call.query);
            if let Some(body) = call.body {
                request = request.json(body);
            }
            let last = attempt == TRIES;
            let error = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry = status == StatusCode::TOO_MANY_REQUESTS
                        || (status.is_server_error() && call.repeatable);
                    if !retry || last {
                        let body = response
                            .bytes()
                            .await
                            .map(|b| b.to_vec())
                            .unwrap_or_default();
                        return classify(operation, status, body);
                    }
                    None
                }
                Err(e) if e.is_timeout() => Some(Failure::TimedOut { operation }),
                Err(e) => Some(Failure::Unreachable {
                    operation,
                    detail: without_url(e),
                }),
            };
            if let Some(error) = error
                && (last || !call.repeatable)
            {
                return Err(error);
            }
            tokio::time::sleep(pause + jitter(pause)).await;
            pause *= 2;
        }
        unreachable!("the last try returns")
    }

    /// The call's answer read as `T`, or none for a not-found.
    pub async fn json<T: DeserializeOwned, B: Serialize>(
        &self,
        key: &str,
        call: Call<'_, B>,
    ) -> Result<Option<T>, CallError> {
        let operation = call.operation;
        let (status, body) = self.send(key, &call).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            self.error(Failure::Unexpected {
                operation,
                detail: e.to_string(),
            })
        })
    }

    /// A call answered with no body; not found (`missing` says what) is an error here.
    pub async fn empty<B: Serialize>(
        &self,
        key: &str,
        call: Call<'_, B>,
        missing: &str,
    ) -> Result<(), CallError> {
        let (status, _) = self.send(key, &call).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(self.error(Failure::Refused {
                operation: call.operation,
                status: 404,
                detail: Some(missing.to_owned()),
            }));
        }
        Ok(())
    }
}

/// A success, a not-found the caller reads as none, or the failure the status says.
fn classify(
    operation: &'static str,
    status: StatusCode,
    body: Vec<u8>,
) -> Result<(StatusCode, Vec<u8>), Failure> {
    let code = status.as_u16();
    match status {
        s if s.is_success() || s == StatusCode::NOT_FOUND => Ok((status, body)),
        StatusCode::TOO_MANY_REQUESTS => Err(Failure::RateLimited { operation }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Failure::KeyRefused {
            operation,
            status: code,
        }),
        s if s.is_server_error() => Err(Failure::ServerError {
            operation,
            status: code,
        }),
        _ => Err(Failure::Refused {
            operation,
            status: code,
            detail: problem_detail(&body),
        }),
    }
}

/// The `detail` (or `title`) of a problem answer, cut short: it is shown on status.
fn problem_detail(body: &[u8]) -> Option<String> {
    let problem: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = problem
        .get("detail")
        .or_else(|| problem.get("title"))?
        .as_str()?;
    Some(text.chars().take(300).collect())
}

/// An error's text without its URL (which names the service).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Up to a quarter of `pause`, so that tenants refused together do not come back together.
fn jitter(pause: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    pause / 4 * (nanos % 1000) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_escaped_as_a_path_segment() {
        assert_eq!(segment("01J0/../x"), "01J0%2F%2E%2E%2Fx");
        assert_eq!(
            segment("01EYNQ0864HKYR1Q9PXPJ18W7G"),
            "01EYNQ0864HKYR1Q9PXPJ18W7G"
        );
    }

    #[test]
    fn statuses_become_errors_that_say_what_to_do() {
        let error = |failure| CallError {
            api: "IO's manage API",
            failure,
        };
        let body = br#"{"title":"Bad","detail":"name is empty"}"#.to_vec();
        let e = error(classify("updateService", StatusCode::BAD_REQUEST, body).unwrap_err());
        assert_eq!(
            e.to_string(),
            "IO's manage API refused updateService (400): name is empty"
        );
        assert!(e.refused());
        let e = error(classify("getServiceKeys", StatusCode::FORBIDDEN, vec![]).unwrap_err());
        assert_eq!(e.reason(), "PlatformKeyRefused");
        let e = error(classify("getServiceKeys", StatusCode::BAD_GATEWAY, vec![]).unwrap_err());
        assert!(e.maybe_done());
        assert!(classify("getServiceKeys", StatusCode::NOT_FOUND, vec![]).is_ok());
    }
}
