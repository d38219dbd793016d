//! spec.workloads

use super::*;

fn requests(t: &mut MunicipalityTenant) -> &mut ComputeResources {
    resources(t)
        .requests
        .as_mut()
        .expect("portale has requests")
}

fn limits(t: &mut MunicipalityTenant) -> &mut ComputeResources {
    resources(t).limits.as_mut().expect("portale has limits")
}

fn image(t: &mut MunicipalityTenant, image: &str) {
    portale(t).image = image.to_owned();
}

#[test]
fn workload_names_must_be_unique() {
    let [same, other] = check([
        Case {
            what: "a copy of portale",
            change: |t| {
                let second = t.spec.workloads[0].clone();
                t.spec.workloads.push(second);
            },
            expect: &[("spec.workloads[1].name", "Duplicate")],
        },
        Case {
            what: "a copy of portale named backoffice",
            change: |t| {
                let mut second = t.spec.workloads[0].clone();
                second.name = "backoffice".to_owned();
                t.spec.workloads.push(second);
            },
            expect: VALID,
        },
    ]);
    let problem = same.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { value, first } if value == "portale" && first.as_str() == "spec.workloads[0].name"),
        "{problem:?}"
    );
    let names: Vec<String> = other
        .into_valid()
        .workloads
        .iter()
        .map(|w| w.name.to_string())
        .collect();
    assert_eq!(names, ["portale", "backoffice"]);
}

#[test]
fn workload_name_is_a_dns_1035_label() {
    const SYNTAX: Expect = &[("spec.workloads[0].name", "NameSyntax")];
    let [starts_with_digit, ..] = check_values(
        |t, name: String| portale(t).name = name,
        [
            ("1portale".to_owned(), SYNTAX),
            ("Portale".to_owned(), SYNTAX),
            ("portale_web".to_owned(), SYNTAX),
            ("portale-".to_owned(), SYNTAX),
            (String::new(), SYNTAX),
            ("a".repeat(41), &[("spec.workloads[0].name", "NameTooLong")]),
            (format!("p{}", "0".repeat(39)), VALID),
        ],
    );
    let problem = starts_with_digit.into_problem();
    assert!(
        matches!(problem, Problem::Name(NameError::StartsWithDigit(_))),
        "{problem:?}"
    );
}

#[test]
fn image_must_be_pinned() {
    const UNPINNED: Expect = &[("spec.workloads[0].image", "ImageUnpinned")];
    check_values(
        image,
        [
            ("registry.regione.example/comuni/portale", UNPINNED),
            ("portale", UNPINNED),
            ("localhost:5000/portale", UNPINNED),
        ],
    );
}

#[test]
fn image_tagged_latest_is_unpinned_unless_a_digest_pins_it() {
    const UNPINNED: Expect = &[("spec.workloads[0].image", "ImageUnpinned")];
    for outcome in check_values(
        image,
        [
            ("registry.regione.example/comuni/portale:latest", UNPINNED),
            ("nginx:latest", UNPINNED),
            ("localhost:5000/portale:latest", UNPINNED),
        ],
    ) {
        let problem = outcome.into_problem();
        assert!(problem.to_string().contains("latest"), "{problem}");
    }

    let good = [
        format!("registry.regione.example/comuni/portale:latest@{SHA256}"),
        "registry.regione.example/comuni/portale:latest-2024".to_owned(),
        "registry.regione.example/comuni/portale:v1-latest".to_owned(),
        "registry.regione.example/latest/portale:1.0.0".to_owned(),
        "latest:1.0.0".to_owned(),
    ];
    let outcomes = check_values(image, good.each_ref().map(|good| (good.as_str(), VALID)));
    for (good, outcome) in good.iter().zip(outcomes) {
        assert_eq!(outcome.into_valid().workloads[0].image.as_str(), good);
    }
}

#[test]
fn image_must_be_a_reference() {
    const NOT_A_REFERENCE: Expect = &[("spec.workloads[0].image", "ImageReference")];
    check_values(
        image,
        [
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
        ]
        .map(|bad| (bad, NOT_A_REFERENCE)),
    );
}

#[test]
fn digest_only_and_tagged_images_are_valid() {
    let good = [
        format!("registry.regione.example/comuni/portale@{SHA256}"),
        format!("ghcr.io/comuni/portale:2.3.1@{SHA256}"),
        "nginx:1.27".to_owned(),
        "localhost:5000/portale:dev".to_owned(),
    ];
    let outcomes = check_values(image, good.each_ref().map(|good| (good.as_str(), VALID)));
    for (good, outcome) in good.iter().zip(outcomes) {
        assert_eq!(outcome.into_valid().workloads[0].image.as_str(), good);
    }
}

#[test]
fn env_var_names() {
    const BAD: Expect = &[("spec.workloads[0].env[0].name", "EnvVarName")];
    check_values(
        |t, name: String| portale(t).env[0].name = name,
        [
            ("1X".to_owned(), BAD),
            ("A-B".to_owned(), BAD),
            ("LOG LEVEL".to_owned(), BAD),
            ("A=B".to_owned(), BAD),
            ("Ä".to_owned(), BAD),
            (
                "X".repeat(129),
                &[("spec.workloads[0].env[0].name", "NameTooLong")],
            ),
            ("_x1".to_owned(), VALID),
            ("IOX".to_owned(), VALID),
            ("PAGOPAX".to_owned(), VALID),
            ("MUNICIPIO".to_owned(), VALID),
            ("log_level".to_owned(), VALID),
        ],
    );
}

#[test]
fn env_var_reserved_prefixes() {
    const RESERVED: Expect = &[("spec.workloads[0].env[1].name", "ReservedName")];
    check_values(
        |t, name: &str| portale(t).env.push(env(name)),
        [
            ("PAGOPA_STATION_ID", RESERVED),
            ("IO_API_KEY", RESERVED),
            ("MUNICIPIO_TENANT", RESERVED),
            ("io_api_key", RESERVED),
            ("Pagopa_X", RESERVED),
        ],
    );
}

#[test]
fn env_var_values_have_no_nul_character() {
    // execve ends each variable at its first NUL: the container could never start.
    const NUL: Expect = &[("spec.workloads[0].env[0].value", "Forbidden")];
    check_values(
        |t, value: &str| portale(t).env[0].value = Some(value.to_owned()),
        [
            ("info\0debug", NUL),
            ("\0", NUL),
            (&format!("{}\0", "x".repeat(4095)), NUL),
            // Any other value is the application's business: newlines (a PEM certificate), tabs,
            // JSON.
            (
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                VALID,
            ),
            ("a\tb", VALID),
            ("{\"level\": \"info\"}", VALID),
            ("$(HOME)/x", VALID),
            ("", VALID),
        ],
    );
}

#[test]
fn env_var_names_must_be_unique() {
    let [same, other] = check_values(
        |t, name: &str| portale(t).env.push(env(name)),
        [
            (
                "LOG_LEVEL",
                &[("spec.workloads[0].env[1].name", "Duplicate")],
            ),
            ("LOG_FORMAT", VALID),
        ],
    );
    let problem = same.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.workloads[0].env[0].name"),
        "{problem:?}"
    );
    assert_eq!(other.into_valid().workloads[0].env.len(), 2);
}

#[test]
fn connectors_of_a_workload_must_be_enabled() {
    let [io_disabled, pagopa_disabled, _, only_io] = check([
        Case {
            what: "io disabled",
            change: |t| io(t).enabled = false,
            expect: &[("spec.workloads[0].connectors[1]", "ConnectorNotEnabled")],
        },
        Case {
            what: "pagopa disabled",
            change: |t| pagopa(t).enabled = false,
            expect: &[("spec.workloads[0].connectors[0]", "ConnectorNotEnabled")],
        },
        // A connector that is not written at all is not enabled either.
        Case {
            what: "no io",
            change: |t| t.spec.io = None,
            expect: &[("spec.workloads[0].connectors[1]", "ConnectorNotEnabled")],
        },
        Case {
            what: "only the io connector",
            change: |t| portale(t).connectors = vec![Connector::Io],
            expect: VALID,
        },
    ]);
    assert_eq!(
        io_disabled.into_problem(),
        Problem::ConnectorNotEnabled("io")
    );
    assert_eq!(
        pagopa_disabled.into_problem(),
        Problem::ConnectorNotEnabled("pagopa")
    );
    assert_eq!(
        only_io.into_valid().workloads[0]
            .connectors
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [Connector::Io]
    );
}

#[test]
fn connectors_of_a_workload_must_be_unique() {
    let [twice] = check([Case {
        what: "pagopa twice",
        change: |t| {
            portale(t).connectors = vec![Connector::Pagopa, Connector::Io, Connector::Pagopa]
        },
        expect: &[("spec.workloads[0].connectors[2]", "Duplicate")],
    }]);
    let problem = twice.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { value, .. } if value == "pagopa"),
        "{problem:?}"
    );
}

#[test]
fn requests_must_not_exceed_limits() {
    const MEMORY: Expect = &[(
        "spec.workloads[0].resources.requests.memory",
        "RequestAboveLimit",
    )];
    let [cpu, ..] = check([
        Case {
            what: "a cpu request of 1, limit 500m",
            change: |t| requests(t).cpu = Some(q("1")),
            expect: &[(
                "spec.workloads[0].resources.requests.cpu",
                "RequestAboveLimit",
            )],
        },
        Case {
            what: "a memory request of 512Mi, limit 256Mi",
            change: |t| requests(t).memory = Some(q("512Mi")),
            expect: MEMORY,
        },
        // Compared by value, not by text: 0.25Gi is 256Mi.
        Case {
            what: "requests equal to the limits, written otherwise",
            change: |t| {
                requests(t).memory = Some(q("0.25Gi"));
                requests(t).cpu = Some(q("0.5"));
            },
            expect: VALID,
        },
        // 257Mi in bytes is above 256Mi.
        Case {
            what: "a memory request of 257Mi in bytes",
            change: |t| {
                requests(t).memory = Some(q("269484032"));
                requests(t).cpu = Some(q("0.5"));
            },
            expect: MEMORY,
        },
        // Requests without limits, limits without requests, nothing at all.
        Case {
            what: "no limits",
            change: |t| resources(t).limits = None,
            expect: VALID,
        },
        Case {
            what: "no requests",
            change: |t| resources(t).requests = None,
            expect: VALID,
        },
        Case {
            what: "no resources",
            change: |t| portale(t).resources = None,
            expect: VALID,
        },
    ]);
    assert_eq!(
        cpu.into_problem(),
        Problem::RequestAboveLimit {
            request: "1".to_owned(),
            limit: "500m".to_owned()
        }
    );
}

#[test]
fn quantities_must_parse_and_not_be_negative() {
    check([
        Case {
            what: "a negative cpu request",
            change: |t| requests(t).cpu = Some(q("-100m")),
            expect: &[("spec.workloads[0].resources.requests.cpu", "Quantity")],
        },
        Case {
            what: "a memory limit with a space",
            change: |t| limits(t).memory = Some(q("256 Mi")),
            expect: &[("spec.workloads[0].resources.limits.memory", "Quantity")],
        },
        Case {
            what: "a negative memory quota",
            change: |t| quota(t).memory = Some(q("-16Gi")),
            expect: &[("spec.quota.memory", "Quantity")],
        },
        Case {
            what: "a cpu quota in words",
            change: |t| quota(t).cpu = Some(q("8 cores")),
            expect: &[("spec.quota.cpu", "Quantity")],
        },
        // A zero request is allowed (unlike a zero quota).
        Case {
            what: "zero requests",
            change: |t| {
                resources(t).requests = Some(ComputeResources {
                    cpu: Some(q("0")),
                    memory: Some(q("0")),
                })
            },
            expect: VALID,
        },
    ]);
}

#[test]
fn workload_resources_have_an_upper_bound() {
    check([
        Case {
            what: "a memory limit of 16Pi",
            change: |t| limits(t).memory = Some(q("16Pi")),
            expect: &[("spec.workloads[0].resources.limits.memory", "TooLarge")],
        },
        Case {
            what: "a cpu limit of 5000",
            change: |t| limits(t).cpu = Some(q("5000")),
            expect: &[("spec.workloads[0].resources.limits.cpu", "TooLarge")],
        },
    ]);
}

#[test]
fn quota_must_be_positive() {
    let zeros = ["0", "0m", "0Gi", "-0"];
    const CPU: Expect = &[("spec.quota.cpu", "NotPositive")];
    check_values(
        |t, zero: &str| quota(t).cpu = Some(q(zero)),
        zeros.map(|zero| (zero, CPU)),
    );
    const MEMORY: Expect = &[("spec.quota.memory", "NotPositive")];
    check_values(
        |t, zero: &str| quota(t).memory = Some(q(zero)),
        zeros.map(|zero| (zero, MEMORY)),
    );
    const PODS: Expect = &[("spec.quota.pods", "NotPositive")];
    check_values(
        |t, pods| quota(t).pods = Some(pods),
        [(0, PODS), (-1, PODS), (1, VALID)],
    );
    let [no_quota] = check([Case {
        what: "no quota",
        change: |t| t.spec.quota = None,
        expect: VALID,
    }]);
    assert_eq!(no_quota.into_valid().quota.pods, None);
}

#[test]
fn quota_of_zero_written_with_a_huge_exponent_is_still_zero() {
    // 0e400 is 0 (Kubernetes reads it as 0); it must not slip past the zero check as NaN.
    check([Case {
        what: "a cpu quota of 0e400",
        change: |t| quota(t).cpu = Some(q("0e400")),
        expect: &[("spec.quota.cpu", "NotPositive")],
    }]);
}

#[test]
fn quota_has_an_upper_bound() {
    let [cpu] = check([Case {
        what: "a cpu quota of 5000",
        change: |t| quota(t).cpu = Some(q("5000")),
        expect: &[("spec.quota.cpu", "TooLarge")],
    }]);
    assert_eq!(
        cpu.into_problem(),
        Problem::TooLarge {
            value: "5000".to_owned(),
            max: "4096 cores"
        }
    );

    const MEMORY: Expect = &[("spec.quota.memory", "TooLarge")];
    check_values(
        |t, huge: &str| quota(t).memory = Some(q(huge)),
        ["16Pi", "65Ti", "1E", "1e400"].map(|huge| (huge, MEMORY)),
    );

    // The bounds themselves are allowed.
    check([Case {
        what: "a cpu quota of 4096, a memory quota of 64Ti",
        change: |t| {
            quota(t).cpu = Some(q("4096"));
            quota(t).memory = Some(q("64Ti"));
        },
        expect: VALID,
    }]);
}

#[test]
fn replicas_between_0_and_100() {
    let [_, too_many, fine @ ..] = check_values(
        |t, replicas| portale(t).replicas = Some(replicas),
        [
            (-1, &[("spec.workloads[0].replicas", "Replicas")]),
            (101, &[("spec.workloads[0].replicas", "TooLarge")]),
            (0, VALID),
            (1, VALID),
            (100, VALID),
        ],
    );
    assert_eq!(
        too_many.into_problem(),
        Problem::TooLarge {
            value: "101".to_owned(),
            max: "100"
        }
    );
    for (replicas, outcome) in [0, 1, 100].into_iter().zip(fine) {
        assert_eq!(outcome.into_valid().workloads[0].replicas, Some(replicas));
    }
}

#[test]
fn port_between_1_and_65535() {
    const PORT: Expect = &[("spec.workloads[0].port", "Port")];
    check_values(
        |t, port| portale(t).port = Some(port),
        [0, 65536, -1, i32::MAX].map(|bad| (bad, PORT)),
    );
    let fine = [1, 65535];
    let outcomes = check_values(
        |t, port| portale(t).port = Some(port),
        fine.map(|port| (port, VALID)),
    );
    for (port, outcome) in fine.into_iter().zip(outcomes) {
        assert_eq!(
            outcome.into_valid().workloads[0].port.map(i32::from),
            Some(port)
        );
    }
}
