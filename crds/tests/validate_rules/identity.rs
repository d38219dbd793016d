//! spec.identity, and the IPA code it needs

use super::*;
use municipio_crds::v1alpha1::{LoginMethod, SpidAttribute};
use municipio_crds::validate::warnings;

#[test]
fn identity_needs_everything_it_publishes_when_enabled() {
    check([
        Case {
            what: "no IPA code",
            change: |t| t.spec.municipality.ipa_code = None,
            expect: &[("spec.municipality.ipaCode", "Required")],
        },
        Case {
            what: "no method",
            change: |t| identity(t).methods.clear(),
            expect: &[("spec.identity.methods", "Required")],
        },
        Case {
            what: "no level",
            change: |t| identity(t).level = None,
            expect: &[("spec.identity.level", "Required")],
        },
        Case {
            what: "no attribute",
            change: |t| identity(t).attributes.clear(),
            expect: &[("spec.identity.attributes", "Required")],
        },
        Case {
            what: "no redirect URI",
            change: |t| identity(t).redirect_uris.clear(),
            expect: &[("spec.identity.redirectUris", "Required")],
        },
        Case {
            what: "no contacts",
            change: |t| identity(t).contacts = None,
            expect: &[("spec.identity.contacts", "Required")],
        },
        Case {
            what: "disabled, with nothing but enabled: false",
            change: |t| {
                let i = identity(t);
                i.enabled = false;
                i.methods.clear();
                i.level = None;
                i.attributes.clear();
                i.redirect_uris.clear();
                i.contacts = None;
                t.spec.municipality.ipa_code = None;
                portale(t).connectors.retain(|c| *c != Connector::Identity);
            },
            expect: VALID,
        },
        Case {
            what: "disabled, and still named by a workload",
            change: |t| identity(t).enabled = false,
            expect: &[("spec.workloads[0].connectors[2]", "ConnectorNotEnabled")],
        },
        Case {
            what: "a variable of the connector's prefix set by hand",
            change: |t| portale(t).env.push(env("IDENTITY_ISSUER")),
            expect: &[("spec.workloads[0].env[1].name", "ReservedName")],
        },
    ]);
}

#[test]
fn redirect_uris_and_the_homepage_are_https_without_port_query_or_fragment() {
    const AT: &str = "spec.identity.redirectUris[0]";
    check_values(
        |t, uri: &str| identity(t).redirect_uris[0] = uri.to_owned(),
        [
            ("http://servizi.comune.modena.it/cb", &[(AT, "UrlNotHttps")]),
            (
                "https://servizi.comune.modena.it:8443/cb",
                &[(AT, "UrlPort")],
            ),
            (
                "https://servizi.comune.modena.it/cb?x=1",
                &[(AT, "UrlQuery")],
            ),
            (
                "https://servizi.comune.modena.it/cb#x",
                &[(AT, "UrlFragment")],
            ),
            (
                "https://a@servizi.comune.modena.it/cb",
                &[(AT, "UrlUserInfo")],
            ),
            ("https://192.168.1.10/cb", &[(AT, "UrlHost")]),
            ("https://servizi.comune.modena.it/c b", &[(AT, "UrlPath")]),
            ("https://servizi.comune.modena.it/auth/callback/", VALID),
        ],
    );
    check_values(
        |t, uri: &str| identity(t).homepage = Some(uri.to_owned()),
        [
            (
                "https://www.comune.modena.it/?lang=it",
                &[("spec.identity.homepage", "UrlQuery")],
            ),
            ("https://www.comune.modena.it/", VALID),
        ],
    );
}

#[test]
fn identity_lists_hold_each_value_once() {
    check([
        Case {
            what: "a redirect URI twice",
            change: |t| {
                let first = identity(t).redirect_uris[0].clone();
                identity(t).redirect_uris.push(first);
            },
            expect: &[("spec.identity.redirectUris[1]", "Duplicate")],
        },
        Case {
            what: "an attribute twice",
            change: |t| identity(t).attributes.push(SpidAttribute::FiscalNumber),
            expect: &[("spec.identity.attributes[4]", "Duplicate")],
        },
        Case {
            what: "a method twice",
            change: |t| identity(t).methods.push(LoginMethod::Spid),
            expect: &[("spec.identity.methods[3]", "Duplicate")],
        },
    ]);
}

#[test]
fn contacts_are_an_email_a_pec_and_a_phone_number() {
    check([
        Case {
            what: "an email without a domain",
            change: |t| contacts(t).email = "urp".to_owned(),
            expect: &[("spec.identity.contacts.email", "EmailAddress")],
        },
        Case {
            what: "a PEC on a bare host",
            change: |t| contacts(t).pec = "comune@localhost".to_owned(),
            expect: &[("spec.identity.contacts.pec", "EmailAddress")],
        },
        Case {
            what: "a phone number with spaces",
            change: |t| contacts(t).phone = Some("+39 059 203111".to_owned()),
            expect: &[("spec.identity.contacts.phone", "PhoneNumber")],
        },
        Case {
            what: "a phone number without the country code",
            change: |t| contacts(t).phone = Some("059203111".to_owned()),
            expect: &[("spec.identity.contacts.phone", "PhoneNumber")],
        },
        Case {
            what: "no phone number",
            change: |t| contacts(t).phone = None,
            expect: VALID,
        },
    ]);
}

#[test]
fn only_a_federated_method_in_use_is_onboarded() {
    check([
        Case {
            what: "cns, which has no federation",
            change: |t| identity(t).onboarded = vec![LoginMethod::Cns],
            expect: &[("spec.identity.onboarded[0]", "NoFederation")],
        },
        Case {
            what: "cie, not among the methods",
            change: |t| {
                identity(t).methods = vec![LoginMethod::Spid];
                identity(t).onboarded = vec![LoginMethod::Spid, LoginMethod::Cie];
            },
            expect: &[("spec.identity.onboarded[1]", "NotAMethod")],
        },
        Case {
            what: "spid and cie",
            change: |t| identity(t).onboarded = vec![LoginMethod::Spid, LoginMethod::Cie],
            expect: VALID,
        },
    ]);
}

#[test]
fn an_unusual_ipa_code_and_attributes_cie_does_not_give_are_warned_of_not_refused() {
    let valid = assert_valid(&modena());
    assert_eq!(warnings(&valid), [], "Modena's example is as expected");

    let mut t = modena();
    t.spec.municipality.ipa_code = Some("comune_modena".to_owned());
    identity(&mut t).attributes.push(SpidAttribute::Email);
    let said: Vec<String> = warnings(&assert_valid(&t))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].starts_with("spec.municipality.ipaCode: \"comune_modena\" is not \"c_f257\""),
        "{said:?}"
    );
    assert!(
        said[1].starts_with("spec.identity.attributes[4]: CIE does not release email"),
        "{said:?}"
    );

    // Without CIE, SPID gives the email: nothing to say of it.
    identity(&mut t).methods.retain(|m| *m != LoginMethod::Cie);
    assert_eq!(warnings(&assert_valid(&t)).len(), 1);

    // A real bilingual name longer than a certificate's organization: admitted, and said.
    let mut t = modena();
    t.spec.municipality.name =
        "Comune di Cortaccia sulla strada del vino/Kurtatsch an der Weinstraße".to_owned();
    let said = warnings(&assert_valid(&t));
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].path.as_str(), "spec.municipality.name");
}
