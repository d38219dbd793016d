//! The pagoPA back office's client against a fake back office (`tests/pagopa-backoffice`) that
//! checks every request and answer against the project's description of its API
//! (`docs/platforms/pagopa-backoffice-api.yaml`) with openapi-core; and the registration check
//! on what it read. No cluster.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use municipio_crds::validate::{AuxDigit, PagoPaConnector};
use municipio_operator::connectors::pagopa::backoffice::BackofficeClient;
use municipio_operator::connectors::pagopa::registration::check;
use municipio_operator::metrics::Metrics;
use serde_json::{Value, json};
use support::fake::Fake;
use time::OffsetDateTime;

const BROKER: &str = "80050050154";
const KEY: &str = "broker-key";

fn modena() -> PagoPaConnector {
    let text = std::fs::read_to_string(support::repo_root().join("examples/modena.yaml")).unwrap();
    let t: municipio_crds::MunicipalityTenant = serde_yaml_ng::from_str(&text).unwrap();
    municipio_crds::validate(&t).unwrap().pagopa.unwrap()
}

/// An institution of the broker with its station, as the back office lists it.
fn institution(tax_code: &str, station: &str, aux: &str, segregation: Option<&str>) -> Value {
    let mut i = json!({
        "companyName": format!("Comune {tax_code}"), "taxCode": tax_code, "intermediated": true,
        "brokerCompanyName": "Regione", "brokerTaxCode": BROKER, "model": 1, "auxDigit": aux,
        "stationId": station, "stationState": "enabled", "version": "2", "ciStatus": true,
        "activationDate": "2024-01-01T00:00:00Z",
    });
    if let Some(s) = segregation {
        i["segregationCode"] = json!(s);
    }
    i
}

fn iban(tax_code: &str, iban: &str) -> Value {
    json!({"ciFiscalCode": tax_code, "ciName": "Comune", "iban": iban, "status": "ENABLED",
           "validityDate": "2024-01-01T00:00:00Z"})
}

/// The broker as the back office has it: Modena's registration, as its spec says, among
/// `others` more institutions with an IBAN each.
fn broker_with(others: usize) -> Value {
    let p = modena();
    let tax = p.entity_fiscal_code.to_string();
    let AuxDigit::Three { segregation_code } = &p.aux_digit else {
        panic!("Modena's example uses aux digit 3")
    };
    let mut institutions = vec![institution(
        &tax,
        &p.station_id.to_string(),
        "3",
        Some(segregation_code),
    )];
    let mut ibans: Vec<Value> = p
        .ibans
        .iter()
        .map(|i| iban(&tax, i.iban.as_str()))
        .collect();
    for n in 0..others {
        let other = format!("9{n:010}");
        institutions.push(institution(
            &other,
            &format!("{BROKER}_01"),
            "3",
            Some("01"),
        ));
        ibans.push(iban(&other, &format!("IT00X{n:022}")));
    }
    json!({"code": BROKER, "key": KEY, "institutions": institutions, "ibans": ibans})
}

fn client(fake: &Fake, rate: u32) -> BackofficeClient {
    BackofficeClient::new(
        &format!("{}/backoffice/external/ec/v1", fake.base),
        NonZeroU32::new(rate).unwrap(),
        Duration::from_secs(5),
        Arc::new(Metrics::new()),
    )
}

fn calls(state: &Value, operation: &str) -> usize {
    state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == operation)
        .count()
}

#[tokio::test]
async fn a_broker_of_500_institutions_is_read_in_5_pages_of_each_list_and_matches() {
    let fake = Fake::start("pagopa-backoffice", 50, &[]);
    // 499 others and Modena: 500 institutions; 499 IBANs and Modena's.
    fake.control("brokers", broker_with(499)).await;
    let snapshot = client(&fake, 40).snapshot(KEY, BROKER).await.unwrap();
    assert_eq!(snapshot.institutions.len(), 500);
    assert_eq!(snapshot.ibans.len(), 499 + modena().ibans.len());
    let state = fake.state().await;
    assert_eq!(
        calls(&state, "getBrokerInstitutions"),
        5,
        "{:#}",
        state["requests"]
    );
    assert_eq!(
        calls(&state, "getBrokerIbans"),
        5 + usize::from(modena().ibans.len() > 1)
    );
    assert_eq!(check(&modena(), &snapshot, OffsetDateTime::now_utc()), []);
    fake.assert_no_violations().await;
}

#[tokio::test]
async fn a_429_is_waited_out_an_outage_is_an_error_and_a_fix_on_the_platform_is_seen() {
    let fake = Fake::start("pagopa-backoffice", 50, &[]);
    let mut broker = broker_with(3);
    broker["ibans"][0]["status"] = json!("DISABLED");
    fake.control("brokers", broker).await;
    let client = client(&fake, 40);
    fake.control(
        "faults",
        json!({"operation": "getBrokerIbans", "count": 2, "status": 429}),
    )
    .await;
    let snapshot = client.snapshot(KEY, BROKER).await.expect("429s retried");
    let found = check(&modena(), &snapshot, OffsetDateTime::now_utc());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].reason(), "IbanNotActive");
    // An outage: an error that says which platform and which call, never a verdict.
    fake.control(
        "faults",
        json!({"operation": "*", "count": 100, "status": 500}),
    )
    .await;
    let error = client.snapshot(KEY, BROKER).await.unwrap_err();
    assert_eq!(error.reason(), "PlatformFailed");
    assert!(
        error
            .to_string()
            .starts_with("the pagoPA back office failed getBrokerInstitutions"),
        "{error}"
    );
    fake.control("faults", json!({"clear": true})).await;
    // Fixed in the back office: the next read sees it.
    fake.control("brokers", broker_with(3)).await;
    let state = fake.state().await;
    let before = state["requests"].as_array().unwrap().len();
    let snapshot = client.snapshot(KEY, BROKER).await.unwrap();
    assert_eq!(check(&modena(), &snapshot, OffsetDateTime::now_utc()), []);
    assert!(fake.state().await["requests"].as_array().unwrap().len() > before);
    fake.assert_no_violations().await;
}

#[tokio::test]
async fn another_brokers_key_and_an_unknown_broker_are_told_apart() {
    let fake = Fake::start("pagopa-backoffice", 50, &[]);
    fake.control("brokers", broker_with(1)).await;
    let mut other = broker_with(0);
    other["code"] = json!("00000000000");
    other["key"] = json!("other-key");
    fake.control("brokers", other).await;
    let client = client(&fake, 40);
    let refused = client.snapshot("other-key", BROKER).await.unwrap_err();
    assert_eq!(refused.reason(), "PlatformKeyRefused");
    let refused = client.snapshot("no-such-key", BROKER).await.unwrap_err();
    assert_eq!(refused.reason(), "PlatformKeyRefused");
    // A broker the back office has nothing of: nothing registered, not an error.
    fake.control(
        "brokers",
        json!({"code": "11111111111", "key": "empty-key"}),
    )
    .await;
    let snapshot = client.snapshot("empty-key", "11111111111").await.unwrap();
    assert!(snapshot.institutions.is_empty() && snapshot.ibans.is_empty());
    assert_eq!(
        check(&modena(), &snapshot, OffsetDateTime::now_utc())[0].reason(),
        "InstitutionNotRegistered"
    );
    fake.assert_no_violations().await;
}
