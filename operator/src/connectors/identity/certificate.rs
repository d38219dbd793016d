//! The self-signed certificate that carries a SAML signing key, in the form AgID's Avviso 29 v3
//! asks of a public administration's service provider: the organization in the subject with
//! its IPA code as `organizationIdentifier` (`PA:IT-<ipa code>`) and the entity id as `uri`;
//! key usage digitalSignature and nonRepudiation (critical); not a CA; the SPID certificate
//! policies (1.3.76.16.6 and 1.3.76.16.4.2.1). SPID federates certificates, not chains: it is
//! self-signed by the key it certifies.

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256, SerialNumber,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::keys::{KeyError, SigningKey};

const ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];
const URI: &[u64] = &[2, 5, 4, 83];
const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
/// AgID's SPID policies: "agIDcert" and "cert_SP_Pub" (a public administration's SP).
const SPID_POLICIES: [&[u64]; 2] = [&[1, 3, 76, 16, 6], &[1, 3, 76, 16, 4, 2, 1]];

/// Who the certificate is of.
pub struct Subject<'a> {
    /// The organization, as registered (`Comune di Modena`).
    pub organization: &'a str,
    /// Its IPA code (`c_f257`).
    pub ipa_code: &'a str,
    /// Where it is (`Modena`).
    pub locality: &'a str,
    /// The SAML entity id the key signs for.
    pub entity_id: &'a str,
}

/// The certificate, DER, of `key` for `subject`, valid from `not_before` to `not_after`. The
/// same inputs give the same certificate (the serial is a digest of them).
pub fn certificate(
    key: &SigningKey,
    subject: &Subject<'_>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Vec<u8>, KeyError> {
    let mut name = DistinguishedName::new();
    // X.520 bounds both at 64 characters; four municipalities' bilingual names are longer
    // (`Comune di Cortaccia sulla strada del vino/Kurtatsch an der Weinstraße`): the
    // certificate carries the first 64, and the organizationIdentifier names it exactly.
    let organization: String = subject.organization.chars().take(64).collect();
    name.push(DnType::CommonName, organization.as_str());
    name.push(DnType::OrganizationName, organization.as_str());
    // X.520 wants a country as a PrintableString.
    name.push(
        DnType::CountryName,
        DnValue::PrintableString("IT".try_into().expect("IT is printable")),
    );
    name.push(DnType::LocalityName, subject.locality);
    name.push(
        DnType::CustomDnType(ORGANIZATION_IDENTIFIER.to_vec()),
        format!("PA:IT-{}", subject.ipa_code),
    );
    name.push(DnType::CustomDnType(URI.to_vec()), subject.entity_id);

    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    let serial = Sha256::digest(
        [
            key.kid(),
            subject.entity_id,
            &not_before.unix_timestamp().to_string(),
        ]
        .join("|")
        .as_bytes(),
    );
    // Positive, at most 20 octets (RFC 5280).
    let mut serial = serial[..16].to_vec();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    // Not a CA, said in a non-critical extension (rcgen's own marks it critical).
    let mut not_a_ca = CustomExtension::from_oid_content(BASIC_CONSTRAINTS, vec![0x30, 0x00]);
    not_a_ca.set_criticality(false);
    let mut policies =
        CustomExtension::from_oid_content(CERTIFICATE_POLICIES, certificate_policies());
    policies.set_criticality(false);
    params.custom_extensions = vec![not_a_ca, policies];

    let pair = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(key.pkcs8()),
        &PKCS_RSA_SHA256,
    )
    .map_err(|e| KeyError::Unreadable(e.to_string()))?;
    let certificate = params.self_signed(&pair).map_err(|e| KeyError::Sign {
        kid: key.kid().to_owned(),
        reason: e.to_string(),
    })?;
    Ok(certificate.der().to_vec())
}

/// `certificatePolicies ::= SEQUENCE OF PolicyInformation`, each with its identifier only.
fn certificate_policies() -> Vec<u8> {
    let infos: Vec<u8> = SPID_POLICIES
        .iter()
        .flat_map(|oid| der(0x30, &der(0x06, &oid_content(oid))))
        .collect();
    der(0x30, &infos)
}

/// A DER TLV (contents shorter than 128 bytes, as here).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = u8::try_from(content.len()).expect("short DER contents");
    assert!(len < 0x80, "short-form length");
    [&[tag, len][..], content].concat()
}

/// The contents octets of an OBJECT IDENTIFIER.
fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = vec![u8::try_from(arcs[0] * 40 + arcs[1]).expect("first two arcs")];
    for &arc in &arcs[2..] {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::identity::keys::tests::test_key;
    use x509_parser::prelude::*;

    fn modena() -> Subject<'static> {
        Subject {
            organization: "Comune di Modena",
            ipa_code: "c_f257",
            locality: "Modena",
            entity_id: "https://login.regione.example/c_f257/pub-ag-full",
        }
    }

    #[test]
    fn the_policies_are_encoded_as_rfc_5280_says() {
        assert_eq!(oid_content(&[1, 3, 76, 16, 6]), [0x2b, 0x4c, 0x10, 0x06]);
        assert_eq!(oid_content(&[2, 5, 29, 32]), [0x55, 0x1d, 0x20]);
        assert_eq!(
            oid_content(&[1, 2, 840, 113549]),
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
        );
    }

    #[test]
    fn the_certificate_has_what_avviso_29_asks() {
        let from = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let to = from + ::time::Duration::days(730);
        let der = certificate(test_key(), &modena(), from, to).unwrap();
        assert_eq!(
            der,
            certificate(test_key(), &modena(), from, to).unwrap(),
            "deterministic"
        );
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let subject = cert.subject().to_string();
        for part in [
            "CN=Comune di Modena",
            "O=Comune di Modena",
            "C=IT",
            "L=Modena",
        ] {
            assert!(subject.contains(part), "{subject}");
        }
        let attribute = |oid: &str| {
            cert.subject()
                .iter_attributes()
                .find(|a| a.attr_type().to_id_string() == oid)
                .and_then(|a| a.as_str().ok().map(str::to_owned))
        };
        assert_eq!(attribute("2.5.4.97").as_deref(), Some("PA:IT-c_f257"));
        assert_eq!(
            attribute("2.5.4.83").as_deref(),
            Some("https://login.regione.example/c_f257/pub-ag-full")
        );
        let usage = cert.key_usage().unwrap().unwrap();
        assert!(usage.critical);
        assert!(usage.value.digital_signature() && usage.value.non_repudiation());
        assert!(!usage.value.key_cert_sign());
        let constraints = cert.basic_constraints().unwrap().unwrap();
        assert!(!constraints.critical && !constraints.value.ca);
        let policies = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "2.5.29.32")
            .unwrap();
        assert!(!policies.critical);
        let ParsedExtension::CertificatePolicies(policies) = policies.parsed_extension() else {
            panic!("certificate policies")
        };
        let ids: Vec<String> = policies
            .iter()
            .map(|p| p.policy_id.to_id_string())
            .collect();
        assert_eq!(ids, ["1.3.76.16.6", "1.3.76.16.4.2.1"]);
        assert_eq!(cert.validity().not_before.timestamp(), 1_800_000_000);
        assert!(
            cert.verify_signature(None).is_ok(),
            "self-signed by its key"
        );
    }
}
