//! spec.network.ingressFrom

use super::*;

#[test]
fn ingress_from_selectors_must_not_be_open() {
    for open in [
        "{}",
        "{matchLabels: {}}",
        "{matchExpressions: []}",
        "{matchExpressions: [{key: team, operator: NotIn, values: [x]}]}",
        "{matchExpressions: [{key: team, operator: DoesNotExist}]}",
        "{matchExpressions: [{key: a, operator: NotIn, values: [x]}, {key: b, operator: DoesNotExist}]}",
        // Every namespace carries it (Kubernetes 1.21 and later).
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]}",
    ] {
        let mut t = modena();
        t.spec
            .network
            .as_mut()
            .expect("network")
            .ingress_from
            .push(yaml(open));
        let problem = assert_one(&t, "spec.network.ingressFrom[1]", "OpenSelector");
        assert!(matches!(problem, Problem::OpenSelector(_)), "{open}");
    }
    for closed in [
        "{matchLabels: {team: ingress}}",
        "{matchExpressions: [{key: team, operator: In, values: [ingress]}]}",
        "{matchExpressions: [{key: team, operator: Exists}]}",
        "{matchExpressions: [{key: team, operator: Exists}, {key: env, operator: NotIn, values: [dev]}]}",
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [ingress-nginx]}]}",
    ] {
        let mut t = modena();
        t.spec
            .network
            .as_mut()
            .expect("network")
            .ingress_from
            .push(yaml(closed));
        assert_eq!(assert_valid(&t).ingress_from.len(), 2, "{closed}");
    }
    // No selector at all: only the tenant's own namespace.
    let mut t = modena();
    t.spec.network = None;
    assert!(assert_valid(&t).ingress_from.is_empty());
}

#[test]
fn ingress_from_selector_operators_and_values() {
    let with_labels = |expression: &str| {
        format!("{{matchLabels: {{team: ingress}}, matchExpressions: [{expression}]}}")
    };
    let cases = [
        (
            "{key: team, operator: Equals, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].operator",
            "LabelSelector",
        ),
        (
            "{key: team, operator: in, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].operator",
            "LabelSelector",
        ),
        (
            "{key: team, operator: In}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Required",
        ),
        (
            "{key: team, operator: NotIn, values: []}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Required",
        ),
        (
            "{key: team, operator: Exists, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Forbidden",
        ),
        (
            "{key: team, operator: DoesNotExist, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Forbidden",
        ),
        (
            "{key: 'bad key', operator: Exists}",
            "spec.network.ingressFrom[0].matchExpressions[0].key",
            "LabelSyntax",
        ),
        (
            "{key: team, operator: In, values: ['bad value']}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "LabelSyntax",
        ),
    ];
    for (expression, path, rule) in cases {
        let mut t = modena();
        t.spec.network.as_mut().expect("network").ingress_from =
            vec![yaml(&with_labels(expression))];
        assert_one(&t, path, rule);
    }

    // A bad operator alone also leaves the selector open.
    let mut t = modena();
    t.spec.network.as_mut().expect("network").ingress_from = vec![yaml(
        "{matchExpressions: [{key: team, operator: Equals, values: [x]}]}",
    )];
    assert_problems(
        &t,
        &[
            (
                "spec.network.ingressFrom[0].matchExpressions[0].operator",
                "LabelSelector",
            ),
            ("spec.network.ingressFrom[0]", "OpenSelector"),
        ],
    );

    for bad_label in [
        "{matchLabels: {'bad key': x}}",
        "{matchLabels: {team: 'bad value'}}",
        "{matchLabels: {'/x': y}}",
    ] {
        let mut t = modena();
        t.spec.network.as_mut().expect("network").ingress_from = vec![yaml(bad_label)];
        assert_one(&t, "spec.network.ingressFrom[0].matchLabels", "LabelSyntax");
    }
}
