//! `create` when calls fail: retries, giving up, rollbacks, and racing creates.

use super::{
    create::{activate, claim_steps, plan, run_create, verify_steps, view_rules},
    *,
};

use tenantctl::{Error, tenant::Signer};

#[tokio::test(start_paused = true)]
async fn transient_errors_and_silence_are_retried() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let role = "/apis/rbac.authorization.k8s.io/v1/clusterroles/view";
    let mut admin = vec![
        reply("GET", record_uri(), 429, status(429, "TooManyRequests")),
        reply("GET", record_uri(), 404, not_found()),
        reply("GET", role, 500, status(500, "InternalError")),
        step("GET", role, |_| None), // no answer: the 30 s call timeout fires
        reply("GET", role, 503, status(503, "ServiceUnavailable")),
        reply("GET", role, 200, view_rules()),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        put_record(1, |_| {}),
        apply(format!("{CRB_URI}{APPLY_QUERY}"), |_| {}),
        activate(2),
    ]);
    let tenant = verify_steps("alice", &[], true, |_| {});
    let started = tokio::time::Instant::now();
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
    // Backoff 0.5 s + (0.5 + 1 s) + 30 s timeout + 2 s, on tokio's paused clock.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(34) && waited < Duration::from_secs(40),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_keeps_failing_gives_up_after_five_attempts() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&["alice", "--role", "view"], &dir.path().join("k"));
    let admin = (0..5)
        .map(|_| reply("GET", record_uri(), 503, status(503, "ServiceUnavailable")))
        .collect();
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(
        err.to_string(),
        "get configmap/tenant-alice in tenantctl-system failed: 503 ServiceUnavailable (mock says ServiceUnavailable)"
    );
}

#[tokio::test(start_paused = true)]
async fn forbidden_binding_rolls_back_the_namespace() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(
        &[
            "alice",
            "--role",
            "view",
            "-n",
            "team-a",
            "--create-namespace",
        ],
        &kc_path,
    );
    let mut admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply("GET", "/api/v1/namespaces/team-a", 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        put_record(1, |_| {}),
        apply(format!("/api/v1/namespaces/team-a{APPLY_QUERY}"), |_| {}),
        reply(
            "PATCH",
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/tenantctl:alice:view{APPLY_QUERY}"
            ),
            403,
            status(403, "Forbidden"),
        ),
        // Only the namespace this run created (its uid), only the record version it wrote.
        step("DELETE", "/api/v1/namespaces/team-a?", |b| {
            assert_eq!(b["preconditions"], json!({"uid": "uid-team-a"}));
            Some((200, deleted()))
        }),
        step("DELETE", format!("{}?", record_uri()), |b| {
            assert_eq!(
                b["preconditions"],
                json!({"uid": "uid-record", "resourceVersion": "2"})
            );
            Some((200, deleted()))
        }),
    ]);
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("apply rolebinding/tenantctl:alice:view failed: 403 Forbidden"),
        "{text}"
    );
    assert!(
        text.ends_with("rolled back: namespace/team-a, configmap/tenant-alice"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(err.hint().unwrap().contains("lack this permission"));
    assert!(!kc_path.exists());
}

#[tokio::test(start_paused = true)]
async fn failed_verification_rolls_back_bindings_and_record() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let mut admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        put_record(1, |_| {}),
        apply(format!("{CRB_URI}{APPLY_QUERY}"), |_| {}),
        reply("DELETE", format!("{CRB_URI}?"), 200, deleted()),
        reply("DELETE", format!("{}?", record_uri()), 200, deleted()),
    ]);
    // An authorizer that denies outright (a webhook's `denied: true`): no second ask.
    let mut tenant = verify_steps("alice", &[], true, |_| {});
    tenant[1] = step(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews?",
        |body| {
            Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "metadata": {}, "spec": body["spec"].clone(),
                    "status": {"allowed": false, "denied": true, "reason": "alice's certificate is revoked"}}),
            ))
        },
    );
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    let text = r.unwrap_err().to_string();
    assert!(text.starts_with("verification with the new credentials failed: denied: alice may get pods as ClusterRole/view allows (alice's certificate is revoked)"), "{text}");
    assert!(
        text.ends_with(
            "rolled back: clusterrolebinding/tenantctl:alice:view, configmap/tenant-alice"
        ),
        "{text}"
    );
    assert!(!kc_path.exists(), "no kubeconfig after a rollback");
}

/// Two creates of one tenant: the one whose POST of the record comes second gets a 409 and
/// stops — exit 3, nothing minted, applied or handed out.
#[tokio::test(start_paused = true)]
async fn a_concurrent_create_of_the_same_tenant_gets_409_and_hands_out_nothing() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("k");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |_| {},
        ),
        reply(
            "POST",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
            409,
            status(409, "AlreadyExists"),
        ),
    ];
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains(
            "another tenantctl run created this tenant's record first; nothing was handed out"
        ),
        "{err}"
    );
    assert!(!matches!(err, Error::RolledBack { .. }), "nothing to undo");
    assert!(!kc_path.exists());
}

/// A record that cannot be written means no kubeconfig: the claim is undone.
#[tokio::test(start_paused = true)]
async fn a_failure_to_record_the_credential_hands_out_nothing() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let mut admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        reply(
            "PUT",
            format!("{}?", record_uri()),
            403,
            status(403, "Forbidden"),
        ),
        reply("DELETE", format!("{}?", record_uri()), 200, deleted()),
    ]);
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let text = r.unwrap_err().to_string();
    assert!(text.contains("403 Forbidden"), "{text}");
    assert!(
        text.ends_with("rolled back: configmap/tenant-alice"),
        "{text}"
    );
    assert!(!kc_path.exists(), "{out}");
}
