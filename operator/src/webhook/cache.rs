//! What the webhook knows of the cluster, kept by watches: every tenant, every namespace (its
//! metadata only) and the source Secrets of the operator namespace (metadata only: bindings,
//! never data). An admission request reads these caches and makes no API call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use municipio_crds::MunicipalityTenant;

use super::review::{Cluster, TenantFacts};
use crate::claim::RetentionRecord;
use crate::dereference;
use crate::labels::RETAINED_NAMESPACE_LABEL;
use crate::tenant_watch;

pub struct ClusterCache {
    tenants: Store<MunicipalityTenant>,
    /// Tenants that do not decode (stored while the webhook was down): they still hold their
    /// name, ISTAT code and namespace, read leniently from their JSON.
    undecodable: Arc<Mutex<BTreeMap<String, TenantFacts>>>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    source_secrets: Store<PartialObjectMeta<Secret>>,
    retention_records: Store<PartialObjectMeta<ConfigMap>>,
    operator_namespace: String,
}

impl ClusterCache {
    /// Starts the watches (as background tasks) and returns the cache they fill.
    pub fn start(client: &Client, operator_namespace: &str) -> Arc<Self> {
        // Undecodable tenants are the controller's to report; here they only keep what they
        // hold (their name, municipality and namespace) from others.
        let undecodable: Arc<Mutex<BTreeMap<String, TenantFacts>>> = Arc::default();
        let (kept, forgotten) = (undecodable.clone(), undecodable.clone());
        let (tenants, tenant_stream, _) = tenant_watch::watch(
            client.clone(),
            watcher::Config::default(),
            move |u| {
                let facts = TenantFacts::of_raw(&u.object);
                lock(&kept).insert(facts.name.clone(), facts);
            },
            move |object| {
                lock(&forgotten).remove(&object.name_any());
            },
        );
        tokio::spawn(tenant_stream.for_each(|_| futures::future::ready(())));
        let namespaces = metadata_store(
            Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
            watcher::Config::default(),
        );
        let source_secrets = metadata_store(
            Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), operator_namespace),
            watcher::Config::default(),
        );
        let retention_records = metadata_store(
            Api::<PartialObjectMeta<ConfigMap>>::namespaced(client.clone(), operator_namespace),
            watcher::Config::default().labels(RETAINED_NAMESPACE_LABEL),
        );
        Arc::new(Self {
            tenants,
            undecodable,
            namespaces,
            source_secrets,
            retention_records,
            operator_namespace: operator_namespace.to_owned(),
        })
    }

    /// Waits until every cache holds its first full list: before that, a duplicate or a
    /// foreign namespace would go unseen.
    pub async fn ready(&self) {
        let _ = self.tenants.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.source_secrets.wait_until_ready().await;
        let _ = self.retention_records.wait_until_ready().await;
    }
}

fn metadata_store<K>(
    api: Api<PartialObjectMeta<K>>,
    config: watcher::Config,
) -> Store<PartialObjectMeta<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .for_each(|_| futures::future::ready(()));
    tokio::spawn(stream);
    store
}

impl Cluster for ClusterCache {
    fn tenants(&self) -> Vec<TenantFacts> {
        let mut tenants: Vec<TenantFacts> = self
            .tenants
            .state()
            .iter()
            .map(|t| TenantFacts::of(t))
            .collect();
        // A tenant that decodes again is in the store; its stale facts are not counted twice.
        let undecodable = lock(&self.undecodable);
        let extra: Vec<TenantFacts> = undecodable
            .values()
            .filter(|u| !tenants.iter().any(|t| t.name == u.name))
            .cloned()
            .collect();
        tenants.extend(extra);
        tenants
    }

    fn namespace(&self, name: &str) -> Option<ObjectMeta> {
        let ns = self.namespaces.get(&ObjectRef::new(name))?;
        Some(ns.metadata.clone())
    }

    fn retention_record(&self, namespace: &str) -> Option<ObjectMeta> {
        let name = RetentionRecord::name_for(namespace);
        let key = ObjectRef::new(&name).within(&self.operator_namespace);
        Some(self.retention_records.get(&key)?.metadata.clone())
    }

    fn source_secret_bindings(&self, name: &str) -> Option<BTreeSet<String>> {
        let key = ObjectRef::new(name).within(&self.operator_namespace);
        let secret = self.source_secrets.get(&key)?;
        Some(dereference::bound_tenants(&secret.metadata))
    }

    fn operator_namespace(&self) -> &str {
        &self.operator_namespace
    }
}

/// The map, even if a thread panicked while holding it (it holds facts, never half-written).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
