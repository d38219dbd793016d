//! The calls the operator makes to IO's manage API ([`super::contract`] their fields), on the
//! shared platform client: a create is never repeated, even when its answer is lost
//! ([`super::sync`] finds the service again before creating).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use crate::connectors::platform::{
    Call, CallError, Endpoint, Failure, PlatformClient, get, no_body, segment,
};
use crate::metrics::Metrics;

use super::contract::{
    KeyType, Keys, PAGE_LIMIT, Page, Publication, ReviewRequest, SERVICES, Service, ServicePayload,
};

/// The API's name in errors and on status.
pub const API: &str = "IO's manage API";

/// What a not-found means on a call about one service.
pub const GONE: &str = "the service is no longer on IO";

/// The client of one IO manage API, shared by every tenant's sync.
pub struct IoClient {
    api: PlatformClient,
}

/// A 404 where the contract has none.
fn not_found(operation: &'static str) -> Failure {
    Failure::Refused {
        operation,
        status: 404,
        detail: None,
    }
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
        let endpoint = Endpoint {
            api: API,
            platform: "io",
            base,
            per_second,
            timeout,
        };
        Self {
            api: PlatformClient::new(&endpoint, metrics),
        }
    }

    /// An error of IO's manage API.
    pub fn error(&self, failure: Failure) -> CallError {
        self.api.error(failure)
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
                .api
                .json(key, get("listServices", SERVICES.to_owned(), &query))
                .await?
                .ok_or_else(|| self.api.error(not_found("listServices")))?;
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
        self.api
            .json(key, call)
            .await?
            .ok_or_else(|| self.api.error(not_found("createService")))
    }

    /// The service's latest version, or none if IO has no such service.
    pub async fn get(&self, key: &str, id: &str) -> Result<Option<Service>, CallError> {
        self.api
            .json(key, get("getService", service_path(id, ""), &[]))
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
        self.api.json(key, call).await
    }

    /// The version published in the app, or none if none ever was.
    pub async fn publication(&self, key: &str, id: &str) -> Result<Option<Publication>, CallError> {
        self.api
            .json(
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
        self.api.empty(key, call, GONE).await
    }

    /// Publishes the approved version.
    pub async fn publish(&self, key: &str, id: &str) -> Result<(), CallError> {
        let call = no_body("releaseService", Method::POST, service_path(id, "/release"));
        self.api.empty(key, call, GONE).await
    }

    /// Withdraws the service from the app.
    pub async fn unpublish(&self, key: &str, id: &str) -> Result<(), CallError> {
        let call = no_body(
            "unpublishService",
            Method::DELETE,
            service_path(id, "/release"),
        );
        self.api.empty(key, call, GONE).await.map(drop)
    }

    pub async fn keys(&self, key: &str, id: &str) -> Result<Option<Keys>, CallError> {
        self.api
            .json(key, get("getServiceKeys", service_path(id, "/keys"), &[]))
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
        self.api.json(key, call).await
    }
}

/// `/services/<id><rest>`, the id escaped (it comes from the platform).
fn service_path(id: &str, rest: &str) -> String {
    format!("{SERVICES}/{}{rest}", segment(id))
}
