//! The identity connector's artifacts, checked by the tools Italy publishes: the SAML metadata
//! of an aggregated municipality by AgID's `spid-sp-test` (PyPI), in the public Full
//! aggregator profile with its extra checks; and the same tool failing on broken metadata, so
//! that a pass means something. No cluster.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use municipio_operator::connectors::identity::certificate::{Subject, certificate};
use municipio_operator::connectors::identity::keys::SigningKey;
use municipio_operator::connectors::identity::saml::{Aggregated, Aggregator, entity_id, metadata};
use time::OffsetDateTime;

const LOMBARDIA: Aggregator<'static> = Aggregator {
    gateway: "https://login.regione.example",
    company: "Regione Lombardia",
    vat_number: Some("IT12874720159"),
    fiscal_code: "80050050154",
    email: "spid@regione.example",
    phone: Some("+390267651"),
};

fn modena(attributes: &'static [&'static str]) -> Aggregated<'static> {
    Aggregated {
        ipa_code: "c_f257",
        organization: "Comune di Modena",
        url: "https://www.comune.modena.it",
        attributes,
    }
}

const ATTRIBUTES: &[&str] = &["fiscalNumber", "name", "familyName", "email"];
const DAY: i64 = 86_400;

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("a key"))
}

/// Signed metadata, with a certificate valid from `from` to `to` days from now.
fn signed(aggregated: &Aggregated<'_>, from: i64, to: i64) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let at = |days: i64| OffsetDateTime::from_unix_timestamp(now + days * DAY).unwrap();
    let subject = Subject {
        organization: aggregated.organization,
        ipa_code: aggregated.ipa_code,
        locality: "Modena",
        entity_id: &entity_id(LOMBARDIA.gateway, aggregated.ipa_code),
    };
    let cert = certificate(key(), &subject, at(from), at(to)).unwrap();
    metadata(&LOMBARDIA, aggregated, &[&cert], (key(), &cert)).unwrap()
}

/// spid-sp-test on `xml` in the public Full aggregator profile, extra checks included:
/// whether it passed, and what it said.
fn spid_sp_test(name: &str, xml: &str) -> (bool, String) {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        support::script_path("tests/python-tools", &["spid"], "spid-sp-test is needed")
    });
    let dir = std::env::temp_dir().join(support::unique_name("spid-sp-test"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(bin.join("spid_sp_test"))
        .arg("--metadata-url")
        .arg(format!("file://{}", file.display()))
        .args(["--profile", "spid-sp-ag-public-full", "--extra"])
        .current_dir(&dir)
        .output()
        .expect("spid_sp_test runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.success() && said.contains(" 0 failed"), said)
}

#[test]
fn spid_sp_test_passes_the_metadata_of_an_aggregated_municipality() {
    let (passed, said) = spid_sp_test("modena", &signed(&modena(ATTRIBUTES), -1, 730));
    assert!(passed, "{said}");
}

/// Broken on purpose, each in one way: the same tool fails, naming what is wrong.
#[test]
fn spid_sp_test_fails_on_broken_metadata() {
    let valid = signed(&modena(ATTRIBUTES), -1, 730);
    let cases = [
        (
            "expired-certificate",
            signed(&modena(ATTRIBUTES), -800, -1),
            "expired",
        ),
        (
            "no-attribute",
            signed(&modena(&[]), -1, 730),
            "RequestedAttribute",
        ),
        (
            "unknown-attribute",
            signed(&modena(&["fiscalNumber", "codiceFiscale"]), -1, 730),
            r#"The "codiceFiscale" attribute in RequestedAttribute element MUST be valid"#,
        ),
        (
            // Another municipality's IPA code put in after signing: the signature no longer
            // holds (IPA codes themselves are checked only online, against IndicePA).
            "changed-ipa-code",
            valid.replace("<spid:IPACode>c_f257<", "<spid:IPACode>c_a944<"),
            "signature MUST be valid",
        ),
        (
            "unsigned",
            {
                let start = valid.find("<ds:Signature").unwrap();
                let end = valid.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
                valid[..start].to_owned() + &valid[end..]
            },
            "Signature",
        ),
    ];
    for (name, xml, why) in cases {
        assert_ne!(xml, valid, "{name} is broken");
        let (passed, said) = spid_sp_test(name, &xml);
        assert!(!passed, "{name}: spid-sp-test passed it:\n{said}");
        assert!(said.contains(why), "{name}: {why:?} not in:\n{said}");
    }
}

// ---------------------------------------------------------------- OpenID Connect Federation

use municipio_operator::connectors::identity::federation::{
    RelyingParty, client_id, entity_configuration, jws,
};
use serde_json::{Value, json};

/// The verdict of `tests/federation-check` (spid-cie-oidc) on `leaf`, served as the entity
/// configuration of `leaf_sub` under a local trust anchor and the region's intermediate on
/// `port`, which registered `registered` as its federation keys.
fn federation_check(
    port: u16,
    leaf_sub: &str,
    leaf: &str,
    registered: &SigningKey,
    trust_mark: bool,
) -> Value {
    federation_check_of(json!({
        "port": port,
        "leaf": leaf,
        "leaf_sub": leaf_sub,
        "registered_jwks": {"keys": [registered.public_jwk()]},
        "require_trust_mark": trust_mark,
    }))
}

/// The verdict of `tests/federation-check` on its JSON input.
fn federation_check_of(input: Value) -> Value {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        support::script_path("tests/python-tools", &["oidc"], "spid-cie-oidc is needed")
    });
    let mut child = Command::new(bin.join("python"))
        .arg(support::repo_root().join("tests/federation-check"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the federation check runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no verdict ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.success(), verdict["valid"] == true, "{verdict}");
    verdict
}

fn federation_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("a key"))
}

/// Modena's entity configuration on a gateway at `gateway`, its federation signed by `signer`.
fn modena_entity_configuration(gateway: &str, ipa_code: &str, signer: &SigningKey) -> String {
    let region = format!("{gateway}/");
    let rp = RelyingParty {
        gateway,
        ipa_code,
        organization: "Comune di Modena",
        homepage: "https://www.comune.modena.it",
        contacts: &["comune.modena@cert.comune.modena.it"],
        authority_hints: &[&region],
        federation_keys: &[signer],
        protocol_keys: &[key()],
        encryption_keys: &[key()],
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    entity_configuration(&rp, now, 86_400).unwrap()
}

#[test]
fn spid_cie_oidc_resolves_the_trust_chain_down_to_the_municipality() {
    let port = support::free_port();
    let gateway = format!("http://127.0.0.1:{port}");
    let leaf = modena_entity_configuration(&gateway, "c_f257", federation_key());
    let sub = client_id(&gateway, "c_f257");
    let verdict = federation_check(port, &sub, &leaf, federation_key(), false);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["path"].as_array().unwrap().len(), 3, "{verdict}");
    assert_eq!(verdict["path"][0], sub.as_str());
    let rp = &verdict["final_metadata"]["openid_relying_party"];
    assert_eq!(rp["redirect_uris"][0], format!("{sub}callback/"));
    assert_eq!(rp["token_endpoint_auth_method"], "private_key_jwt");
}

/// Broken on purpose, each in one way: the same library refuses the chain.
#[test]
fn spid_cie_oidc_refuses_a_broken_entity_configuration() {
    let port = support::free_port();
    let gateway = format!("http://127.0.0.1:{port}");
    let sub = client_id(&gateway, "c_f257");
    let valid = modena_entity_configuration(&gateway, "c_f257", federation_key());
    let payload: Value = {
        use base64::Engine;
        let part = valid.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    let mut implicit = payload.clone();
    implicit["metadata"]["openid_relying_party"]["grant_types"] = json!(["implicit"]);
    let cases = [
        (
            "signed with a key the region did not register",
            modena_entity_configuration(&gateway, "c_f257", key()),
            false,
        ),
        (
            "another IPA code than the one the region registered",
            modena_entity_configuration(&gateway, "c_a944", federation_key()),
            false,
        ),
        (
            "a JWT that is not an entity statement",
            jws(&payload, federation_key(), "JWT").unwrap(),
            false,
        ),
        (
            "a grant type the region's policy does not allow",
            jws(&implicit, federation_key(), "entity-statement+jwt").unwrap(),
            false,
        ),
        (
            "no trust mark yet, where the anchor requires one (onboarding pending)",
            valid.clone(),
            true,
        ),
    ];
    for (what, leaf, trust_mark) in cases {
        let verdict = federation_check(port, &sub, &leaf, federation_key(), trust_mark);
        assert_eq!(verdict["valid"], false, "{what}: {verdict}");
        assert!(verdict["error"].is_string(), "{what}: {verdict}");
    }
}

// ---------------------------------------------------------------- What the operator publishes

use municipio_crds::v1alpha1::Connector;
use municipio_operator::config::OperatorConfig;
use municipio_operator::connectors::identity::publish::with_throwaway_keys;

/// The payload of a compact JWS.
fn payload_of(jws: &str) -> Value {
    use base64::Engine;
    let part = jws.split('.').nth(1).expect("a JWS has a payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Both official tools on a municipality's artifacts as published under `gateway`: the
/// federation at the gateway's public URLs (the anchor and the region's intermediate played
/// by the library, the region registering the federation keys the municipality publishes).
fn both_tools_pass(what: &str, metadata_xml: &str, entity_configuration: &str, gateway: &str) {
    let (passed, said) = spid_sp_test(what, metadata_xml);
    assert!(passed, "{what}: spid-sp-test:\n{said}");
    let payload = payload_of(entity_configuration);
    let verdict = federation_check_of(json!({
        "port": support::free_port(),
        "base": gateway,
        "leaf": entity_configuration,
        "leaf_sub": payload["sub"],
        "registered_jwks": payload["jwks"],
        "require_trust_mark": false,
    }));
    assert_eq!(verdict["valid"], true, "{what}: spid-cie-oidc: {verdict}");
    assert_eq!(verdict["path"][1], format!("{gateway}/"), "{verdict}");
}

/// Every example with identity, built by the operator's own code (as `municipio render` and
/// the controller build it), passes both tools.
#[test]
fn the_artifacts_of_every_example_with_identity_pass_both_official_tools() {
    let config = OperatorConfig::defaults();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut checked = 0;
    let mut tenants: Vec<MunicipalityTenant> = support::yaml_files("examples")
        .iter()
        .map(|file| serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap())
        .collect();
    // And the longest name of a real municipality, over the 64 characters a certificate's
    // organization holds, with a letter outside ASCII.
    let mut long = tenants
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some("modena"))
        .unwrap()
        .clone();
    long.spec.municipality.name =
        "Comune di Cortaccia sulla strada del vino/Kurtatsch an der Weinstraße".to_owned();
    tenants.push(long);
    for tenant in &tenants {
        let valid = municipio_crds::validate(tenant).unwrap();
        if valid.identity.is_none() {
            continue;
        }
        let published = with_throwaway_keys(&valid, &config, now).unwrap();
        let gateway = config.platform(Connector::Identity).url(valid.environment);
        both_tools_pass(
            &format!("{}-{checked}", valid.name),
            &published.artifacts.saml_metadata,
            &published.artifacts.entity_configuration,
            gateway,
        );
        checked += 1;
    }
    assert!(checked >= 2, "an example has identity");
}

// ---------------------------------------------------------------- The controller

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use municipio_crds::MunicipalityTenant;
use support::tenants::{
    condition, create_ready, event_says, keys_for, operator_of_its_own, operator_of_its_own_with,
    tenant, tenant_events,
};

const GATEWAY_NAMESPACE: &str = "municipio-identity";
const UAT_GATEWAY: &str = "https://login.uat.regione.example";

fn identity_status(t: &MunicipalityTenant) -> municipio_crds::v1alpha1::IdentityStatus {
    t.status
        .as_ref()
        .and_then(|s| s.connectors.iter().find(|c| c.name == Connector::Identity))
        .and_then(|c| c.identity.clone())
        .expect("status reports identity")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn the_operator_publishes_what_the_tools_accept_and_keeps_its_keys_across_restarts() {
    let (client, operator) = operator_of_its_own().await;
    let name = support::unique_name("identity");
    keys_for(&client, &operator, &name, &name).await;
    let t = create_ready(&client, &tenant(&name, &operator.run)).await;

    // Status: where the artifacts are, the ids, one current key of each purpose, what is left.
    let status = identity_status(&t);
    let object = format!("identity-{name}");
    assert_eq!(status.artifacts, format!("{GATEWAY_NAMESPACE}/{object}"));
    assert_eq!(status.client_id, format!("{UAT_GATEWAY}/c_f257/"));
    assert_eq!(
        status.entity_id,
        format!("{UAT_GATEWAY}/c_f257/pub-ag-full")
    );
    let purposes: Vec<(&str, bool)> = status
        .keys
        .iter()
        .map(|k| (k.purpose.as_str(), k.current))
        .collect();
    assert_eq!(
        purposes,
        [
            ("saml", true),
            ("federation", true),
            ("protocol", true),
            ("encryption", true)
        ]
    );
    assert!(status.next_rotation.is_some());
    assert_eq!(
        status.pending.len(),
        2,
        "spid and cie: {:?}",
        status.pending
    );
    for purpose in ["saml", "federation", "protocol", "encryption"] {
        event_says(
            &client,
            &name,
            "IdentityKeysMade",
            &format!("made {purpose} key"),
        )
        .await;
    }
    let made = tenant_events(&client, &name)
        .await
        .into_iter()
        .filter(|(_, r, _)| r == "IdentityKeysMade")
        .count();
    assert_eq!(made, 1, "a new tenant's keys are told in one Event");

    // The keys, in the operator's namespace, bound to the tenant; never in status or Events.
    let keys = Api::<Secret>::namespaced(client.clone(), &operator.namespace)
        .get(&format!("identity-keys-{name}"))
        .await
        .expect("the keys Secret");
    let data = keys.data.clone().unwrap();
    let client_secret = data["client-secret"].0.clone();
    assert_eq!(data.keys().filter(|k| k.ends_with(".key")).count(), 4);
    let shown = format!("{:?}{:?}", t.status, tenant_events(&client, &name).await);
    assert!(!shown.contains(&String::from_utf8_lossy(&client_secret).into_owned()));

    // What the gateway reads, and what the workloads get.
    let cm = Api::<ConfigMap>::namespaced(client.clone(), GATEWAY_NAMESPACE)
        .get(&object)
        .await
        .expect("the gateway's ConfigMap");
    assert_eq!(
        cm.metadata.labels.as_ref().unwrap()["identity.municipio.io/ipa-code"],
        "c_f257"
    );
    let published = cm.data.unwrap();
    let gateway_secret = Api::<Secret>::namespaced(client.clone(), GATEWAY_NAMESPACE)
        .get(&object)
        .await
        .expect("the gateway's Secret")
        .data
        .unwrap();
    assert_eq!(
        gateway_secret["client-secret.sha256"].0,
        sha256_hex(&client_secret).into_bytes()
    );
    assert_eq!(
        gateway_secret
            .keys()
            .filter(|k| k.ends_with(".pem"))
            .count(),
        3,
        "SAML, protocol and encryption keys; the federation key stays with the operator"
    );
    let workload = Api::<Secret>::namespaced(client.clone(), &name)
        .get("identity-connector")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(workload["IDENTITY_CLIENT_SECRET"].0, client_secret);

    // Both official tools accept what was published, as published.
    both_tools_pass(
        &name,
        &published["metadata.xml"],
        &published["entity-configuration.jwt"],
        UAT_GATEWAY,
    );

    // A new operator process keeps the keys: same ids, the Secret not written again.
    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    let operator = support::Operator::start(&run, &namespace);
    support::eventually("the restarted operator reconciles the tenant", || async {
        operator
            .log()
            .lines()
            .any(|l| l.contains("reconciled") && l.contains(&name))
    })
    .await;
    let again = condition(&client, &name, "Ready", "True", Some("Ready")).await;
    let kids = |s: &municipio_crds::v1alpha1::IdentityStatus| -> Vec<String> {
        s.keys.iter().map(|k| k.kid.clone()).collect()
    };
    assert_eq!(kids(&identity_status(&again)), kids(&status));
    let after = Api::<Secret>::namespaced(client.clone(), &operator.namespace)
        .get(&format!("identity-keys-{name}"))
        .await
        .unwrap();
    assert_eq!(
        after.metadata.resource_version,
        keys.metadata.resource_version
    );
}

#[tokio::test]
async fn an_unusable_keys_secret_makes_its_tenant_not_ready_naming_the_entry_and_no_other() {
    let (client, operator) = operator_of_its_own().await;
    let (broken, other) = (
        support::unique_name("identity-broken"),
        support::unique_name("identity-other"),
    );
    for name in [&broken, &other] {
        keys_for(&client, &operator, name, name).await;
        create_ready(&client, &tenant(name, &operator.run)).await;
    }
    let secrets = Api::<Secret>::namespaced(client.clone(), &operator.namespace);
    let keys = secrets
        .get(&format!("identity-keys-{broken}"))
        .await
        .unwrap();
    let entry = keys
        .data
        .unwrap()
        .keys()
        .find(|k| k.starts_with("saml.") && k.ends_with(".key"))
        .cloned()
        .unwrap();
    use base64::Engine;
    let garbage = base64::engine::general_purpose::STANDARD.encode(b"not a key");
    secrets
        .patch(
            &format!("identity-keys-{broken}"),
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {&entry: garbage}})),
        )
        .await
        .unwrap();
    let t = condition(
        &client,
        &broken,
        "Ready",
        "False",
        Some("IdentityKeysUnusable"),
    )
    .await;
    let ready = t
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(ready.message.contains(&entry), "{}", ready.message);
    // Not replaced by new keys: the federations hold the old ones.
    let still = secrets
        .get(&format!("identity-keys-{broken}"))
        .await
        .unwrap();
    assert_eq!(
        still.data.unwrap()[&entry].0,
        b"not a key",
        "the broken Secret is left for a person"
    );
    condition(&client, &other, "Ready", "True", Some("Ready")).await;
}

#[tokio::test]
async fn keys_rotate_on_schedule_with_both_published_in_the_overlap() {
    // A year's schedule in seconds: a successor is due 30 s after a key is made, signs 5 s
    // later, and the old key expires 40 s after it was made (then the successor's own is due
    // at 60 s).
    let (client, operator) =
        operator_of_its_own_with("rotate", &["--identity-key-rotation", "40s/10s/5s"]).await;
    let name = support::unique_name("identity-rotate");
    keys_for(&client, &operator, &name, &name).await;
    let first = identity_status(&create_ready(&client, &tenant(&name, &operator.run)).await);
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    support::eventually("a second key of each purpose is published", || async {
        let t = api.get(&name).await.unwrap();
        t.status.is_some() && identity_status(&t).keys.len() == 8
    })
    .await;
    let t = api.get(&name).await.unwrap();
    let both = identity_status(&t);
    for old in &first.keys {
        assert!(
            both.keys.iter().any(|k| k.kid == old.kid),
            "the old {} key is still published in the overlap",
            old.purpose
        );
    }
    let made: Vec<_> = tenant_events(&client, &name)
        .await
        .into_iter()
        .filter(|(_, r, _)| r == "IdentityKeysMade")
        .collect();
    assert!(
        made.len() >= 2,
        "the first keys, then their successors: {made:?}"
    );
    // After the old keys expire, only the new ones are left, and their retirement is told.
    support::eventually("the old keys are retired", || async {
        let t = api.get(&name).await.unwrap();
        let keys = identity_status(&t).keys;
        keys.len() == 4
            && !keys
                .iter()
                .any(|k| first.keys.iter().any(|o| o.kid == k.kid))
    })
    .await;
    event_says(&client, &name, "IdentityKeysRetired", "retired saml key").await;
    // Gone from the Secret too, not only from what is published.
    let stored = Api::<Secret>::namespaced(client.clone(), &operator.namespace)
        .get(&format!("identity-keys-{name}"))
        .await
        .unwrap()
        .data
        .unwrap();
    let kept: Vec<&String> = stored.keys().filter(|k| k.ends_with(".key")).collect();
    assert_eq!(kept.len(), 4, "the expired keys are deleted: {kept:?}");
}

#[tokio::test]
async fn a_retained_municipality_takes_its_keys_back_when_it_comes_back() {
    let (client, operator) = operator_of_its_own().await;
    let name = support::unique_name("identity-back");
    keys_for(&client, &operator, &name, &name).await;
    let t = tenant(&name, &operator.run);
    assert_eq!(
        t.spec.deletion_policy,
        municipio_crds::v1alpha1::DeletionPolicy::Retain
    );
    let first = identity_status(&create_ready(&client, &t).await);
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    api.delete(&name, &Default::default()).await.unwrap();
    support::eventually("the tenant is gone", || async {
        api.get_opt(&name).await.unwrap().is_none()
    })
    .await;
    let secrets = Api::<Secret>::namespaced(client.clone(), &operator.namespace);
    let keys = secrets
        .get(&format!("identity-keys-{name}"))
        .await
        .expect("the keys are retained with the namespace");
    assert!(
        keys.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(
        keys.metadata.labels.unwrap()["tenancy.municipio.io/retained"],
        "true"
    );

    // The same municipality (`tenant` gives each call an ISTAT code of its own).
    let back = identity_status(&create_ready(&client, &t).await);
    let kids = |s: &municipio_crds::v1alpha1::IdentityStatus| -> Vec<String> {
        s.keys.iter().map(|k| k.kid.clone()).collect()
    };
    assert_eq!(
        kids(&back),
        kids(&first),
        "the same keys, which the federations hold"
    );
    support::eventually("the keys Secret is owned again", || async {
        let keys = secrets.get(&format!("identity-keys-{name}")).await.unwrap();
        keys.metadata
            .owner_references
            .is_some_and(|o| !o.is_empty())
            && !keys
                .metadata
                .labels
                .is_some_and(|l| l.contains_key("tenancy.municipio.io/retained"))
    })
    .await;
}

#[tokio::test]
async fn disabling_identity_removes_what_was_published_for_the_gateway() {
    let (client, operator) = operator_of_its_own().await;
    let name = support::unique_name("identity-off");
    keys_for(&client, &operator, &name, &name).await;
    create_ready(&client, &tenant(&name, &operator.run)).await;
    let object = format!("identity-{name}");
    let gateway = Api::<ConfigMap>::namespaced(client.clone(), GATEWAY_NAMESPACE);
    assert!(gateway.get_opt(&object).await.unwrap().is_some());
    let off = json!({"spec": {
        "identity": {"enabled": false},
        "workloads": [{"name": "portale", "image": "registry.regione.example/comuni/portale:2.3.1",
                       "connectors": ["pagopa", "io"]}],
    }});
    Api::<MunicipalityTenant>::all(client.clone())
        .patch(&name, &PatchParams::default(), &Patch::Merge(&off))
        .await
        .unwrap();
    condition(&client, &name, "Ready", "True", Some("Ready")).await;
    support::eventually("the gateway's objects are gone", || async {
        gateway.get_opt(&object).await.unwrap().is_none()
            && Api::<Secret>::namespaced(client.clone(), GATEWAY_NAMESPACE)
                .get_opt(&object)
                .await
                .unwrap()
                .is_none()
    })
    .await;
    event_says(&client, &name, "Pruned", &object).await;
}
