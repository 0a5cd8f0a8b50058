//! `create`: the happy path with the local CA, and what create refuses or resumes.

use super::*;

use std::sync::Mutex;

use kubeconfig::Kubeconfig;
use tenantctl::{
    Cli, Command, Error, Output,
    cluster::Cluster,
    tenant::{CreatePlan, Signer},
};

pub(super) fn plan(args: &[&str], output: &Path) -> CreatePlan {
    let mut argv = vec!["tenantctl", "create"];
    argv.extend_from_slice(args);
    let out = output.to_str().unwrap().to_owned();
    argv.extend(["--kubeconfig-out", &out]);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let Command::Create(args) = cli.command else {
        unreachable!()
    };
    CreatePlan::from_args(&args).unwrap()
}

pub(super) fn view_rules() -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": "view"},
           "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]})
}

/// The claim: the record namespace applied, then the record created (POST, never apply) as
/// Pending, answered with resourceVersion 1.
pub(super) fn claim_steps(check: impl FnOnce(&Value) + Send + 'static) -> Vec<Step> {
    vec![
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |ns| {
                assert_eq!(ns["kind"], "Namespace");
            },
        ),
        step(
            "POST",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
            move |cm| {
                assert_eq!(cm["metadata"]["name"], "tenant-alice");
                assert_eq!(cm["metadata"]["labels"]["tenantctl.io/tenant"], "alice");
                let record = record_of(cm);
                assert_eq!(record["phase"], "Pending");
                check(&record);
                Some((201, stored(cm, 1)))
            },
        ),
    ]
}

/// The record marked Active at resourceVersion `rv`.
pub(super) fn activate(rv: u32) -> Step {
    put_record(rv, |r| assert_eq!(r["phase"], "Active"))
}

/// The verification the tenant's own client makes.
pub(super) fn verify_steps(
    user: &str,
    groups: &[&str],
    allowed: bool,
    resource_check: impl FnOnce(&Value) + Send + 'static,
) -> Vec<Step> {
    let mut seen: Vec<&str> = groups.to_vec();
    seen.push("system:authenticated");
    let user = user.to_owned();
    let seen: Vec<String> = seen.into_iter().map(String::from).collect();
    vec![
        step(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews?",
            move |body| {
                assert_eq!(body["kind"], "SelfSubjectReview");
                Some((
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                "metadata": {}, "status": {"userInfo": {"username": user, "groups": seen}}}),
                ))
            },
        ),
        step(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews?",
            move |body| {
                resource_check(&body["spec"]["resourceAttributes"]);
                Some((
                    201,
                    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {}, "spec": body["spec"].clone(), "status": {"allowed": allowed}}),
                ))
            },
        ),
    ]
}

pub(super) async fn run_create(
    plan: &CreatePlan,
    pki: &Pki,
    signer: Signer<'_>,
    admin: Vec<Step>,
    tenant: Vec<Step>,
) -> (Result<(), Error>, Streams) {
    let (client, handle) = mock();
    let (tenant_client, tenant_handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let entry = pki.entry();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let tenant_client = Mutex::new(Some(tenant_client));
        let r = tenantctl::tenant::create_online(
            &cluster,
            &entry,
            plan,
            &signer,
            pki.path(),
            &mut Output::new(&mut out, &mut err),
            |kc: Kubeconfig| {
                // The kubeconfig handed to the verifier is the one written later: check it here.
                let current = kc.current().unwrap();
                assert_eq!(current.server, "https://10.0.0.10:6443");
                let client = tenant_client.lock().unwrap().take().unwrap();
                async move { Ok(client) }
            },
        )
        .await;
        drop(cluster);
        r
    };
    let (r, (), ()) = tokio::join!(run, serve(handle, admin), serve(tenant_handle, tenant));
    (r, Streams::of(out, err))
}

#[tokio::test(start_paused = true)]
async fn create_cluster_wide_with_the_local_ca() {
    let pki = Pki::new();
    let out_dir = tempfile::tempdir().unwrap();
    let kc_path = out_dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view", "--group", "dev"], &kc_path);
    let mut admin = vec![
        reply(
            "GET",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice"),
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|r| {
        assert_eq!(r["user"], "alice");
        assert_eq!(r["groups"], json!(["dev"]));
        assert_eq!(
            r["credentials"],
            json!([]),
            "nothing minted before the claim"
        );
    }));
    let (before, after) = (kc_path.clone(), kc_path.clone());
    admin.push(put_record(1, move |r| {
        assert!(
            !before.exists(),
            "recorded before the kubeconfig is written"
        );
        let cred = &r["credentials"][0];
        assert_eq!(cred["signer"], "local");
        assert_eq!(cred["serial"].as_str().unwrap().len() % 2, 0);
        assert_eq!(cred["sha256"].as_str().unwrap().len(), 64);
    }));
    admin.push(apply(
        format!(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tenantctl:alice:view{APPLY_QUERY}"
        ),
        |b| {
            assert_eq!(b["kind"], "ClusterRoleBinding");
            assert_eq!(
                b["roleRef"],
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
            );
            assert_eq!(
                b["subjects"],
                json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}])
            );
            assert_eq!(
                b["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "tenantctl"
            );
        },
    ));
    admin.push(put_record(2, move |r| {
        assert!(after.exists(), "Active once the kubeconfig is out");
        assert_eq!(r["phase"], "Active");
    }));
    let tenant = verify_steps("alice", &["dev"], true, |attrs| {
        assert_eq!(
            attrs,
            &json!({"group": "", "resource": "pods", "verb": "get"})
        );
    });
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
    r.unwrap();
    assert!(out.stderr.contains("verified: the API server sees alice (groups dev, system:authenticated); can get pods cluster-wide (ClusterRole/view)"), "{out}");

    // The kubeconfig: 0600, parsed by kube's own loader, a cert for CN=alice, O=dev from the CA.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kc_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kc = kube::config::Kubeconfig::read_from(&kc_path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("alice@kubernetes"));
    let ours = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    let v = ours.current().unwrap().validate(SystemTime::now()).unwrap();
    let cert = v.client_certificate.unwrap();
    assert_eq!(cert.common_name().as_deref(), Some("alice"));
    assert_eq!(cert.organizations(), ["dev"]);
    assert_eq!(cert.key_algorithm().unwrap(), KeyAlgorithm::EcdsaP256);
    let days = cert
        .not_after()
        .duration_since(SystemTime::now())
        .unwrap()
        .as_secs()
        / 86_400;
    assert_eq!(days, 29, "30 days minus the backdate");
}

#[tokio::test(start_paused = true)]
async fn unknown_role_lists_close_names_and_changes_nothing() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "veiw"], &kc_path);
    let items: Vec<Value> = ["admin", "edit", "view", "cluster-admin"]
        .iter()
        .map(|n| json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": n}}))
        .collect();
    let admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/veiw",
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles?",
            200,
            json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
            "items": items}),
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
    assert_eq!(
        err.to_string(),
        "ClusterRole \"veiw\" not found; close names: view"
    );
    assert!(!kc_path.exists());
}

#[tokio::test(start_paused = true)]
async fn an_existing_tenant_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&["alice", "--role", "view"], &dir.path().join("k"));
    let admin = vec![reply(
        "GET",
        record_uri(),
        200,
        record_map(json!({
        "user": "alice", "auth": "cert", "roles": [], "bindings": [], "credentials": [], "created": "2026-01-01T00:00:00Z"})),
    )];
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
    let text = err.to_string();
    assert!(
        text.contains("already exists (created 2026-01-01T00:00:00Z); use `tenantctl renew alice`"),
        "{text}"
    );
}

fn pending_alice(roles: Value) -> Value {
    json!({"user": "alice", "phase": "Pending", "auth": "cert", "groups": [], "roles": roles,
        "bindings": [{"kind": "ClusterRoleBinding", "name": "tenantctl:alice:view", "role": {"kind": "ClusterRole", "name": "view"}}],
        "credentials": [{"kind": "cert", "signer": "local", "serial": "0d", "sha256": "ee",
            "notBefore": "2026-01-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}],
        "created": "2026-01-01T00:00:00Z"})
}

/// A create that died left a Pending record: the same create resumes it (no POST), keeps the
/// dead run's credential in the record, adds its own, and finishes.
#[tokio::test(start_paused = true)]
async fn the_same_create_resumes_a_pending_tenant() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let admin = vec![
        reply(
            "GET",
            record_uri(),
            200,
            record_map(pending_alice(
                json!([{"kind": "ClusterRole", "name": "view"}]),
            )),
        ),
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
        put_record(7, |r| {
            assert_eq!(r["phase"], "Pending");
            let creds = r["credentials"].as_array().unwrap();
            assert_eq!(creds.len(), 2);
            assert_eq!(
                creds[0]["serial"], "0d",
                "the dead run's credential stays known"
            );
        }),
        apply(format!("{CRB_URI}{APPLY_QUERY}"), |_| {}),
        activate(8),
    ];
    let tenant = verify_steps("alice", &[], true, |_| {});
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
        out.stderr
            .contains("note: tenant alice is Pending since 2026-01-01T00:00:00Z: resuming"),
        "{out}"
    );
    assert!(kc_path.exists());
}

#[tokio::test(start_paused = true)]
async fn a_pending_tenant_with_another_spec_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(
        &["alice", "--role", "view", "-g", "dev"],
        &dir.path().join("k"),
    );
    let admin = vec![reply(
        "GET",
        record_uri(),
        200,
        record_map(pending_alice(
            json!([{"kind": "ClusterRole", "name": "view"}]),
        )),
    )];
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
        err.to_string().contains("is Pending (a create that did not finish, or is running now) with another spec: groups [] (asked: [\"dev\"])"),
        "{err}"
    );
}

/// A cluster-wide binding of a role that reads every secret is refused, naming the rule;
/// nothing is written.
#[tokio::test(start_paused = true)]
async fn a_cluster_wide_privileged_role_is_refused_naming_its_rule() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&["eve", "--role", "secret-reader"], &dir.path().join("k"));
    let admin = vec![
        reply(
            "GET",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-eve"),
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/secret-reader",
            200,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "secret-reader"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
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
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "refusing a cluster-wide binding of ClusterRole/secret-reader (rule verbs [get,list] on resources [secrets] reads every secret): that makes the tenant a cluster administrator; bind it in a namespace with -n, or pass --allow-privileged"
    );
}
