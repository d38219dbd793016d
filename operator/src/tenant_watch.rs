//! The watch of the tenants, one object at a time.
//!
//! A typed watch fails as a whole when a single object does not decode (kube-rs#774): one
//! tenant stored under an older, looser schema would stop the reconcile of every other
//! municipality. So tenants are watched as raw objects and decoded one by one; an undecodable
//! tenant is kept out of the controller's store and reported on the tenant itself.

use futures::{Stream, TryStreamExt, future};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use municipio_crds::v1alpha1::{Environment, Municipality, MunicipalityTenantSpec};
use municipio_crds::{FieldError, MunicipalityTenant, Problem};

/// A tenant the operator cannot read: its name and why.
#[derive(Debug, Clone)]
pub struct Undecodable {
    pub object: DynamicObject,
    /// Each offending field: its path and what is wrong with it.
    pub errors: Vec<FieldError>,
}

impl Undecodable {
    /// Whether the operator cannot read the tenant only for fields it does not know (a typo,
    /// or a field of a newer version), rather than for a value of the wrong type.
    pub fn only_unknown_fields(&self) -> bool {
        self.errors
            .iter()
            .all(|e| matches!(e.problem, Problem::UnknownField { .. }))
    }

    /// Every problem, `; `-separated.
    pub fn message(&self) -> String {
        let errors: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        errors.join("; ")
    }
}

/// Watches tenants (with `config`'s selector) into a store, and returns the store, the stream
/// of decoded tenants for the controller, and a flag that turns true once the first full list
/// is in. Undecodable tenants go to `report`, deleted ones (or ones that left the selector)
/// to `gone`.
pub fn watch(
    client: Client,
    config: watcher::Config,
    report: impl Fn(Undecodable) + Send + Sync + 'static,
    gone: impl Fn(&DynamicObject) + Send + Sync + 'static,
) -> (
    Store<MunicipalityTenant>,
    impl Stream<Item = Result<MunicipalityTenant, watcher::Error>> + Send + 'static,
    tokio::sync::watch::Receiver<bool>,
) {
    let resource = ApiResource::erase::<MunicipalityTenant>(&());
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let (reader, writer) = reflector::store();
    let (listed, is_listed) = tokio::sync::watch::channel(false);
    let decoded = watcher(api, config)
        .default_backoff()
        // Who wrote which field is never looked at here, and is most of a stored object.
        .modify(|o| o.managed_fields_mut().clear())
        .inspect_ok(mark_listed(listed))
        .inspect_ok(move |event| {
            if let watcher::Event::Delete(object) = event {
                gone(object);
            }
        })
        .try_filter_map(move |event| future::ready(Ok(decode_event(event, &report))));
    let stream = reflector::reflector(writer, decoded).applied_objects();
    (reader, stream, is_listed)
}

/// The namespace a tenant lives in, read leniently (it may not decode): the one its status
/// records, else the one its spec asks for, else the default `comune-<name>`.
pub fn namespace_of(object: &DynamicObject) -> String {
    let text = |pointer: &str| object.data.pointer(pointer).and_then(|v| v.as_str());
    municipio_crds::identifiers::NamespaceName::requested(
        text("/status/namespace").or_else(|| text("/spec/namespace")),
        &object.name_any(),
    )
}

/// Sets `listed` at the end of a watch's first full list. Reconciles and the readiness probe
/// wait on such a flag rather than on `Store::wait_until_ready`, which wakes only one of
/// several concurrent waiters (and the controller itself waits on its store).
pub fn mark_listed<K>(listed: tokio::sync::watch::Sender<bool>) -> impl FnMut(&watcher::Event<K>) {
    move |event| {
        if matches!(event, watcher::Event::InitDone) {
            listed.send_replace(true);
        }
    }
}

/// Decodes the objects of one watch event. An undecodable object becomes a deletion from the
/// store (so a tenant that turned undecodable is not reconciled from a stale copy), or is left
/// out of a relist.
fn decode_event(
    event: watcher::Event<DynamicObject>,
    report: &impl Fn(Undecodable),
) -> Option<watcher::Event<MunicipalityTenant>> {
    use watcher::Event;
    match event {
        Event::Apply(object) => Some(match decode(&object) {
            Ok(tenant) => Event::Apply(tenant),
            Err(errors) => {
                let tombstone = tombstone(&object);
                report(Undecodable { object, errors });
                Event::Delete(tombstone)
            }
        }),
        Event::InitApply(object) => match decode(&object) {
            Ok(tenant) => Some(Event::InitApply(tenant)),
            Err(errors) => {
                report(Undecodable { object, errors });
                None
            }
        },
        Event::Delete(object) => Some(Event::Delete(
            decode(&object).unwrap_or_else(|_| tombstone(&object)),
        )),
        Event::Init => Some(Event::Init),
        Event::InitDone => Some(Event::InitDone),
    }
}

/// The tenant in `object`, as stored (see [`municipio_crds::decode::decode_stored`]): every
/// field it does not know, or the first one the types cannot read.
pub fn decode(object: &DynamicObject) -> Result<MunicipalityTenant, Vec<FieldError>> {
    let value = serde_json::to_value(object).expect("a DynamicObject serializes");
    municipio_crds::decode::decode_stored(&value)
}

/// A stand-in holding only the name of a tenant, so the store can forget it. It is never
/// reconciled: the controller only reconciles what the store holds.
fn tombstone(object: &DynamicObject) -> MunicipalityTenant {
    let mut tenant = MunicipalityTenant::new("", placeholder_spec());
    tenant.metadata = object.metadata.clone();
    tenant
}

fn placeholder_spec() -> MunicipalityTenantSpec {
    MunicipalityTenantSpec {
        municipality: Municipality {
            name: String::new(),
            istat_code: String::new(),
            cadastral_code: None,
            fiscal_code: None,
            ipa_code: None,
            province: None,
        },
        environment: Environment::Uat,
        namespace: None,
        suspend: false,
        deletion_policy: Default::default(),
        admins: Vec::new(),
        quota: None,
        network: None,
        pagopa: None,
        io: None,
        identity: None,
        workloads: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn raw(spec: serde_json::Value) -> DynamicObject {
        let resource = ApiResource::erase::<MunicipalityTenant>(&());
        let mut object =
            DynamicObject::new("modena", &resource).data(serde_json::json!({ "spec": spec }));
        object.metadata = ObjectMeta {
            name: Some("modena".into()),
            uid: Some("u1".into()),
            ..ObjectMeta::default()
        };
        object
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "municipality": { "name": "Comune di Modena", "istatCode": "036023" },
            "environment": "uat",
        })
    }

    #[test]
    fn a_good_tenant_decodes() {
        let tenant = decode(&raw(good())).unwrap();
        assert_eq!(tenant.spec.municipality.istat_code, "036023");
        assert_eq!(tenant.metadata.uid.as_deref(), Some("u1"));
    }

    #[test]
    fn an_undecodable_tenant_names_the_field() {
        let mut spec = good();
        spec["quota"] = serde_json::json!({ "pods": 99_999_999_999_i64 });
        let errors = decode(&raw(spec)).unwrap_err();
        assert_eq!(errors[0].path.as_str(), "spec.quota.pods", "{errors:?}");
    }

    #[test]
    fn an_undecodable_update_drops_the_tenant_and_a_relist_skips_it() {
        let mut spec = good();
        spec["environment"] = serde_json::json!("staging");
        let reported = std::sync::Mutex::new(Vec::new());
        let report = |u: Undecodable| reported.lock().unwrap().push(u.message());

        let update = decode_event(watcher::Event::Apply(raw(spec.clone())), &report);
        match update {
            Some(watcher::Event::Delete(t)) => {
                assert_eq!(t.metadata.name.as_deref(), Some("modena"))
            }
            other => panic!("expected a deletion from the store, got {other:?}"),
        }
        assert!(decode_event(watcher::Event::InitApply(raw(spec)), &report).is_none());
        let reported = reported.into_inner().unwrap();
        assert_eq!(reported.len(), 2);
        assert!(
            reported[0].starts_with("spec.environment: "),
            "{reported:?}"
        );
    }
}
