//! Dereference: the keys of the tenant's connectors, from the source Secrets in the operator's
//! namespace. A source Secret is usable only by a tenant it is bound to: the label
//! `tenancy.municipio.io/tenant: <name>` binds it to one tenant, the annotation
//! `tenancy.municipio.io/tenants: "<name>,<name>,..."` to several (a broker's key shared by the
//! municipalities it serves). A tenant that names another tenant's Secret gets nothing.
//!
//! Pure: the caller passes the Secrets it read (from a cache of the operator's namespace only).

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use crate::connectors::identity::publish::Published;
use crate::connectors::{self, KeyRef};
use crate::labels::{TENANT_LABEL, TENANTS_ANNOTATION};

/// A key's value. Never printed: `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Vec<u8>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<{} bytes>)", self.0.len())
    }
}

/// The keys of the tenant's connectors, as found in the source Secrets: per connector, by the
/// variable each becomes in the connector's Secret in the tenant namespace; and what the
/// identity connector publishes with its keys, made before the build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectorKeys {
    by_connector: BTreeMap<Connector, BTreeMap<String, SecretValue>>,
    identity: Option<Box<Published>>,
}

impl ConnectorKeys {
    pub fn insert(&mut self, key: &KeyRef, value: SecretValue) {
        self.by_connector
            .entry(key.connector)
            .or_default()
            .insert(key.variable.clone(), value);
    }

    /// The keys of one connector, by variable.
    pub fn of(&self, connector: Connector) -> BTreeMap<String, SecretValue> {
        self.by_connector
            .get(&connector)
            .cloned()
            .unwrap_or_default()
    }

    /// What the identity connector publishes for the gateway.
    pub fn identity(&self) -> Option<&Published> {
        self.identity.as_deref()
    }

    pub fn set_identity(&mut self, published: Published) {
        self.identity = Some(Box::new(published));
    }

    /// Stand-ins that say where each key comes from, for `municipio render`: the values are
    /// known only in the cluster.
    pub fn placeholders(tenant: &ValidTenant, operator_namespace: &str) -> Self {
        let mut keys = Self::default();
        for r in connectors::key_refs(tenant) {
            let text = format!(
                "<key {} of Secret {operator_namespace}/{}>",
                r.key, r.secret
            );
            keys.insert(&r, SecretValue(text.into_bytes()));
        }
        keys
    }
}

/// Why a key cannot be had, for which connector. Messages name the Secret and the field that
/// names it, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("{field}: Secret {namespace}/{secret} does not exist")]
    Missing {
        connector: Connector,
        field: String,
        namespace: String,
        secret: String,
    },
    #[error(
        "{field}: Secret {namespace}/{secret} is not bound to tenant {tenant} (label tenancy.municipio.io/tenant: {tenant}, or {tenant} in annotation tenancy.municipio.io/tenants)"
    )]
    NotBound {
        connector: Connector,
        field: String,
        namespace: String,
        secret: String,
        tenant: String,
    },
    #[error("{field}: Secret {namespace}/{secret} has no key {key:?}")]
    MissingKey {
        connector: Connector,
        field: String,
        namespace: String,
        secret: String,
        key: String,
    },
}

impl KeyProblem {
    /// The connector whose key this is: carried from the key's reference, never guessed from
    /// the field (a guess made an unbound key of any new connector revoke pagoPA's keys).
    pub fn connector(&self) -> Connector {
        let (KeyProblem::Missing { connector, .. }
        | KeyProblem::NotBound { connector, .. }
        | KeyProblem::MissingKey { connector, .. }) = self;
        *connector
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
    let mut keys = ConnectorKeys::default();
    for r in connectors::key_refs(tenant) {
        match lookup(tenant, operator_namespace, &find, &r) {
            Ok(value) => keys.insert(&r, value),
            // Not made yet: the workloads get it once the operator has it.
            Err(KeyProblem::Missing { .. } | KeyProblem::MissingKey { .. })
                if r.made_by_operator => {}
            Err(problem) => problems.push(problem),
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

/// One key, from the Secret its reference names, if that Secret is in the operator's namespace
/// and bound to the tenant.
pub fn lookup<S: Borrow<Secret>>(
    tenant: &ValidTenant,
    operator_namespace: &str,
    find: &impl Fn(&str) -> Option<S>,
    r: &KeyRef,
) -> Result<SecretValue, KeyProblem> {
    let (connector, field, namespace, secret) = (
        r.connector,
        r.field.clone(),
        operator_namespace.to_owned(),
        r.secret.clone(),
    );
    // Only the operator's namespace holds source Secrets, whatever `find` looks into.
    let Some(s) = find(&r.secret)
        .filter(|s| s.borrow().metadata.namespace.as_deref() == Some(operator_namespace))
    else {
        return Err(KeyProblem::Missing {
            connector,
            field,
            namespace,
            secret,
        });
    };
    let s = s.borrow();
    if !is_bound(s, tenant.name.as_str()) {
        return Err(KeyProblem::NotBound {
            connector,
            field,
            namespace,
            secret,
            tenant: tenant.name.to_string(),
        });
    }
    match s.data.as_ref().and_then(|d| d.get(&r.key)) {
        Some(value) => Ok(SecretValue(value.0.clone())),
        None => Err(KeyProblem::MissingKey {
            connector,
            field,
            namespace,
            secret,
            key: r.key.clone(),
        }),
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

    /// Modena without its identity connector, whose keys Secret the operator makes (the
    /// controller's tests cover it).
    fn modena() -> ValidTenant {
        let t: MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../examples/modena.yaml")).unwrap();
        let mut valid = municipio_crds::validate(&t).unwrap();
        valid.identity = None;
        valid
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
        let p = keys.of(Connector::Pagopa);
        assert_eq!(p["PAGOPA_SUBSCRIPTION_KEY"], SecretValue(b"P1".to_vec()));
        assert_eq!(
            p["PAGOPA_SUBSCRIPTION_KEY_SECONDARY"],
            SecretValue(b"P2".to_vec())
        );
        assert_eq!(
            keys.of(Connector::Io)["IO_API_KEY_ANAGRAFE_CIE"],
            SecretValue(b"a".to_vec())
        );
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

    /// An unbound key is revoked for its own connector only. The connector used to be guessed
    /// from the field (`spec.io.` or else pagoPA), so any third connector's unbound key would
    /// have deleted the tenant's pagoPA Secret: every connector's problem names itself.
    #[test]
    fn every_problem_names_the_connector_of_its_key() {
        let t: MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../examples/modena.yaml")).unwrap();
        let tenant = municipio_crds::validate(&t).unwrap();
        for connector in Connector::ALL {
            // Every Secret bound to another tenant: each key is a problem.
            let secrets: Vec<Secret> = ["modena-pagopa", "modena-io", "identity-keys-modena"]
                .iter()
                .map(|name| secret(name, NS, Some("carpi"), None, &[]))
                .collect();
            let problems = connector_keys(&tenant, NS, in_list(&secrets)).unwrap_err();
            let refs: Vec<_> = crate::connectors::key_refs(&tenant)
                .into_iter()
                .filter(|r| r.connector == connector)
                .collect();
            assert!(
                !refs.is_empty(),
                "{connector:?} has keys in Modena's example"
            );
            for r in refs {
                let problem = problems
                    .iter()
                    .find(|p| p.to_string().starts_with(&format!("{}: ", r.field)))
                    .unwrap_or_else(|| panic!("no problem for {r:?}: {problems:?}"));
                assert_eq!(problem.connector(), connector, "{problem}");
            }
        }
        // A field of any other shape does not make a problem pagoPA's.
        let elsewhere = KeyProblem::NotBound {
            connector: Connector::Io,
            field: "spec.identity.relyingParty.key".into(),
            namespace: NS.into(),
            secret: "s".into(),
            tenant: "modena".into(),
        };
        assert_eq!(elsewhere.connector(), Connector::Io);
    }
}
