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
        let out = Command::new(support::repo_root().join("tests/python-tools"))
            .arg("spid")
            .output()
            .expect("tests/python-tools runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap()
                .trim(),
        )
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
