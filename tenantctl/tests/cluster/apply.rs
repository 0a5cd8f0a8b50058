//! `apply -f`: the exact requests of a mixed apply, with `--concurrency 1` so they come in
//! order (with more, the same requests interleave).

use super::*;

use kubeconfig::Kubeconfig;
use tenantctl::{Cli, Command, Error, Output, cluster::Cluster};

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
const MANAGED_SELECTOR: &str = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl";

/// A stored record ConfigMap of `user` bound to ClusterRole `role`.
/// An Active certificate tenant of the set `team` (apply --set team).
fn ledger_entry(user: &str, role: &str, rv: u32) -> Value {
    ledger_entry_in(user, role, rv, Some("team"))
}

fn ledger_entry_in(user: &str, role: &str, rv: u32, set: Option<&str>) -> Value {
    let mut record = json!({"user": user, "auth": "cert", "phase": "Active",
        "roles": [{"kind": "ClusterRole", "name": role}],
        "bindings": [{"kind": "ClusterRoleBinding", "name": format!("tenantctl:{user}:{role}"),
                      "role": {"kind": "ClusterRole", "name": role}}],
        "credentials": [{"kind": "cert", "signer": "local", "serial": "01", "sha256": "ab",
            "keyAlgorithm": "ECDSA-P256", "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}],
        "created": "2026-11-01T00:00:00Z"});
    if let Some(set) = set {
        record["set"] = json!(set);
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("tenant-{user}"), "namespace": RECORD_NAMESPACE,
                        "uid": format!("uid-{user}"), "resourceVersion": rv.to_string(),
                        "labels": {"app.kubernetes.io/managed-by": "tenantctl", "tenantctl.io/tenant": user,
                                   "app.kubernetes.io/component": "tenant-record"}},
           "data": {"tenant.json": record.to_string()}})
}

/// tenantctl's ClusterRoleBinding of `user` to `role`, as listed.
fn listed_crb(user: &str, role: &str) -> Value {
    json!({"metadata": {"name": format!("tenantctl:{user}:{role}"), "uid": format!("uid-crb-{user}"),
                        "labels": {"app.kubernetes.io/managed-by": "tenantctl", "tenantctl.io/tenant": user}},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
}

/// The reads every apply starts with, in order: records, bindings, namespaces, roles.
fn observe_steps(records: Vec<Value>, crbs: Vec<Value>) -> Vec<Step> {
    let role = |name: &str, verbs: Value| json!({"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]});
    vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list_of("ConfigMap", records),
        ),
        reply(
            "GET",
            format!("{RBAC}/clusterrolebindings?&{MANAGED_SELECTOR}"),
            200,
            list_of("ClusterRoleBinding", crbs),
        ),
        reply(
            "GET",
            format!("{RBAC}/rolebindings?&{MANAGED_SELECTOR}"),
            200,
            list_of("RoleBinding", vec![]),
        ),
        reply(
            "GET",
            "/api/v1/namespaces?",
            200,
            list_of("Namespace", vec![json!({"metadata": {"name": "default"}})]),
        ),
        reply(
            "GET",
            format!("{RBAC}/clusterroles?"),
            200,
            list_of(
                "ClusterRole",
                vec![
                    role("view", json!(["get", "list"])),
                    role("reader", json!(["get", "create"])),
                ],
            ),
        ),
    ]
}

/// The SubjectAccessReview for `user`'s first rule of `role`; `allowed` is the answer.
fn review(user: &'static str, allowed: bool) -> Step {
    step(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews?",
        move |b| {
            assert_eq!(b["spec"]["user"], user);
            assert_eq!(b["spec"]["groups"], json!(["system:authenticated"]));
            assert_eq!(b["spec"]["resourceAttributes"]["resource"], "pods");
            assert_eq!(b["spec"]["resourceAttributes"]["verb"], "get");
            Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {}, "spec": b["spec"].clone(), "status": {"allowed": allowed}}),
            ))
        },
    )
}

fn tenant_doc(user: &str, role: &str) -> String {
    format!(
        "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: {user}\nspec:\n  roles: [{role}]\n---\n"
    )
}

async fn run_apply(
    file: &str,
    flags: &[&str],
    pki: &Pki,
    steps: Vec<Step>,
) -> (Result<(), Error>, Streams, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenants.yaml");
    std::fs::write(&path, file).unwrap();
    let out_dir = dir.path().join("out");
    let mut argv = vec![
        "tenantctl".to_owned(),
        "apply".into(),
        "-f".into(),
        path.display().to_string(),
        "--out-dir".into(),
        out_dir.display().to_string(),
        "--concurrency".into(),
        "1".into(),
        "--cert-dir".into(),
        pki.path().display().to_string(),
    ];
    argv.extend(flags.iter().map(|f| (*f).to_owned()));
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let Command::Apply(args) = cli.command else {
        unreachable!()
    };
    let desired =
        tenantctl::tenant::load_tenants(&args.files, tenantctl::tenant::ParseOptions::default())
            .unwrap();
    let settings = tenantctl::tenant::ApplySettings::from_args(&args);
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let entry = pki.entry();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = tenantctl::tenant::apply_online(
            &cluster,
            &entry,
            desired,
            &settings,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, steps));
    (r, Streams::of(out, err), dir)
}

#[tokio::test(start_paused = true)]
async fn apply_creates_updates_keeps_and_prunes_with_the_exact_requests() {
    let pki = Pki::new();
    // alice is new, bob is as the file says, carol moves from view to edit, dave is not named.
    let file = [
        tenant_doc("alice", "view"),
        tenant_doc("bob", "view"),
        tenant_doc("carol", "reader"),
    ]
    .concat();
    let mut steps = observe_steps(
        vec![
            ledger_entry("bob", "view", 11),
            ledger_entry("carol", "view", 21),
            ledger_entry("dave", "view", 31),
            // erin came from `tenantctl create` (no set), frank from another team's file:
            // neither is pruned.
            ledger_entry_in("erin", "view", 41, None),
            ledger_entry_in("frank", "view", 51, Some("other")),
        ],
        vec![
            listed_crb("bob", "view"),
            listed_crb("carol", "view"),
            listed_crb("dave", "view"),
            listed_crb("erin", "view"),
            listed_crb("frank", "view"),
        ],
    );
    steps.push(apply(
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
        |ns| assert_eq!(ns["kind"], "Namespace"),
    ));
    // alice: the record is claimed with its certificate already in it (Pending), then bound,
    // checked, handed out, Active.
    steps.push(step(
        "POST",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
        |cm| {
            assert_eq!(cm["metadata"]["name"], "tenant-alice");
            let r = record_of(cm);
            assert_eq!(r["phase"], "Pending");
            assert_eq!(r["credentials"].as_array().unwrap().len(), 1);
            assert_eq!(r["credentials"][0]["kind"], "cert");
            assert_eq!(r["roles"], json!([{"kind": "ClusterRole", "name": "view"}]));
            assert_eq!(r["set"], "team");
            assert_eq!(cm["metadata"]["labels"]["tenantctl.io/set"], "team");
            Some((201, stored(cm, 1)))
        },
    ));
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:alice:view{APPLY_QUERY}"),
        |b| {
            assert_eq!(b["subjects"][0]["name"], "alice");
            assert_eq!(b["metadata"]["labels"]["tenantctl.io/tenant"], "alice");
            assert_eq!(b["metadata"]["labels"]["tenantctl.io/set"], "team");
        },
    ));
    steps.push(review("alice", true));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice?"),
        |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "1");
            assert_eq!(record_of(cm)["phase"], "Active");
            Some((200, stored(cm, 2)))
        },
    ));
    // bob: nothing. carol: edit bound, view deleted (only the listed object), access checked,
    // the record updated at the version read, its credential kept.
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:carol:reader{APPLY_QUERY}"),
        |b| {
            assert_eq!(b["roleRef"]["name"], "reader");
        },
    ));
    steps.push(step(
        "DELETE",
        format!("{RBAC}/clusterrolebindings/tenantctl:carol:view?"),
        |b| {
            assert_eq!(b["preconditions"]["uid"], "uid-crb-carol");
            Some((200, deleted()))
        },
    ));
    steps.push(review("carol", true));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-carol?"),
        |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "21");
            let r = record_of(cm);
            assert_eq!(
                r["roles"],
                json!([{"kind": "ClusterRole", "name": "reader"}])
            );
            assert_eq!(r["bindings"][0]["name"], "tenantctl:carol:reader");
            assert_eq!(
                r["credentials"].as_array().unwrap().len(),
                1,
                "credential unchanged"
            );
            assert_eq!(r["phase"], "Active");
            Some((200, stored(cm, 22)))
        },
    ));
    // dave (--prune): binding deleted, record revoked.
    steps.push(reply(
        "DELETE",
        format!("{RBAC}/clusterrolebindings/tenantctl:dave:view?"),
        200,
        deleted(),
    ));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-dave?"),
        |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "31");
            let r = record_of(cm);
            assert_eq!(r["phase"], "Revoked");
            assert!(r["credentials"][0]["revoked"].is_string());
            Some((200, stored(cm, 32)))
        },
    ));
    let (r, out, dir) = run_apply(
        &file,
        &["--set", "team", "--prune", "-o", "json"],
        &pki,
        steps,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let result: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(result["kind"], "ApplyResult");
    assert_eq!(
        result["summary"],
        json!({"created": 1, "updated": 1, "renewed": 0, "unchanged": 1, "revoked": 1, "failed": 0})
    );
    let actions: Vec<(&str, &str)> = result["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["user"].as_str().unwrap(), t["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("alice", "created"),
            ("bob", "unchanged"),
            ("carol", "updated"),
            ("dave", "revoked")
        ]
    );
    // alice's kubeconfig: 0600, her certificate from the CA, and nothing for bob.
    let kc = dir.path().join("out/alice.kubeconfig");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let parsed = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    assert_eq!(parsed.current_context(), Some("alice@kubernetes"));
    assert!(!dir.path().join("out/bob.kubeconfig").exists());
    assert!(out.stderr.contains("still authenticate"), "{out}");
}

#[tokio::test(start_paused = true)]
async fn one_tenant_failing_rolls_back_only_its_own_changes_and_exit_is_1() {
    let pki = Pki::new();
    let file = [tenant_doc("alice", "view"), tenant_doc("erin", "reader")].concat();
    let mut steps = observe_steps(vec![], vec![]);
    steps.push(apply(
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
        |_| {},
    ));
    // alice: the authorizer says no → her binding and her record are removed again.
    steps.push(step(
        "POST",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
        |cm| Some((201, stored(cm, 1))),
    ));
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:alice:view{APPLY_QUERY}"),
        |_| {},
    ));
    // Never allowed within --verify-timeout 1s: asked at 0, 50, 150, 350, 750 and 1000 ms
    // (backoff doubling from 50 ms, the last pause cut to the deadline), then given up.
    for _ in 0..6 {
        steps.push(review("alice", false));
    }
    steps.push(step(
        "DELETE",
        format!("{RBAC}/clusterrolebindings/tenantctl:alice:view?"),
        |b| {
            assert_eq!(b["preconditions"]["uid"], "uid-tenantctl:alice:view");
            Some((200, deleted()))
        },
    ));
    steps.push(step(
        "DELETE",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice?"),
        |b| {
            assert_eq!(b["preconditions"]["resourceVersion"], "1");
            Some((200, deleted()))
        },
    ));
    // erin goes on regardless.
    steps.push(step(
        "POST",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
        |cm| {
            assert_eq!(cm["metadata"]["name"], "tenant-erin");
            Some((201, stored(cm, 5)))
        },
    ));
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:erin:reader{APPLY_QUERY}"),
        |_| {},
    ));
    steps.push(review("erin", true));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-erin?"),
        |cm| Some((200, stored(cm, 6))),
    ));
    let (r, out, dir) = run_apply(&file, &["--verify-timeout", "1s"], &pki, steps).await;
    let err = r.expect_err("alice failed");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("1 of 2 tenant(s) failed"), "{err}");
    let table = &out.stdout;
    assert!(
        table.contains("alice")
            && table.contains("failed")
            && table.contains("not effective yet after 1s: alice may get pods"),
        "{out}"
    );
    assert!(table.contains("rolled back"), "{out}");
    assert!(
        table.contains("1 created, 0 updated, 0 renewed, 0 unchanged, 0 revoked, 1 failed"),
        "{out}"
    );
    assert!(!dir.path().join("out/alice.kubeconfig").exists());
    assert!(dir.path().join("out/erin.kubeconfig").exists());
}

#[tokio::test(start_paused = true)]
async fn apply_dry_run_reads_only_and_a_second_apply_is_all_unchanged() {
    let pki = Pki::new();
    let file = [tenant_doc("bob", "view"), tenant_doc("zed", "view")].concat();
    // Dry run: the reads, nothing else; the plan says what would happen.
    let steps = observe_steps(
        vec![ledger_entry("bob", "view", 3)],
        vec![listed_crb("bob", "view")],
    );
    let (r, out, _dir) = run_apply(&file, &["--dry-run", "-o", "yaml"], &pki, steps).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let plan: Value = serde_saphyr::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(plan["kind"], "ApplyPlan");
    assert_eq!(plan["tenants"][0]["action"], "unchanged");
    assert_eq!(plan["tenants"][1]["action"], "created");
    assert!(
        plan["tenants"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("clusterrolebinding/tenantctl:zed:view"),
        "{out}"
    );
    // Applied already: the reads and nothing else, whatever the flags.
    let steps = observe_steps(
        vec![
            ledger_entry("bob", "view", 3),
            ledger_entry("zed", "view", 4),
        ],
        vec![listed_crb("bob", "view"), listed_crb("zed", "view")],
    );
    let (r, out, dir) = run_apply(&file, &["--set", "team", "--prune"], &pki, steps).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        out.stdout
            .contains("0 created, 0 updated, 0 renewed, 2 unchanged, 0 revoked, 0 failed"),
        "{out}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing to hand out, no directory"
    );
}
