//! `tenantctl controller manifests`: what `kubectl apply -f -` needs to run the controller in
//! the cluster — the CRD (generated from the Rust types), its namespace, a ServiceAccount with
//! least-privilege RBAC (each rule says why), and a two-replica, leader-elected Deployment
//! that runs as non-root on a read-only root file system.

use kube::CustomResourceExt as _;
use serde_json::{Value, json};

use crate::{
    cli::ManifestsArgs,
    error::Error,
    output::yaml,
    tenant::{TenantObject, manifest},
};

/// The controller's name: ServiceAccount, ClusterRole, Deployment, Lease.
pub const NAME: &str = "tenantctl-controller";

/// Each rule of the ClusterRole with why the controller needs it.
fn cluster_rules() -> Vec<(&'static str, Value)> {
    vec![
        (
            "watch Tenants, add and remove the finalizer, write their status",
            json!({"apiGroups": ["tenantctl.io"], "resources": ["tenants"], "verbs": ["get", "list", "watch", "patch", "update"]}),
        ),
        (
            "write a Tenant's status; own objects on its behalf (ownerReferences with blockOwnerDeletion)",
            json!({"apiGroups": ["tenantctl.io"], "resources": ["tenants/status", "tenants/finalizers"], "verbs": ["get", "patch", "update"]}),
        ),
        (
            "make, watch, put back and delete the tenants' bindings",
            json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings", "rolebindings"], "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}),
        ),
        (
            "read the roles to bind (guardrails, access checks); `bind` lets it grant a role it does not hold itself — scope it with resourceNames to the roles tenants may get",
            json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "roles"], "verbs": ["get", "list", "bind"]}),
        ),
        (
            "check a namespace exists; create it for spec.createNamespace",
            json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "create", "patch"]}),
        ),
        (
            "write each tenant's kubeconfig Secret (spec.kubeconfigSecret may name any namespace) and watch them",
            json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]}),
        ),
        (
            "token tenants: their ServiceAccount and its tokens (TokenRequest)",
            json!({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "create", "patch", "delete"]}),
        ),
        (
            "token tenants: request a bound token",
            json!({"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}),
        ),
        (
            "check that the API server grants each role to the new identity before handing it out",
            json!({"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}),
        ),
        (
            "signer: csr tenants: request, read and clean up their CertificateSigningRequests",
            json!({"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["get", "list", "watch", "create", "delete"]}),
        ),
        (
            "events on Tenants (issued, renewed, refused, expired, revoked)",
            json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}),
        ),
    ]
}

/// Rules in the controller's own namespace only.
fn namespace_rules() -> Vec<(&'static str, Value)> {
    vec![
        (
            "the ledger: one ConfigMap per tenant (create, read, compare-and-swap update, roll back)",
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "update", "patch", "delete"]}),
        ),
        (
            "leader election",
            json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "update", "patch"]}),
        ),
    ]
}

/// The YAML stream.
pub fn render(args: &ManifestsArgs) -> Result<String, Error> {
    let crd = yaml(&TenantObject::crd())?;
    if args.crd_only {
        return Ok(manifest(
            "The Tenant CustomResourceDefinition (tenantctl controller manifests --crd-only)",
            &[crd],
        ));
    }
    let ns = args.namespace.as_str();
    let labels =
        json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "tenantctl"});
    let rules = |rules: Vec<(&str, Value)>| rules.into_iter().map(|(_, r)| r).collect::<Vec<_>>();
    let why = |title: &str, rules: Vec<(&str, Value)>| {
        let mut s = format!("{title}:\n");
        for (why, rule) in rules {
            s.push_str(&format!(
                "  {} {}: {why}\n",
                rule["resources"]
                    .as_array()
                    .map(|r| r
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_default(),
                rule["verbs"]
                    .as_array()
                    .map(|r| r
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_default()
            ));
        }
        s
    };
    let mut run_args = vec![
        "controller".to_owned(),
        "run".into(),
        "--leader-elect".into(),
        format!("--ca-secret={}", args.ca_secret),
    ];
    if let Some(server) = &args.server {
        run_args.push(format!("--server={server}"));
    }
    let docs = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": ns, "labels": labels}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": labels}, "rules": rules(cluster_rules())}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels}, "rules": rules(namespace_rules())}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "controller",
                        "image": args.image,
                        "args": run_args,
                        "env": [
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        ],
                        "ports": [
                            {"name": "metrics", "containerPort": 8080},
                            {"name": "probes", "containerPort": 8081},
                        ],
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "probes"}, "periodSeconds": 10},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "probes"}, "periodSeconds": 5},
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }],
                },
            },
        }}),
    ];
    let mut texts = vec![crd];
    for d in &docs {
        texts.push(yaml(d)?);
    }
    let header = format!(
        "tenantctl controller manifests --namespace {ns}\n\
         Before applying: the signing CA as a Secret, e.g.\n  \
         kubectl -n {ns} create secret tls {} --cert=/etc/kubernetes/pki/ca.crt --key=/etc/kubernetes/pki/ca.key\n\n{}\n{}",
        args.ca_secret,
        why("ClusterRole rules", cluster_rules()),
        why(&format!("Role rules in {ns}"), namespace_rules())
    );
    Ok(manifest(&header, &texts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_once_with_the_least_privilege_explained() {
        let args = ManifestsArgs {
            image: "example/tenantctl:1".into(),
            namespace: "tenantctl-system".into(),
            server: None,
            ca_secret: "tenantctl-ca".into(),
            crd_only: false,
        };
        let text = render(&args).unwrap();
        for kind in [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
        ] {
            assert!(text.contains(&format!("kind: {kind}\n")), "{kind}");
        }
        assert!(text.contains("readOnlyRootFilesystem: true"));
        assert!(text.contains("--leader-elect"));
        assert!(text.contains("# ClusterRole rules:"));
        assert!(!text.contains("rules: []"));
    }
}
