//! The YAML and CSV entry points under arbitrary input (proptest): `validate`, `render` and
//! `onboard` report problems, and never panic, whatever a file holds. Three kinds of input: any
//! text; a valid tenant with one field replaced by a hostile value (control characters,
//! look-alikes, metacharacters, huge or negative numbers, wrong types); and ISTAT rows of
//! arbitrary fields. No cluster needed.

use std::path::PathBuf;

use clap::Parser;
use proptest::prelude::*;
use serde_json::Value;

use municipio_operator::config::{OperatorArgs, OperatorConfig};
use municipio_operator::onboard::{self, Selection};
use municipio_operator::{render, validate_files};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    operator: OperatorArgs,
}

fn config() -> OperatorConfig {
    Args::parse_from(["fuzz"]).operator.config()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of its own for each case (cases run one after the other, but tests in parallel).
fn file_with(test: &str, ext: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("municipio-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}.{ext}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Both YAML entry points on one file: neither may panic, and what validate accepts, render
/// renders.
fn validate_and_render(test: &str, text: &str) {
    let path = file_with(test, "yaml", text);
    let report = validate_files::validate_paths(std::slice::from_ref(&path));
    let rendered = render::render_paths(std::slice::from_ref(&path), &config(), 0);
    if report.problems.is_empty() && report.tenants > 0 {
        assert!(
            rendered.is_ok(),
            "validate accepted what render refused:\n{text}"
        );
    }
}

/// Strings an attacker or a typo would bring.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9-]{0,80}",
        Just("\u{0}\u{7}\u{1b}[2J\r\n".to_owned()),
        Just("comune-mоdena".to_owned()), // a Cyrillic о
        Just("\u{200b}system:masters".to_owned()),
        Just("$(id); rm -rf / `id` | & {{ .Values }} *anchor !!python/object".to_owned()),
        Just("x".repeat(70_000)),
        Just("１２３４５６".to_owned()), // fullwidth digits
        Just("kube-system".to_owned()),
        Just("nginx@sha256:abc".to_owned()),
    ]
}

/// Any JSON value, a little deep.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        hostile_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path (object keys and array indexes) of a JSON value.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                out.push(at.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(i.to_string());
                out.push(at.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn set(v: &mut Value, path: &[String], new: Value) {
    let pointer = format!("/{}", path.join("/"));
    if let Some(slot) = v.pointer_mut(&pointer) {
        *slot = new;
    }
}

fn modena() -> Value {
    let text = std::fs::read_to_string(repo_root().join("examples/modena.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_reported_never_a_panic(text in prop_oneof![
        any::<String>(),
        "[-:{}\\[\\] a-z0-9\n#&*!|>'\"%@`]{0,400}",
    ]) {
        validate_and_render("text", &text);
    }

    #[test]
    fn a_tenant_with_any_field_replaced_is_reported_never_a_panic(
        picks in prop::collection::vec((any::<prop::sample::Index>(), any_value()), 1..4)
    ) {
        let mut tenant = modena();
        let mut all = Vec::new();
        paths(&tenant, &mut Vec::new(), &mut all);
        for (index, value) in picks {
            let path = index.get(&all).clone();
            set(&mut tenant, &path, value);
        }
        let yaml = serde_yaml_ng::to_string(&tenant).unwrap();
        validate_and_render("field", &yaml);
        // And the typed entry point, when it deserializes.
        if let Ok(t) = serde_json::from_value::<municipio_crds::MunicipalityTenant>(tenant) {
            let _ = municipio_crds::validate(&t);
        }
    }

    #[test]
    fn any_istat_rows_are_reported_never_a_panic(
        rows in prop::collection::vec(prop::collection::vec(hostile_string(), 0..11), 0..6)
    ) {
        let header = "istat_code,name,name_it,name_other,region_code,region,province,cadastral_code,provincial_capital";
        let mut text = String::from(header);
        for row in rows {
            let fields: Vec<String> = row
                .iter()
                .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
                .collect();
            text.push('\n');
            text.push_str(&fields.join(","));
        }
        let path = file_with("rows", "csv", &text);
        if let Ok(rows) = onboard::read_rows(&path) {
            let template = onboard::template(None).unwrap();
            let onboarded = onboard::onboard(&rows, &Selection::default(), &template);
            let _ = onboard::stream(&onboarded.tenants);
        }
    }
}
