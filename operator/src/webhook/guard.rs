//! The guard of tenant namespaces, pure: what anyone but the operator may write there.
//!
//! - The objects the operator manages are the operator's: their creation, change and deletion
//!   by anyone else is refused, except what [`ownership`](crate::ownership) leaves to other
//!   parties (status, other tools' labels and annotations, an autoscaler's replicas). So is
//!   putting the operator's labels, or a tenant as owner, on any object.
//! - Whatever reaches outside the namespace is refused: Services with `externalIPs` (which can
//!   capture another tenant's traffic, CVE-2020-8554), of type NodePort, LoadBalancer or
//!   ExternalName; hand-written Endpoints and EndpointSlices (which point a Service anywhere);
//!   Roles and RoleBindings (which can grant anyone anything the writer holds). The tenant-admin
//!   role cannot write the last three anyway: this is the second line.
//!
//! Kubernetes' own controllers (the garbage collector and the namespace controller deleting,
//! the endpoints controllers, the Deployment controller's annotations) are never in the way.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use super::review::{read_request, refuse};
use crate::labels::{MANAGED_BY, MANAGED_BY_LABEL, RETAINED_LABEL, TENANT_LABEL, operators_own};
use crate::ownership::left_to_others;

/// Who may write the operator's objects: the operator (the user its requests are
/// authenticated as, `system:serviceaccount:<namespace>:<name>` in a cluster), and Kubernetes
/// itself: its controllers as a cluster names them (`system:kube-controller-manager`, the
/// ServiceAccounts of `kube-system`, `system:apiserver`) and any other user the cluster gives
/// its controller manager (`--kubernetes-user`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Operator {
    pub user: String,
    pub kubernetes_users: Vec<String>,
}

impl Operator {
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            kubernetes_users: Vec::new(),
        }
    }

    /// Kubernetes' own controllers and the API server: never refused (the garbage collector
    /// and the namespace controller delete children; the Deployment controller annotates them
    /// and makes their ReplicaSets).
    fn kubernetes_itself(&self, user: &str) -> bool {
        user == "system:kube-controller-manager"
            || user == "system:apiserver"
            || user.starts_with("system:serviceaccount:kube-system:")
            || self.kubernetes_users.iter().any(|u| u == user)
    }
}

/// Answers one `AdmissionReview` request body for an object in a tenant namespace.
pub fn review(body: &[u8], operator: Option<&Operator>) -> AdmissionReview<DynamicObject> {
    match read_request(body) {
        Ok(request) => decide(&request, operator).into_review(),
        Err(response) => response.into_review(),
    }
}

fn decide(
    request: &AdmissionRequest<DynamicObject>,
    operator: Option<&Operator>,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let user = request.user_info.username.as_deref().unwrap_or_default();
    let Some(operator) = operator else {
        // Without knowing its own identity, the webhook would refuse the operator too.
        let mut response = response;
        response.warnings = Some(vec![
            "municipio webhook: --operator-user is not set, tenant namespaces are not guarded"
                .to_owned(),
        ]);
        return response;
    };
    if user == operator.user || operator.kubernetes_itself(user) {
        return response;
    }
    let old = request.old_object.as_ref().map(as_json);
    let new = request.object.as_ref().map(as_json);
    let what = describe(request);
    let mut errors = Vec::new();
    if let Some(new) = &new {
        errors.extend(reaches_outside(&request.kind.kind, new));
    }
    match (&request.operation, &old, &new) {
        (Operation::Delete, Some(old), _) if managed(old) => errors.push(format!(
            "it is managed by municipio for tenant {}: it goes when the tenant's spec no longer asks for it",
            tenant_of(old)
        )),
        (Operation::Update, Some(old), Some(new)) if managed(old) => {
            let changed = changes(old, new);
            if !changed.is_empty() {
                errors.push(format!(
                    "it is managed by municipio for tenant {}: change the tenant's spec instead (changed: {})",
                    tenant_of(old),
                    changed.join(", ")
                ));
            }
        }
        (Operation::Create | Operation::Update, old, Some(new)) => {
            let before = old.as_ref().map(operators_marks).unwrap_or_default();
            let after = operators_marks(new);
            if after != before {
                errors.push(format!(
                    "{} are the operator's own: only municipio sets them",
                    after
                        .iter()
                        .chain(&before)
                        .filter(|m| !(before.contains(m) && after.contains(m)))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        _ => {}
    }
    if errors.is_empty() {
        return response;
    }
    let errors = errors.into_iter().map(|e| format!("{what}: {e}")).collect();
    refuse(response, errors)
}

fn as_json(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// `Kind namespace/name`, for messages.
fn describe(request: &AdmissionRequest<DynamicObject>) -> String {
    let namespace = request.namespace.as_deref().unwrap_or_default();
    format!("{} {namespace}/{}", request.kind.kind, request.name)
}

/// An object the operator manages: it carries the operator's label, or a tenant as controller.
/// One kept after its tenant was deleted (`deletionPolicy: Retain`) is no one's any more.
fn managed(object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    let retained = labels[RETAINED_LABEL] == "true" && controlling_tenant(object).is_none();
    !retained && (labels[MANAGED_BY_LABEL] == MANAGED_BY || controlling_tenant(object).is_some())
}

fn controlling_tenant(object: &Value) -> Option<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == "MunicipalityTenant")
        .and_then(|r| r["name"].as_str())
}

fn tenant_of(object: &Value) -> &str {
    controlling_tenant(object)
        .or_else(|| object["metadata"]["labels"][TENANT_LABEL].as_str())
        .unwrap_or("(unknown)")
}

/// The operator's labels and annotations on `object`, and a tenant among its owners, as
/// `key=value` strings.
/// Also on pod templates: a connector's label on a pod opens that connector's egress, and the
/// workload label makes a pod one of the operator's workloads. `managed-by` is the operator's
/// only with its value (other tools, Helm among them, set it on their own objects).
fn operators_marks(object: &Value) -> Vec<String> {
    let metadata = [
        &object["metadata"],
        &object["spec"]["template"]["metadata"],
        &object["spec"]["jobTemplate"]["spec"]["template"]["metadata"],
    ];
    let mut marks: Vec<String> = metadata
        .iter()
        .flat_map(|m| ["labels", "annotations"].map(|field| &m[field]))
        .flat_map(|map| map.as_object().into_iter().flatten())
        .filter(|(k, v)| {
            if k.as_str() == MANAGED_BY_LABEL {
                v.as_str() == Some(MANAGED_BY)
            } else {
                operators_own(k)
            }
        })
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if let Some(tenant) = controlling_tenant(object) {
        marks.push(format!(
            "ownerReferences[kind=MunicipalityTenant,name={tenant}]"
        ));
    }
    marks.sort();
    marks.dedup();
    marks
}

/// What an object reaches outside its namespace with, one problem a field.
fn reaches_outside(kind: &str, object: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    match kind {
        "Service" => {
            let spec = &object["spec"];
            if spec["externalIPs"].as_array().is_some_and(|ips| !ips.is_empty()) {
                errors.push(
                    "spec.externalIPs: not allowed in a tenant namespace: it can take over traffic for any address, another tenant's included (CVE-2020-8554)"
                        .to_owned(),
                );
            }
            let type_ = spec["type"].as_str().unwrap_or("ClusterIP");
            let why = match type_ {
                "NodePort" => Some("it opens a port on every node of the region's cluster"),
                "LoadBalancer" => Some("it asks for an address outside the cluster"),
                "ExternalName" => Some("it names any host, another tenant's Services included"),
                _ => None,
            };
            if let Some(why) = why {
                errors.push(format!(
                    "spec.type: {type_} is not allowed in a tenant namespace: {why}; expose a workload through spec.workloads[].ingress"
                ));
            }
        }
        "Endpoints" | "EndpointSlice" => errors.push(format!(
            "{kind} are written by Kubernetes from a Service's selector: hand-written ones point a Service anywhere"
        )),
        "RoleBinding" | "Role" => errors.push(format!(
            "{kind}s in a tenant namespace are the operator's (spec.admins): one can grant anyone what its writer holds"
        )),
        _ => {}
    }
    errors
}

/// The fields an update changes that are not left to other parties, as paths.
fn changes(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    compare(old, new, &mut Vec::new(), &mut out);
    out
}

/// Set by the API server on every write.
const SERVER_SET: [&str; 8] = [
    "resourceVersion",
    "generation",
    "managedFields",
    "uid",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn compare(old: &Value, new: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
    if left_to_others(path) {
        return;
    }
    if let [only, field] = path.as_slice()
        && only == "metadata"
        && SERVER_SET.contains(&field.as_str())
    {
        return;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                path.push(key.clone());
                compare(
                    o.get(key).unwrap_or(&Value::Null),
                    n.get(key).unwrap_or(&Value::Null),
                    path,
                    out,
                );
                path.pop();
            }
        }
        (Value::Object(_), Value::Null) | (Value::Null, Value::Object(_)) => {
            let empty = Value::Object(Default::default());
            let (o, n) = if old.is_null() {
                (&empty, new)
            } else {
                (old, &empty)
            };
            compare(o, n, path, out);
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (o, n) in o.iter().zip(n) {
                path.push("[]".to_owned());
                compare(o, n, path, out);
                path.pop();
            }
        }
        _ if old == new => {}
        _ => out.push(path.join(".").replace(".[]", "[]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPERATOR: &str = "system:serviceaccount:municipio-system:municipio";

    fn request(
        operation: &str,
        user: &str,
        kind: &str,
        old: Option<Value>,
        new: Option<Value>,
    ) -> Vec<u8> {
        let (group, version) = match kind {
            "Deployment" => ("apps", "v1"),
            "NetworkPolicy" => ("networking.k8s.io", "v1"),
            "RoleBinding" => ("rbac.authorization.k8s.io", "v1"),
            "EndpointSlice" => ("discovery.k8s.io", "v1"),
            _ => ("", "v1"),
        };
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": group, "version": version, "kind": kind},
                "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
                "name": "x",
                "namespace": "comune-modena",
                "operation": operation,
                "userInfo": {"username": user},
                "object": new,
                "oldObject": old,
                "dryRun": false,
            }
        }))
        .unwrap()
    }

    fn answer(
        operation: &str,
        user: &str,
        kind: &str,
        old: Option<Value>,
        new: Option<Value>,
    ) -> Result<(), String> {
        let operator = Operator::new(OPERATOR);
        let review = review(&request(operation, user, kind, old, new), Some(&operator));
        let response = review.response.unwrap();
        if response.allowed {
            Ok(())
        } else {
            Err(response.result.message)
        }
    }

    fn managed_policy() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "x", "namespace": "comune-modena", "resourceVersion": "1",
                "labels": {"app.kubernetes.io/managed-by": "municipio", "tenancy.municipio.io/tenant": "modena"},
                "ownerReferences": [{"apiVersion": "tenancy.municipio.io/v1alpha1", "kind": "MunicipalityTenant",
                                      "name": "modena", "uid": "u1", "controller": true}]},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        })
    }

    #[test]
    fn a_managed_object_is_the_operators_to_change_and_delete() {
        let old = managed_policy();
        let mut opened = old.clone();
        opened["spec"]["egress"] = json!([{}]);
        opened["metadata"]["resourceVersion"] = json!("2");
        let refused = answer(
            "UPDATE",
            "mallory",
            "NetworkPolicy",
            Some(old.clone()),
            Some(opened.clone()),
        )
        .unwrap_err();
        assert!(
            refused.contains(
                "NetworkPolicy comune-modena/x: it is managed by municipio for tenant modena"
            ),
            "{refused}"
        );
        assert!(refused.contains("changed: spec.egress"), "{refused}");
        assert!(
            answer(
                "UPDATE",
                OPERATOR,
                "NetworkPolicy",
                Some(old.clone()),
                Some(opened)
            )
            .is_ok()
        );

        let refused = answer(
            "DELETE",
            "mallory",
            "NetworkPolicy",
            Some(old.clone()),
            None,
        )
        .unwrap_err();
        assert!(
            refused.contains("it goes when the tenant's spec no longer asks for it"),
            "{refused}"
        );
        for kubernetes in [
            "system:serviceaccount:kube-system:generic-garbage-collector",
            "system:serviceaccount:kube-system:namespace-controller",
            "system:kube-controller-manager",
        ] {
            assert!(
                answer(
                    "DELETE",
                    kubernetes,
                    "NetworkPolicy",
                    Some(old.clone()),
                    None
                )
                .is_ok()
            );
        }

        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"]["tenancy.municipio.io/tenant"] = json!("milano");
        let refused = answer(
            "UPDATE",
            "mallory",
            "NetworkPolicy",
            Some(old.clone()),
            Some(relabelled),
        )
        .unwrap_err();
        assert!(
            refused.contains("metadata.labels.tenancy.municipio.io/tenant"),
            "{refused}"
        );
    }

    #[test]
    fn others_marks_status_and_replicas_may_change() {
        let old = managed_policy();
        let mut marked = old.clone();
        marked["metadata"]["labels"]["example.org/audited"] = json!("yes");
        marked["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "2"});
        marked["metadata"]["resourceVersion"] = json!("9");
        marked["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
        marked["spec"]["replicas"] = json!(3);
        marked["status"] = json!({"replicas": 3});
        assert_eq!(
            answer(
                "UPDATE",
                "mallory",
                "NetworkPolicy",
                Some(old),
                Some(marked)
            ),
            Ok(())
        );
    }

    #[test]
    fn the_operators_marks_are_set_by_no_one_else() {
        let mine = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "comune-modena"}});
        assert!(answer("CREATE", "mallory", "ConfigMap", None, Some(mine.clone())).is_ok());
        let mut disguised = mine.clone();
        disguised["metadata"]["labels"] = json!({"tenancy.municipio.io/tenant": "milano"});
        let refused = answer(
            "CREATE",
            "mallory",
            "ConfigMap",
            None,
            Some(disguised.clone()),
        )
        .unwrap_err();
        assert!(
            refused.contains("tenancy.municipio.io/tenant=milano are the operator's own"),
            "{refused}"
        );
        let refused = answer(
            "UPDATE",
            "mallory",
            "ConfigMap",
            Some(mine),
            Some(disguised),
        )
        .unwrap_err();
        assert!(refused.contains("only municipio sets them"), "{refused}");
    }

    #[test]
    fn other_tools_marks_pass_and_the_operators_on_a_pod_template_do_not() {
        let helm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x",
            "labels": {"app.kubernetes.io/managed-by": "Helm"}}});
        assert!(answer("CREATE", "mallory", "ConfigMap", None, Some(helm)).is_ok());
        let egress = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"template": {"metadata": {"labels": {"connector.tenancy.municipio.io/pagopa": "true"}}}}});
        let refused = answer("CREATE", "mallory", "Deployment", None, Some(egress)).unwrap_err();
        assert!(
            refused.contains("connector.tenancy.municipio.io/pagopa=true"),
            "{refused}"
        );
    }

    #[test]
    fn a_retained_object_is_no_ones_any_more() {
        let mut retained = managed_policy();
        retained["metadata"]["ownerReferences"] = Value::Null;
        retained["metadata"]["labels"]["tenancy.municipio.io/retained"] = json!("true");
        assert!(
            answer(
                "DELETE",
                "region-admin",
                "NetworkPolicy",
                Some(retained),
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn what_reaches_outside_the_namespace_is_refused_naming_the_field() {
        let service = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": spec});
        let plain = service(json!({"ports": [{"port": 80}]}));
        assert!(answer("CREATE", "mallory", "Service", None, Some(plain)).is_ok());
        for (spec, field) in [
            (
                json!({"externalIPs": ["10.96.0.10"]}),
                "spec.externalIPs: not allowed",
            ),
            (
                json!({"type": "NodePort"}),
                "spec.type: NodePort is not allowed",
            ),
            (
                json!({"type": "LoadBalancer"}),
                "spec.type: LoadBalancer is not allowed",
            ),
            (
                json!({"type": "ExternalName", "externalName": "portale.comune-milano.svc"}),
                "spec.type: ExternalName",
            ),
        ] {
            let refused =
                answer("CREATE", "mallory", "Service", None, Some(service(spec))).unwrap_err();
            assert!(refused.contains(field), "{refused}");
        }
        let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "x"}});
        assert!(
            answer(
                "CREATE",
                "mallory",
                "Endpoints",
                None,
                Some(endpoints.clone())
            )
            .is_err()
        );
        assert!(
            answer(
                "CREATE",
                "system:serviceaccount:kube-system:endpoint-controller",
                "Endpoints",
                None,
                Some(endpoints)
            )
            .is_ok()
        );
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "x"}});
        assert!(answer("CREATE", "mallory", "EndpointSlice", None, Some(slice)).is_err());
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "x"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}]});
        assert!(
            answer(
                "CREATE",
                "cluster-admin-of-the-region",
                "RoleBinding",
                None,
                Some(binding.clone())
            )
            .is_err()
        );
        assert!(answer("CREATE", OPERATOR, "RoleBinding", None, Some(binding)).is_ok());
        // Deleting what is not managed is not in the way.
        let own = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"type": "NodePort"}});
        assert!(answer("DELETE", "mallory", "Service", Some(own), None).is_ok());
    }

    #[test]
    fn without_its_identity_the_guard_refuses_nothing_and_says_so() {
        let body = request(
            "DELETE",
            "mallory",
            "NetworkPolicy",
            Some(managed_policy()),
            None,
        );
        let response = review(&body, None).response.unwrap();
        assert!(response.allowed);
        assert!(response.warnings.unwrap()[0].contains("--operator-user"));
    }

    #[test]
    fn an_unreadable_review_is_refused() {
        let response = review(b"{", Some(&Operator::new(OPERATOR)))
            .response
            .unwrap();
        assert!(!response.allowed);
    }
}
