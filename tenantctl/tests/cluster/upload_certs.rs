//! `pki upload-certs`: the kubeadm-certs Secret, its owner token and its RBAC.

use super::*;

use tenantctl::{Output, cluster::Cluster};

/// `pki upload-certs`: the 2-hour owner token, kubeadm-certs owned by it (so the garbage
/// collector removes it with the token), and kubeadm's Role and RoleBinding for bootstrap tokens.
#[tokio::test(start_paused = true)]
async fn upload_certs_makes_kubeadms_objects() {
    use tenantctl::pki::upload_certs::upload_online;
    let data: std::collections::BTreeMap<String, k8s_openapi::ByteString> =
        [("ca.crt", b"sealed".to_vec())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), k8s_openapi::ByteString(v)))
            .collect();
    let admin = vec![
        step("POST", "/api/v1/namespaces/kube-system/secrets?", |b| {
            assert_eq!(b["type"], "bootstrap.kubernetes.io/token");
            assert_eq!(
                B64.decode(b["data"]["description"].as_str().unwrap())
                    .unwrap(),
                b"Proxy for managing TTL for the kubeadm-certs secret"
            );
            assert!(b["data"].get("usage-bootstrap-authentication").is_none());
            let mut made = b.clone();
            made["metadata"]["uid"] = json!("uid-owner");
            Some((201, made))
        }),
        apply(
            format!("/api/v1/namespaces/kube-system/secrets/kubeadm-certs{APPLY_QUERY}"),
            |s| {
                let owner = &s["metadata"]["ownerReferences"][0];
                assert_eq!(owner["kind"], "Secret");
                assert_eq!(owner["uid"], "uid-owner");
                assert!(
                    owner["name"]
                        .as_str()
                        .unwrap()
                        .starts_with("bootstrap-token-")
                );
                assert_eq!(owner["controller"], true);
                assert_eq!(s["data"]["ca.crt"], json!(B64.encode(b"sealed")));
            },
        ),
        apply(
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles/kubeadm:kubeadm-certs{APPLY_QUERY}"
            ),
            |r| {
                assert_eq!(
                    r["rules"],
                    json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["kubeadm-certs"], "verbs": ["get"]}])
                );
            },
        ),
        apply(
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/kubeadm:kubeadm-certs{APPLY_QUERY}"
            ),
            |rb| {
                assert_eq!(
                    rb["subjects"],
                    json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}])
                );
            },
        ),
    ];
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = upload_online(&cluster, data, &mut Output::new(&mut out, &mut err)).await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, admin));
    assert_eq!(r.unwrap().len(), 6, "the owner token's id");
}
