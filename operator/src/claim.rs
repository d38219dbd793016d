//! Whether a tenant may have a namespace that already exists: the one rule the webhook (at
//! creation) and the controller (at every pass) both apply.
//!
//! The operator never takes over a namespace it did not make for the tenant, with one
//! exception: a namespace it kept when the tenant was deleted with `deletionPolicy: Retain`
//! goes back to a tenant of the same name and the same municipality (ISTAT code) that keeps it
//! too. That is the municipality's data, kept so that it can come back; re-applying the same
//! manifest (by hand or by GitOps) is how it comes back.
//!
//! Labels on the namespace alone would not do: whoever may create or label namespaces could
//! forge them, and be handed a municipality's keys. So the operator records each namespace it
//! retains in its own namespace (a [`RetentionRecord`]: the namespace's UID, the tenant and
//! its ISTAT code), where only it and the cluster's administrators write, and a namespace is
//! taken back only when the live one is the one recorded.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

use crate::labels::{
    ISTAT_CODE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_LABEL, RETAINED_LABEL,
    RETAINED_NAMESPACE_LABEL, TENANT_LABEL,
};

/// What an existing namespace is to a tenant that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Made for this tenant (it is the namespace's controller).
    Ours,
    /// Retained from this tenant (same name, same ISTAT code, recorded): to be taken back.
    Retained,
    /// Not for this tenant: left untouched; the text says why, to follow "namespace X exists and".
    Refused(String),
}

/// The tenant asking: its name, UID (none before it is stored), ISTAT code, and whether it
/// retains its namespace when deleted.
pub struct Asking<'a> {
    pub name: &'a str,
    pub uid: Option<&'a str>,
    pub istat_code: &'a str,
    pub retains: bool,
}

/// The operator's record of a namespace it retained: a ConfigMap in the operator's namespace,
/// its facts in labels (so that the webhook's cache needs its metadata only).
pub struct RetentionRecord<'a> {
    pub namespace: &'a str,
    pub namespace_uid: &'a str,
    pub tenant: &'a str,
    pub istat_code: &'a str,
}

impl RetentionRecord<'_> {
    /// The record's name, in the operator's namespace.
    pub fn name_for(namespace: &str) -> String {
        format!("retained-{namespace}")
    }

    /// The record as a ConfigMap of the operator's namespace `operator_namespace`.
    pub fn config_map(&self, operator_namespace: &str) -> ConfigMap {
        // Retained too: kept on purpose after its tenant is gone, like what it records.
        let labels = [
            (MANAGED_BY_LABEL, MANAGED_BY),
            (RETAINED_LABEL, "true"),
            (RETAINED_NAMESPACE_LABEL, self.namespace),
            (NAMESPACE_UID_LABEL, self.namespace_uid),
            (TENANT_LABEL, self.tenant),
            (ISTAT_CODE_LABEL, self.istat_code),
        ];
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(Self::name_for(self.namespace)),
                namespace: Some(operator_namespace.to_owned()),
                labels: Some(
                    labels
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }
}

fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// What the namespace with metadata `namespace` is to the tenant `asking`, given the operator's
/// record of it (`record`: the metadata of the record's ConfigMap, if there is one).
pub fn existing(
    namespace: &ObjectMeta,
    record: Option<&ObjectMeta>,
    asking: &Asking<'_>,
) -> Existing {
    let owners = namespace.owner_references.as_deref().unwrap_or_default();
    if asking
        .uid
        .is_some_and(|uid| owners.iter().any(|o| o.uid == uid))
    {
        return Existing::Ours;
    }
    let retained = label(namespace, RETAINED_LABEL) == Some("true")
        && owners.iter().all(|o| o.controller != Some(true));
    let Some(retained_for) = label(namespace, TENANT_LABEL).filter(|_| retained) else {
        return Existing::Refused("was not created for this tenant".to_owned());
    };
    let name = namespace.name.as_deref().unwrap_or_default();
    let uid = namespace.uid.as_deref().unwrap_or_default();
    let recorded = record.filter(|r| {
        label(r, RETAINED_NAMESPACE_LABEL) == Some(name)
            && label(r, NAMESPACE_UID_LABEL) == Some(uid)
            && label(r, TENANT_LABEL) == Some(retained_for)
    });
    let Some(recorded) = recorded else {
        let record = RetentionRecord::name_for(name);
        return Existing::Refused(format!(
            "is labelled as retained from tenant {retained_for}, but the operator has no record of retaining it (a ConfigMap {record} in its namespace, with the namespace's UID): labelled by hand, or retained by an earlier version. If it does hold that municipality's data, record it: `kubectl -n <operator namespace> create configmap {record} && kubectl -n <operator namespace> label configmap {record} {RETAINED_NAMESPACE_LABEL}={name} {NAMESPACE_UID_LABEL}={uid} {TENANT_LABEL}={retained_for} {ISTAT_CODE_LABEL}=<its ISTAT code>`"
        ));
    };
    if retained_for != asking.name {
        return Existing::Refused(format!(
            "holds the data retained from tenant {retained_for}, which only that tenant can take back"
        ));
    }
    match label(recorded, ISTAT_CODE_LABEL) {
        Some(code) if code == asking.istat_code => {}
        code => {
            return Existing::Refused(format!(
                "holds the data retained from tenant {retained_for} of the municipality with ISTAT code {}, not {}",
                code.unwrap_or("(none recorded)"),
                asking.istat_code
            ));
        }
    }
    if !asking.retains {
        return Existing::Refused(format!(
            "holds the data retained from tenant {retained_for}: a tenant taking it back must retain it too (spec.deletionPolicy: Retain), or deleting the tenant would delete the data"
        ));
    }
    Existing::Retained
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn meta(name: &str, uid: &str, labels: &[(&str, &str)], owners: &[(&str, bool)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            uid: Some(uid.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            owner_references: Some(
                owners
                    .iter()
                    .map(|(uid, controller)| OwnerReference {
                        uid: (*uid).to_owned(),
                        controller: Some(*controller),
                        ..OwnerReference::default()
                    })
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    const RETAINED: [(&str, &str); 3] = [
        (TENANT_LABEL, "modena"),
        (RETAINED_LABEL, "true"),
        (ISTAT_CODE_LABEL, "036023"),
    ];

    fn retained_namespace() -> ObjectMeta {
        meta("comune-modena", "ns-uid", &RETAINED, &[])
    }

    fn record() -> ObjectMeta {
        let record = RetentionRecord {
            namespace: "comune-modena",
            namespace_uid: "ns-uid",
            tenant: "modena",
            istat_code: "036023",
        };
        record.config_map("municipio-system").metadata
    }

    fn modena(uid: Option<&str>) -> Asking<'_> {
        Asking {
            name: "modena",
            uid,
            istat_code: "036023",
            retains: true,
        }
    }

    fn refused(existing: Existing) -> String {
        match existing {
            Existing::Refused(why) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_namespace_made_for_the_tenant_is_its_own() {
        let ns = meta("comune-modena", "ns-uid", &RETAINED[..1], &[("u1", true)]);
        assert_eq!(existing(&ns, None, &modena(Some("u1"))), Existing::Ours);
        refused(existing(&ns, None, &modena(Some("u2"))));
    }

    #[test]
    fn a_recorded_retained_namespace_goes_back_to_the_same_tenant_of_the_same_municipality() {
        let (ns, record) = (retained_namespace(), record());
        assert_eq!(
            existing(&ns, Some(&record), &modena(None)),
            Existing::Retained
        );
        assert_eq!(
            existing(&ns, Some(&record), &modena(Some("new-uid"))),
            Existing::Retained
        );
        // A non-controller owner someone added does not make it anyone's.
        let ns_with_owner = meta("comune-modena", "ns-uid", &RETAINED, &[("x", false)]);
        assert_eq!(
            existing(&ns_with_owner, Some(&record), &modena(None)),
            Existing::Retained
        );
    }

    #[test]
    fn another_tenant_another_municipality_or_a_tenant_that_would_delete_it_is_refused() {
        let (ns, record) = (retained_namespace(), record());
        for (asking, why) in [
            (
                Asking {
                    name: "modena-2",
                    ..modena(None)
                },
                "holds the data retained from tenant modena, which only that tenant can take back",
            ),
            (
                Asking {
                    istat_code: "015146",
                    ..modena(None)
                },
                "holds the data retained from tenant modena of the municipality with ISTAT code 036023, not 015146",
            ),
            (
                Asking {
                    retains: false,
                    ..modena(None)
                },
                "a tenant taking it back must retain it too (spec.deletionPolicy: Retain)",
            ),
        ] {
            let found = refused(existing(&ns, Some(&record), &asking));
            assert!(found.contains(why), "{found}");
        }
    }

    /// Labels anyone who may label namespaces could write: without the operator's record of
    /// that very namespace (its UID), nothing is taken back.
    #[test]
    fn labels_without_the_operators_record_of_that_namespace_are_not_enough() {
        let ns = retained_namespace();
        let why = refused(existing(&ns, None, &modena(None)));
        assert!(
            why.contains("the operator has no record of retaining it"),
            "{why}"
        );
        assert!(
            why.contains(
                "tenancy.municipio.io/namespace-uid=ns-uid tenancy.municipio.io/tenant=modena"
            ),
            "{why}"
        );
        // A namespace of the same name made anew (another UID), or a record of another tenant.
        let recreated = meta("comune-modena", "other-uid", &RETAINED, &[]);
        refused(existing(&recreated, Some(&record()), &modena(None)));
        let mut of_another = record();
        of_another
            .labels
            .as_mut()
            .unwrap()
            .insert(TENANT_LABEL.into(), "bologna".into());
        refused(existing(&ns, Some(&of_another), &modena(None)));
    }

    #[test]
    fn a_namespace_that_is_not_plainly_retained_is_refused() {
        for (labels, owners) in [
            // Still controlled by a tenant (being detached, or never retained).
            (&RETAINED[..], &[("u1", true)][..]),
            // Not marked retained.
            (&RETAINED[..1], &[][..]),
            (
                &[(RETAINED_LABEL, "false"), RETAINED[0], RETAINED[2]][..],
                &[][..],
            ),
            // Nobody's.
            (&[][..], &[][..]),
        ] {
            let ns = meta("comune-modena", "ns-uid", labels, owners);
            assert_eq!(
                existing(&ns, Some(&record()), &modena(None)),
                Existing::Refused("was not created for this tenant".to_owned()),
                "{labels:?} {owners:?}"
            );
        }
    }
}
