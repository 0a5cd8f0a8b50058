//! `create --auth token`: a ServiceAccount tenant with a TokenRequest token.

use super::{
    create::{plan, run_create, verify_steps},
    *,
};

use kubeconfig::Kubeconfig;
use tenantctl::tenant::Signer;

/// A token tenant whose TokenRequest the API server grants for `granted_secs`; `extra` are
/// more `create` flags (`-o json`). Returns what was printed.
async fn token_tenant_case(extra: &[&str], granted_secs: u64) -> Streams {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("ci-bot.kubeconfig");
    let mut args = vec![
        "ci-bot", "--auth", "token", "--role", "edit", "-n", "ci", "--ttl", "8h",
    ];
    args.extend_from_slice(extra);
    let plan = plan(&args, &kc_path);
    let edit = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "edit"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "delete"]}]});
    let admin = vec![
        reply(
            "GET",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-ci-bot"),
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/api/v1/namespaces/ci",
            200,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ci"}}),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit",
            200,
            edit,
        ),
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |_| {},
        ),
        step(
            "POST",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
            |cm| {
                let r = record_of(cm);
                assert_eq!(r["phase"], "Pending");
                assert_eq!(r["serviceAccount"], "ci-bot");
                Some((201, stored(cm, 1)))
            },
        ),
        apply(
            format!("/api/v1/namespaces/ci/serviceaccounts/ci-bot{APPLY_QUERY}"),
            |sa| assert_eq!(sa["kind"], "ServiceAccount"),
        ),
        apply(
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/ci/rolebindings/tenantctl:ci-bot:edit{APPLY_QUERY}"
            ),
            |rb| {
                assert_eq!(
                    rb["subjects"],
                    json!([{"kind": "ServiceAccount", "name": "ci-bot", "namespace": "ci"}])
                );
            },
        ),
        step(
            "POST",
            "/api/v1/namespaces/ci/serviceaccounts/ci-bot/token?",
            move |b| {
                assert_eq!(b["kind"], "TokenRequest");
                assert_eq!(b["spec"]["expirationSeconds"], 28_800);
                let expires =
                    tenantctl::time::rfc3339(SystemTime::now() + Duration::from_secs(granted_secs));
                Some((
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                "spec": b["spec"].clone(), "status": {"token": "eyJhbGciOi.fake.token", "expirationTimestamp": expires}}),
                ))
            },
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-ci-bot?"),
            |cm| {
                assert_eq!(cm["metadata"]["resourceVersion"], "1");
                let text = cm["data"]["tenant.json"].as_str().unwrap();
                assert!(
                    !text.contains("eyJhbGciOi"),
                    "the record never holds the token"
                );
                let r: Value = serde_json::from_str(text).unwrap();
                assert_eq!(r["credentials"][0]["signer"], "tokenrequest");
                Some((200, stored(cm, 2)))
            },
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-ci-bot?"),
            |cm| {
                assert_eq!(cm["metadata"]["resourceVersion"], "2");
                assert_eq!(record_of(cm)["phase"], "Active");
                Some((200, stored(cm, 3)))
            },
        ),
    ];
    let tenant = verify_steps(
        "system:serviceaccount:ci:ci-bot",
        &["system:serviceaccounts", "system:serviceaccounts:ci"],
        true,
        |a| {
            assert_eq!(
                a,
                &json!({"group": "apps", "resource": "deployments", "verb": "create", "namespace": "ci"})
            );
        },
    );
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        !out.stdout.contains("eyJhbGciOi") && !out.stderr.contains("eyJhbGciOi"),
        "{out}"
    );
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    let current = kc.current().unwrap();
    assert_eq!(current.namespace, Some("ci"));
    assert!(matches!(
        current.credentials,
        kubeconfig::Credentials::Token(_)
    ));
    out
}

#[tokio::test(start_paused = true)]
async fn token_tenant() {
    let out = token_tenant_case(&[], 28_800).await;
    assert!(!out.stderr.contains("warning"), "{out}");
    assert!(
        out.stdout.starts_with("wrote ") && out.stdout.lines().count() == 1,
        "the result is one line: {out}"
    );
}

/// `-o json` prints the record and nothing else on stdout, even with a warning to give.
#[tokio::test(start_paused = true)]
async fn token_tenant_json_with_a_shortened_token() {
    let out = token_tenant_case(&["-o", "json"], 14_400).await;
    assert!(
        out.stderr
            .contains("warning: the API server shortened the token"),
        "{out}"
    );
    let record: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(record["user"], "ci-bot");
    assert_eq!(record["serviceAccount"], "ci-bot");
    assert_eq!(record["credentials"][0]["signer"], "tokenrequest");
}
