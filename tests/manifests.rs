//! The examples and the invalid manifests under `tests/manifests/`, through the `validate`
//! rules and through the `municipio` binary as a GitOps pipeline would run it. No cluster.

mod support;

use std::path::Path;
use std::process::Command;

use municipio_crds::MunicipalityTenant;
use municipio_operator::{manifests, validate_files};
use support::{expectations, repo_root, yaml_files};

fn tenants_of(path: &Path) -> Vec<MunicipalityTenant> {
    manifests::read(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|doc| {
            serde_json::from_value(doc.unwrap_or_else(|e| panic!("{e}")).value)
                .expect("a MunicipalityTenant")
        })
        .collect()
}

#[test]
fn every_example_passes_validate() {
    for file in yaml_files("examples") {
        for tenant in tenants_of(&file) {
            if let Err(errors) = municipio_crds::validate(&tenant) {
                panic!("{}: {errors:#?}", file.display());
            }
        }
    }
    let report = validate_files::validate_paths(&[repo_root().join("examples")]);
    assert_eq!(report.problems, Vec::<String>::new());
    assert!(
        report.tenants >= 6,
        "Modena and a handful of Lombard municipalities"
    );
}

/// Each file names, in `# expect: <field path> <rule>` lines, every problem it must be refused for.
#[test]
fn semantically_invalid_manifests_fail_with_the_expected_path_and_rule() {
    for file in yaml_files("tests/manifests/semantic-invalid") {
        let tenants = tenants_of(&file);
        assert_eq!(tenants.len(), 1, "{}", file.display());
        let errors = municipio_crds::validate(&tenants[0]).expect_err(&file.display().to_string());
        let found: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", e.path, e.problem.rule()))
            .collect();
        for expected in expectations(&file) {
            assert!(
                found.contains(&expected),
                "{}: expected {expected:?}, got {found:#?}",
                file.display()
            );
        }
    }
}

fn municipio(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_municipio"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_validate_command_exits_0_on_the_examples() {
    let examples = repo_root().join("examples");
    let (code, stdout, stderr) = municipio(&["validate", "-f", examples.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
}

#[test]
fn the_validate_command_prints_one_line_per_problem_with_file_name_and_path() {
    let file = repo_root().join("tests/manifests/semantic-invalid/several-problems.yaml");
    let (code, stdout, _) = municipio(&["validate", "-f", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    let prefix = format!("{}: semantic-several-problems: ", file.display());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, path) in lines.iter().zip([
        "spec.municipality.fiscalCode: ",
        "spec.pagopa.ibans[0].iban: ",
        "spec.workloads[0].image: ",
    ]) {
        assert!(line.starts_with(&format!("{prefix}{path}")), "{line}");
    }
}

#[test]
fn the_validate_command_names_the_file_of_a_broken_or_foreign_document() {
    let dir = std::env::temp_dir().join(support::unique_name("validate-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.yaml"), "spec: [unclosed\n").unwrap();
    std::fs::write(
        dir.join("configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("wrong-type.yaml"),
        "apiVersion: tenancy.municipio.io/v1alpha1\nkind: MunicipalityTenant\nmetadata: {name: t}\nspec:\n  municipality: {name: X, istatCode: \"036023\"}\n  environment: uat\n  workloads: [{name: w, image: 'x:1', port: eighty}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [configmap.yaml]\n",
    )
    .unwrap();
    let (code, stdout, stderr) = municipio(&["validate", "-f", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one line per file, kustomization.yaml left out: {stdout}"
    );
    assert!(
        lines[0].contains("broken.yaml: document 0 is not valid YAML"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("configmap.yaml: document 0 is a v1 ConfigMap, not a"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("wrong-type.yaml: t: spec.workloads[0].port: must be of type integer"),
        "{}",
        lines[2]
    );
}

#[test]
fn the_validate_command_reports_two_tenants_for_one_municipality() {
    let dir = repo_root().join("examples");
    let copy = std::env::temp_dir().join(support::unique_name("validate-dup"));
    std::fs::create_dir_all(&copy).unwrap();
    let modena = std::fs::read_to_string(dir.join("modena.yaml")).unwrap();
    std::fs::write(copy.join("a.yaml"), &modena).unwrap();
    std::fs::write(
        copy.join("b.yaml"),
        modena
            .replace("name: modena", "name: modena-bis")
            .replace("namespace: comune-modena", "namespace: comune-modena-bis"),
    )
    .unwrap();
    let (code, stdout, _) = municipio(&["validate", "-f", copy.to_str().unwrap()]);
    std::fs::remove_dir_all(&copy).unwrap();
    assert_eq!(code, 1);
    assert!(stdout.contains("b.yaml: modena-bis: spec.municipality.istatCode: \"036023\" is also used by tenant modena"), "{stdout}");
}

#[test]
fn the_crd_command_prints_the_committed_crd() {
    let (code, stdout, _) = municipio(&["crd"]);
    assert_eq!(code, 0);
    let committed =
        std::fs::read_to_string(repo_root().join("crds/municipalitytenant.yaml")).unwrap();
    assert!(
        stdout == committed,
        "crds/municipalitytenant.yaml differs from `municipio crd`"
    );
}

/// The CRD must be valid for current clusters too, not only for the 1.20 test API server.
#[test]
fn the_crd_is_valid_for_kubernetes_1_33_and_1_37() {
    let crd = repo_root().join("crds/municipalitytenant.yaml");
    for version in ["1.33", "1.37"] {
        let (ok, output) = support::kubernetes_validate(version, std::slice::from_ref(&crd));
        assert!(ok, "against {version}: {output}");
        assert!(output.contains("passed"), "against {version}: {output}");
    }
}

/// The moment the reviewed renderings' identity artifacts are signed at.
const RENDERED_AT: &str = "2026-12-01T00:00:00Z";

/// `municipio render` of each example, compared with the reviewed output under `tests/render/`
/// (regenerate with MUNICIPIO_UPDATE_GOLDEN=1 and review the diff).
#[test]
fn render_prints_what_was_reviewed_for_every_example() {
    let update = std::env::var("MUNICIPIO_UPDATE_GOLDEN").as_deref() == Ok("1");
    for file in yaml_files("examples") {
        // At a fixed moment: the identity artifacts carry it.
        let (code, stdout, stderr) =
            municipio(&["render", "-f", file.to_str().unwrap(), "--at", RENDERED_AT]);
        assert_eq!(code, 0, "{}: {stderr}", file.display());
        let golden = repo_root()
            .join("tests/render")
            .join(file.file_name().unwrap());
        if update {
            std::fs::write(&golden, &stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            stdout == expected,
            "{} renders differently from {}",
            file.display(),
            golden.display()
        );
        for doc in manifests::parse_stream(&golden, &stdout) {
            let object = doc.expect("render prints YAML").value;
            if object["kind"] == "Secret" {
                assert!(
                    object.get("data").is_none(),
                    "no Secret value is printed: {object}"
                );
                assert!(object["stringData"].as_object().is_some_and(|d| {
                    d.values().all(|v| {
                        v == "<set in the cluster from a source Secret>"
                            || v == "<made in the cluster by the operator>"
                    })
                }));
            }
        }
    }
}

/// What the controller applies must be valid for current clusters, not only for the 1.20 test
/// API server.
#[test]
fn rendered_objects_are_valid_for_kubernetes_1_33_and_1_37() {
    let files = yaml_files("tests/render");
    for version in ["1.33", "1.37"] {
        let (ok, output) = support::kubernetes_validate(version, &files);
        assert!(ok, "against {version}: {output}");
    }
}

#[test]
fn render_refuses_an_invalid_tenant_like_validate() {
    let file = repo_root().join("tests/manifests/semantic-invalid/iban-cin.yaml");
    let (code, stdout, _) = municipio(&["render", "-f", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains(
            "semantic-iban-cin: spec.pagopa.ibans[0].iban: IBAN national check character"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("apiVersion"),
        "nothing is rendered: {stdout}"
    );
}

/// Every file the API server refuses for its schema (`tests/api_server.rs` runs the same corpus
/// against it) is refused offline too, by the CRD's own schema, naming the field its
/// `# expect:` lines name: a green `validate` means the cluster will take the tenant.
#[test]
fn validate_refuses_every_schema_invalid_manifest_naming_the_field() {
    // And, as on the API server, what only the semantic rules refuse passes the schema.
    for file in yaml_files("tests/manifests/semantic-invalid") {
        for doc in manifests::read(&file).unwrap() {
            let errors = municipio_crds::decode::schema_errors(&doc.unwrap().value);
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        }
    }
    let files = yaml_files("tests/manifests/schema-invalid");
    assert!(files.len() >= 100, "{}", files.len());
    for file in files {
        let report = validate_files::validate_paths(std::slice::from_ref(&file));
        let said = report.problems.join("\n");
        assert!(!said.is_empty(), "{}: accepted offline", file.display());
        for expected in expectations(&file) {
            // That field, or one inside it (a map's key, where the API server names the map).
            let names = |l: &str| {
                [":", ".", "["]
                    .iter()
                    .any(|end| l.contains(&format!("{expected}{end}")))
            };
            assert!(
                said.lines().any(names),
                "{}: {expected:?} not named in:\n{said}",
                file.display()
            );
        }
    }
}

/// Nothing to check is a failure, as `kubectl apply` says "no objects passed": an empty file, a
/// file of comments, an empty directory.
#[test]
fn validate_and_render_refuse_an_input_with_no_tenant() {
    let dir = std::env::temp_dir().join(support::unique_name("no-tenant"));
    let empty_dir = dir.join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    std::fs::write(dir.join("empty.yaml"), "").unwrap();
    std::fs::write(
        dir.join("comments.yaml"),
        "# nothing here\n---\n# nor here\n",
    )
    .unwrap();
    for input in ["empty.yaml", "comments.yaml", "empty"] {
        let path = dir.join(input);
        for command in ["validate", "render"] {
            let (code, stdout, stderr) = municipio(&[command, "-f", path.to_str().unwrap()]);
            assert_eq!(code, 1, "{command} {input}: {stdout}{stderr}");
            let said = format!("{stdout}{stderr}");
            assert!(
                said.contains("no manifest in this file") || said.contains("no objects passed"),
                "{command} {input}: {said}"
            );
        }
    }
}

/// A tenant far over what an API server stores (50 MB) is refused by its size, without being
/// parsed: the reading stops at the bound.
#[test]
fn a_huge_tenant_is_refused_by_its_size() {
    let dir = std::env::temp_dir().join(support::unique_name("huge"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("huge.yaml");
    let modena = std::fs::read_to_string(repo_root().join("examples/modena.yaml")).unwrap();
    let name = "x".repeat(50 * 1024 * 1024);
    let huge = modena.replace("name: Comune di Modena", &format!("name: {name}"));
    assert!(huge.len() > 50_000_000);
    std::fs::write(&file, huge).unwrap();
    for command in ["validate", "render"] {
        let (code, stdout, _) = municipio(&[command, "-f", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{command}");
        assert!(
            stdout.contains("document 0 is larger than 1572864 bytes"),
            "{command}: {}",
            &stdout[..stdout.len().min(500)]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A field the API does not know is refused by `validate` and `render` at any level, with its
/// path and the field it was probably meant to be; nothing is rendered from such a tenant.
#[test]
fn validate_and_render_refuse_an_unknown_field_naming_the_field_meant() {
    let files = yaml_files("tests/manifests/unknown-fields");
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let file_name = file.to_str().unwrap();
        for expected in expectations(&file) {
            let [path, rule, meant] = expected.split(' ').collect::<Vec<_>>()[..] else {
                panic!("{file_name}: expect <path> UnknownField <field meant>")
            };
            assert_eq!(rule, "UnknownField", "{file_name}");
            let line = format!("{path}: unknown field: did you mean `{meant}`?");
            for command in ["validate", "render"] {
                let (code, stdout, _) = municipio(&[command, "-f", file_name]);
                assert_eq!(code, 1, "{command} {file_name}: {stdout}");
                assert!(stdout.contains(&line), "{command} {file_name}: {stdout}");
                assert!(!stdout.contains("apiVersion"), "{command}: {stdout}");
            }
        }
    }
}

// ---------------------------------------------------------------- municipio onboard

fn istat_list() -> String {
    repo_root()
        .join("data/istat-comuni.csv")
        .to_string_lossy()
        .into_owned()
}

/// All 7,896 municipalities of Italy: each gets a unique tenant name and namespace, valid as
/// labels; the six names Italy has twice after folding get their provinces, all of them.
#[test]
fn onboard_gives_every_municipality_of_italy_a_unique_valid_name() {
    let (code, stdout, stderr) = municipio(&["onboard", "--csv", &istat_list()]);
    assert_eq!(code, 0, "{stderr}");
    let tenants: Vec<MunicipalityTenant> = serde_yaml_ng::Deserializer::from_str(&stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(tenants.len(), 7896);
    let label = regex::Regex::new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap();
    let mut names = std::collections::BTreeSet::new();
    let mut namespaces = std::collections::BTreeSet::new();
    for t in &tenants {
        let valid = municipio_crds::validate(t).unwrap_or_else(|e| panic!("{e:?}"));
        let name = t.metadata.name.clone().unwrap();
        assert!(label.is_match(&name) && name.len() <= 56, "{name}");
        assert!(names.insert(name.clone()), "{name} twice");
        assert!(namespaces.insert(valid.namespace.to_string()), "{name}");
    }
    for shared in [
        "castro-bg",
        "castro-le",
        "samone-to",
        "samone-tn",
        "livo-co",
        "livo-tn",
        "peglio-co",
        "peglio-pu",
        "san-teodoro-me",
        "san-teodoro-ss",
        "paterno-ct",
        "paterno-pz",
    ] {
        assert!(names.contains(shared), "{shared}");
    }
    for bare in [
        "castro",
        "samone",
        "livo",
        "peglio",
        "san-teodoro",
        "paterno",
    ] {
        assert!(
            !names.contains(bare),
            "{bare} would depend on who came first"
        );
    }
    assert!(
        names.contains("bolzano"),
        "the Italian part of Bolzano/Bozen"
    );
}

/// `--out`: one file per tenant and a kustomization.yaml, a GitOps source `municipio validate`
/// accepts; a region's names are those it has in the whole list.
#[test]
fn onboard_writes_a_region_as_a_gitops_source() {
    let dir = std::env::temp_dir().join(format!("onboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, stderr) = municipio(&[
        "onboard",
        "--csv",
        &istat_list(),
        "--region",
        "Lombardia",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let kustomization: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    let resources = kustomization["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1502);
    for r in resources {
        assert!(dir.join(r.as_str().unwrap()).exists(), "{r}");
    }
    let (code, stdout, stderr) = municipio(&["validate", "-f", dir.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("1502 tenant(s) valid"), "{stderr}");
    // Peglio is in Lombardy (CO) and in the Marche (PU): suffixed even when onboarded alone.
    assert!(dir.join("peglio-co.yaml").exists());
    assert!(dir.join("milano.yaml").exists());
}

/// A row that cannot become a valid tenant is reported with its line; the others are written.
#[test]
fn onboard_reports_a_bad_row_by_line_and_writes_the_others() {
    let csv = std::env::temp_dir().join(format!("onboard-bad-{}.csv", std::process::id()));
    std::fs::write(
        &csv,
        "istat_code,name,name_it,name_other,region_code,region,province,cadastral_code,provincial_capital\n\
         015146,Milano,Milano,,03,Lombardia,MI,F205,1\n\
         015999,Nowhere,Nowhere,,03,Lombardia,MI,F20,0\n\
         036023,Modena,Modena,,08,Emilia-Romagna,MO,F257,1\n",
    )
    .unwrap();
    let (code, stdout, stderr) = municipio(&["onboard", "--csv", csv.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("line 3: 015999 nowhere: spec.municipality.cadastralCode"),
        "{stderr}"
    );
    assert!(
        stdout.contains("name: milano") && stdout.contains("name: modena"),
        "{stdout}"
    );
}

/// A template with a field the API does not know is refused once, before any row is made.
#[test]
fn onboard_refuses_a_template_with_an_unknown_field() {
    let template = std::env::temp_dir().join(support::unique_name("template") + ".yaml");
    let text = include_str!("../operator/src/onboard/default-template.yaml")
        .replace("spec:\n", "spec:\n  deletionPolcy: Retain\n");
    assert!(text.contains("deletionPolcy"), "{text}");
    std::fs::write(&template, text).unwrap();
    let template = template.to_str().unwrap();
    let (code, stdout, stderr) = municipio(&[
        "onboard",
        "--csv",
        &istat_list(),
        "--region",
        "Molise",
        "--template",
        template,
    ]);
    assert_ne!(code, 0);
    assert!(stdout.is_empty(), "no tenant is written: {stdout}");
    assert!(
        stderr.contains("spec.deletionPolcy: unknown field: did you mean `deletionPolicy`?"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("deletionPolcy").count(),
        1,
        "said once: {stderr}"
    );
}

/// The README's Layout names only paths that exist: every file or folder at the start of a line
/// of its block (the top-level ones, and those indented under them).
#[test]
fn every_path_the_readme_layout_names_exists() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = readme
        .split("## Layout")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("a Layout section with a code block");
    let mut parent = String::new();
    let mut named = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        // Deeper lines continue a description.
        if indent > 2 {
            continue;
        }
        let mut tokens = line.split_whitespace();
        let Some(first) = tokens.next() else { continue };
        let path = first.trim_end_matches(',');
        let full = if indent == 0 {
            parent = path.to_owned();
            path.to_owned()
        } else {
            format!("{parent}{path}")
        };
        named.push(full.clone());
        // "src/render.rs, yaml.rs": more files in the same folder.
        let mut more = first.ends_with(',');
        let folder = full
            .rsplit_once('/')
            .map_or(String::new(), |(f, _)| format!("{f}/"));
        for token in tokens {
            if !more {
                break;
            }
            more = token.ends_with(',');
            named.push(format!("{folder}{}", token.trim_end_matches(',')));
        }
    }
    assert!(named.len() > 40, "{named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|p| !repo_root().join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "the README's Layout names paths that do not exist: {missing:?}"
    );
}
