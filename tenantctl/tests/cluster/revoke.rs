//! `revoke`: bindings deleted, the record marked, and what still authenticates or grants.

use super::*;

use tenantctl::{Output, cli::Format, cluster::Cluster};

/// The API server's answer to revoke's SubjectAccessReview carrying the revoked certificate's
/// credential id: denied by the revocation webhook, or not (no webhook).
fn credential_review(webhook: bool) -> Step {
    step(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews?",
        move |body| {
            let id = &body["spec"]["extra"]["authentication.kubernetes.io/credential-id"][0];
            assert!(id.as_str().unwrap().starts_with("X509SHA256="), "{body}");
            let status = if webhook {
                json!({"allowed": false, "denied": true, "reason": "tenantctl: revoked credential (tenantctl revoke)"})
            } else {
                json!({"allowed": false})
            };
            Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "metadata": {}, "spec": body["spec"], "status": status}),
            ))
        },
    )
}

async fn revoke_case(format: Format) -> Streams {
    revoke_case_with(format, false).await
}

async fn revoke_case_with(format: Format, webhook: bool) -> Streams {
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let mut admin = vec![
        reply("GET", record_uri(), 200, record_map(alice_record("local"))),
        reply("DELETE", format!("{CRB_URI}?"), 200, deleted()),
        put_record(7, |r| {
            assert_eq!(r["phase"], "Revoked");
            assert!(r["revoked"].is_string());
            assert!(r["credentials"][0]["revoked"].is_string());
        }),
    ];
    if webhook {
        admin.push(credential_review(true));
    } else {
        // Asked 9 times a quarter second apart, then the honest warning.
        admin.extend((0..9).map(|_| credential_review(false)));
    }
    let listing = vec![
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?",
            200,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBindingList", "metadata": {}, "items": [
            {"metadata": {"name": "devs-read"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "Group", "name": "dev", "apiGroup": "rbac.authorization.k8s.io"}]},
            {"metadata": {"name": "unrelated"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]}]}),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/rolebindings?",
            200,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBindingList", "metadata": {}, "items": []}),
        ),
    ];
    if !webhook {
        admin.extend(listing);
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = tenantctl::tenant::revoke_online(
            &cluster,
            "alice",
            format,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, admin));
    r.unwrap();
    Streams::of(out, err)
}

#[tokio::test(start_paused = true)]
async fn revoke_deletes_bindings_marks_the_record_and_lists_what_still_grants() {
    let out = revoke_case(Format::Table).await;
    assert!(
        out.stderr
            .contains("clusterrolebinding/tenantctl:alice:view deleted"),
        "{out}"
    );
    assert!(out.stderr.contains("warning: Kubernetes cannot revoke client certificates and no revocation webhook denies them: 1 still authenticate(s) as alice with groups dev until it expires"), "{out}");
    assert!(
        out.stdout
            .contains("These certificates still authenticate as alice until they expire:"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("serial 01  sha256 ab  until 2099-01-01T00:00:00Z"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("clusterrolebinding/devs-read (ClusterRole/view)"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("unrelated") && !out.stderr.contains("unrelated"),
        "{out}"
    );
}

#[tokio::test(start_paused = true)]
async fn revoke_json_is_the_record_and_what_still_works() {
    let out = revoke_case(Format::Json).await;
    assert!(
        out.stderr
            .contains("warning: Kubernetes cannot revoke client certificates"),
        "{out}"
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(v["record"]["revoked"].is_string());
    assert_eq!(v["stillAuthenticating"][0]["serial"], "01");
    assert_eq!(
        v["stillGranting"],
        json!(["clusterrolebinding/devs-read (ClusterRole/view)"])
    );
}

/// With the revocation webhook in the API server, revoke says the certificate is denied from
/// now on (the webhook's own answer to a review carrying its credential id), and no warning.
#[tokio::test(start_paused = true)]
async fn revoke_with_the_webhook_says_denied_from_now_on() {
    let out = revoke_case_with(Format::Json, true).await;
    assert!(
        out.stderr
            .contains("denied by the API server from now on (the revocation webhook)"),
        "{out}"
    );
    assert!(!out.stderr.contains("warning:"), "{out}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["deniedByWebhook"][0]["serial"], "01");
    assert_eq!(v["stillAuthenticating"], json!([]));
}
