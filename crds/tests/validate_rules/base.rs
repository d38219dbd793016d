//! The base tenant and its typed form

use super::*;

#[test]
fn modena_example_is_valid_and_typed() {
    let valid = assert_valid(&modena());

    assert_eq!(valid.name.as_str(), "modena");
    assert_eq!(valid.namespace.as_str(), "comune-modena");
    assert_eq!(valid.environment, Environment::Uat);
    assert_eq!(valid.deletion_policy, DeletionPolicy::Retain);
    assert!(!valid.suspend);

    let m = &valid.municipality;
    assert_eq!(m.name, "Comune di Modena");
    assert_eq!(m.istat_code.as_str(), "036023");
    assert_eq!(m.cadastral_code.as_ref().map(|c| c.as_str()), Some("F257"));
    assert_eq!(
        m.fiscal_code.as_ref().map(|c| c.as_str()),
        Some(MODENA_FISCAL_CODE)
    );
    assert_eq!(m.ipa_code.as_deref(), Some("c_f257"));
    assert_eq!(m.province.as_deref(), Some("MO"));

    assert_eq!(valid.admins.len(), 1);
    assert_eq!(valid.admins[0].kind, AdminKind::Group);
    assert_eq!(valid.quota.cpu.as_ref().map(|c| c.value()), Some(8.0));
    assert_eq!(
        valid.quota.memory.as_ref().map(|c| c.value()),
        Some(16.0 * 1024.0 * 1024.0 * 1024.0)
    );
    assert_eq!(valid.quota.pods, Some(50));
    assert_eq!(valid.ingress_from.len(), 1);

    let pagopa = valid.pagopa.as_ref().expect("pagopa is enabled");
    assert_eq!(pagopa.entity_fiscal_code.as_str(), MODENA_FISCAL_CODE);
    assert_eq!(pagopa.broker_fiscal_code.as_str(), LOMBARDIA_FISCAL_CODE);
    assert_eq!(pagopa.station_id.to_string(), "80050050154_01");
    assert_eq!(pagopa.station_id.broker().as_str(), LOMBARDIA_FISCAL_CODE);
    assert_eq!(
        pagopa.aux_digit,
        AuxDigit::Three {
            segregation_code: "02".to_owned()
        }
    );
    assert_eq!(pagopa.aux_digit.digit(), 3);
    assert_eq!(pagopa.ibans.len(), 1);
    assert_eq!(pagopa.ibans[0].iban.as_str(), MODENA_IBAN);
    assert_eq!(
        pagopa.ibans[0].description.as_deref(),
        Some("Tesoreria comunale")
    );
    assert_eq!(pagopa.subscription_key.secret_name, "modena-pagopa");

    let io = valid.io.as_ref().expect("io is enabled");
    assert_eq!(io.entity_fiscal_code.as_str(), MODENA_FISCAL_CODE);
    let names: Vec<&str> = io.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["tributi", "anagrafe-cie", "elettorale", "polizia-locale"]
    );
    assert!(matches!(
        &io.services[0].source,
        IoServiceSource::Referenced { service_id, .. } if service_id.as_str() == "01EYNQ0864HKYR1Q9PXPJ18W7G"
    ));

    assert_eq!(valid.workloads.len(), 1);
    let w = &valid.workloads[0];
    assert_eq!(w.name.as_str(), "portale");
    assert_eq!(
        w.image.as_str(),
        "registry.regione.example/comuni/portale:2.3.1"
    );
    assert_eq!(w.replicas, Some(2));
    assert_eq!(w.port, Some(8080));
    assert_eq!(w.requests.cpu.as_ref().map(|c| c.value()), Some(0.1));
    assert_eq!(w.limits.memory.as_ref().map(|c| c.as_str()), Some("256Mi"));
    assert_eq!(w.env.len(), 1);
    assert_eq!(w.env[0].0.as_str(), "LOG_LEVEL");
    assert_eq!(w.env[0].1, "info");
    assert_eq!(
        w.connectors.iter().copied().collect::<Vec<_>>(),
        [Connector::Pagopa, Connector::Io, Connector::Identity]
    );
    let i = valid.identity.as_ref().expect("identity enabled");
    assert_eq!(i.ipa_code, "c_f257");
    assert_eq!(i.level.number(), 2);
    assert_eq!(
        i.redirect_uris[0].as_str(),
        "https://servizi.comune.modena.it/auth/callback"
    );
    assert_eq!(i.homepage.as_str(), "https://www.comune.modena.it");
}

#[test]
fn a_valid_tenant_without_connectors_has_none() {
    let [disabled, left_out] = check([
        Case {
            what: "pagopa and io disabled, no connectors",
            change: |t| {
                pagopa(t).enabled = false;
                io(t).enabled = false;
                portale(t).connectors.clear();
            },
            expect: VALID,
        },
        // Nor when the connectors are not written at all, nor the fiscal code they would need.
        Case {
            what: "pagopa, io and the fiscal code left out, no connectors",
            change: |t| {
                portale(t).connectors.clear();
                t.spec.pagopa = None;
                t.spec.io = None;
                t.spec.municipality.fiscal_code = None;
            },
            expect: VALID,
        },
    ]);
    let valid = disabled.into_valid();
    assert_eq!(valid.pagopa, None);
    assert_eq!(valid.io, None);
    assert!(valid.workloads[0].connectors.is_empty());

    let valid = left_out.into_valid();
    assert_eq!(
        (valid.pagopa, valid.io, valid.municipality.fiscal_code),
        (None, None, None)
    );
}
