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
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        support::script_path("tests/python-tools", &["oidc"], "spid-cie-oidc is needed")
    });
    let input = json!({
        "port": port,
        "leaf": leaf,
        "leaf_sub": leaf_sub,
        "registered_jwks": {"keys": [registered.public_jwk()]},
        "require_trust_mark": trust_mark,
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
