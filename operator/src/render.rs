//! `municipio render`: the objects the controller would apply for each tenant, built by the
//! same code, printed as one YAML stream for review in a GitOps pull request. Secret values are
//! known only in the cluster: each is shown as the source it would be copied from. The identity
//! connector's artifacts are signed with keys made for the rendering and thrown away (the
//! cluster's are the operator's own), so they show what the gateway gets, and can be checked.

use std::path::PathBuf;

use municipio_crds::MunicipalityTenant;

use crate::children::metadata::object_name;
use crate::children::{self, ConnectorKeys, Owner};
use crate::config::OperatorConfig;
use crate::connectors::identity::gateway::IPA_CODE_LABEL;
use crate::connectors::identity::publish::with_throwaway_keys;
use crate::connectors::io::contract;
use crate::connectors::io::record::secret_name as io_record_secret;
use crate::{manifests, validate_files};
use municipio_crds::v1alpha1::Connector;

fn files_named(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// The rendered stream, or the problems that stop it (the same lines as `municipio validate`).
/// `at`: the moment the identity artifacts are signed at (Unix seconds).
pub fn render_paths(
    paths: &[PathBuf],
    config: &OperatorConfig,
    at: i64,
) -> Result<String, Vec<String>> {
    let files = manifests::files(paths).map_err(|e| vec![e.to_string()])?;
    let mut out = String::new();
    let mut problems = Vec::new();
    let mut tenants = 0;
    for file in files {
        let docs = manifests::read(&file).map_err(|e| vec![e.to_string()])?;
        for doc in docs {
            let doc = match doc {
                Ok(doc) => doc,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            let tenant: MunicipalityTenant = match validate_files::tenant_of(doc) {
                Ok(t) => t,
                Err(errors) => {
                    problems.extend(errors);
                    continue;
                }
            };
            tenants += 1;
            match municipio_crds::validate(&tenant) {
                Err(errors) => problems.extend(errors.iter().map(|e| {
                    format!(
                        "{}: {}: {}: {}",
                        file.display(),
                        tenant.metadata.name.as_deref().unwrap_or(""),
                        e.path,
                        e.problem
                    )
                })),
                Ok(valid) => {
                    let mut keys = ConnectorKeys::placeholders(&valid, &config.operator_namespace);
                    if valid.identity.is_some() {
                        match with_throwaway_keys(&valid, config, at) {
                            Ok(published) => keys.set_identity(published),
                            Err(e) => {
                                problems.push(format!(
                                    "{}: {}: spec.identity: {e}",
                                    file.display(),
                                    valid.name
                                ));
                                continue;
                            }
                        }
                    }
                    let children = children::build(&valid, &Owner::of(&tenant), config, &keys);
                    let objects = children.to_values();
                    out.push_str(&format!(
                        "# tenant {}: {} objects\n",
                        valid.name,
                        objects.len()
                    ));
                    for object in objects {
                        out.push_str("---\n");
                        out.push_str(&crate::yaml::to_yaml(&redact(object)));
                    }
                    out.push_str(&io_platform(&valid, &config.operator_namespace));
                }
            }
        }
    }
    if tenants == 0 && problems.is_empty() {
        // As `kubectl apply` says of an empty input: nothing rendered is an error, not a pass.
        problems.push(format!(
            "no objects passed to render: no {} in {}",
            validate_files::KIND,
            files_named(paths)
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// What the operator would send to IO's manage API for each managed service, as comments: the
/// service created (or updated, when IO has one of its name), then how it is published.
fn io_platform(valid: &municipio_crds::ValidTenant, operator_namespace: &str) -> String {
    use municipio_crds::v1alpha1::IoPublication;
    let Some(io) = &valid.io else {
        return String::new();
    };
    let mut out = String::new();
    for (name, service) in io.managed() {
        let then = match service.publication {
            IoPublication::Automatic => {
                "submitted for review (PUT /services/{id}/review, auto_publish: true): published once approved"
            }
            IoPublication::Manual => {
                "submitted for review (PUT /services/{id}/review, auto_publish: false): a person publishes it once approved"
            }
            IoPublication::Unpublished => {
                "withdrawn from the app if published (DELETE /services/{id}/release)"
            }
        };
        let payload = contract::payload(io, service);
        let json = serde_json::to_string_pretty(&payload).expect("JSON");
        out.push_str(&format!(
            "# IO manage API, service {name}: POST /services if IO has none named {:?} for {}, else PUT /services/{{id}}, with:\n",
            payload.name, payload.organization.fiscal_code
        ));
        for line in json.lines() {
            out.push_str(&format!("#   {line}\n"));
        }
        out.push_str(&format!(
            "# then {then}; its API key is read into Secret {operator_namespace}/{} (GET /services/{{id}}/keys).\n",
            io_record_secret(valid.name.as_str())
        ));
    }
    out
}

/// Shows a Secret's placeholders as readable `stringData` rather than base64 `data`. What the
/// identity connector makes (keys, the workloads' credential) is never rendered.
fn redact(mut object: serde_json::Value) -> serde_json::Value {
    let made = object["metadata"]["labels"][IPA_CODE_LABEL].is_string()
        || object["metadata"]["name"] == object_name(Connector::Identity).as_str();
    let shown_as = match made {
        true => "<made in the cluster by the operator>",
        false => "<set in the cluster from a source Secret>",
    };
    if object["kind"] == "Secret"
        && let Some(data) = object.as_object_mut().and_then(|o| o.remove("data"))
    {
        let shown: serde_json::Map<String, serde_json::Value> = data
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| (k.clone(), serde_json::Value::String(shown_as.to_owned())))
            .collect();
        object["stringData"] = serde_json::Value::Object(shown);
    }
    object
}
