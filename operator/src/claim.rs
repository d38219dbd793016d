//! Whether a tenant may have a namespace that already exists: the one rule the webhook (at
//! creation) and the controller (at every pass) both apply.
//!
//! The operator never takes over a namespace it did not make for the tenant, with one
//! exception: a namespace it kept when the tenant was deleted with `deletionPolicy: Retain`
//! goes back to a tenant of the same name and the same municipality (ISTAT code). That is the
//! municipality's data, kept so that it can come back; re-applying the same manifest (by hand
//! or by GitOps) is how it comes back, with nothing else to do. The labels that say so are the
//! operator's: tenant admins cannot write a namespace, and the guard refuses the operator's
//! labels from anyone else.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::labels::{ISTAT_CODE_LABEL, RETAINED_LABEL, TENANT_LABEL};

/// What an existing namespace is to a tenant that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Made for this tenant (it is the namespace's controller).
    Ours,
    /// Kept when this tenant (same name, same ISTAT code) was deleted: to be taken back.
    Retained,
    /// Anyone else's: left untouched; the text says why, to follow "namespace X exists and".
    Foreign(String),
}

/// The tenant asking: its name, UID (none before it is stored) and ISTAT code.
pub struct Asking<'a> {
    pub name: &'a str,
    pub uid: Option<&'a str>,
    pub istat_code: &'a str,
}

/// What the namespace with metadata `namespace` is to the tenant `asking`.
pub fn existing(namespace: &ObjectMeta, asking: &Asking<'_>) -> Existing {
    let owners = namespace.owner_references.as_deref().unwrap_or_default();
    if asking
        .uid
        .is_some_and(|uid| owners.iter().any(|o| o.uid == uid))
    {
        return Existing::Ours;
    }
    let label = |key: &str| {
        namespace
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .map(String::as_str)
    };
    let name = namespace.name.as_deref().unwrap_or_default();
    let retained_for = label(TENANT_LABEL).filter(|_| label(RETAINED_LABEL) == Some("true"));
    let Some(retained_for) =
        retained_for.filter(|_| owners.iter().all(|o| o.controller != Some(true)))
    else {
        return Existing::Foreign("was not created for this tenant".to_owned());
    };
    if retained_for != asking.name {
        return Existing::Foreign(format!(
            "holds the data retained from tenant {retained_for}, which only that tenant can take back"
        ));
    }
    match label(ISTAT_CODE_LABEL) {
        Some(code) if code == asking.istat_code => Existing::Retained,
        Some(code) => Existing::Foreign(format!(
            "holds the data retained from tenant {retained_for} of the municipality with ISTAT code {code}, not {}",
            asking.istat_code
        )),
        // Retained by a version that did not label the municipality: a person must say so.
        None => Existing::Foreign(format!(
            "was retained from tenant {retained_for} without the label {ISTAT_CODE_LABEL} (an earlier version of the operator): if it holds this municipality's data, give it back with `kubectl label namespace {name} {ISTAT_CODE_LABEL}={}`",
            asking.istat_code
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use std::collections::BTreeMap;

    fn namespace(labels: &[(&str, &str)], owners: &[(&str, bool)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("comune-modena".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
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

    fn modena(uid: Option<&str>) -> Asking<'_> {
        Asking {
            name: "modena",
            uid,
            istat_code: "036023",
        }
    }

    #[test]
    fn a_namespace_made_for_the_tenant_is_its_own() {
        let ns = namespace(&[(TENANT_LABEL, "modena")], &[("u1", true)]);
        assert_eq!(existing(&ns, &modena(Some("u1"))), Existing::Ours);
        assert!(matches!(
            existing(&ns, &modena(Some("u2"))),
            Existing::Foreign(_)
        ));
    }

    #[test]
    fn a_retained_namespace_goes_back_to_the_same_tenant_of_the_same_municipality_only() {
        let ns = namespace(&RETAINED, &[]);
        assert_eq!(existing(&ns, &modena(None)), Existing::Retained);
        assert_eq!(existing(&ns, &modena(Some("new-uid"))), Existing::Retained);

        let other_name = Asking {
            name: "modena-2",
            ..modena(None)
        };
        let other_municipality = Asking {
            istat_code: "015146",
            ..modena(None)
        };
        for asking in [other_name, other_municipality] {
            let Existing::Foreign(why) = existing(&ns, &asking) else {
                panic!("{} {} takes Modena's data", asking.name, asking.istat_code)
            };
            assert!(why.contains("retained from tenant modena"), "{why}");
        }
    }

    #[test]
    fn a_namespace_that_is_not_plainly_retained_is_foreign() {
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
            let ns = namespace(labels, owners);
            assert_eq!(
                existing(&ns, &modena(None)),
                Existing::Foreign("was not created for this tenant".to_owned()),
                "{labels:?} {owners:?}"
            );
        }
    }

    #[test]
    fn a_namespace_retained_without_the_istat_label_says_how_to_give_it_back() {
        let ns = namespace(&RETAINED[..2], &[]);
        let Existing::Foreign(why) = existing(&ns, &modena(None)) else {
            panic!("taken back without knowing the municipality")
        };
        assert!(
            why.contains(
                "kubectl label namespace comune-modena tenancy.municipio.io/istat-code=036023"
            ),
            "{why}"
        );
    }
}
