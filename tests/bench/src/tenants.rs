//! The benchmark's tenants: municipalities from the ISTAT list made into tenants by the same
//! code as `municipio onboard`, each given pagoPA and IO (from the Modena example; with
//! `--identity`, its identity connector too) and one workload, and a source Secret with its
//! keys. And their children, built by the operator's own
//! builder, for the methods that write them without the operator.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use serde_json::{Value, json};

use municipio_crds::MunicipalityTenant;
use municipio_crds::identifiers::EntityFiscalCode;
use municipio_operator::children::{self, Owner};
use municipio_operator::config::OperatorConfig;
use municipio_operator::connectors::identity::publish::with_throwaway_keys;
use municipio_operator::dereference;
use municipio_operator::onboard::{self, Selection};

/// Label binding a source Secret to one tenant.
const TENANT_BINDING: &str = "tenancy.municipio.io/tenant";

/// Lombardy's municipalities first, then the rest of Italy's, in the list's order: N up to
/// 1,502 is a part of Lombardy, 7,896 is Italy.
pub fn municipalities(
    repo: &Path,
    n: usize,
    identity: bool,
) -> Result<Vec<MunicipalityTenant>, String> {
    let rows =
        onboard::read_rows(&repo.join("data/istat-comuni.csv")).map_err(|e| e.to_string())?;
    let template = onboard::template(None).map_err(|e| e.to_string())?;
    let onboarded = onboard::onboard(&rows, &Selection::default(), &template);
    if !onboarded.problems.is_empty() {
        return Err(onboarded.problems.join("\n"));
    }
    let modena = example(repo)?;
    let mut tenants: Vec<MunicipalityTenant> = onboarded
        .tenants
        .iter()
        .map(|(_, yaml)| serde_yaml_ng::from_str::<Value>(yaml).map_err(|e| e.to_string()))
        .collect::<Result<Vec<Value>, String>>()?
        .into_iter()
        .map(|t| with_connectors(t, &modena, identity))
        .collect::<Result<_, _>>()?;
    let lombardy = |t: &MunicipalityTenant| {
        t.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(municipio_operator::labels::REGION_LABEL))
            == Some(&"lombardia".to_owned())
    };
    tenants.sort_by_key(|t| !lombardy(t)); // stable: the list's order within each part
    if n > tenants.len() {
        return Err(format!(
            "the ISTAT list has {} municipalities, not {n}",
            tenants.len()
        ));
    }
    tenants.truncate(n);
    Ok(tenants)
}

fn example(repo: &Path) -> Result<Value, String> {
    let path = repo.join("examples/modena.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The onboarded tenant with Modena's pagoPA and IO (and identity), keys from its own source
/// Secret, and its one workload using them with one replica.
fn with_connectors(
    mut tenant: Value,
    modena: &Value,
    identity: bool,
) -> Result<MunicipalityTenant, String> {
    let name = tenant["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let istat = tenant["spec"]["municipality"]["istatCode"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    tenant["spec"]["municipality"]["fiscalCode"] = json!(fiscal_code(&istat));
    let keys = source_secret_name(&name);
    let mut pagopa = modena["spec"]["pagopa"].clone();
    pagopa["subscriptionKey"]["secretName"] = json!(keys);
    let mut io = modena["spec"]["io"].clone();
    for service in io["services"].as_array_mut().into_iter().flatten() {
        service["apiKey"]["secretName"] = json!(keys);
    }
    tenant["spec"]["pagopa"] = pagopa;
    tenant["spec"]["io"] = io;
    let mut connectors = vec!["pagopa", "io"];
    if identity {
        let mut section = modena["spec"]["identity"].clone();
        section["redirectUris"] = json!([format!(
            "https://{name}.comuni.regione.example/auth/callback"
        )]);
        section.as_object_mut().map(|s| s.remove("homepage"));
        tenant["spec"]["identity"] = section;
        connectors.push("identity");
    }
    let workload = &mut tenant["spec"]["workloads"][0];
    workload["connectors"] = json!(connectors);
    workload["replicas"] = json!(1);
    let typed: MunicipalityTenant =
        serde_json::from_value(tenant).map_err(|e| format!("{name}: {e}"))?;
    municipio_crds::validate(&typed).map_err(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("{name}: {}", errors.join("; "))
    })?;
    Ok(typed)
}

/// A valid entity fiscal code of 11 digits made from the ISTAT code (a stand-in: the real ones
/// are not in the list), its check digit found by the crate that checks it.
fn fiscal_code(istat: &str) -> String {
    let base = format!("8{istat:0>6}000");
    (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|c| c.parse::<EntityFiscalCode>().is_ok())
        .expect("one of ten check digits is right")
}

pub fn source_secret_name(tenant: &str) -> String {
    format!("{tenant}-keys")
}

/// The source Secret holding a tenant's pagoPA and IO keys, bound to it by label.
pub fn source_secret(tenant: &MunicipalityTenant, operator_namespace: &str) -> Secret {
    let name = tenant.metadata.name.clone().unwrap_or_default();
    let mut data = BTreeMap::new();
    let mut key = |k: String| {
        let value = format!("bench-{name}-{k}").into_bytes();
        data.insert(k, ByteString(value));
    };
    if let Some(k) = tenant
        .spec
        .pagopa
        .as_ref()
        .and_then(|p| p.subscription_key.as_ref())
    {
        key(k.primary_key.clone());
        if let Some(s) = &k.secondary_key {
            key(s.clone());
        }
    }
    for s in tenant.spec.io.iter().flat_map(|io| &io.services) {
        if let Some(k) = &s.api_key {
            key(k.key.clone());
        }
    }
    // For the methods without the operator, which makes its own identity keys Secret.
    if tenant.spec.identity.is_some() {
        key(municipio_operator::connectors::identity::CLIENT_SECRET_KEY.to_owned());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(source_secret_name(&name)),
            namespace: Some(operator_namespace.to_owned()),
            labels: Some([(TENANT_BINDING.to_owned(), name)].into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// The tenant's children as the operator builds them (its keys from its source Secret, its
/// identity artifacts signed with throwaway keys, made here, before any timing), as JSON
/// objects in the order the operator applies them (the namespace first). Without owner
/// references: written without the operator there is no owner, and the garbage collector
/// would delete children of an owner that does not exist.
pub fn children(
    tenant: &MunicipalityTenant,
    source: &Secret,
    config: &OperatorConfig,
) -> Result<Vec<Value>, String> {
    let name = tenant.metadata.name.clone().unwrap_or_default();
    let valid = municipio_crds::validate(tenant).map_err(|e| format!("{name}: {e:?}"))?;
    let find = |_: &str| Some(source);
    let mut keys = dereference::connector_keys(&valid, &config.operator_namespace, find)
        .map_err(|problems| format!("{name}: {problems:?}"))?;
    if valid.identity.is_some() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let published = with_throwaway_keys(&valid, config, now).map_err(|e| e.to_string())?;
        keys.set_identity(published);
    }
    let children = children::build(&valid, &Owner::of(tenant), config, &keys);
    Ok(children
        .to_values()
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
            o
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use municipio_operator::config::OperatorArgs;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        operator: OperatorArgs,
    }

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn lombardy_comes_first_then_italy_and_every_tenant_has_its_fifteen_children() {
        let config = Args::parse_from(["bench"]).operator.config();
        let all = municipalities(&repo(), 7896, false).unwrap();
        let region = |t: &MunicipalityTenant| {
            t.metadata.labels.as_ref().unwrap()[municipio_operator::labels::REGION_LABEL].clone()
        };
        assert!(all[..1502].iter().all(|t| region(t) == "lombardia"));
        assert!(all[1502..].iter().all(|t| region(t) != "lombardia"));
        // Every one is validated on the way; a sample is built (debug builds are slow).
        for t in all.iter().step_by(25) {
            let source = source_secret(t, &config.operator_namespace);
            let children = children(t, &source, &config).unwrap();
            assert_eq!(children.len(), 15, "{:?}", t.metadata.name);
            assert_eq!(children[0]["kind"], "Namespace", "the namespace first");
            assert!(
                children
                    .iter()
                    .all(|c| c["metadata"].get("ownerReferences").is_none())
            );
        }
        assert!(municipalities(&repo(), 7897, false).is_err());
        // With identity: the gateway's ConfigMap and Secret, and identity's own three.
        let with = municipalities(&repo(), 1, true).unwrap();
        let source = source_secret(&with[0], &config.operator_namespace);
        assert_eq!(children(&with[0], &source, &config).unwrap().len(), 20);
    }
}
