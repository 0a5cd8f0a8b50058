//! `create --signer csr`: the CSR API flow, and a CSR denied, failed, unapproved or short.

use super::{
    create::{plan, verify_steps, view_rules},
    *,
};

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use kubeconfig::Kubeconfig;
use tenantctl::{
    Error, Output,
    cluster::Cluster,
    tenant::{CreatePlan, CsrOptions, Signer},
};

/// Runs `create_online` against a scripted admin API server and a tenant API server.
async fn run_scripted<S>(
    plan: &CreatePlan,
    pki: &Pki,
    signer: Signer<'_>,
    server: impl FnOnce(Script) -> S,
    tenant: Vec<Step>,
) -> (Result<(), Error>, Streams)
where
    S: Future<Output = ()>,
{
    let (client, handle) = mock();
    let (tenant_client, tenant_handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let entry = pki.entry();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let tc = Mutex::new(Some(tenant_client));
        let r = tenantctl::tenant::create_online(
            &cluster,
            &entry,
            plan,
            &signer,
            pki.path(),
            &mut Output::new(&mut out, &mut err),
            |_kc| {
                let c = tc.lock().unwrap().take();
                async move { Ok(c.expect("one tenant client")) }
            },
        )
        .await;
        drop(cluster);
        r
    };
    let script = Script {
        handle,
        held: Vec::new(),
    };
    let (r, (), ()) = tokio::join!(run, server(script), serve(tenant_handle, tenant));
    (r, Streams::of(out, err))
}

#[tokio::test(start_paused = true)]
async fn create_with_the_csr_api_in_a_new_namespace() {
    let pki = Arc::new(Pki::new());
    let out_dir = tempfile::tempdir().unwrap();
    let kc_path = out_dir.path().join("alice.kubeconfig");
    let plan = plan(
        &[
            "alice",
            "--role",
            "view",
            "-n",
            "team-a",
            "--create-namespace",
            "--ttl",
            "12h",
            "--signer",
            "csr",
            "--approve",
        ],
        &kc_path,
    );
    let signer = Signer::CsrApi(CsrOptions {
        approve: true,
        timeout: Duration::from_secs(60),
        poll: Duration::from_secs(1),
    });
    let ca = pki.clone();
    let server = |mut s: Script| async move {
        s.expect(
            "GET",
            &format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice"),
            |_| Some((404, not_found())),
        )
        .await;
        s.expect("GET", "/api/v1/namespaces/team-a", |_| {
            Some((404, not_found()))
        })
        .await;
        s.expect(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            |_| Some((200, view_rules())),
        )
        .await;
        s.claim().await;
        let created = s
            .expect("POST", &format!("{CSR_URI}?"), |b| Some((201, b.clone())))
            .await;
        let (name, pem) = posted_csr(&created, 43_200);
        let uri = format!("{CSR_URI}/{name}");
        let approval = s
            .expect("PATCH", &format!("{uri}/approval?"), |b| {
                Some((200, b.clone()))
            })
            .await;
        assert_eq!(approval["status"]["conditions"][0]["type"], "Approved");
        assert_eq!(approval["status"]["conditions"][0]["status"], "True");
        // Approved but not issued yet (the race of capsule#385): tenantctl polls again.
        let pending = csr_object(
            &name,
            &created["spec"],
            json!([{"type": "Approved", "status": "True"}]),
        );
        s.expect("GET", &uri, {
            let p = pending.clone();
            |_| Some((200, p))
        })
        .await;
        let mut issued = pending;
        issued["status"]["certificate"] =
            json!(B64.encode(ca.sign(&pem, Duration::from_secs(12 * 3600))));
        s.expect("GET", &uri, |_| Some((200, issued))).await;
        s.expect("DELETE", &format!("{uri}?"), |_| Some((200, deleted())))
            .await;
        let cm = s.put_record(1).await;
        let record = record_of(&cm);
        assert_eq!(record["createdNamespace"], true);
        assert_eq!(
            record["credentials"][0]["signer"],
            "kubernetes.io/kube-apiserver-client"
        );
        assert_eq!(
            record["credentials"][0]["approve"], true,
            "renew approves too"
        );
        let ns = s
            .expect(
                "PATCH",
                &format!("/api/v1/namespaces/team-a{APPLY_QUERY}"),
                |b| Some((200, b.clone())),
            )
            .await;
        assert_eq!(ns["metadata"]["name"], "team-a");
        let rb = s.expect("PATCH", &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/tenantctl:alice:view{APPLY_QUERY}"), |b| Some((200, b.clone()))).await;
        assert_eq!(rb["kind"], "RoleBinding");
        assert_eq!(rb["metadata"]["namespace"], "team-a");
        let cm = s.put_record(2).await;
        assert_eq!(record_of(&cm)["phase"], "Active");
        s.finish().await;
    };
    let tenant = verify_steps("alice", &[], true, |a| assert_eq!(a["namespace"], "team-a"));
    let (r, out) = run_scripted(&plan, &pki, signer, server, tenant).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        out.stderr
            .contains("from the CSR API (kubernetes.io/kube-apiserver-client)"),
        "{out}"
    );
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    assert_eq!(kc.current().unwrap().namespace, Some("team-a"));
}

async fn csr_failure(
    respond_after_post: impl FnOnce(&str, &Value) -> Vec<(u16, Value)>,
    approve: bool,
    timeout: Duration,
) -> String {
    let pki = Arc::new(Pki::new());
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let mut args = vec!["alice", "--role", "view", "--signer", "csr", "--ttl", "1h"];
    if approve {
        args.push("--approve");
    }
    let plan = plan(&args, &kc_path);
    let signer = Signer::CsrApi(CsrOptions {
        approve,
        timeout,
        poll: Duration::from_secs(1),
    });
    let server = |mut s: Script| async move {
        s.expect("GET", &record_uri(), |_| Some((404, not_found())))
            .await;
        s.expect(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            |_| Some((200, view_rules())),
        )
        .await;
        s.claim().await;
        let created = s
            .expect("POST", &format!("{CSR_URI}?"), |b| Some((201, b.clone())))
            .await;
        let (name, pem) = posted_csr(&created, 3600);
        let uri = format!("{CSR_URI}/{name}");
        if approve {
            s.expect("PATCH", &format!("{uri}/approval?"), |b| {
                Some((200, b.clone()))
            })
            .await;
        }
        for (code, body) in
            respond_after_post(&pem, &csr_object(&name, &created["spec"], json!([])))
        {
            s.expect("GET", &uri, |_| Some((code, body))).await;
        }
        s.expect("DELETE", &format!("{uri}?"), |_| Some((200, deleted())))
            .await;
        // The claim is undone: only the record version this run wrote.
        let del = s
            .expect("DELETE", &format!("{}?", record_uri()), |_| {
                Some((200, deleted()))
            })
            .await;
        assert_eq!(
            del["preconditions"],
            json!({"uid": "uid-record", "resourceVersion": "1"})
        );
        s.finish().await;
    };
    let (r, out) = run_scripted(&plan, &pki, signer, server, vec![]).await;
    assert!(!kc_path.exists());
    let err = r.expect_err(&out.to_string());
    let Error::RolledBack { cause, undone, .. } = err else {
        panic!("the claim is rolled back: {err}")
    };
    assert_eq!(undone, ["configmap/tenant-alice"], "nothing else was made");
    cause.to_string()
}

#[tokio::test(start_paused = true)]
async fn csr_denied() {
    let text = csr_failure(|_, pending| {
        let mut denied = pending.clone();
        denied["status"]["conditions"] = json!([{"type": "Denied", "status": "True", "reason": "PolicyDenied", "message": "not on my watch"}]);
        vec![(200, denied)]
    }, false, Duration::from_secs(60)).await;
    assert!(
        text.ends_with(": denied (PolicyDenied: not on my watch)"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn csr_failed() {
    let text = csr_failure(|_, pending| {
        let mut failed = pending.clone();
        failed["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}, {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": "bad usages"}]);
        vec![(200, failed)]
    }, true, Duration::from_secs(60)).await;
    assert!(
        text.ends_with(": failed (SignerValidationFailure: bad usages)"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn csr_never_approved_times_out() {
    let text = csr_failure(
        |_, pending| vec![(200, pending.clone()); 6],
        false,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        text.contains(
            "not approved within 5s; approve it with `kubectl certificate approve tenantctl-alice-"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn csr_certificate_shorter_than_asked() {
    let pki = Pki::new();
    let text = csr_failure(
        |pem, pending| {
            let mut issued = pending.clone();
            issued["status"]["certificate"] =
                json!(B64.encode(pki.sign(pem, Duration::from_secs(1800))));
            vec![(200, issued)]
        },
        true,
        Duration::from_secs(60),
    )
    .await;
    // The mock's own CA signed, not the tenant's: the chain is not checked here, the lifetime is.
    assert!(
        text.contains("the signer issued 30m instead of the 1h asked"),
        "{text}"
    );
}
