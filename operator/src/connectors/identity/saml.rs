//! The SAML service-provider metadata of a municipality aggregated by the region (SPID's
//! public Full aggregator profile, `pub-ag-full`): the gateway's endpoints for it, the
//! attributes it asks for, the municipality as organization, the region as aggregator and the
//! municipality as aggregated contact, enveloped-signed (rsa-sha256, exclusive c14n).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::keys::{KeyError, SigningKey};
use super::xml::Element;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The region acting as SPID aggregator.
pub struct Aggregator<'a> {
    /// The gateway's base URL (`https://login.regione.example`), no trailing slash.
    pub gateway: &'a str,
    /// The region's name (`Regione Lombardia`).
    pub company: &'a str,
    /// Its VAT number with the country code (`IT12874720159`), if it has one.
    pub vat_number: Option<&'a str>,
    /// Its fiscal code.
    pub fiscal_code: &'a str,
    pub email: &'a str,
    /// With the international prefix, no spaces (`+390267651`).
    pub phone: Option<&'a str>,
}

/// The municipality, as the aggregated service provider.
pub struct Aggregated<'a> {
    /// Its IPA code (`c_f257`): the path of its endpoints on the gateway.
    pub ipa_code: &'a str,
    /// Its name in Italian (`Comune di Modena`).
    pub organization: &'a str,
    /// Its home page.
    pub url: &'a str,
    /// The SPID attributes its services ask for, in order.
    pub attributes: &'a [&'a str],
}

/// The entity id of `ipa_code`'s metadata on the gateway.
pub fn entity_id(gateway: &str, ipa_code: &str) -> String {
    format!("{gateway}/{ipa_code}/pub-ag-full")
}

/// The signed metadata. `certificates` are published as signing keys (the current one, and
/// the next one during a rotation); `signer` signs, and its certificate goes in the signature.
pub fn metadata(
    aggregator: &Aggregator<'_>,
    aggregated: &Aggregated<'_>,
    certificates: &[&[u8]],
    signer: (&SigningKey, &[u8]),
) -> Result<String, KeyError> {
    let base = format!("{}/{}", aggregator.gateway, aggregated.ipa_code);
    let entity_id = entity_id(aggregator.gateway, aggregated.ipa_code);
    // An ID the signature's reference points at: a digest of the entity id (letters first).
    let id = format!("_{}", hex(&Sha256::digest(entity_id.as_bytes())[..16]));
    let key_descriptors = certificates.iter().map(|der| {
        Element::new("md:KeyDescriptor")
            .attribute("use", "signing")
            .child(key_info(der).declare("ds"))
    });
    let requested = aggregated
        .attributes
        .iter()
        .map(|name| Element::new("md:RequestedAttribute").attribute("Name", *name));
    let sp = Element::new("md:SPSSODescriptor")
        .attribute("AuthnRequestsSigned", "true")
        .attribute("WantAssertionsSigned", "true")
        .attribute(
            "protocolSupportEnumeration",
            "urn:oasis:names:tc:SAML:2.0:protocol",
        )
        .children(key_descriptors)
        .child(
            Element::new("md:SingleLogoutService")
                .attribute("Binding", POST)
                .attribute("Location", format!("{base}/slo")),
        )
        .child(
            Element::new("md:NameIDFormat")
                .text("urn:oasis:names:tc:SAML:2.0:nameid-format:transient"),
        )
        .child(
            Element::new("md:AssertionConsumerService")
                .attribute("Binding", POST)
                .attribute("Location", format!("{base}/acs"))
                .attribute("index", "0")
                .attribute("isDefault", "true"),
        )
        .child(
            Element::new("md:AttributeConsumingService")
                .attribute("index", "0")
                .child(
                    Element::new("md:ServiceName")
                        .attribute("xml:lang", "it")
                        .text(format!("Servizi online - {}", aggregated.organization)),
                )
                .children(requested),
        );
    let in_italian =
        |name: &str, text: &str| Element::new(name).attribute("xml:lang", "it").text(text);
    let organization = Element::new("md:Organization")
        .child(in_italian("md:OrganizationName", aggregated.organization))
        .child(in_italian(
            "md:OrganizationDisplayName",
            aggregated.organization,
        ))
        .child(in_italian("md:OrganizationURL", aggregated.url));

    let mut aggregator_extensions = Vec::new();
    if let Some(vat) = aggregator.vat_number {
        aggregator_extensions.push(Element::new("spid:VATNumber").text(vat));
    }
    aggregator_extensions.push(Element::new("spid:FiscalCode").text(aggregator.fiscal_code));
    aggregator_extensions.push(Element::new("spid:PublicServicesFullAggregator"));
    let mut aggregator_contact = contact("spid:aggregator", aggregator_extensions)
        .child(Element::new("md:Company").text(aggregator.company))
        .child(Element::new("md:EmailAddress").text(aggregator.email));
    if let Some(phone) = aggregator.phone {
        aggregator_contact =
            aggregator_contact.child(Element::new("md:TelephoneNumber").text(phone));
    }
    let aggregated_contact = contact(
        "spid:aggregated",
        vec![
            Element::new("spid:IPACode").text(aggregated.ipa_code),
            Element::new("spid:Public"),
        ],
    )
    .child(Element::new("md:Company").text(aggregated.organization));

    let unsigned = Element::new("md:EntityDescriptor")
        .declare("md")
        .attribute("ID", id.as_str())
        .attribute("entityID", entity_id)
        .child(sp)
        .child(organization)
        .child(aggregator_contact)
        .child(aggregated_contact);
    let signature = signature(&unsigned, &id, signer)?;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
        unsigned.with_first(signature).canonical()
    ))
}

fn contact(entity_type: &str, extensions: Vec<Element>) -> Element {
    Element::new("md:ContactPerson")
        .declare("spid")
        .attribute("contactType", "other")
        .attribute("spid:entityType", entity_type)
        .child(Element::new("md:Extensions").children(extensions))
}

fn key_info(certificate: &[u8]) -> Element {
    Element::new("ds:KeyInfo").child(
        Element::new("ds:X509Data")
            .child(Element::new("ds:X509Certificate").text(STANDARD.encode(certificate))),
    )
}

/// The enveloped signature of `unsigned` (whose ID is `id`). The enveloped-signature transform
/// leaves the element without its signature, which is `unsigned` as written: its canonical
/// form is the digest's input.
fn signature(
    unsigned: &Element,
    id: &str,
    (key, certificate): (&SigningKey, &[u8]),
) -> Result<Element, KeyError> {
    let algorithm = |name: &str, uri: &str| Element::new(name).attribute("Algorithm", uri);
    let digest = Sha256::digest(unsigned.canonical().as_bytes());
    let signed_info = Element::new("ds:SignedInfo")
        .child(algorithm("ds:CanonicalizationMethod", EXC_C14N))
        .child(algorithm(
            "ds:SignatureMethod",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        ))
        .child(
            Element::new("ds:Reference")
                .attribute("URI", format!("#{id}"))
                .child(
                    Element::new("ds:Transforms")
                        .child(algorithm(
                            "ds:Transform",
                            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                        ))
                        .child(algorithm("ds:Transform", EXC_C14N)),
                )
                .child(algorithm(
                    "ds:DigestMethod",
                    "http://www.w3.org/2001/04/xmlenc#sha256",
                ))
                .child(Element::new("ds:DigestValue").text(STANDARD.encode(digest))),
        );
    // Canonicalized on its own, SignedInfo declares the namespace it uses.
    let value = key.sign_rs256(signed_info.clone().declare("ds").canonical().as_bytes())?;
    Ok(Element::new("ds:Signature")
        .declare("ds")
        .child(signed_info)
        .child(Element::new("ds:SignatureValue").text(STANDARD.encode(value)))
        .child(key_info(certificate)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::connectors::identity::certificate::{Subject, certificate};
    use crate::connectors::identity::keys::tests::test_key;
    use time::OffsetDateTime;

    pub(crate) const LOMBARDIA: Aggregator<'static> = Aggregator {
        gateway: "https://login.regione.example",
        company: "Regione Lombardia",
        vat_number: Some("IT12874720159"),
        fiscal_code: "80050050154",
        email: "spid@regione.example",
        phone: Some("+390267651"),
    };

    pub(crate) const MODENA: Aggregated<'static> = Aggregated {
        ipa_code: "c_f257",
        organization: "Comune di Modena",
        url: "https://www.comune.modena.it",
        attributes: &["fiscalNumber", "name", "familyName", "email"],
    };

    /// Modena's metadata, signed with a certificate valid from `from` to `to` (Unix seconds).
    pub(crate) fn modena_metadata(from: i64, to: i64) -> String {
        let key = test_key();
        let subject = Subject {
            organization: MODENA.organization,
            ipa_code: MODENA.ipa_code,
            locality: "Modena",
            entity_id: &entity_id(LOMBARDIA.gateway, MODENA.ipa_code),
        };
        let at = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let cert = certificate(key, &subject, at(from), at(to)).unwrap();
        metadata(&LOMBARDIA, &MODENA, &[&cert], (key, &cert)).unwrap()
    }

    #[test]
    fn the_metadata_is_signed_over_what_it_says() {
        let xml = modena_metadata(1_700_000_000, 4_000_000_000);
        assert!(xml.contains(r#"entityID="https://login.regione.example/c_f257/pub-ag-full""#));
        assert!(xml.contains("<spid:IPACode>c_f257</spid:IPACode>"));
        assert!(xml.contains(r#"Location="https://login.regione.example/c_f257/acs""#));
        // The digest is of the document without its signature, as written.
        let start = xml.find("<ds:Signature").unwrap();
        let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let body = xml[..start].to_owned() + &xml[end..];
        let body = body
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .trim_end();
        let digest = STANDARD.encode(Sha256::digest(body.as_bytes()));
        assert!(xml.contains(&format!("<ds:DigestValue>{digest}</ds:DigestValue>")));
    }

    /// xmlsec1 (the tool spid-sp-test verifies signatures with) accepts the signature, and
    /// refuses it once a signed value is changed.
    #[test]
    fn xmlsec1_verifies_the_signature_and_refuses_a_changed_document() {
        let xml = modena_metadata(1_700_000_000, 4_000_000_000);
        let verify = |text: &str| {
            let path = std::env::temp_dir().join(format!(
                "municipio-metadata-{}-{}.xml",
                std::process::id(),
                text.len()
            ));
            std::fs::write(&path, text).unwrap();
            let out = std::process::Command::new("xmlsec1")
                .args([
                    "--verify",
                    "--insecure",
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
                ])
                .arg(&path)
                .output()
                .expect("xmlsec1 is installed (tests/python-tools installs it)");
            let _ = std::fs::remove_file(&path);
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (ok, said) = verify(&xml);
        assert!(ok, "{said}\n{xml}");
        let (ok, _) = verify(&xml.replace("c_f257</spid:IPACode>", "c_a944</spid:IPACode>"));
        assert!(!ok, "a changed IPA code breaks the signature");
    }
}
