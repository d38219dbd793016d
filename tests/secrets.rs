//! The keys of pagoPA and IO never leak. Every source Secret holds canary values; the operator
//! runs at the most verbose level, in JSON and then in text, through a tenant's life: created,
//! Ready, a key rotated, a key missing (an error naming it), and deleted. Then the canaries,
//! as written and base64-encoded, are looked for everywhere else they could end up: both logs,
//! Events, the tenant's status, every ConfigMap, the metrics, `municipio render`'s output and
//! the messages of `municipio validate`. Only the tenant's own Secrets may hold them.

mod support;

use std::process::Command;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use municipio_crds::MunicipalityTenant;
use municipio_operator::yaml;
use support::tenants::{create_ready, namespace, source_secret, tenant};
use support::{Operator, eventually, install_crd, unique_name};

/// The canaries: distinctive, and unlike anything else in a cluster.
fn canaries(run: &str) -> Vec<(String, String)> {
    [
        "primary",
        "secondary",
        "tributi",
        "anagrafe-cie",
        "elettorale",
        "polizia-locale",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), format!("CANARY-{k}-{run}-7f3a9c")))
    .collect()
}

/// Every form a canary could leak in: as written, and base64 at each of the three alignments
/// (a value inside a larger base64 text starts anywhere).
fn forms(canary: &str) -> Vec<String> {
    use base64_like::encode;
    let mut out = vec![canary.to_owned()];
    for pad in 0..3 {
        let shifted = format!("{}{canary}", "x".repeat(pad));
        let encoded = encode(shifted.as_bytes());
        // Skip the characters that depend on the padding bytes, and the end's.
        let skip = (pad * 4).div_ceil(3) + 1;
        let core: String = encoded.chars().skip(skip).collect();
        out.push(core[..core.len().saturating_sub(4)].to_owned());
    }
    out
}

/// A small base64 encoder, so the test needs no crate of its own for it.
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn leaks(what: &str, text: &str, canaries: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (_, canary) in canaries {
        for form in forms(canary) {
            if text.contains(&form) {
                found.push(format!("{what} holds {form:?} (of {canary})"));
            }
        }
    }
    found
}

#[test]
fn the_base64_forms_are_found_inside_larger_base64() {
    let canary = "CANARY-x-7f3a9c";
    for prefix in ["", "a", "ab", "abc"] {
        let encoded = base64_like::encode(format!("{prefix}{canary}:tail").as_bytes());
        assert!(
            forms(canary).iter().skip(1).any(|f| encoded.contains(f)),
            "{prefix:?}: {encoded}"
        );
    }
    assert_eq!(base64_like::encode(b"hello"), "aGVsbG8=");
}

#[tokio::test]
async fn source_keys_appear_nowhere_but_in_the_tenants_own_secrets() {
    let client = support::client().await;
    install_crd(&client).await;
    let run = unique_name("canary");
    let operator_ns = format!("{run}-system");
    namespace(&client, &operator_ns).await;
    let canaries = canaries(&run);
    let name = unique_name("canary");
    let keys = |names: &[&str]| -> Vec<(String, String)> {
        canaries
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    for (secret, names) in [
        ("pagopa", &["primary", "secondary"][..]),
        (
            "io",
            &["tributi", "anagrafe-cie", "elettorale", "polizia-locale"][..],
        ),
    ] {
        let data = keys(names);
        let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        source_secret(
            &client,
            &operator_ns,
            &format!("{name}-{secret}"),
            &name,
            &data,
        )
        .await;
    }

    // The most verbose operator, in JSON.
    let everything = [("MUNICIPIO_LOG", "trace")];
    let json_log = format!("{run}-json");
    let operator = Operator::start_with_env(
        &run,
        &operator_ns,
        &json_log,
        "operator",
        &["--log-format", "json", "--secret-resync-seconds", "2"],
        &everything,
    );
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    create_ready(&client, &tenant(&name, &run)).await;

    // A key rotated, and a key gone: an error that names the key.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &operator_ns);
    let rotated = format!("CANARY-rotated-{run}-7f3a9c");
    let change_pagopa_keys = |data: serde_json::Value| {
        let secrets = secrets.clone();
        let name = format!("{name}-pagopa");
        async move {
            let patch = serde_json::json!({ "data": data });
            secrets
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    };
    change_pagopa_keys(serde_json::json!({"primary": ByteString(rotated.clone().into_bytes())}))
        .await;
    let copies: Api<Secret> = Api::namespaced(client.clone(), &name);
    eventually("the rotated key is copied", || async {
        copies
            .get("pagopa-connector")
            .await
            .ok()
            .and_then(|s| s.data)
            .is_some_and(|d| d.values().any(|v| v.0 == rotated.as_bytes()))
    })
    .await;
    change_pagopa_keys(serde_json::json!({"secondary": null})).await;
    eventually("the missing key is reported", || async {
        tenants
            .get(&name)
            .await
            .ok()
            .and_then(|t| t.status)
            .is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == "Ready" && c.status == "False" && c.message.contains("secondary")
                })
            })
    })
    .await;
    let metrics = {
        let addr = operator.http_addr().await;
        let out = Command::new("curl")
            .args(["-s", &format!("http://{addr}/metrics")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(metrics.contains("municipio_reconciles_total"), "{metrics}");
    drop(operator);

    // The same operator in text, on the same tenant: a restart, then the tenant deleted.
    let text_log = format!("{run}-text");
    let operator =
        Operator::start_with_env(&run, &operator_ns, &text_log, "operator", &[], &everything);
    let statuses = serde_json::to_string(&tenants.get(&name).await.unwrap().status).unwrap();
    let config_maps = serde_json::to_string(
        &Api::<ConfigMap>::namespaced(client.clone(), &name)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items,
    )
    .unwrap();
    // The detector works: the tenant's own Secret, as the API server returns it, holds them.
    let own = serde_json::to_string(&copies.get("io-connector").await.unwrap()).unwrap();
    assert!(
        !leaks("io-connector", &own, &canaries).is_empty(),
        "the canaries are found where they belong: {own}"
    );
    tenants
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the tenant is gone", || async {
        tenants.get_opt(&name).await.unwrap().is_none()
    })
    .await;
    drop(operator);
    let mut events = String::new();
    for ns in ["default", name.as_str(), operator_ns.as_str()] {
        let list = Api::<Event>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap();
        events.push_str(&serde_json::to_string(&list.items).unwrap());
    }
    assert!(
        events.contains(&name),
        "the tenant's Events are there to be searched"
    );

    // render and validate, on the tenant as a file.
    let file = std::env::temp_dir().join(format!("{run}.yaml"));
    std::fs::write(
        &file,
        yaml::to_yaml(&serde_json::to_value(tenant(&name, &run)).unwrap()),
    )
    .unwrap();
    let municipio = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_municipio"))
            .args(args)
            .arg(&file)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let rendered = municipio(&["render", "-f"]);
    assert!(rendered.contains("kind: Secret"), "{rendered}");
    let validated = municipio(&["validate", "-f"]);

    let all_canaries: Vec<(String, String)> = canaries
        .iter()
        .cloned()
        .chain([("rotated".to_owned(), rotated)])
        .collect();
    let json_text = std::fs::read_to_string(Operator::log_path(&json_log)).unwrap();
    let text_text = std::fs::read_to_string(Operator::log_path(&text_log)).unwrap();
    assert!(json_text.contains("TRACE") || json_text.contains("\"level\":\"TRACE\""));
    assert!(
        text_text.contains("TRACE"),
        "the text log is at trace level"
    );
    let mut found = Vec::new();
    for (what, text) in [
        ("the JSON log", &json_text),
        ("the text log", &text_text),
        ("the Events", &events),
        ("the tenant's status", &statuses),
        ("the tenant's ConfigMaps", &config_maps),
        ("the metrics", &metrics),
        ("render's output", &rendered),
        ("validate's output", &validated),
    ] {
        found.extend(leaks(what, text, &all_canaries));
    }
    assert!(found.is_empty(), "{found:#?}");
}
