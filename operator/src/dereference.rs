//! Dereference: the keys of the tenant's connectors, from the source Secrets in the operator's
//! namespace. A source Secret is usable only by a tenant it is bound to: the label
//! `tenancy.municipio.io/tenant: <name>` binds it to one tenant, the annotation
//! `tenancy.municipio.io/tenants: "<name>,<name>,..."` to several (a broker's key shared by the
//! municipalities it serves). A tenant that names another tenant's Secret gets nothing.
//!
//! Pure: the caller passes the Secrets it read (from a cache of the operator's namespace only).

use std::borrow::Borrow;
use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use crate::build::{ConnectorKeys, PagoPaKeys, SecretValue};
use crate::labels::{TENANT_LABEL, TENANTS_ANNOTATION};

/// Why a key cannot be had. Messages name the Secret and the field that names it, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("{field}: Secret {namespace}/{secret} does not exist")]
    Missing {
        field: String,
        namespace: String,
        secret: String,
    },
    #[error(
        "{field}: Secret {namespace}/{secret} is not bound to tenant {tenant} (label tenancy.municipio.io/tenant: {tenant}, or {tenant} in annotation tenancy.municipio.io/tenants)"
    )]
    NotBound {
        field: String,
        namespace: String,
        secret: String,
        tenant: String,
    },
    #[error("{field}: Secret {namespace}/{secret} has no key {key:?}")]
    MissingKey {
        field: String,
        namespace: String,
        secret: String,
        key: String,
    },
}

impl KeyProblem {
    /// The connector whose key this is.
    pub fn connector(&self) -> Connector {
        let (KeyProblem::Missing { field, .. }
        | KeyProblem::NotBound { field, .. }
        | KeyProblem::MissingKey { field, .. }) = self;
        if field.starts_with("spec.io.") {
            Connector::Io
        } else {
            Connector::Pagopa
        }
    }

    /// The condition reason this problem is reported with.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyProblem::Missing { .. } => "SourceSecretMissing",
            KeyProblem::NotBound { .. } => "SourceSecretNotBound",
            KeyProblem::MissingKey { .. } => "SourceSecretKeyMissing",
        }
    }
}

/// The tenants a source Secret is bound to: the one in its label, and those in its annotation
/// (exact names only).
pub fn bound_tenants(meta: &ObjectMeta) -> BTreeSet<String> {
    let by_label = meta.labels.as_ref().and_then(|l| l.get(TENANT_LABEL));
    let by_annotation = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(TENANTS_ANNOTATION))
        .map(|list| list.split(',').map(str::trim).filter(|t| !t.is_empty()))
        .into_iter()
        .flatten();
    by_label
        .map(String::as_str)
        .into_iter()
        .chain(by_annotation)
        .map(str::to_owned)
        .collect()
}

/// Whether a source Secret is bound to a tenant, by label or annotation (exact names only).
pub fn is_bound(secret: &Secret, tenant: &str) -> bool {
    bound_tenants(&secret.metadata).contains(tenant)
}

/// The keys the tenant's enabled connectors need, or every problem found.
pub fn connector_keys<S: Borrow<Secret>>(
    tenant: &ValidTenant,
    operator_namespace: &str,
    find: impl Fn(&str) -> Option<S>,
) -> Result<ConnectorKeys, Vec<KeyProblem>> {
    let mut problems = Vec::new();
    // Only the operator's namespace holds source Secrets, whatever `find` looks into.
    let by_name = |name: &str| {
        find(name).filter(|s| s.borrow().metadata.namespace.as_deref() == Some(operator_namespace))
    };
    let mut lookup = |field: String, secret: &str, key: &str| -> Option<SecretValue> {
        let problem_at = |f: String| (f, operator_namespace.to_owned(), secret.to_owned());
        let Some(s) = by_name(secret) else {
            let (field, namespace, secret) = problem_at(field);
            problems.push(KeyProblem::Missing {
                field,
                namespace,
                secret,
            });
            return None;
        };
        let s = s.borrow();
        if !is_bound(s, tenant.name.as_str()) {
            let (field, namespace, secret) = problem_at(field);
            problems.push(KeyProblem::NotBound {
                field,
                namespace,
                secret,
                tenant: tenant.name.to_string(),
            });
            return None;
        }
        match s.data.as_ref().and_then(|d| d.get(key)) {
            Some(value) => Some(SecretValue(value.0.clone())),
            None => {
                let (field, namespace, secret) = problem_at(field);
                problems.push(KeyProblem::MissingKey {
                    field,
                    namespace,
                    secret,
                    key: key.to_owned(),
                });
                None
            }
        }
    };

    let mut keys = ConnectorKeys::default();
    if let Some(p) = &tenant.pagopa {
        let k = &p.subscription_key;
        let field = "spec.pagopa.subscriptionKey";
        let primary = lookup(
            format!("{field}.primaryKey"),
            &k.secret_name,
            &k.primary_key,
        );
        let secondary = k
            .secondary_key
            .as_deref()
            .map(|s| lookup(format!("{field}.secondaryKey"), &k.secret_name, s));
        // A secondary key that is named must be found; one that is not named is simply absent.
        match (primary, secondary) {
            (Some(primary), None) => {
                keys.pagopa = Some(PagoPaKeys {
                    primary,
                    secondary: None,
                })
            }
            (Some(primary), Some(Some(secondary))) => {
                keys.pagopa = Some(PagoPaKeys {
                    primary,
                    secondary: Some(secondary),
                })
            }
            _ => {}
        }
    }
    if let Some(io) = &tenant.io {
        for (i, s) in io.services.iter().enumerate() {
            let field = format!("spec.io.services[{i}].apiKey");
            if let Some(value) = lookup(field, &s.api_key.secret_name, &s.api_key.key) {
                keys.io.insert(s.name.to_string(), value);
            }
        }
    }
    // Problems are reported once per Secret and field, in spec order.
    problems.dedup();
    if problems.is_empty() {
        Ok(keys)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use municipio_crds::MunicipalityTenant;
    use std::collections::BTreeMap;

    fn in_list<'a>(secrets: &'a [Secret]) -> impl Fn(&str) -> Option<&'a Secret> + 'a {
        move |name| {
            secrets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
        }
    }

    const NS: &str = "municipio-system";

    fn modena() -> ValidTenant {
        let t: MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../examples/modena.yaml")).unwrap();
        municipio_crds::validate(&t).unwrap()
    }

    fn secret(
        name: &str,
        ns: &str,
        label: Option<&str>,
        annotation: Option<&str>,
        keys: &[(&str, &str)],
    ) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                labels: label.map(|l| BTreeMap::from([(TENANT_LABEL.to_owned(), l.to_owned())])),
                annotations: annotation
                    .map(|a| BTreeMap::from([(TENANTS_ANNOTATION.to_owned(), a.to_owned())])),
                ..ObjectMeta::default()
            },
            data: Some(
                keys.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn io_secret(label: Option<&str>, annotation: Option<&str>) -> Secret {
        let keys = [
            ("tributi", "t"),
            ("anagrafe-cie", "a"),
            ("elettorale", "e"),
            ("polizia-locale", "p"),
        ];
        secret("modena-io", NS, label, annotation, &keys)
    }

    #[test]
    fn bound_by_label_or_annotation() {
        let pagopa = secret(
            "modena-pagopa",
            NS,
            None,
            Some("carpi, modena ,sassuolo"),
            &[("primary", "P1"), ("secondary", "P2")],
        );
        let keys = connector_keys(
            &modena(),
            NS,
            in_list(&[pagopa, io_secret(Some("modena"), None)]),
        )
        .unwrap();
        let p = keys.pagopa.unwrap();
        assert_eq!(p.primary, SecretValue(b"P1".to_vec()));
        assert_eq!(p.secondary, Some(SecretValue(b"P2".to_vec())));
        assert_eq!(keys.io["anagrafe-cie"], SecretValue(b"a".to_vec()));
    }

    #[test]
    fn another_tenants_secret_gives_nothing() {
        for (label, annotation) in [
            (Some("carpi"), None),
            (None, Some("modena-bis,xmodena")),
            (Some("Modena"), Some("")),
        ] {
            let pagopa = secret(
                "modena-pagopa",
                NS,
                label,
                annotation,
                &[("primary", "P1"), ("secondary", "P2")],
            );
            let problems = connector_keys(
                &modena(),
                NS,
                in_list(&[pagopa, io_secret(Some("modena"), None)]),
            )
            .unwrap_err();
            assert!(
                problems
                    .iter()
                    .all(|p| p.reason() == "SourceSecretNotBound"),
                "{problems:?}"
            );
            assert_eq!(
                problems[0].to_string(),
                "spec.pagopa.subscriptionKey.primaryKey: Secret municipio-system/modena-pagopa is not bound to tenant modena (label tenancy.municipio.io/tenant: modena, or modena in annotation tenancy.municipio.io/tenants)"
            );
        }
    }

    #[test]
    fn a_secret_outside_the_operator_namespace_is_never_read() {
        let pagopa = secret(
            "modena-pagopa",
            "comune-modena",
            Some("modena"),
            None,
            &[("primary", "P1"), ("secondary", "P2")],
        );
        let problems = connector_keys(
            &modena(),
            NS,
            in_list(&[pagopa, io_secret(Some("modena"), None)]),
        )
        .unwrap_err();
        assert_eq!(problems[0].reason(), "SourceSecretMissing");
    }

    #[test]
    fn missing_secrets_and_keys_are_named_and_values_never_shown() {
        let pagopa = secret(
            "modena-pagopa",
            NS,
            Some("modena"),
            None,
            &[("primary", "TOPSECRET")],
        );
        let problems = connector_keys(&modena(), NS, in_list(&[pagopa])).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text[0],
            "spec.pagopa.subscriptionKey.secondaryKey: Secret municipio-system/modena-pagopa has no key \"secondary\""
        );
        assert_eq!(
            text[1],
            "spec.io.services[0].apiKey: Secret municipio-system/modena-io does not exist"
        );
        assert_eq!(problems.len(), 5, "one per IO service: {text:#?}");
        assert!(!format!("{problems:?}{text:?}").contains("TOPSECRET"));
    }
}
