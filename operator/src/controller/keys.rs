//! The connectors' keys: dereferenced from the source Secrets the watch keeps (a tenant
//! without its keys waits, and one whose Secret was bound to someone else loses its copy), and
//! written to the tenant's connector Secrets only when their version moves or the Secret
//! resync is due (the operator never reads a Secret outside its own namespace).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use municipio_crds::v1alpha1::{Connector, ConnectorStatus};
use municipio_crds::{MunicipalityTenant, ValidTenant};

use super::apply::Applied;
use super::events::Note;
use super::pipeline::{BLOCKED_RETRY, Stop, joined};
use super::status::{Observed, Outcome};
use super::{Context, tolerate_missing};
use crate::children::{self, Children};
use crate::connectors::identity::gateway;
use crate::connectors::identity::publish::Published;
use crate::dereference::{self, ConnectorKeys};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Only while shutting down: the watch of the source Secrets has ended.
    #[error("dereferencing the keys: the source Secrets are no longer watched")]
    Unwatched,
    #[error("revoking the keys in Secret {namespace}/{secret}: {source}")]
    Revoke {
        namespace: String,
        secret: String,
        #[source]
        source: kube::Error,
    },
}

/// The keys of the tenant's enabled connectors, or a stop that says which are missing.
/// `fresh`: a source Secret this pass just wrote, which the watch may not have brought yet.
pub async fn dereference(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    valid: &ValidTenant,
    fresh: Option<&Arc<Secret>>,
) -> Result<ConnectorKeys, Stop> {
    // Until the first list of the source Secrets is in, a Secret would look missing.
    ctx.source_secrets_listed
        .clone()
        .wait_for(|listed| *listed)
        .await
        .map_err(|_| KeysError::Unwatched)?;
    let namespace = &ctx.config.operator_namespace;
    let find = |name: &str| source_secret(ctx, name, fresh);
    match dereference::connector_keys(valid, namespace, find) {
        Ok(keys) => Ok(keys),
        Err(problems) => {
            revoke_unbound_keys(ctx, tenant, valid.namespace.as_str(), &problems).await?;
            let outcome = Outcome::Blocked {
                reason: problems[0].reason(),
                message: joined(&problems),
            };
            Err(Stop::At(outcome, Action::requeue(BLOCKED_RETRY)))
        }
    }
}

fn source_secret(ctx: &Context, name: &str, fresh: Option<&Arc<Secret>>) -> Option<Arc<Secret>> {
    if let Some(fresh) = fresh.filter(|s| s.metadata.name.as_deref() == Some(name)) {
        return Some(fresh.clone());
    }
    let namespace = &ctx.config.operator_namespace;
    ctx.source_secrets
        .get(&ObjectRef::new(name).within(namespace))
}

/// What status says of each connector, with the version of its keys: a digest of the layout
/// of its Secrets (the tenant's, and the gateway's for identity) and of its source Secrets'
/// identities and versions, never of a value.
pub fn connectors(
    ctx: &Context,
    valid: &ValidTenant,
    desired: &Children,
    fresh: Option<&Arc<Secret>>,
    published: Option<&Published>,
) -> Vec<ConnectorStatus> {
    let mut connectors = super::status::connectors(valid, &ctx.config, published);
    for connector in &mut connectors {
        let sources: Vec<_> = connector
            .source_secrets
            .iter()
            .filter_map(|s| source_secret(ctx, s, fresh))
            .collect();
        let sources: Vec<&Secret> = sources.iter().map(|s| s.as_ref()).collect();
        let own: Vec<&Secret> = desired
            .secrets
            .iter()
            .filter(|s| secret_of(valid, connector, &s.name_any()))
            .collect();
        connector.keys_version = (!own.is_empty()).then(|| {
            let versions: Vec<String> = own
                .iter()
                .map(|s| children::secret::keys_version(s, &sources))
                .collect();
            children::metadata::digest(versions.iter().map(String::as_bytes))
        });
    }
    connectors
}

/// Whether the Secret named `name` is one of `connector`'s: its Secret in the tenant
/// namespace, or for identity its Secret in the gateway's namespace too.
fn secret_of(valid: &ValidTenant, connector: &ConnectorStatus, name: &str) -> bool {
    connector.secret == name
        || (connector.name == Connector::Identity
            && name == gateway::object_name(valid.name.as_str()))
}

/// Remembers which keys version each Secret apply wrote has.
pub fn written(ctx: &Context, valid: &ValidTenant, applied: &Applied, observed: &Observed) {
    for secret in &applied.secrets_written {
        let version = observed
            .connectors
            .iter()
            .find(|c| secret_of(valid, c, secret))
            .and_then(|c| c.keys_version.clone());
        ctx.secret_written(valid.namespace.as_str(), secret, version);
    }
}

/// Which tenant Secrets to write. They are never read back (the operator may not read Secrets
/// outside its own namespace): one is written when its keys version moved since status last
/// recorded it (or since this process wrote it: the tenant in the store may not show that
/// status yet); otherwise every Secret resync period, which puts back one someone changed or
/// deleted. Not sooner while the tenant is not Ready: one that stays so (a rollout that cannot
/// finish, a cluster without room) would cost a write per Secret every reconcile, for ever,
/// and thousands of such tenants a steady write load on the API server.
pub fn write_policy<'a>(
    ctx: &'a Context,
    tenant: &'a MunicipalityTenant,
    valid: &'a ValidTenant,
    connectors: &'a [ConnectorStatus],
) -> impl Fn(&Secret) -> bool + 'a {
    let recorded = |name: &str| {
        tenant
            .status
            .iter()
            .flat_map(|s| &s.connectors)
            .find(|c| secret_of(valid, c, name))
            .and_then(|c| c.keys_version.clone())
    };
    let period = ctx.secret_resync;
    move |secret: &Secret| {
        let name = secret.name_any();
        let version = connectors
            .iter()
            .find(|c| secret_of(valid, c, &name))
            .and_then(|c| c.keys_version.clone());
        let last = ctx.last_secret_write(valid.namespace.as_str(), &name);
        let current =
            version.is_some() && (version == recorded(&name) || version == last.keys_version);
        !(current && last.at.elapsed() < period)
    }
}

/// A key whose source Secret is no longer bound to the tenant was given to someone else: the
/// tenant's copy goes. (A Secret that is only missing, perhaps being re-created by a GitOps
/// tool, leaves the last copy in place.)
async fn revoke_unbound_keys(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    namespace: &str,
    problems: &[dereference::KeyProblem],
) -> Result<(), KeysError> {
    let unbound: BTreeSet<_> = problems
        .iter()
        .filter(|p| matches!(p, dereference::KeyProblem::NotBound { .. }))
        .map(|p| p.connector())
        .collect();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    for connector in unbound {
        let name = children::metadata::object_name(connector);
        let deleted = tolerate_missing(secrets.delete(&name, &Default::default()).await).map_err(
            |source| KeysError::Revoke {
                namespace: namespace.to_owned(),
                secret: name.clone(),
                source,
            },
        )?;
        if deleted.is_some() {
            let note = Note {
                warning: true,
                reason: "KeysRevoked".to_owned(),
                action: "Revoke",
                note: format!(
                    "Secret {namespace}/{name} deleted: its source Secret is no longer bound to this tenant"
                ),
            };
            ctx.events.on_tenant(tenant, note).await;
        }
    }
    Ok(())
}
