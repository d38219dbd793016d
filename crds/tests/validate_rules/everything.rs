//! Everything at once

use super::*;
use crate::admins::admin;

#[test]
fn every_problem_is_reported_at_once() {
    let mut t = modena();
    t.spec.namespace = Some("kube-foo".to_owned());
    t.spec.municipality.name = "Comune di\nModena".to_owned();
    t.spec.municipality.istat_code = "036000".to_owned();
    t.spec.municipality.cadastral_code = Some("Z404".to_owned());
    t.spec
        .admins
        .push(admin(AdminKind::Group, "system:authenticated", None));
    t.spec.quota.as_mut().expect("quota").pods = Some(0);
    t.spec
        .network
        .as_mut()
        .expect("network")
        .ingress_from
        .push(yaml("{}"));
    pagopa(&mut t).station_id = Some(format!("{MILANO_FISCAL_CODE}_01"));
    pagopa(&mut t).ibans[0].iban = "DE89370400440532013000".to_owned();
    io(&mut t).services[1].service_id = "01EYNQ".to_owned();
    let w = portale(&mut t);
    w.image = "registry.regione.example/comuni/portale".to_owned();
    w.replicas = Some(101);
    w.port = Some(0);
    w.env.push(env("PAGOPA_KEY"));

    assert_problems(
        &t,
        &[
            ("spec.namespace", "ReservedName"),
            ("spec.municipality.name", "Forbidden"),
            ("spec.municipality.istatCode", "IstatCode"),
            ("spec.municipality.cadastralCode", "CadastralCode"),
            ("spec.admins[1].name", "ReservedSubject"),
            ("spec.quota.pods", "NotPositive"),
            ("spec.network.ingressFrom[1]", "OpenSelector"),
            ("spec.pagopa.stationId", "StationBroker"),
            ("spec.pagopa.ibans[0].iban", "IbanNotItalian"),
            ("spec.io.services[1].serviceId", "IoServiceId"),
            ("spec.workloads[0].image", "ImageUnpinned"),
            ("spec.workloads[0].replicas", "TooLarge"),
            ("spec.workloads[0].port", "Port"),
            ("spec.workloads[0].env[1].name", "ReservedName"),
        ],
    );

    // Every error also reads well on its own: path first, then what is wrong.
    for e in errors_of(&t) {
        let text = e.to_string();
        assert!(text.starts_with(&format!("{}: ", e.path)), "{text}");
    }
}

#[test]
fn replicas_and_port_left_out_stay_unset() {
    let mut t = modena();
    portale(&mut t).replicas = None;
    portale(&mut t).port = None;
    let valid = assert_valid(&t);
    assert_eq!(
        valid.workloads[0].replicas, None,
        "an autoscaler may own replicas"
    );
    assert_eq!(valid.workloads[0].port, None, "no Service without a port");
}
