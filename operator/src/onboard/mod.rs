//! `municipio onboard`: MunicipalityTenant manifests for a region, from the ISTAT list of
//! municipalities, for review in a GitOps pull request.
//!
//! Each row gives `spec.municipality` (name, ISTAT and cadastral codes, province, IPA code
//! `c_<cadastral code>`); a template gives the rest (environment, quota, workloads; pagoPA and
//! IO are left out of the default, since fiscal codes and keys are not in the list). A template
//! may enable identity for the whole region: its strings may hold `{tenant}`, `{ipaCode}` and
//! `{istatCode}`, filled per municipality. Every tenant is checked by the
//! same `validate` as the cluster; a row that cannot become a valid tenant is reported with its
//! line, and the others are still written.

pub mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::labels::{PROVINCE_LABEL, REGION_LABEL};
use crate::yaml::to_yaml;
use names::{Municipality, fold, tenant_names};

/// The template used without `--template`: a portal per municipality in uat, its namespace
/// kept if the tenant is deleted, and a small quota.
pub const DEFAULT_TEMPLATE: &str = include_str!("default-template.yaml");

/// One row of the ISTAT list (`data/README.md` describes the columns).
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub istat_code: String,
    pub name: String,
    pub name_it: String,
    pub region: String,
    pub province: String,
    pub cadastral_code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {source}")]
    Csv {
        path: PathBuf,
        line: u64,
        source: csv::Error,
    },
    #[error("{path}: {reason}")]
    Template { path: String, reason: String },
}

/// Which rows to onboard: a row is taken when it matches one of the regions (if any are
/// given) and one of the provinces (if any are given). Case is ignored.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub regions: Vec<String>,
    pub provinces: Vec<String>,
}

impl Selection {
    fn takes(&self, row: &Row) -> bool {
        let any = |wanted: &[String], value: &str| {
            wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(value))
        };
        any(&self.regions, &row.region) && any(&self.provinces, &row.province)
    }
}

/// The ISTAT list of December 2024 (`data/istat-comuni.csv`), built in: names are decided
/// against it too, so that a file holding only some rows (a region's) gives the same names
/// as the whole list.
const REFERENCE_LIST: &str = include_str!("../../../data/istat-comuni.csv");

/// The rows of the list with their line numbers (the header is line 1).
pub fn read_rows(path: &Path) -> Result<Vec<(u64, Row)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_rows(path, &text)
}

fn parse_rows(path: &Path, text: &str) -> Result<Vec<(u64, Row)>, Error> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.deserialize::<Row>() {
        let line = rows.len() as u64 + 2;
        let row = record.map_err(|source| Error::Csv {
            path: path.to_owned(),
            line: source.position().map_or(line, |p| p.line()),
            source,
        })?;
        rows.push((line, row));
    }
    Ok(rows)
}

/// The template: a MunicipalityTenant without `metadata.name` and `spec.municipality`.
pub fn template(path: Option<&Path>) -> Result<Value, Error> {
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|source| Error::Read {
                path: p.to_owned(),
                source,
            })?,
        ),
        None => (
            "the default template".to_owned(),
            DEFAULT_TEMPLATE.to_owned(),
        ),
    };
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| Error::Template {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    if !value.is_object() || !value["spec"].is_object() {
        return Err(Error::Template {
            path: name,
            reason: "a template is a MunicipalityTenant with a spec".to_owned(),
        });
    }
    // Said once here rather than on every row made from it.
    let unknown = municipio_crds::decode::unknown_fields(&value);
    if !unknown.is_empty() {
        let fields: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        return Err(Error::Template {
            path: name,
            reason: fields.join("; "),
        });
    }
    Ok(value)
}

/// What onboarding made: each tenant's name and manifest, in the list's order, and a line per
/// row that could not become a valid tenant.
#[derive(Debug, Default)]
pub struct Onboarded {
    pub tenants: Vec<(String, String)>,
    pub problems: Vec<String>,
}

/// The tenants for the selected rows. Names are decided over the built-in list and all of
/// `rows`, so that a municipality's name depends neither on the selection nor on which rows
/// the file holds.
pub fn onboard(rows: &[(u64, Row)], selection: &Selection, template: &Value) -> Onboarded {
    let reference = parse_rows(Path::new("data/istat-comuni.csv"), REFERENCE_LIST)
        .expect("the built-in ISTAT list parses (a test reads it)");
    let mut all: BTreeMap<&str, Municipality<'_>> = BTreeMap::new();
    for (_, r) in reference.iter().chain(rows) {
        all.insert(
            &r.istat_code,
            Municipality {
                istat_code: &r.istat_code,
                italian_name: &r.name_it,
                province: &r.province,
            },
        );
    }
    let all: Vec<Municipality<'_>> = all.into_values().collect();
    let names = tenant_names(&all);
    let mut out = Onboarded::default();
    for (line, row) in rows.iter().filter(|(_, r)| selection.takes(r)) {
        let name = &names[&row.istat_code];
        match tenant(row, name, template) {
            Ok(manifest) => out.tenants.push((name.clone(), manifest)),
            Err(problems) => out.problems.extend(
                problems
                    .into_iter()
                    .map(|p| format!("line {line}: {} {name}: {p}", row.istat_code)),
            ),
        }
    }
    out
}

/// The manifest of one tenant, or what makes it invalid (`<field path>: <rule>`).
fn tenant(row: &Row, name: &str, template: &Value) -> Result<String, Vec<String>> {
    let mut object = template.clone();
    object["apiVersion"] = json!("tenancy.municipio.io/v1alpha1");
    object["kind"] = json!("MunicipalityTenant");
    let metadata = object["metadata"].take();
    let mut labels: BTreeMap<String, Value> = metadata
        .get("labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    labels.insert(REGION_LABEL.to_owned(), json!(fold(&row.region, 63)));
    labels.insert(PROVINCE_LABEL.to_owned(), json!(fold(&row.province, 63)));
    let mut metadata = metadata.as_object().cloned().unwrap_or_default();
    metadata.insert("name".to_owned(), json!(name));
    metadata.insert("labels".to_owned(), json!(labels));
    object["metadata"] = Value::Object(metadata);
    let ipa_code = format!("c_{}", row.cadastral_code.to_ascii_lowercase());
    fill(
        &mut object["spec"],
        &[
            ("{tenant}", name),
            ("{ipaCode}", &ipa_code),
            ("{istatCode}", &row.istat_code),
        ],
    );
    object["spec"]["municipality"] = json!({
        "name": format!("Comune di {}", row.name),
        "istatCode": row.istat_code,
        "cadastralCode": row.cadastral_code,
        "ipaCode": ipa_code,
        "province": row.province,
    });
    let typed = municipio_crds::decode(&object)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    municipio_crds::validate(&typed).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.problem))
            .collect::<Vec<_>>()
    })?;
    Ok(to_yaml(&object))
}

/// Puts each municipality's own values in the template's strings: `{tenant}` (the tenant's
/// name), `{ipaCode}` and `{istatCode}`, so that one template can give every municipality its
/// own callbacks and contacts (`https://{tenant}.comuni.regione.example/auth/callback`).
fn fill(value: &mut Value, placeholders: &[(&str, &str)]) {
    match value {
        Value::String(s) => {
            for (placeholder, with) in placeholders {
                if s.contains(placeholder) {
                    *s = s.replace(placeholder, with);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, placeholders)),
        Value::Object(map) => map.values_mut().for_each(|v| fill(v, placeholders)),
        _ => {}
    }
}

/// Writes one file per tenant, `<name>.yaml`, and a `kustomization.yaml` listing them, so that
/// the directory is a GitOps source as it is.
pub fn write_dir(dir: &Path, tenants: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut files: Vec<String> = Vec::new();
    for (name, manifest) in tenants {
        let file = format!("{name}.yaml");
        std::fs::write(dir.join(&file), manifest)?;
        files.push(file);
    }
    files.sort();
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    });
    std::fs::write(dir.join("kustomization.yaml"), to_yaml(&kustomization))
}

/// The tenants as one multi-document YAML stream.
pub fn stream(tenants: &[(String, String)]) -> String {
    tenants
        .iter()
        .map(|(_, m)| format!("---\n{m}"))
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(istat: &str, name: &str, province: &str, cadastral: &str) -> Row {
        Row {
            istat_code: istat.into(),
            name: name.into(),
            name_it: name.split('/').next().unwrap().into(),
            region: "Lombardia".into(),
            province: province.into(),
            cadastral_code: cadastral.into(),
        }
    }

    #[test]
    fn a_row_becomes_a_valid_tenant_from_the_default_template() {
        let rows = vec![(2, row("015146", "Milano", "MI", "F205"))];
        let out = onboard(&rows, &Selection::default(), &template(None).unwrap());
        assert_eq!(out.problems, Vec::<String>::new());
        let (name, manifest) = &out.tenants[0];
        assert_eq!(name, "milano");
        let tenant: Value = serde_yaml_ng::from_str(manifest).unwrap();
        assert_eq!(tenant["spec"]["municipality"]["istatCode"], "015146");
        assert_eq!(tenant["spec"]["municipality"]["ipaCode"], "c_f205");
        assert_eq!(tenant["spec"]["municipality"]["name"], "Comune di Milano");
        assert_eq!(tenant["metadata"]["labels"][REGION_LABEL], "lombardia");
        assert_eq!(tenant["metadata"]["labels"][PROVINCE_LABEL], "mi");
    }

    #[test]
    fn a_template_may_enable_identity_with_each_municipalitys_own_values() {
        let rows = [(2, row("015146", "Milano", "MI", "F205"))];
        let template: Value = serde_yaml_ng::from_str(
            r#"
spec:
  environment: uat
  identity:
    enabled: true
    methods: [spid, cie]
    level: SpidL2
    attributes: [fiscalNumber, name, familyName]
    redirectUris: ["https://{tenant}.comuni.regione.example/auth/callback"]
    contacts: {email: "servizi.{ipaCode}@regione.example", pec: "protocollo@pec.regione.example"}
"#,
        )
        .unwrap();
        let out = onboard(&rows, &Selection::default(), &template);
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let tenant: Value = serde_yaml_ng::from_str(&out.tenants[0].1).unwrap();
        let identity = &tenant["spec"]["identity"];
        assert_eq!(
            identity["redirectUris"][0],
            "https://milano.comuni.regione.example/auth/callback"
        );
        assert_eq!(
            identity["contacts"]["email"],
            "servizi.c_f205@regione.example"
        );
    }

    #[test]
    fn a_bad_row_is_reported_with_its_line_and_the_others_are_written() {
        let rows = vec![
            (2, row("015146", "Milano", "MI", "F205")),
            (3, row("15147", "Broken", "MI", "F2055")),
        ];
        let out = onboard(&rows, &Selection::default(), &template(None).unwrap());
        assert_eq!(out.tenants.len(), 1);
        assert!(
            out.problems
                .iter()
                .any(|p| p.starts_with("line 3: 15147 broken: spec.municipality.istatCode")),
            "{:?}",
            out.problems
        );
    }

    #[test]
    fn names_depend_neither_on_the_selection_nor_on_the_other_rows() {
        let rows = vec![
            (2, row("016070", "Castro", "BG", "C337")),
            (3, row("075096", "Castro", "LE", "C336")),
        ];
        let only_bergamo = Selection {
            provinces: vec!["bg".into()],
            ..Selection::default()
        };
        let out = onboard(&rows, &only_bergamo, &template(None).unwrap());
        assert_eq!(out.tenants.len(), 1);
        assert_eq!(out.tenants[0].0, "castro-bg");
        // A file with Bergamo's Castro alone: still suffixed, as in the whole list.
        let alone = onboard(&rows[..1], &Selection::default(), &template(None).unwrap());
        assert_eq!(alone.tenants[0].0, "castro-bg");
    }

    #[test]
    fn the_built_in_list_is_the_whole_of_italy() {
        let rows = parse_rows(Path::new("built-in"), REFERENCE_LIST).unwrap();
        assert_eq!(rows.len(), 7896);
    }
}
