//! The calls to IO's manage API, at a bounded rate shared by every tenant, each retried on a
//! refusal for load (429) or a server error (5xx) with a growing, jittered pause, except where a
//! retry could do a thing twice (a create whose answer was lost: [`super::sync`] finds the
//! service again before creating).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Jitter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;

use super::contract::{
    KEY_HEADER, KeyType, Keys, PAGE_LIMIT, Page, Publication, ReviewRequest, SERVICES, Service,
    ServicePayload,
};

/// Tries of one call refused for load or failed on the server's side, the pause doubling from
/// the first.
const TRIES: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Why a call did not do what it was for. Never carries a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("IO's manage API did not answer {operation} in time")]
    TimedOut { operation: &'static str },
    #[error("IO's manage API could not be reached for {operation}: {detail}")]
    Unreachable {
        operation: &'static str,
        detail: String,
    },
    #[error("IO's manage API refused {operation} for load (429) {TRIES} times")]
    RateLimited { operation: &'static str },
    #[error("IO's manage API failed {operation} ({status})")]
    ServerError {
        operation: &'static str,
        status: u16,
    },
    #[error("IO's manage API refused the manage key ({status}) for {operation}")]
    KeyRefused {
        operation: &'static str,
        status: u16,
    },
    #[error("IO's manage API refused {operation} ({status}){}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        operation: &'static str,
        status: u16,
        detail: Option<String>,
    },
    #[error("IO's manage API answered {operation} with what its contract does not have: {detail}")]
    Unexpected {
        operation: &'static str,
        detail: String,
    },
}

impl CallError {
    /// The short reason status and metrics give.
    pub fn reason(&self) -> &'static str {
        match self {
            CallError::TimedOut { .. } | CallError::Unreachable { .. } => "PlatformUnreachable",
            CallError::RateLimited { .. } => "PlatformRateLimited",
            CallError::ServerError { .. } => "PlatformFailed",
            CallError::KeyRefused { .. } => "ManageKeyRefused",
            CallError::Refused { .. } => "PlatformRefused",
            CallError::Unexpected { .. } => "PlatformAnswerUnexpected",
        }
    }

    /// Whether the call may have been carried out although its answer is not known.
    pub fn maybe_done(&self) -> bool {
        matches!(
            self,
            CallError::TimedOut { .. }
                | CallError::Unreachable { .. }
                | CallError::ServerError { .. }
        )
    }
}

/// The client of one IO manage API, shared by every tenant's sync.
pub struct IoClient {
    http: reqwest::Client,
    base: String,
    limiter: DefaultDirectRateLimiter,
    metrics: Arc<Metrics>,
}

/// One call: what it is called in errors, and whether repeating it is harmless.
struct Call<'a, B> {
    operation: &'static str,
    method: Method,
    path: String,
    query: &'a [(&'a str, String)],
    body: Option<&'a B>,
    repeatable: bool,
}

impl IoClient {
    /// A client of the API at `base` (`https://api.io.pagopa.it/api/v1/manage`), making at most
    /// `per_second` calls a second, each given up after `timeout`.
    pub fn new(
        base: &str,
        per_second: NonZeroU32,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("municipio/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls");
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            // Evenly spaced, no burst: the platform sees at most `per_second` in any second.
            limiter: RateLimiter::direct(
                Quota::per_second(per_second).allow_burst(NonZeroU32::MIN),
            ),
            metrics,
        }
    }

    async fn send<B: Serialize>(
        &self,
        key: &str,
        call: &Call<'_, B>,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let sent = self.send_once_or_again(key, call).await;
        let result = match &sent {
            Ok((status, _)) if *status == StatusCode::NOT_FOUND => "not_found",
            Ok(_) => "ok",
            Err(e) => e.reason(),
        };
        self.metrics.platform_call("io", call.operation, result);
        sent
    }

    async fn send_once_or_again<B: Serialize>(
        &self,
        key: &str,
        call: &Call<'_, B>,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
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
                Err(e) if e.is_timeout() => Some(CallError::TimedOut { operation }),
                Err(e) => Some(CallError::Unreachable {
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

    async fn json<T: DeserializeOwned, B: Serialize>(
        &self,
        key: &str,
        call: Call<'_, B>,
    ) -> Result<Option<T>, CallError> {
        let operation = call.operation;
        let (status, body) = self.send(key, &call).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| CallError::Unexpected {
                operation,
                detail: e.to_string(),
            })
    }

    /// A call answered with no body; a service not found is an error here, never a success.
    async fn empty<B: Serialize>(&self, key: &str, call: Call<'_, B>) -> Result<(), CallError> {
        let (status, _) = self.send(key, &call).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(CallError::Refused {
                operation: call.operation,
                status: 404,
                detail: Some("the service is no longer on IO".to_owned()),
            });
        }
        Ok(())
    }

    /// Every service of the institution the key is of, page by page.
    pub async fn list(&self, key: &str) -> Result<Vec<Service>, CallError> {
        let mut services = Vec::new();
        loop {
            let query = [
                ("limit", PAGE_LIMIT.to_string()),
                ("offset", services.len().to_string()),
            ];
            let page: Page = self
                .json(key, get("listServices", SERVICES.to_owned(), &query))
                .await?
                .ok_or(CallError::Refused {
                    operation: "listServices",
                    status: 404,
                    detail: None,
                })?;
            // Done at a page shorter than asked (the contract does not say what its `count`
            // counts: a short page is the only sure end).
            let got = page.value.len();
            services.extend(page.value);
            if got < PAGE_LIMIT as usize {
                return Ok(services);
            }
        }
    }

    /// Creates a service: never repeated, even when its answer is lost.
    pub async fn create(&self, key: &str, payload: &ServicePayload) -> Result<Service, CallError> {
        let call = Call {
            operation: "createService",
            method: Method::POST,
            path: SERVICES.to_owned(),
            query: &[],
            body: Some(payload),
            repeatable: false,
        };
        self.json(key, call).await?.ok_or(CallError::Refused {
            operation: "createService",
            status: 404,
            detail: None,
        })
    }

    /// The service's latest version, or none if IO has no such service.
    pub async fn get(&self, key: &str, id: &str) -> Result<Option<Service>, CallError> {
        self.json(key, get("getService", service_path(id, ""), &[]))
            .await
    }

    pub async fn update(
        &self,
        key: &str,
        id: &str,
        payload: &ServicePayload,
    ) -> Result<Option<Service>, CallError> {
        let call = Call {
            operation: "updateService",
            method: Method::PUT,
            path: service_path(id, ""),
            query: &[],
            body: Some(payload),
            repeatable: true,
        };
        self.json(key, call).await
    }

    /// The version published in the app, or none if none ever was.
    pub async fn publication(&self, key: &str, id: &str) -> Result<Option<Publication>, CallError> {
        self.json(
            key,
            get("getPublishedService", service_path(id, "/release"), &[]),
        )
        .await
    }

    /// Submits the latest version for review.
    pub async fn review(&self, key: &str, id: &str, auto_publish: bool) -> Result<(), CallError> {
        let body = ReviewRequest { auto_publish };
        // Not repeated: a submission that was made is refused the second time (409), and the
        // next sync reads the service's state anyway.
        let call = Call {
            operation: "reviewService",
            method: Method::PUT,
            path: service_path(id, "/review"),
            query: &[],
            body: Some(&body),
            repeatable: false,
        };
        self.empty(key, call).await
    }

    /// Publishes the approved version.
    pub async fn publish(&self, key: &str, id: &str) -> Result<(), CallError> {
        let call = no_body("releaseService", Method::POST, service_path(id, "/release"));
        self.empty(key, call).await
    }

    /// Withdraws the service from the app.
    pub async fn unpublish(&self, key: &str, id: &str) -> Result<(), CallError> {
        let call = no_body(
            "unpublishService",
            Method::DELETE,
            service_path(id, "/release"),
        );
        self.empty(key, call).await.map(drop)
    }

    pub async fn keys(&self, key: &str, id: &str) -> Result<Option<Keys>, CallError> {
        self.json(key, get("getServiceKeys", service_path(id, "/keys"), &[]))
            .await
    }

    /// Makes the service's `which` key anew; the other keeps working.
    pub async fn regenerate(
        &self,
        key: &str,
        id: &str,
        which: KeyType,
    ) -> Result<Option<Keys>, CallError> {
        let path = service_path(id, &format!("/keys/{}", which.name()));
        let call = no_body("regenerateServiceKey", Method::PUT, path);
        self.json(key, call).await
    }
}

fn get<'a>(operation: &'static str, path: String, query: &'a [(&'a str, String)]) -> Call<'a, ()> {
    Call {
        operation,
        method: Method::GET,
        path,
        query,
        body: None,
        repeatable: true,
    }
}

fn no_body(operation: &'static str, method: Method, path: String) -> Call<'static, ()> {
    Call {
        operation,
        method,
        path,
        query: &[],
        body: None,
        repeatable: true,
    }
}

/// `/services/<id><rest>`, the id escaped (it comes from the platform).
fn service_path(id: &str, rest: &str) -> String {
    let id: String = id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{SERVICES}/{id}{rest}")
}

/// A success, a not-found the caller reads as none, or the error the status says.
fn classify(
    operation: &'static str,
    status: StatusCode,
    body: Vec<u8>,
) -> Result<(StatusCode, Vec<u8>), CallError> {
    let code = status.as_u16();
    match status {
        s if s.is_success() || s == StatusCode::NOT_FOUND => Ok((status, body)),
        StatusCode::TOO_MANY_REQUESTS => Err(CallError::RateLimited { operation }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(CallError::KeyRefused {
            operation,
            status: code,
        }),
        s if s.is_server_error() => Err(CallError::ServerError {
            operation,
            status: code,
        }),
        _ => Err(CallError::Refused {
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
    fn a_service_id_is_escaped_in_its_path() {
        assert_eq!(
            service_path("01J0/../x", "/keys"),
            "/services/01J0%2F%2E%2E%2Fx/keys"
        );
        assert_eq!(
            service_path("01EYNQ0864HKYR1Q9PXPJ18W7G", ""),
            "/services/01EYNQ0864HKYR1Q9PXPJ18W7G"
        );
    }

    #[test]
    fn statuses_become_errors_that_say_what_to_do() {
        let body = br#"{"title":"Bad","detail":"name is empty"}"#.to_vec();
        let e = classify("updateService", StatusCode::BAD_REQUEST, body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IO's manage API refused updateService (400): name is empty"
        );
        let e = classify("getServiceKeys", StatusCode::FORBIDDEN, Default::default()).unwrap_err();
        assert_eq!(e.reason(), "ManageKeyRefused");
        let e = classify(
            "getServiceKeys",
            StatusCode::BAD_GATEWAY,
            Default::default(),
        )
        .unwrap_err();
        assert!(e.maybe_done());
        assert!(classify("getServiceKeys", StatusCode::NOT_FOUND, Default::default()).is_ok());
    }
}
