//! Everything at once

use super::*;
use crate::admins::admin;

#[test]
fn every_problem_is_reported_at_once() {
    let [everything] = check([Case {
        what: "one mistake in every section",
        change: |t| {
            t.spec.namespace = Some("kube-foo".to_owned());
            t.spec.municipality.name = "Comune di\nModena".to_owned();
            t.spec.municipality.istat_code = "036000".to_owned();
            t.spec.municipality.cadastral_code = Some("Z404".to_owned());
            t.spec
                .admins
                .push(admin(AdminKind::Group, "system:authenticated", None));
            quota(t).pods = Some(0);
            t.spec
                .network
                .as_mut()
                .expect("network")
                .ingress_from
                .push(yaml("{}"));
            pagopa(t).station_id = Some(format!("{MILANO_FISCAL_CODE}_01"));
            pagopa(t).ibans[0].iban = "DE89370400440532013000".to_owned();
            io(t).services[1].service_id = Some("01EYNQ".to_owned());
            let w = portale(t);
            w.image = "registry.regione.example/comuni/portale".to_owned();
            w.replicas = Some(101);
            w.port = Some(0);
            w.env.push(env("PAGOPA_KEY"));
        },
        expect: &[
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
    }]);

    // Every error also reads well on its own: path first, then what is wrong.
    for e in everything.into_errors() {
        let text = e.to_string();
        assert!(text.starts_with(&format!("{}: ", e.path)), "{text}");
    }
}

#[test]
fn replicas_and_port_left_out_stay_unset() {
    let [left_out] = check([Case {
        what: "no replicas, no port",
        change: |t| {
            portale(t).replicas = None;
            portale(t).port = None;
        },
        expect: VALID,
    }]);
    let valid = left_out.into_valid();
    assert_eq!(
        valid.workloads[0].replicas, None,
        "an autoscaler may own replicas"
    );
    assert_eq!(valid.workloads[0].port, None, "no Service without a port");
}
