//! The admission decision, pure: an `AdmissionReview` and what the caches know of the cluster
//! in, the answer out. The same `validate` rules as the CLI and the controller, then the rules
//! across objects that only a view of the cluster can check. Never panics: any input gets an
//! answer, and one that cannot be read is refused with a message saying so.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{DynamicObject, Status};
use municipio_crds::identifiers::NamespaceName;
use municipio_crds::v1alpha1::{Connector, DeletionPolicy, Environment};
use municipio_crds::{MunicipalityTenant, ValidTenant};

use crate::claim;
use crate::labels::ALLOW_DOWNGRADE_ANNOTATION;
use crate::tenant_watch;

/// What the webhook knows of another tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFacts {
    pub name: String,
    pub istat_code: String,
    pub namespace: String,
}

impl TenantFacts {
    /// The facts of a tenant that does not decode, read leniently from its JSON.
    pub fn of_raw(object: &DynamicObject) -> Self {
        let istat_code = object
            .data
            .pointer("/spec/municipality/istatCode")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        Self {
            name: kube::ResourceExt::name_any(object),
            istat_code: istat_code.to_owned(),
            namespace: tenant_watch::namespace_of(object),
        }
    }

    pub fn of(tenant: &MunicipalityTenant) -> Self {
        let name = tenant.metadata.name.clone().unwrap_or_default();
        Self {
            istat_code: tenant.spec.municipality.istat_code.clone(),
            namespace: namespace_of(tenant),
            name,
        }
    }
}

/// The namespace a tenant asks for: `spec.namespace`, or `comune-<name>`.
fn namespace_of(tenant: &MunicipalityTenant) -> String {
    NamespaceName::requested(
        tenant.spec.namespace.as_deref(),
        &kube::ResourceExt::name_any(tenant),
    )
}

/// The cluster as the webhook sees it, from the controller's caches: no API call per request,
/// and no Secret data (only the bindings in a source Secret's metadata).
pub trait Cluster {
    /// Every tenant known.
    fn tenants(&self) -> Vec<TenantFacts>;
    /// The UIDs of the owners of a namespace, or `None` when there is no such namespace.
    fn namespace(&self, name: &str) -> Option<ObjectMeta>;
    /// The operator's record of retaining the namespace `namespace`, if there is one.
    fn retention_record(&self, namespace: &str) -> Option<ObjectMeta>;
    /// The tenants a source Secret is bound to, or `None` when there is no such Secret.
    fn source_secret_bindings(&self, name: &str) -> Option<BTreeSet<String>>;
    /// The namespace source Secrets live in (for messages).
    fn operator_namespace(&self) -> &str;
}

/// Answers one `AdmissionReview` request body.
pub fn review(body: &[u8], cluster: &dyn Cluster) -> AdmissionReview<DynamicObject> {
    match read_request(body) {
        Ok(request) => decide(&request, cluster).into_review(),
        Err(response) => response.into_review(),
    }
}

/// The request of an `AdmissionReview` body, or the refusal that says why it cannot be read.
pub(crate) fn read_request(
    body: &[u8],
) -> Result<AdmissionRequest<DynamicObject>, Box<AdmissionResponse>> {
    serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
        .map_err(|e| e.to_string())
        .and_then(|r| {
            let request: Result<AdmissionRequest<DynamicObject>, _> = r.try_into();
            request.map_err(|_| "it holds no request".to_owned())
        })
        .map_err(|error| {
            // Without a request there is no uid to answer to; the API server reports the
            // message as the webhook's failure.
            let mut response = AdmissionResponse::invalid(format!(
                "municipio webhook: cannot read the AdmissionReview: {error}"
            ));
            response.uid = uid_of(body);
            Box::new(response)
        })
}

/// The request uid, read leniently from a body that is not a valid review.
fn uid_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["request"]["uid"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn decide(request: &AdmissionRequest<DynamicObject>, cluster: &dyn Cluster) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if request.operation == Operation::Delete {
        return deletion(request, response);
    }
    // Nothing else is asked of this webhook.
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let Some(object) = &request.object else {
        return refuse(response, vec!["the request carries no object".to_owned()]);
    };
    // A tenant being deleted is only having its finalizer removed: never stand in its way.
    if object.metadata.deletion_timestamp.is_some() {
        return response;
    }
    let old = match (&request.operation, &request.old_object) {
        (Operation::Update, Some(old)) => Some(old),
        (Operation::Update, None) => {
            return refuse(
                response,
                vec!["an UPDATE without its old object".to_owned()],
            );
        }
        _ => None,
    };
    // Ratchet: an update that leaves the spec as it was (a label, an annotation, the
    // controller's finalizer) is never refused for what the spec already was, even under
    // rules that came later or a duplicate let in while the webhook was down.
    if let Some(old) = old
        && old.data.get("spec") == object.data.get("spec")
    {
        return response;
    }
    let tenant = match tenant_watch::decode(object) {
        Ok(tenant) => tenant,
        Err(errors) => return refuse(response, errors.iter().map(ToString::to_string).collect()),
    };
    let valid = match municipio_crds::validate(&tenant) {
        Ok(valid) => valid,
        Err(errors) => return refuse(response, errors.iter().map(ToString::to_string).collect()),
    };
    let mut errors = Vec::new();
    match old {
        // The namespace and the ISTAT code cannot change, so what CREATE checked still holds.
        Some(old) => {
            errors.extend(immutable_fields(old, &tenant));
            errors.extend(no_silent_downgrade(old, &tenant));
        }
        None => {
            errors.extend(unique_across_tenants(&tenant, cluster));
            errors.extend(namespace_is_free(&tenant, cluster));
        }
    }
    let (foreign, unusable) = unusable_source_secrets(&valid, cluster);
    errors.extend(foreign);
    // What is admitted but looks wrong (an unusual IPA code, an attribute CIE does not give).
    let warnings: Vec<String> = municipio_crds::validate::warnings(&valid)
        .iter()
        .map(ToString::to_string)
        .chain(unusable)
        .collect();
    if !errors.is_empty() {
        return refuse(response, errors);
    }
    let mut response = response;
    response.warnings = (!warnings.is_empty()).then_some(warnings);
    response
}

/// A deletion goes through, except a foreground one of a tenant that may retain its namespace:
/// the garbage collector would start deleting the namespace and everything in it at once,
/// before the operator's finalizer detaches them. (Registered with `failurePolicy: Ignore`:
/// a webhook that is down never holds a deletion.)
fn deletion(
    request: &AdmissionRequest<DynamicObject>,
    response: AdmissionResponse,
) -> AdmissionResponse {
    let Some(old) = request.old_object.as_ref() else {
        return response;
    };
    let propagation = request
        .options
        .as_ref()
        .and_then(|options| options.0.get("propagationPolicy"))
        .and_then(serde_json::Value::as_str);
    // With no policy given, a tenant that already carries the finalizer is deleted in the
    // foreground all the same (the API server keeps the finalizer it finds).
    let foreground = match propagation {
        Some(policy) => policy == "Foreground",
        None => kube::ResourceExt::finalizers(old)
            .iter()
            .any(|f| f == "foregroundDeletion"),
    };
    // Only a tenant that reads, and says Delete, may go in the foreground: a misspelt or
    // unreadable policy could have meant Retain.
    let deletes =
        tenant_watch::decode(old).is_ok_and(|t| t.spec.deletion_policy == DeletionPolicy::Delete);
    if !foreground || deletes {
        return response;
    }
    let name = request.name.as_str();
    refuse(
        response,
        vec![format!(
            "tenant {name} does not say spec.deletionPolicy: Delete (it retains its namespace, or its policy cannot be read), and a foreground deletion would let the garbage collector delete its namespace and the data in it before the operator keeps them: delete it with background propagation (kubectl delete's default, or --cascade=background; for Argo CD, the application's background deletion finalizer), or set spec.deletionPolicy: Delete first if the data may go"
        )],
    )
}

/// A denial in the API server's own form for invalid objects: 422, reason `Invalid`, every
/// problem in the message.
pub(crate) fn refuse(response: AdmissionResponse, errors: Vec<String>) -> AdmissionResponse {
    let message = errors.join("; ");
    let mut response = response.deny(&message);
    response.result = Status {
        code: 422,
        reason: "Invalid".to_owned(),
        ..Status::failure(&message, "Invalid")
    };
    response
}

fn unique_across_tenants(tenant: &MunicipalityTenant, cluster: &dyn Cluster) -> Vec<String> {
    let me = TenantFacts::of(tenant);
    let others: Vec<TenantFacts> = cluster
        .tenants()
        .into_iter()
        .filter(|t| t.name != me.name)
        .collect();
    let mut errors = Vec::new();
    if let Some(other) = others.iter().find(|t| t.istat_code == me.istat_code) {
        errors.push(format!(
            "spec.municipality.istatCode: ISTAT code {} is already the municipality of tenant {}: one tenant per municipality",
            me.istat_code, other.name
        ));
    }
    if let Some(other) = others.iter().find(|t| t.namespace == me.namespace) {
        errors.push(format!(
            "spec.namespace: namespace {} is already the namespace of tenant {}",
            me.namespace, other.name
        ));
    }
    errors
}

/// The namespace of a new tenant must not exist, unless it is the one this tenant left when it
/// was deleted with `deletionPolicy: Retain` (see [`crate::claim`]).
fn namespace_is_free(tenant: &MunicipalityTenant, cluster: &dyn Cluster) -> Vec<String> {
    let namespace = namespace_of(tenant);
    let Some(existing) = cluster.namespace(&namespace) else {
        return Vec::new();
    };
    let asking = claim::Asking {
        name: tenant.metadata.name.as_deref().unwrap_or_default(),
        uid: tenant.metadata.uid.as_deref(),
        istat_code: &tenant.spec.municipality.istat_code,
        retains: tenant.spec.deletion_policy == DeletionPolicy::Retain,
    };
    let record = cluster.retention_record(&namespace);
    match claim::existing(&existing, record.as_ref(), &asking) {
        claim::Existing::Ours | claim::Existing::Retained => Vec::new(),
        claim::Existing::Refused(why) => vec![format!(
            "spec.namespace: namespace {namespace} already exists and {why}: choose another spec.namespace (the operator never takes over a namespace)"
        )],
    }
}

/// A string field of the old object, read from its JSON: the old object may have been stored
/// under an older schema and not decode, and its immutable fields must hold all the same.
fn old_str<'a>(old: &'a DynamicObject, pointer: &str) -> Option<&'a str> {
    old.data
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
}

fn immutable_fields(old: &DynamicObject, new: &MunicipalityTenant) -> Vec<String> {
    let mut errors = Vec::new();
    let name = old.metadata.name.as_deref().unwrap_or_default();
    let was = NamespaceName::requested(old_str(old, "/spec/namespace"), name);
    let is = namespace_of(new);
    if was != is {
        errors.push(format!(
            "spec.namespace: cannot change from {was} to {is}: the municipality's workloads and data live in {was}. To move, create a new tenant and migrate the data"
        ));
    }
    let was = old_str(old, "/spec/municipality/istatCode").unwrap_or_default();
    let is = &new.spec.municipality.istat_code;
    if was != is {
        errors.push(format!(
            "spec.municipality.istatCode: cannot change from {was} to {is}: a tenant is one municipality. For another municipality, create another tenant"
        ));
    }
    errors
}

fn no_silent_downgrade(old: &DynamicObject, new: &MunicipalityTenant) -> Vec<String> {
    let allowed = new
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ALLOW_DOWNGRADE_ANNOTATION))
        .is_some_and(|v| v == "true");
    let downgrade = old_str(old, "/spec/environment") == Some("production")
        && new.spec.environment == Environment::Uat;
    if downgrade && !allowed {
        vec![format!(
            "spec.environment: moving from production to uat points a live municipality's payments and messages at the test platforms; if that is meant, set the annotation {ALLOW_DOWNGRADE_ANNOTATION}: \"true\""
        )]
    } else {
        Vec::new()
    }
}

/// Source Secrets named by the spec that cannot serve this tenant. One bound to other tenants
/// is refused: those are another municipality's keys. One missing or bound to no tenant is a
/// warning, not a refusal, since a GitOps tool may create or label it a moment later. Names
/// only, never values. Returns (refusals, warnings).
fn unusable_source_secrets(
    tenant: &ValidTenant,
    cluster: &dyn Cluster,
) -> (Vec<String>, Vec<String>) {
    let named = crate::connectors::key_refs(tenant)
        .into_iter()
        .map(|r| (r.connector, r.secret_field, r.secret));
    let namespace = cluster.operator_namespace();
    let name = tenant.name.as_str();
    let (mut refusals, mut warnings) = (BTreeSet::new(), BTreeSet::new());
    for (connector, field, secret) in named {
        // The identity connector's keys Secret is the operator's to make: it missing is the
        // normal state of a new tenant, and one bound to another tenant is refused as any.
        let made_by_operator = connector == Connector::Identity;
        match cluster.source_secret_bindings(&secret) {
            None | Some(_) if made_by_operator && !bound_elsewhere(cluster, &secret, name) => {
                false
            }
            None => warnings.insert(format!(
                "{field}: Secret {namespace}/{secret} does not exist (yet): the tenant will wait for it"
            )),
            Some(bound) if bound.is_empty() => warnings.insert(format!(
                "{field}: Secret {namespace}/{secret} is not bound to tenant {name}: label it tenancy.municipio.io/tenant={name} or list {name} in its annotation tenancy.municipio.io/tenants"
            )),
            Some(bound) if !bound.contains(name) => refusals.insert(format!(
                "{field}: Secret {namespace}/{secret} is bound to {}, not to tenant {name}: a tenant never receives another's keys",
                bound.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some(_) => false,
        };
    }
    (
        refusals.into_iter().collect(),
        warnings.into_iter().collect(),
    )
}

/// Whether the Secret is bound to tenants, none of which is `tenant`.
fn bound_elsewhere(cluster: &dyn Cluster, secret: &str, tenant: &str) -> bool {
    cluster
        .source_secret_bindings(secret)
        .is_some_and(|bound| !bound.is_empty() && !bound.contains(tenant))
}

#[cfg(test)]
mod tests;
