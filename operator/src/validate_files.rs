//! `municipio validate`: the `validate` rules of the crds crate run offline over manifest files,
//! for a GitOps pipeline's pre-merge step. One line per problem:
//! `<file>: <tenant name>: <field path>: <message>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kube::ResourceExt;
use municipio_crds::MunicipalityTenant;
use municipio_crds::identifiers::NamespaceName;

use crate::manifests::{self, Document};

pub const API_VERSION: &str = "tenancy.municipio.io/v1alpha1";
pub const KIND: &str = "MunicipalityTenant";

/// The outcome of a run: how many tenants were read and every problem found, in file order.
#[derive(Debug, Default)]
pub struct Report {
    pub tenants: usize,
    pub problems: Vec<String>,
    /// What is valid but looks wrong, in the same form.
    pub warnings: Vec<String>,
}

/// Validates every document of the given files and directories.
pub fn validate_paths(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    let files = match manifests::files(paths) {
        Ok(files) => files,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let mut tenants = Vec::new();
    for file in files {
        match manifests::read(&file) {
            Err(e) => report.problems.push(e.to_string()),
            Ok(docs) if docs.is_empty() => report
                .problems
                .push(format!("{}: no manifest in this file", file.display())),
            Ok(docs) => {
                for doc in docs {
                    match doc.map_err(|e| vec![e.to_string()]).and_then(tenant_of) {
                        Ok(tenant) => tenants.push((file.clone(), tenant)),
                        Err(problems) => report.problems.extend(problems),
                    }
                }
            }
        }
    }
    report.tenants = tenants.len();
    for (file, tenant) in &tenants {
        match municipio_crds::validate(tenant) {
            Err(errors) => {
                for e in errors {
                    report.problems.push(format!(
                        "{}: {}: {}: {}",
                        file.display(),
                        tenant.name_any(),
                        e.path,
                        e.problem
                    ));
                }
            }
            Ok(valid) => {
                for w in municipio_crds::validate::warnings(&valid) {
                    report.warnings.push(format!(
                        "{}: {}: warning: {w}",
                        file.display(),
                        tenant.name_any(),
                    ));
                }
            }
        }
    }
    report.problems.extend(conflicts(&tenants));
    if report.tenants == 0 && report.problems.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        report.problems.push(format!(
            "no objects passed to validate: no {KIND} in {}",
            names.join(", ")
        ));
    }
    report
}

/// Reads a document as a MunicipalityTenant, strictly: what the CRD's schema refuses (a type, a
/// bound, a pattern, a second item of a keyed list) or a field the API does not know is named
/// with its path (one line each), as the API server would refuse it.
pub fn tenant_of(doc: Document) -> Result<MunicipalityTenant, Vec<String>> {
    let file = doc.file.display();
    let api_version = doc
        .value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let kind = doc.value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    if api_version != API_VERSION || kind != KIND {
        let what = if kind.is_empty() {
            "a document without a kind".to_owned()
        } else {
            format!("a {api_version} {kind}")
        };
        return Err(vec![format!(
            "{file}: document {} is {what}, not a {API_VERSION} {KIND}",
            doc.index
        )]);
    }
    let name = doc
        .value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .map_or_else(|| format!("document {}", doc.index), str::to_owned);
    municipio_crds::decode(&doc.value).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{file}: {name}: {e}"))
            .collect()
    })
}

/// Rules across the tenants of one run: names, ISTAT codes and namespaces are one per
/// municipality, as the webhook enforces in the cluster.
fn conflicts(tenants: &[(PathBuf, MunicipalityTenant)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: HashMap<(&str, String), (&Path, String)> = HashMap::new();
    for (file, t) in tenants {
        let name = t.name_any();
        let namespace = NamespaceName::requested(t.spec.namespace.as_deref(), &name);
        for (path, value) in [
            ("metadata.name", name.clone()),
            (
                "spec.municipality.istatCode",
                t.spec.municipality.istat_code.clone(),
            ),
            ("spec.namespace", namespace),
        ] {
            match seen.get(&(path, value.clone())) {
                Some((other_file, other)) => problems.push(format!(
                    "{}: {name}: {path}: {value:?} is also used by tenant {other} ({}); each municipality needs its own",
                    file.display(),
                    other_file.display()
                )),
                None => {
                    seen.insert((path, value), (file, name.clone()));
                }
            }
        }
    }
    problems
}
