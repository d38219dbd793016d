//! Managed IO services, against the real API server and a stateful fake of IO's manage API
//! (`tests/io-platform`), which checks every request the operator sends and every answer it
//! gives against the project's description of the API (`docs/platforms/io-manage-api.yaml`)
//! with openapi-core: each test ends by asserting that nothing broke the contract.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use municipio_crds::MunicipalityTenant;
use municipio_crds::v1alpha1::{IoServiceStatus, SecretKeyRef};
use serde_json::{Value, json};
use support::Operator;
use support::fake::Fake;
use support::tenants::{create_ready, from_manifest, source_secret};

/// Bergamo's fiscal code in its example.
const FISCAL_CODE: &str = "99999999016";

/// The fake IO platform.
struct FakeIo(Fake);

impl std::ops::Deref for FakeIo {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.0
    }
}

impl FakeIo {
    /// A fake refusing with 429 past `rate` calls a second.
    fn start(rate: u32) -> Self {
        Self::start_with(rate, &[])
    }

    fn start_with(rate: u32, flags: &[&str]) -> Self {
        Self(Fake::start("io-platform", rate, flags))
    }

    fn api(&self) -> String {
        format!("{}/api/v1/manage", self.base)
    }

    /// The services the fake holds.
    async fn services(&self) -> Vec<Value> {
        self.state().await["services"].as_array().unwrap().clone()
    }
}

/// The flags of an operator on the fake at `api`: a poll every second, calls given up after 2 s.
fn manage_flags(api: &str) -> [&str; 6] {
    [
        "--io-manage-url",
        api,
        "--io-manage-poll",
        "1s",
        "--io-manage-timeout",
        "2s",
    ]
}

/// An operator of its own that keeps managed services on `fake`, polling every second.
async fn operator_on(fake: &FakeIo, prefix: &str) -> (kube::Client, Operator) {
    let api = fake.api();
    support::tenants::operator_of_its_own_with(prefix, &manage_flags(&api)).await
}

/// Bergamo's example (one referenced service, one managed) under a fresh name, its keys in
/// the source Secret `<name>-io`, with the manage key `manage-<name>`, which the fake knows.
async fn bergamo(
    client: &kube::Client,
    operator: &Operator,
    fake: &FakeIo,
    name: &str,
) -> MunicipalityTenant {
    let mut t = from_manifest("examples/lombardia/bergamo.yaml", name, &operator.run);
    let io = t.spec.io.as_mut().unwrap();
    io.manage_key = Some(SecretKeyRef {
        secret_name: format!("{name}-io"),
        key: "manage-key".to_owned(),
    });
    io.services[0].api_key.as_mut().unwrap().secret_name = format!("{name}-io");
    let manage_key = format!("manage-{name}");
    fake.control(
        "institutions",
        json!({"key": manage_key, "fiscal_code": FISCAL_CODE}),
    )
    .await;
    source_secret(
        client,
        &operator.namespace,
        &format!("{name}-io"),
        name,
        &[("tributi", "referenced-key"), ("manage-key", &manage_key)],
    )
    .await;
    t
}

/// A fake platform, an operator on it, and a tenant of Bergamo's example, Ready.
async fn bergamo_ready_on_a_fake(prefix: &str) -> (FakeIo, kube::Client, Operator, String) {
    let fake = FakeIo::start(50);
    let (client, operator) = operator_on(&fake, prefix).await;
    let name = support::unique_name("bg");
    let tenant = bergamo(&client, &operator, &fake, &name).await;
    create_ready(&client, &tenant).await;
    (fake, client, operator, name)
}

/// Bergamo's example as another municipality (fiscal code `fiscal_code(n)`, its own manage
/// key), Ready: its name.
async fn another_municipality(
    client: &kube::Client,
    operator: &Operator,
    fake: &FakeIo,
    n: usize,
) -> String {
    let name = support::unique_name("bg");
    let mut tenant = bergamo(client, operator, fake, &name).await;
    tenant.spec.municipality.fiscal_code = Some(fiscal_code(n));
    let institution = json!({"key": format!("manage-{name}"), "fiscal_code": fiscal_code(n)});
    fake.control("institutions", institution).await;
    create_ready(client, &tenant).await;
    name
}

/// Waits until the tenant's managed service has its id, and checks that IO holds `services`
/// services, that one among them.
async fn found_among(client: &kube::Client, fake: &FakeIo, tenant: &str, services: usize) {
    let status = service_status(client, tenant, "anagrafe", "found again", |s| {
        s.id.is_some()
    })
    .await;
    let held = fake.services().await;
    assert_eq!(
        held.len(),
        services,
        "one service each, never two: {held:#?}"
    );
    assert!(
        held.iter()
            .any(|s| s["id"].as_str() == status.id.as_deref())
    );
}

/// The status of the tenant's managed service `service`, once it satisfies `until`.
async fn service_status(
    client: &kube::Client,
    tenant: &str,
    service: &str,
    what: &str,
    until: impl Fn(&IoServiceStatus) -> bool,
) -> IoServiceStatus {
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    let mut found = None;
    let mut last = None;
    for _ in 0..480 {
        let t = api.get(tenant).await.unwrap();
        let status = t
            .status
            .iter()
            .flat_map(|s| &s.connectors)
            .find_map(|c| c.io.clone());
        let s = status
            .iter()
            .flat_map(|io| &io.services)
            .find(|s| s.name == service)
            .cloned();
        if let Some(s) = s.filter(|s| until(s)) {
            found = Some(s);
            break;
        }
        last = status;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    found.unwrap_or_else(|| panic!("{tenant}: {what}: not within 120 s; IO status: {last:#?}"))
}

/// The value of `variable` in the tenant's IO connector Secret.
async fn workload_key(client: &kube::Client, namespace: &str, variable: &str) -> Option<String> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt("io-connector")
        .await
        .unwrap()?;
    let value = secret.data?.get(variable)?.0.clone();
    Some(String::from_utf8(value).unwrap())
}

async fn patch_managed(client: &kube::Client, tenant: &str, managed: Value) {
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    let t = api.get(tenant).await.unwrap();
    let mut services = serde_json::to_value(&t.spec.io.as_ref().unwrap().services).unwrap();
    let entry = services
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["name"] == "anagrafe")
        .unwrap();
    json_patch::merge(&mut entry["managed"], &managed);
    let patch = json!({"spec": {"io": {"services": services}}});
    api.patch(tenant, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_managed_service_is_created_reviewed_published_updated_and_its_key_reaches_the_workloads()
{
    let (fake, client, operator, name) = bergamo_ready_on_a_fake("io-life").await;

    // Created once, and submitted for review with automatic publication.
    let submitted = service_status(&client, &name, "anagrafe", "submitted", |s| {
        s.state.as_deref() == Some("submitted")
    })
    .await;
    let services = fake.services().await;
    assert_eq!(services.len(), 1, "{services:#?}");
    let on_io = &services[0];
    assert_eq!(
        submitted.id.as_ref(),
        on_io["id"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(on_io["auto_publish"], true);
    assert_eq!(on_io["data"]["organization"]["fiscal_code"], FISCAL_CODE);
    assert_eq!(
        on_io["data"]["organization"]["department_name"],
        "Servizi demografici"
    );
    assert_eq!(on_io["data"]["metadata"]["topic_id"], 3);
    assert!(!submitted.published && !submitted.in_sync);

    // Its key, read from IO, reaches the workloads; the referenced service's from its Secret.
    let primary = on_io["keys"]["primary_key"].as_str().unwrap().to_owned();
    support::eventually(
        "the managed service's key in the tenant's Secret",
        || async {
            workload_key(&client, &name, "IO_API_KEY_ANAGRAFE")
                .await
                .as_deref()
                == Some(&primary)
        },
    )
    .await;
    assert_eq!(
        workload_key(&client, &name, "IO_API_KEY_TRIBUTI")
            .await
            .as_deref(),
        Some("referenced-key")
    );
    assert_eq!(submitted.key_in_use.as_deref(), Some("primary"));

    // PagoPA approves: IO publishes it, and the tenant says so.
    let id = on_io["id"].as_str().unwrap().to_owned();
    fake.control(&format!("review/{id}"), json!({"outcome": "approved"}))
        .await;
    let published = service_status(&client, &name, "anagrafe", "published and in sync", |s| {
        s.published && s.in_sync
    })
    .await;
    assert_eq!(published.state.as_deref(), Some("approved"));

    // A change of the spec: updated on IO, and submitted again.
    patch_managed(
        &client,
        &name,
        json!({"description": "Avvisi di anagrafe, nuova versione."}),
    )
    .await;
    service_status(&client, &name, "anagrafe", "the change submitted", |s| {
        s.state.as_deref() == Some("submitted")
    })
    .await;
    let on_io = fake.services().await.remove(0);
    assert_eq!(
        on_io["data"]["description"],
        "Avvisi di anagrafe, nuova versione."
    );
    assert_eq!(
        on_io["publication"], "published",
        "the approved version stays in the app"
    );

    // Rejected: the reason, verbatim, on the tenant; nothing more is sent until the spec
    // changes.
    let reason = "Manca l'informativa sulla privacy: aggiungere privacy_url.";
    fake.control(
        &format!("review/{id}"),
        json!({"outcome": "rejected", "reason": reason}),
    )
    .await;
    let rejected = service_status(&client, &name, "anagrafe", "rejected", |s| {
        s.state.as_deref() == Some("rejected")
    })
    .await;
    assert_eq!(rejected.review_reason.as_deref(), Some(reason));
    assert!(!rejected.in_sync);
    let calls_for = |state: Value| {
        state["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["id"] == id.as_str())
            .count()
    };
    let before = calls_for(fake.state().await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        calls_for(fake.state().await),
        before,
        "a rejected service is not asked about again until the spec changes (poll: 1 s)"
    );

    // Fixed in the spec: updated and submitted again; approved, it replaces the published one.
    patch_managed(
        &client,
        &name,
        json!({"links": {"privacyUrl": "https://www.comune.bergamo.it/privacy-anagrafe"}}),
    )
    .await;
    service_status(&client, &name, "anagrafe", "the fix submitted", |s| {
        s.state.as_deref() == Some("submitted")
    })
    .await;
    fake.control(&format!("review/{id}"), json!({"outcome": "approved"}))
        .await;
    service_status(&client, &name, "anagrafe", "the fix published", |s| {
        s.in_sync
    })
    .await;
    let on_io = fake.services().await.remove(0);
    assert_eq!(
        on_io["data"]["metadata"]["privacy_url"],
        "https://www.comune.bergamo.it/privacy-anagrafe"
    );
    let state = fake.state().await;
    assert_eq!(state["counts"]["creates"], 1, "{state:#}");
    fake.assert_no_violations().await;
    // Never a key in the operator's log.
    let log = operator.log();
    assert!(!log.contains(&primary), "a key in the log");
    assert!(
        !log.contains(&format!("manage-{name}")),
        "the manage key in the log"
    );
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_or_whose_operator_is_killed_makes_one_service() {
    let fake = FakeIo::start(50);
    let (client, operator) = operator_on(&fake, "io-lost").await;
    // The first create is made, and answered late, past the client's patience.
    fake.control(
        "faults",
        json!({"operation": "createService", "count": 1, "slow": 3, "after": true}),
    )
    .await;
    let name = support::unique_name("bg");
    let tenant = bergamo(&client, &operator, &fake, &name).await;
    create_ready(&client, &tenant).await;
    found_among(&client, &fake, &name, 1).await;

    // A create made, and answered with a server error (another municipality's key).
    fake.control(
        "faults",
        json!({"operation": "createService", "count": 1, "status": 500, "after": true}),
    )
    .await;
    let third = another_municipality(&client, &operator, &fake, 3).await;
    found_among(&client, &fake, &third, 2).await;

    // Another tenant (another municipality's key), its operator killed while IO makes the
    // service: the next operator finds it, and makes no other.
    let run = operator.run.clone();
    let operator_namespace = operator.namespace.clone();
    fake.control(
        "faults",
        json!({"operation": "createService", "count": 1, "slow": 4}),
    )
    .await;
    let other = another_municipality(&client, &operator, &fake, 2).await;
    support::eventually("the create under way", || async {
        let state = fake.state().await;
        state["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["operation"] == "createService")
            .count()
            >= 3
    })
    .await;
    operator.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        fake.services().await.len(),
        3,
        "the killed operator's create was made"
    );
    let api = fake.api();
    let flags = manage_flags(&api);
    let _operator = Operator::start_with(&run, &operator_namespace, &run, "operator", &flags);
    found_among(&client, &fake, &other, 3).await;
    assert_eq!(fake.state().await["counts"]["creates"], 3);
    fake.assert_no_violations().await;
}

#[tokio::test]
async fn the_keys_rotate_without_a_refused_message() {
    let (fake, client, _operator, name) = bergamo_ready_on_a_fake("io-rotate").await;
    let status = service_status(&client, &name, "anagrafe", "its key", |s| {
        s.key_in_use.is_some()
    })
    .await;
    let id = status.id.unwrap();
    support::eventually("the key in the tenant's Secret", || async {
        workload_key(&client, &name, "IO_API_KEY_ANAGRAFE")
            .await
            .is_some()
    })
    .await;
    let before = workload_key(&client, &name, "IO_API_KEY_ANAGRAFE")
        .await
        .unwrap();

    // A workload sends, all along, with the key the tenant's Secret holds at that moment.
    let sending = tokio::sync::watch::channel(true);
    let sender = {
        let (client, name, id, fake_base) =
            (client.clone(), name.clone(), id.clone(), fake.base.clone());
        let mut go = sending.1.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut sent = 0;
            while *go.borrow_and_update() {
                if let Some(key) = workload_key(&client, &name, "IO_API_KEY_ANAGRAFE").await {
                    http.post(format!("{fake_base}/__fake/messages"))
                        .json(&json!({"service_id": id, "key": key}))
                        .send()
                        .await
                        .unwrap();
                    sent += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        })
    };
    // The workloads cannot roll at first: the quota holds no pod more than the one running,
    // which a rolling update needs.
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let quota = |pods: i32| json!({"spec": {"quota": {"pods": pods}}});
    tenants
        .patch(&name, &PatchParams::default(), &Patch::Merge(&quota(1)))
        .await
        .unwrap();
    support::tenants::condition(&client, &name, "Ready", "True", Some("Ready")).await;
    patch_managed(&client, &name, json!({"keyRotation": "2026-12"})).await;
    service_status(&client, &name, "anagrafe", "rotation under way", |s| {
        s.rotating.is_some()
    })
    .await;
    support::eventually("the new key in the tenant's Secret", || async {
        workload_key(&client, &name, "IO_API_KEY_ANAGRAFE")
            .await
            .as_deref()
            != Some(&before)
    })
    .await;
    // While the workloads have not rolled, the key they had keeps working.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let state = fake.state().await;
    assert_eq!(
        state["services"][0]["keys"]["primary_key"],
        before.as_str(),
        "the key of the pods still running was made anew before they rolled"
    );
    tenants
        .patch(&name, &PatchParams::default(), &Patch::Merge(&quota(40)))
        .await
        .unwrap();
    let rotated = service_status(&client, &name, "anagrafe", "rotation done", |s| {
        s.key_rotation.as_deref() == Some("2026-12") && s.rotating.is_none()
    })
    .await;
    assert_eq!(rotated.key_in_use.as_deref(), Some("secondary"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    sending.0.send(false).unwrap();
    let sent = sender.await.unwrap();
    let after = workload_key(&client, &name, "IO_API_KEY_ANAGRAFE")
        .await
        .unwrap();
    assert_ne!(before, after, "the workloads moved onto the new key");
    let state = fake.state().await;
    let keys = &state["services"][0]["keys"];
    assert_eq!(keys["secondary_key"], after.as_str());
    assert_ne!(
        keys["primary_key"],
        before.as_str(),
        "the old key was made anew"
    );
    assert_eq!(
        state["messages"]["refused"].as_array().unwrap().len(),
        0,
        "a message refused during the rotation: {state:#}"
    );
    assert!(sent > 10, "the workload sent all along ({sent})");
    fake.assert_no_violations().await;
}

#[tokio::test]
async fn a_platform_outage_shows_on_status_and_leaves_the_tenant_ready() {
    let fake = FakeIo::start(50);
    let (client, operator) = operator_on(&fake, "io-down").await;
    // Server errors on every call (500, the one the published contract has).
    fake.control(
        "faults",
        json!({"operation": "*", "count": 1000, "status": 500}),
    )
    .await;
    let name = support::unique_name("bg");
    let tenant = bergamo(&client, &operator, &fake, &name).await;
    create_ready(&client, &tenant).await;
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    support::eventually("the outage on status", || async {
        let t = api.get(&name).await.unwrap();
        t.status.iter().flat_map(|s| &s.connectors).any(|c| {
            c.io.as_ref()
                .and_then(|io| io.platform_problem.as_deref())
                .is_some_and(|p| p.starts_with("PlatformFailed"))
        })
    })
    .await;
    support::tenants::condition(&client, &name, "Ready", "True", Some("Ready")).await;
    // And in the metrics: the tenant failing, the calls by result.
    let addr = operator.http_addr().await;
    let failing = "municipio_platform_tenants_failing{platform=\"io\"} 1";
    support::eventually("the failing tenant in the metrics", || async {
        metrics(&addr).await.contains(failing)
    })
    .await;
    let calls = "municipio_platform_calls_total{platform=\"io\",operation=\"listServices\",result=\"PlatformFailed\"}";
    let metrics = metrics(&addr).await;
    assert!(metrics.contains(calls), "{metrics}");
    fake.assert_no_violations().await;
}

/// The fake's validator is no formality: a request or an answer that breaks the description
/// is recorded.
#[tokio::test]
async fn the_contract_checker_catches_a_broken_request_and_a_broken_answer() {
    let fake = FakeIo::start(50);
    fake.control(
        "institutions",
        json!({"key": "k", "fiscal_code": FISCAL_CODE}),
    )
    .await;
    let http = reqwest::Client::new();
    let services = format!("{}/services", fake.api());
    // No organization, a scope that is not one, a negative payment limit.
    let broken = json!({"name": "x", "description": "y", "metadata": {"scope": "REGIONAL", "topic_id": 1}, "max_allowed_payment_amount": -1});
    let answer = http
        .post(&services)
        .header("Ocp-Apim-Subscription-Key", "k")
        .json(&broken)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let violations = fake.state().await["violations"].clone();
    assert_eq!(violations.as_array().unwrap().len(), 1, "{violations:#}");
    // A field misspelt (the platform would drop it, and the service be sent again for ever).
    let misspelt = json!({"name": "x", "description": "y", "organization": {"name": "Comune", "fiscal_code": FISCAL_CODE}, "metadata": {"scope": "LOCAL", "topic_id": 1, "privacyUrl": "https://x.example"}});
    let answer = http
        .post(&services)
        .header("Ocp-Apim-Subscription-Key", "k")
        .json(&misspelt)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let violations = fake.state().await["violations"].clone();
    assert_eq!(violations.as_array().unwrap().len(), 2, "{violations:#}");
    // An answer without the service's id.
    fake.control(
        "faults",
        json!({"operation": "createService", "count": 1, "corrupt": true}),
    )
    .await;
    let good = json!({"name": "x", "description": "y", "organization": {"name": "Comune", "fiscal_code": FISCAL_CODE}, "metadata": {"scope": "LOCAL", "topic_id": 1}});
    http.post(&services)
        .header("Ocp-Apim-Subscription-Key", "k")
        .json(&good)
        .send()
        .await
        .unwrap();
    let violations = fake.state().await["violations"].clone();
    let violations = violations.as_array().unwrap();
    assert_eq!(violations.len(), 3, "{violations:#?}");
    assert!(
        violations[2].as_str().unwrap().starts_with("response POST"),
        "{violations:#?}"
    );
    // A request without the manage key header is a violation too (the scheme requires it).
    http.get(&services).send().await.unwrap();
    let violations = fake.state().await["violations"].clone();
    assert!(
        violations.as_array().unwrap()[3..].iter().any(|v| v
            .as_str()
            .unwrap()
            .starts_with("request GET /api/v1/manage/services: Security")),
        "{violations:#}"
    );
}

/// The operator's metrics at `addr` (empty while it does not answer).
async fn metrics(addr: &str) -> String {
    let answer = reqwest::get(format!("http://{addr}/metrics")).await;
    match answer {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A valid entity fiscal code made from `n` (a stand-in, its check digit found by the parser).
fn fiscal_code(n: usize) -> String {
    let base = format!("7{n:06}000");
    (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|c| {
            c.parse::<municipio_crds::identifiers::EntityFiscalCode>()
                .is_ok()
        })
        .expect("one of ten check digits is right")
}

/// 1,000 municipalities, each with its manage key and one managed service, converge on a
/// platform that refuses more than 60 calls a second, without one refusal: the operator keeps
/// to its own rate of 40. Then, restarted, it makes no call at all: what it knows is in the
/// cluster.
#[tokio::test]
async fn a_thousand_tenants_converge_within_the_platforms_rate_and_rest_without_calls() {
    const TENANTS: usize = 1000;
    let fake = FakeIo::start_with(60, &["--auto-approve"]);
    let api = fake.api();
    let flags = [
        "--io-manage-url",
        api.as_str(),
        "--io-manage-rate",
        "40",
        "--io-manage-poll",
        "10s",
        // No drift check during the test: at rest means no call.
        "--io-manage-drift-check",
        "3650d",
    ];
    let (client, operator) = support::tenants::operator_of_its_own_with("io-region", &flags).await;
    let prefix = operator.run.clone();
    let names: Vec<String> = (0..TENANTS).map(|i| format!("{prefix}-{i}")).collect();
    let institutions: Vec<Value> = (0..TENANTS)
        .map(|i| json!({"key": format!("manage-{i}"), "fiscal_code": fiscal_code(i)}))
        .collect();
    fake.control("institutions", json!(institutions)).await;
    let tenants: Vec<MunicipalityTenant> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut t = from_manifest("examples/lombardia/bergamo.yaml", name, &operator.run);
            t.spec.workloads.clear();
            t.spec.municipality.fiscal_code = Some(fiscal_code(i));
            let io = t.spec.io.as_mut().unwrap();
            io.services.retain(|s| s.managed.is_some());
            io.manage_key = Some(SecretKeyRef {
                secret_name: format!("{name}-io"),
                key: "manage-key".to_owned(),
            });
            t
        })
        .collect();
    use futures::StreamExt;
    futures::stream::iter(tenants.iter().enumerate())
        .for_each_concurrent(16, |(i, t)| {
            let client = client.clone();
            let namespace = operator.namespace.clone();
            async move {
                let name = t.metadata.name.as_deref().unwrap();
                let key = format!("manage-{i}");
                source_secret(
                    &client,
                    &namespace,
                    &format!("{name}-io"),
                    name,
                    &[("manage-key", &key)],
                )
                .await;
                Api::<MunicipalityTenant>::all(client.clone())
                    .create(&Default::default(), t)
                    .await
                    .unwrap();
            }
        })
        .await;
    let api_tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let selector = format!("{}={}", support::TEST_RUN_LABEL, operator.run);
    let mut converged = 0;
    for _ in 0..(15 * 60 / 5) {
        let list = api_tenants
            .list(&kube::api::ListParams::default().labels(&selector))
            .await
            .unwrap();
        converged = list
            .items
            .iter()
            .filter(|t| {
                t.status.iter().flat_map(|s| &s.connectors).any(|c| {
                    c.io.as_ref()
                        .is_some_and(|io| io.services.iter().all(|s| s.in_sync && s.published))
                })
            })
            .count();
        if converged == TENANTS {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let state = fake.state().await;
    assert_eq!(
        converged, TENANTS,
        "converged within 15 minutes; the platform: {:#}",
        state["counts"]
    );
    let counts = &state["counts"];
    assert_eq!(counts["creates"], TENANTS, "{counts:#}");
    assert_eq!(
        counts["refused_for_load"], 0,
        "the platform's rate was exceeded: {counts:#}"
    );
    assert!(
        counts["max_per_second"].as_u64().unwrap() <= 60,
        "{counts:#}"
    );
    fake.assert_no_violations().await;

    // Restarted: every tenant reconciled again, and not one call to the platform.
    let calls = counts["calls"].as_u64().unwrap();
    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    operator.kill();
    let operator = Operator::start_with(
        &run,
        &namespace,
        &format!("{run}-again"),
        "operator",
        &flags,
    );
    let addr = operator.http_addr().await;
    support::eventually("every tenant reconciled after the restart", || async {
        let reconciled: f64 = metrics(&addr)
            .await
            .lines()
            .filter(|l| l.starts_with("municipio_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        reconciled >= TENANTS as f64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = fake.state().await["counts"]["calls"].as_u64().unwrap();
    assert_eq!(
        after, calls,
        "calls to the platform at rest, after a restart"
    );
}
