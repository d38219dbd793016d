//! spec.workloads

use super::*;

#[test]
fn workload_names_must_be_unique() {
    let mut t = modena();
    let mut second = t.spec.workloads[0].clone();
    t.spec.workloads.push(second.clone());
    let problem = assert_one(&t, "spec.workloads[1].name", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { value, first } if value == "portale" && first.as_str() == "spec.workloads[0].name"),
        "{problem:?}"
    );

    second.name = "backoffice".to_owned();
    t.spec.workloads[1] = second;
    let names: Vec<String> = assert_valid(&t)
        .workloads
        .iter()
        .map(|w| w.name.to_string())
        .collect();
    assert_eq!(names, ["portale", "backoffice"]);
}

#[test]
fn workload_name_is_a_dns_1035_label() {
    let mut t = modena();
    portale(&mut t).name = "1portale".to_owned();
    let problem = assert_one(&t, "spec.workloads[0].name", "NameSyntax");
    assert!(
        matches!(problem, Problem::Name(NameError::StartsWithDigit(_))),
        "{problem:?}"
    );

    for bad in ["Portale", "portale_web", "portale-", ""] {
        portale(&mut t).name = bad.to_owned();
        assert_one(&t, "spec.workloads[0].name", "NameSyntax");
    }
    portale(&mut t).name = "a".repeat(41);
    assert_one(&t, "spec.workloads[0].name", "NameTooLong");

    portale(&mut t).name = format!("p{}", "0".repeat(39));
    assert_valid(&t);
}

#[test]
fn image_must_be_pinned() {
    for unpinned in [
        "registry.regione.example/comuni/portale",
        "portale",
        "localhost:5000/portale",
    ] {
        let mut t = modena();
        portale(&mut t).image = unpinned.to_owned();
        assert_one(&t, "spec.workloads[0].image", "ImageUnpinned");
    }
}

#[test]
fn image_tagged_latest_is_unpinned_unless_a_digest_pins_it() {
    for latest in [
        "registry.regione.example/comuni/portale:latest",
        "nginx:latest",
        "localhost:5000/portale:latest",
    ] {
        let mut t = modena();
        portale(&mut t).image = latest.to_owned();
        let problem = assert_one(&t, "spec.workloads[0].image", "ImageUnpinned");
        assert!(problem.to_string().contains("latest"), "{problem}");
    }
    for good in [
        format!("registry.regione.example/comuni/portale:latest@{SHA256}"),
        "registry.regione.example/comuni/portale:latest-2024".to_owned(),
        "registry.regione.example/comuni/portale:v1-latest".to_owned(),
        "registry.regione.example/latest/portale:1.0.0".to_owned(),
        "latest:1.0.0".to_owned(),
    ] {
        let mut t = modena();
        portale(&mut t).image = good.clone();
        assert_eq!(assert_valid(&t).workloads[0].image.as_str(), good);
    }
}

#[test]
fn image_must_be_a_reference() {
    for bad in [
        "",
        "Portale:1",
        "portale:",
        "portale:1 ; rm -rf /",
        "portale:$(id)",
        "portale@sha256:abc",
        "portale:1\n",
        "/portale:1",
        "registry.example//portale:1",
        "pοrtale:1", // Greek omicron
    ] {
        let mut t = modena();
        portale(&mut t).image = bad.to_owned();
        assert_one(&t, "spec.workloads[0].image", "ImageReference");
    }
}

#[test]
fn digest_only_and_tagged_images_are_valid() {
    for good in [
        format!("registry.regione.example/comuni/portale@{SHA256}"),
        format!("ghcr.io/comuni/portale:2.3.1@{SHA256}"),
        "nginx:1.27".to_owned(),
        "localhost:5000/portale:dev".to_owned(),
    ] {
        let mut t = modena();
        portale(&mut t).image = good.clone();
        assert_eq!(assert_valid(&t).workloads[0].image.as_str(), good);
    }
}

#[test]
fn env_var_names() {
    for bad in ["1X", "A-B", "LOG LEVEL", "A=B", "Ä"] {
        let mut t = modena();
        portale(&mut t).env[0].name = bad.to_owned();
        assert_one(&t, "spec.workloads[0].env[0].name", "EnvVarName");
    }
    let mut t = modena();
    portale(&mut t).env[0].name = "X".repeat(129);
    assert_one(&t, "spec.workloads[0].env[0].name", "NameTooLong");

    for good in ["_x1", "IOX", "PAGOPAX", "MUNICIPIO", "log_level"] {
        let mut t = modena();
        portale(&mut t).env[0].name = good.to_owned();
        assert_valid(&t);
    }
}

#[test]
fn env_var_reserved_prefixes() {
    for reserved in [
        "PAGOPA_STATION_ID",
        "IO_API_KEY",
        "MUNICIPIO_TENANT",
        "io_api_key",
        "Pagopa_X",
    ] {
        let mut t = modena();
        portale(&mut t).env.push(env(reserved));
        assert_one(&t, "spec.workloads[0].env[1].name", "ReservedName");
    }
}

#[test]
fn env_var_values_have_no_nul_character() {
    // execve ends each variable at its first NUL: the container could never start.
    for bad in ["info\0debug", "\0", &format!("{}\0", "x".repeat(4095))] {
        let mut t = modena();
        portale(&mut t).env[0].value = Some(bad.to_owned());
        assert_one(&t, "spec.workloads[0].env[0].value", "Forbidden");
    }
    // Any other value is the application's business: newlines (a PEM certificate), tabs, JSON.
    for good in [
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "a\tb",
        "{\"level\": \"info\"}",
        "$(HOME)/x",
        "",
    ] {
        let mut t = modena();
        portale(&mut t).env[0].value = Some(good.to_owned());
        assert_valid(&t);
    }
}

#[test]
fn env_var_names_must_be_unique() {
    let mut t = modena();
    portale(&mut t).env.push(env("LOG_LEVEL"));
    let problem = assert_one(&t, "spec.workloads[0].env[1].name", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.workloads[0].env[0].name"),
        "{problem:?}"
    );
    portale(&mut t).env[1].name = "LOG_FORMAT".to_owned();
    assert_eq!(assert_valid(&t).workloads[0].env.len(), 2);
}

#[test]
fn connectors_of_a_workload_must_be_enabled() {
    let mut t = modena();
    io(&mut t).enabled = false;
    let problem = assert_one(&t, "spec.workloads[0].connectors[1]", "ConnectorNotEnabled");
    assert_eq!(problem, Problem::ConnectorNotEnabled("io"));

    let mut t = modena();
    pagopa(&mut t).enabled = false;
    let problem = assert_one(&t, "spec.workloads[0].connectors[0]", "ConnectorNotEnabled");
    assert_eq!(problem, Problem::ConnectorNotEnabled("pagopa"));

    // A connector that is not written at all is not enabled either.
    let mut t = modena();
    t.spec.io = None;
    assert_one(&t, "spec.workloads[0].connectors[1]", "ConnectorNotEnabled");

    let mut t = modena();
    portale(&mut t).connectors = vec![Connector::Io];
    assert_eq!(
        assert_valid(&t).workloads[0]
            .connectors
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [Connector::Io]
    );
}

#[test]
fn connectors_of_a_workload_must_be_unique() {
    let mut t = modena();
    portale(&mut t).connectors = vec![Connector::Pagopa, Connector::Io, Connector::Pagopa];
    let problem = assert_one(&t, "spec.workloads[0].connectors[2]", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { value, .. } if value == "pagopa"),
        "{problem:?}"
    );
}

#[test]
fn requests_must_not_exceed_limits() {
    let mut t = modena();
    resources(&mut t).requests.as_mut().expect("requests").cpu = Some(q("1"));
    let problem = assert_one(
        &t,
        "spec.workloads[0].resources.requests.cpu",
        "RequestAboveLimit",
    );
    assert_eq!(
        problem,
        Problem::RequestAboveLimit {
            request: "1".to_owned(),
            limit: "500m".to_owned()
        }
    );

    let mut t = modena();
    resources(&mut t)
        .requests
        .as_mut()
        .expect("requests")
        .memory = Some(q("512Mi"));
    assert_one(
        &t,
        "spec.workloads[0].resources.requests.memory",
        "RequestAboveLimit",
    );

    // Compared by value, not by text: 0.25Gi is 256Mi.
    let mut t = modena();
    resources(&mut t)
        .requests
        .as_mut()
        .expect("requests")
        .memory = Some(q("0.25Gi"));
    resources(&mut t).requests.as_mut().expect("requests").cpu = Some(q("0.5"));
    assert_valid(&t);
    // 257Mi in bytes is above 256Mi.
    resources(&mut t)
        .requests
        .as_mut()
        .expect("requests")
        .memory = Some(q("269484032"));
    assert_one(
        &t,
        "spec.workloads[0].resources.requests.memory",
        "RequestAboveLimit",
    );

    // Requests without limits, limits without requests, nothing at all.
    let mut t = modena();
    resources(&mut t).limits = None;
    assert_valid(&t);
    let mut t = modena();
    resources(&mut t).requests = None;
    assert_valid(&t);
    let mut t = modena();
    portale(&mut t).resources = None;
    assert_valid(&t);
}

#[test]
fn quantities_must_parse_and_not_be_negative() {
    let mut t = modena();
    resources(&mut t).requests.as_mut().expect("requests").cpu = Some(q("-100m"));
    assert_one(&t, "spec.workloads[0].resources.requests.cpu", "Quantity");

    let mut t = modena();
    resources(&mut t).limits.as_mut().expect("limits").memory = Some(q("256 Mi"));
    assert_one(&t, "spec.workloads[0].resources.limits.memory", "Quantity");

    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").memory = Some(q("-16Gi"));
    assert_one(&t, "spec.quota.memory", "Quantity");

    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("8 cores"));
    assert_one(&t, "spec.quota.cpu", "Quantity");

    // A zero request is allowed (unlike a zero quota).
    let mut t = modena();
    resources(&mut t).requests = Some(ComputeResources {
        cpu: Some(q("0")),
        memory: Some(q("0")),
    });
    assert_valid(&t);
}

#[test]
fn workload_resources_have_an_upper_bound() {
    let mut t = modena();
    resources(&mut t).limits.as_mut().expect("limits").memory = Some(q("16Pi"));
    assert_one(&t, "spec.workloads[0].resources.limits.memory", "TooLarge");

    let mut t = modena();
    resources(&mut t).limits.as_mut().expect("limits").cpu = Some(q("5000"));
    assert_one(&t, "spec.workloads[0].resources.limits.cpu", "TooLarge");
}

#[test]
fn quota_must_be_positive() {
    for zero in ["0", "0m", "0Gi", "-0"] {
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").cpu = Some(q(zero));
        assert_one(&t, "spec.quota.cpu", "NotPositive");
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").memory = Some(q(zero));
        assert_one(&t, "spec.quota.memory", "NotPositive");
    }
    for pods in [0, -1] {
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").pods = Some(pods);
        assert_one(&t, "spec.quota.pods", "NotPositive");
    }
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").pods = Some(1);
    assert_valid(&t);
    t.spec.quota = None;
    assert_eq!(assert_valid(&t).quota.pods, None);
}

#[test]
fn quota_of_zero_written_with_a_huge_exponent_is_still_zero() {
    // 0e400 is 0 (Kubernetes reads it as 0); it must not slip past the zero check as NaN.
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("0e400"));
    assert_one(&t, "spec.quota.cpu", "NotPositive");
}

#[test]
fn quota_has_an_upper_bound() {
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("5000"));
    let problem = assert_one(&t, "spec.quota.cpu", "TooLarge");
    assert_eq!(
        problem,
        Problem::TooLarge {
            value: "5000".to_owned(),
            max: "4096 cores"
        }
    );

    for huge in ["16Pi", "65Ti", "1E", "1e400"] {
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").memory = Some(q(huge));
        assert_one(&t, "spec.quota.memory", "TooLarge");
    }

    // The bounds themselves are allowed.
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("4096"));
    t.spec.quota.as_mut().expect("quota").memory = Some(q("64Ti"));
    assert_valid(&t);
}

#[test]
fn replicas_between_0_and_100() {
    let mut t = modena();
    portale(&mut t).replicas = Some(-1);
    assert_one(&t, "spec.workloads[0].replicas", "Replicas");
    portale(&mut t).replicas = Some(101);
    let problem = assert_one(&t, "spec.workloads[0].replicas", "TooLarge");
    assert_eq!(
        problem,
        Problem::TooLarge {
            value: "101".to_owned(),
            max: "100"
        }
    );
    for fine in [0, 1, 100] {
        portale(&mut t).replicas = Some(fine);
        assert_eq!(assert_valid(&t).workloads[0].replicas, Some(fine));
    }
}

#[test]
fn port_between_1_and_65535() {
    for bad in [0, 65536, -1, i32::MAX] {
        let mut t = modena();
        portale(&mut t).port = Some(bad);
        assert_one(&t, "spec.workloads[0].port", "Port");
    }
    for fine in [1, 65535] {
        let mut t = modena();
        portale(&mut t).port = Some(fine);
        assert_eq!(
            assert_valid(&t).workloads[0].port.map(i32::from),
            Some(fine)
        );
    }
}
