//! What the webhook knows of the cluster, kept by watches: every tenant, every namespace (its
//! metadata only) and the source Secrets of the operator namespace (metadata only: bindings,
//! never data). An admission request reads these caches and makes no API call.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use municipio_crds::MunicipalityTenant;

use super::review::{Cluster, TenantFacts};
use crate::dereference;
use crate::tenant_watch;

pub struct ClusterCache {
    tenants: Store<MunicipalityTenant>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    source_secrets: Store<PartialObjectMeta<Secret>>,
    operator_namespace: String,
}

impl ClusterCache {
    /// Starts the watches (as background tasks) and returns the cache they fill.
    pub fn start(client: &Client, operator_namespace: &str) -> Arc<Self> {
        // Undecodable tenants are the controller's to report; here they are simply unknown.
        let (tenants, tenant_stream, _) =
            tenant_watch::watch(client.clone(), watcher::Config::default(), |_| {}, |_| {});
        tokio::spawn(tenant_stream.for_each(|_| futures::future::ready(())));
        let namespaces = metadata_store(Api::<PartialObjectMeta<Namespace>>::all(client.clone()));
        let source_secrets = metadata_store(Api::<PartialObjectMeta<Secret>>::namespaced(
            client.clone(),
            operator_namespace,
        ));
        Arc::new(Self {
            tenants,
            namespaces,
            source_secrets,
            operator_namespace: operator_namespace.to_owned(),
        })
    }

    /// Waits until every cache holds its first full list: before that, a duplicate or a
    /// foreign namespace would go unseen.
    pub async fn ready(&self) {
        let _ = self.tenants.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.source_secrets.wait_until_ready().await;
    }
}

fn metadata_store<K>(api: Api<PartialObjectMeta<K>>) -> Store<PartialObjectMeta<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|_| futures::future::ready(()));
    tokio::spawn(stream);
    store
}

impl Cluster for ClusterCache {
    fn tenants(&self) -> Vec<TenantFacts> {
        self.tenants
            .state()
            .iter()
            .map(|t| TenantFacts::of(t))
            .collect()
    }

    fn namespace(&self, name: &str) -> Option<ObjectMeta> {
        let ns = self.namespaces.get(&ObjectRef::new(name))?;
        Some(ns.metadata.clone())
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
