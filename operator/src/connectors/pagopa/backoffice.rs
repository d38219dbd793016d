//! The pagoPA back office's external API for creditor institutions, read-only and keyed per
//! broker: a broker's creditor institutions (one entry per institution and station) and their
//! IBANs, each list read in pages of at most 100. The project's description of the two
//! operations is `docs/platforms/pagopa-backoffice-api.yaml`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::connectors::platform::{CallError, Endpoint, PlatformClient, get, segment};
use crate::metrics::Metrics;

/// The API's name in errors and on status.
pub const API: &str = "the pagoPA back office";

/// The most entries a page holds.
pub const PAGE_LIMIT: u32 = 100;

/// A creditor institution and one of its stations, as the back office has them.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Institution {
    pub tax_code: String,
    #[serde(default)]
    pub station_id: Option<String>,
    pub station_state: String,
    /// `0`, `1`, `2`, `3`, or `0/3` for both.
    pub aux_digit: String,
    #[serde(default)]
    pub segregation_code: Option<String>,
    #[serde(default)]
    pub application_code: Option<String>,
    /// Whether the institution is enabled.
    pub ci_status: bool,
}

/// An IBAN of a creditor institution.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Iban {
    pub ci_fiscal_code: String,
    pub iban: String,
    pub status: String,
    /// From when payments may be credited to it (RFC 3339).
    pub validity_date: String,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub page: i32,
    pub total_pages: i64,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct InstitutionsPage {
    creditor_institutions: Vec<Institution>,
    page_info: PageInfo,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct IbansPage {
    ibans: Vec<Iban>,
    page_info: PageInfo,
}

/// A page of either list.
trait Paged: DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, PageInfo);
}

impl Paged for InstitutionsPage {
    type Item = Institution;
    fn into_parts(self) -> (Vec<Institution>, PageInfo) {
        (self.creditor_institutions, self.page_info)
    }
}

impl Paged for IbansPage {
    type Item = Iban;
    fn into_parts(self) -> (Vec<Iban>, PageInfo) {
        (self.ibans, self.page_info)
    }
}

/// What the back office has of one broker, read in one check.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub institutions: Vec<Institution>,
    pub ibans: Vec<Iban>,
}

/// The client of the back office, shared by every broker's check.
pub struct BackofficeClient {
    api: PlatformClient,
}

impl BackofficeClient {
    /// A client of the API at `base`
    /// (`https://api.platform.pagopa.it/backoffice/external/ec/v1`).
    pub fn new(
        base: &str,
        per_second: NonZeroU32,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let endpoint = Endpoint {
            api: API,
            platform: "pagopa",
            base,
            per_second,
            timeout,
        };
        Self {
            api: PlatformClient::new(&endpoint, metrics),
        }
    }

    /// Everything the back office has of `broker`: its institutions and IBANs, every page.
    pub async fn snapshot(&self, key: &str, broker: &str) -> Result<Snapshot, CallError> {
        let broker = segment(broker);
        let institutions = self
            .pages::<InstitutionsPage>(
                key,
                "getBrokerInstitutions",
                format!("/brokers/{broker}/creditor_institutions"),
            )
            .await?;
        let ibans = self
            .pages::<IbansPage>(key, "getBrokerIbans", format!("/brokers/{broker}/ibans"))
            .await?;
        Ok(Snapshot {
            institutions,
            ibans,
        })
    }

    /// Every page of one list; a broker the back office has nothing of (404) has none.
    async fn pages<P: Paged>(
        &self,
        key: &str,
        operation: &'static str,
        path: String,
    ) -> Result<Vec<P::Item>, CallError> {
        let mut items = Vec::new();
        let mut page: i32 = 0;
        loop {
            let query = [
                ("page", page.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ];
            let Some(answer) = self
                .api
                .json::<P, ()>(key, get(operation, path.clone(), &query))
                .await?
            else {
                return Ok(items);
            };
            let (got, info) = answer.into_parts();
            let short = got.len() < PAGE_LIMIT as usize;
            items.extend(got);
            if short || i64::from(page) + 1 >= info.total_pages {
                return Ok(items);
            }
            page += 1;
        }
    }
}
