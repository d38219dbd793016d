//! spec.network.ingressFrom

use super::*;

/// A second selector, spec.network.ingressFrom[1], after modena's.
fn add_selector(t: &mut MunicipalityTenant, selector: &str) {
    t.spec
        .network
        .as_mut()
        .expect("network")
        .ingress_from
        .push(yaml(selector));
}

/// Only this selector, as spec.network.ingressFrom[0].
fn only_selector(t: &mut MunicipalityTenant, selector: &str) {
    t.spec.network.as_mut().expect("network").ingress_from = vec![yaml(selector)];
}

#[test]
fn ingress_from_selectors_must_not_be_open() {
    const OPEN: Expect = &[("spec.network.ingressFrom[1]", "OpenSelector")];
    let open = [
        "{}",
        "{matchLabels: {}}",
        "{matchExpressions: []}",
        "{matchExpressions: [{key: team, operator: NotIn, values: [x]}]}",
        "{matchExpressions: [{key: team, operator: DoesNotExist}]}",
        "{matchExpressions: [{key: a, operator: NotIn, values: [x]}, {key: b, operator: DoesNotExist}]}",
        // Every namespace carries it (Kubernetes 1.21 and later).
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]}",
    ];
    let outcomes = check_values(add_selector, open.map(|selector| (selector, OPEN)));
    for (open, outcome) in open.into_iter().zip(outcomes) {
        assert!(
            matches!(outcome.into_problem(), Problem::OpenSelector(_)),
            "{open}"
        );
    }

    let closed = [
        "{matchLabels: {team: ingress}}",
        "{matchExpressions: [{key: team, operator: In, values: [ingress]}]}",
        "{matchExpressions: [{key: team, operator: Exists}]}",
        "{matchExpressions: [{key: team, operator: Exists}, {key: env, operator: NotIn, values: [dev]}]}",
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [ingress-nginx]}]}",
    ];
    let outcomes = check_values(add_selector, closed.map(|selector| (selector, VALID)));
    for (closed, outcome) in closed.into_iter().zip(outcomes) {
        assert_eq!(outcome.into_valid().ingress_from.len(), 2, "{closed}");
    }

    // No selector at all: only the tenant's own namespace.
    let [none] = check([Case {
        what: "no network",
        change: |t| t.spec.network = None,
        expect: VALID,
    }]);
    assert!(none.into_valid().ingress_from.is_empty());
}

#[test]
fn ingress_from_selector_operators_and_values() {
    const OPERATOR: Expect = &[(
        "spec.network.ingressFrom[0].matchExpressions[0].operator",
        "LabelSelector",
    )];
    const VALUES_REQUIRED: Expect = &[(
        "spec.network.ingressFrom[0].matchExpressions[0].values",
        "Required",
    )];
    const VALUES_FORBIDDEN: Expect = &[(
        "spec.network.ingressFrom[0].matchExpressions[0].values",
        "Forbidden",
    )];
    // Each expression next to a label, so that the selector is not open.
    check_values(
        |t, expression: &str| {
            only_selector(
                t,
                &format!("{{matchLabels: {{team: ingress}}, matchExpressions: [{expression}]}}"),
            )
        },
        [
            ("{key: team, operator: Equals, values: [x]}", OPERATOR),
            ("{key: team, operator: in, values: [x]}", OPERATOR),
            ("{key: team, operator: In}", VALUES_REQUIRED),
            ("{key: team, operator: NotIn, values: []}", VALUES_REQUIRED),
            (
                "{key: team, operator: Exists, values: [x]}",
                VALUES_FORBIDDEN,
            ),
            (
                "{key: team, operator: DoesNotExist, values: [x]}",
                VALUES_FORBIDDEN,
            ),
            (
                "{key: 'bad key', operator: Exists}",
                &[(
                    "spec.network.ingressFrom[0].matchExpressions[0].key",
                    "LabelSyntax",
                )],
            ),
            (
                "{key: team, operator: In, values: ['bad value']}",
                &[(
                    "spec.network.ingressFrom[0].matchExpressions[0].values",
                    "LabelSyntax",
                )],
            ),
        ],
    );

    const LABELS: Expect = &[("spec.network.ingressFrom[0].matchLabels", "LabelSyntax")];
    check_values(
        only_selector,
        [
            // A bad operator alone also leaves the selector open.
            (
                "{matchExpressions: [{key: team, operator: Equals, values: [x]}]}",
                &[
                    (
                        "spec.network.ingressFrom[0].matchExpressions[0].operator",
                        "LabelSelector",
                    ),
                    ("spec.network.ingressFrom[0]", "OpenSelector"),
                ],
            ),
            ("{matchLabels: {'bad key': x}}", LABELS),
            ("{matchLabels: {team: 'bad value'}}", LABELS),
            ("{matchLabels: {'/x': y}}", LABELS),
        ],
    );
}
