//! `renew` and `renew --all`: new credentials recorded before they are handed out.

use super::*;

use std::{future::Future, sync::Arc};

use kubeconfig::Kubeconfig;
use tenantctl::{Cli, Command, Error, Output, cluster::Cluster};

/// Renew and revoke race on one record: the update that loses (409) re-reads and re-applies its
/// change, so both credentials are in the record.
#[tokio::test(start_paused = true)]
async fn a_conflicting_update_is_re_read_and_re_applied() {
    let out = renew_case_with(&[], |_kubeconfig| {
        // The first PUT loses to another renew that added serial 02 meanwhile.
        let theirs = {
            let mut r = alice_record("local");
            r["credentials"].as_array_mut().unwrap().push(json!({
                "kind": "cert", "signer": "local", "serial": "02", "sha256": "cd",
                "notBefore": "2026-01-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}));
            r
        };
        vec![
            reply("GET", record_uri(), 200, record_map(alice_record("local"))),
            reply(
                "PUT",
                format!("{}?", record_uri()),
                409,
                status(409, "Conflict"),
            ),
            reply("GET", record_uri(), 200, {
                let mut cm = record_map(theirs);
                cm["metadata"]["resourceVersion"] = json!("8");
                cm
            }),
            put_record(8, |r| {
                let serials: Vec<&str> = r["credentials"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["serial"].as_str().unwrap())
                    .collect();
                assert_eq!(serials.len(), 3, "{serials:?}");
                assert_eq!(&serials[..2], ["01", "02"], "theirs kept, ours added");
            }),
        ]
    })
    .await;
    assert!(out.stdout.starts_with("wrote "), "{out}");
}

async fn renew_case(extra: &[&str]) -> Streams {
    renew_case_with(extra, |_| {
        vec![
            reply("GET", record_uri(), 200, record_map(alice_record("local"))),
            put_record(7, |r| {
                assert_eq!(r["credentials"].as_array().unwrap().len(), 2);
                assert_eq!(r["credentials"][1]["signer"], "local");
                assert_eq!(r["bindings"][0]["name"], "tenantctl:alice:view");
            }),
        ]
    })
    .await
}

/// `renew alice` against the admin requests `steps` makes (given the kubeconfig path).
async fn renew_case_with(extra: &[&str], steps: impl FnOnce(&Path) -> Vec<Step>) -> Streams {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    std::fs::write(&kc_path, "old").unwrap();
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = steps(&kc_path);
    let cert_dir = pki.path().to_str().unwrap().to_owned();
    let out_path = kc_path.to_str().unwrap().to_owned();
    let mut argv = vec![
        "tenantctl",
        "renew",
        "alice",
        "--cert-dir",
        &cert_dir,
        "--kubeconfig-out",
        &out_path,
        "--ttl",
        "7d",
    ];
    argv.extend_from_slice(extra);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let Command::Renew(args) = cli.command else {
        unreachable!()
    };
    let entry = pki.entry();
    let (r, out) = run_renew(cluster, &entry, &args, serve(handle, admin)).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    let cert = kc
        .current()
        .unwrap()
        .validate(SystemTime::now())
        .unwrap()
        .client_certificate
        .unwrap();
    assert_eq!(cert.organizations(), ["dev"], "same identity");
    out
}

#[tokio::test(start_paused = true)]
async fn renew_mints_a_new_certificate_and_keeps_bindings() {
    let out = renew_case(&[]).await;
    assert!(
        out.stderr.contains(
            "note: the previous certificate (serial 01) stays valid until 2099-01-01T00:00:00Z"
        ),
        "{out}"
    );
}

#[tokio::test(start_paused = true)]
async fn renew_json_is_the_updated_record() {
    let out = renew_case(&["-o", "yaml"]).await;
    assert!(
        out.stderr.contains("note: the previous certificate"),
        "{out}"
    );
    let v: Value = serde_saphyr::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["user"], "alice");
    assert_eq!(v["credentials"].as_array().unwrap().len(), 2);
}

/// Runs `renew_online` against `server` (which plays the admin API server).
async fn run_renew(
    cluster: Cluster,
    entry: &ClusterEntry,
    args: &tenantctl::cli::RenewArgs,
    server: impl Future<Output = ()>,
) -> (Result<(), Error>, Streams) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = tenantctl::tenant::renew_online(
            &cluster,
            entry,
            args,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, server);
    (r, Streams::of(out, err))
}

fn renew_args(argv: &[&str]) -> Box<tenantctl::cli::RenewArgs> {
    let mut all = vec!["tenantctl", "renew", "alice"];
    all.extend_from_slice(argv);
    let cli = <Cli as clap::Parser>::try_parse_from(all).unwrap();
    let Command::Renew(args) = cli.command else {
        unreachable!()
    };
    args
}

/// `create --approve` is recorded with the credential; `renew` approves its own request the
/// same way instead of waiting for an approval that will not come.
#[tokio::test(start_paused = true)]
async fn renew_by_the_csr_api_approves_as_create_did() {
    let pki = Arc::new(Pki::new());
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let kc_arg = kc_path.display().to_string();
    let args = renew_args(&["--kubeconfig-out", &kc_arg, "--ttl", "1h"]);
    let mut record = alice_record("kubernetes.io/kube-apiserver-client");
    record["credentials"][0]["approve"] = json!(true);
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let ca = pki.clone();
    let server = |mut s: Script| async move {
        s.expect("GET", &record_uri(), |_| Some((200, record_map(record))))
            .await;
        let created = s
            .expect("POST", &format!("{CSR_URI}?"), |b| Some((201, b.clone())))
            .await;
        let (name, pem) = posted_csr(&created, 3600);
        let uri = format!("{CSR_URI}/{name}");
        s.expect("PATCH", &format!("{uri}/approval?"), |b| {
            Some((200, b.clone()))
        })
        .await;
        let mut issued = csr_object(
            &name,
            &created["spec"],
            json!([{"type": "Approved", "status": "True"}]),
        );
        issued["status"]["certificate"] =
            json!(B64.encode(ca.sign(&pem, Duration::from_secs(3600))));
        s.expect("GET", &uri, |_| Some((200, issued))).await;
        s.expect("DELETE", &format!("{uri}?"), |_| Some((200, deleted())))
            .await;
        let cm = s.put_record(7).await;
        let r = record_of(&cm);
        assert_eq!(r["credentials"][1]["approve"], true);
        assert_eq!(
            r["credentials"][1]["signer"],
            "kubernetes.io/kube-apiserver-client"
        );
        s.finish().await;
    };
    let entry = pki.entry();
    let script = Script {
        handle,
        held: Vec::new(),
    };
    let (r, out) = run_renew(cluster, &entry, &args, server(script)).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(kc_path.exists());
}

/// A locally signed tenant renewed without the right --cert-dir: the error says the record
/// names the local CA and which flag to pass; nothing is written.
#[tokio::test(start_paused = true)]
async fn renew_of_a_local_tenant_names_the_missing_ca() {
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let kc_arg = kc_path.display().to_string();
    let missing = dir.path().join("no-pki").display().to_string();
    let args = renew_args(&["--kubeconfig-out", &kc_arg, "--cert-dir", &missing]);
    let mut record = alice_record("local");
    record["credentials"][0]["issuer"] = json!("kubernetes");
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = vec![reply("GET", record_uri(), 200, record_map(record))];
    let entry = Pki::new().entry();
    let (r, _) = run_renew(cluster, &entry, &args, serve(handle, admin)).await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.starts_with("invalid --cert-dir: alice's certificate was signed by the local cluster CA (issuer kubernetes), but ")
            && text.ends_with("no-pki/ca.crt is not there: pass --cert-dir DIR holding that CA's ca.crt and ca.key, or --signer csr"),
        "{text}"
    );
    assert!(!kc_path.exists());
}

/// A stored record ConfigMap of any tenant, at resourceVersion `rv`.
fn record_cm(record: &Value, rv: u32) -> Value {
    let user = record["user"].as_str().unwrap();
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("tenant-{user}"), "namespace": RECORD_NAMESPACE,
                        "uid": format!("uid-{user}"), "resourceVersion": rv.to_string(),
                        "labels": {"app.kubernetes.io/managed-by": "tenantctl", "tenantctl.io/tenant": user,
                                   "app.kubernetes.io/component": "tenant-record"}},
           "data": {"tenant.json": record.to_string()}})
}

/// `renew --all` against a list of records: every Active tenant renewed in name order (a
/// certificate tenant from the local CA, a token tenant by a TokenRequest), each new credential
/// recorded with the issuer's key identifier and the CAs its kubeconfig trusts before the
/// kubeconfig is written; Revoked and Pending tenants untouched; with `--expiring`, a tenant
/// not expiring is left as it is.
#[tokio::test(start_paused = true)]
async fn renew_all_renews_every_active_tenant_in_the_ledger_and_records_the_issuer() {
    use std::os::unix::fs::PermissionsExt as _;
    let pki = Pki::new();
    let ski = pki_core_hex(&pki.ca.certificate().subject_key_id().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("kubeconfigs");
    let mut alice = alice_record("local");
    alice["phase"] = json!("Active");
    let mut bob = alice_record("local");
    bob["user"] = json!("bob");
    bob["phase"] = json!("Revoked");
    bob["revoked"] = json!("2026-11-02T00:00:00Z");
    let carol = json!({"user": "carol", "phase": "Active", "auth": "token", "namespace": "team-a",
        "serviceAccount": "carol", "roles": [{"kind": "ClusterRole", "name": "view"}], "bindings": [],
        "credentials": [{"kind": "token", "signer": "tokenrequest",
            "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2026-11-02T00:00:00Z"}],
        "created": "2026-11-01T00:00:00Z"});
    let mut dave = alice_record("local");
    dave["user"] = json!("dave");
    dave["phase"] = json!("Pending");
    let list = list_of(
        "ConfigMap",
        vec![
            record_cm(&carol, 3),
            record_cm(&bob, 4),
            record_cm(&alice, 5),
            record_cm(&dave, 6),
        ],
    );
    let (ski_a, ski_c) = (ski.clone(), ski.clone());
    let alice_kc = out_dir.join("alice.kubeconfig");
    let carol_kc = out_dir.join("carol.kubeconfig");
    let (alice_path, carol_path) = (alice_kc.clone(), carol_kc.clone());
    let admin = vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list,
        ),
        step("PUT", format!("{}?", record_uri()), move |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "5", "the version listed");
            assert!(
                !alice_path.exists(),
                "recorded before the kubeconfig is written"
            );
            let r = record_of(cm);
            let new = &r["credentials"][1];
            assert_eq!(new["signer"], "local");
            assert_eq!(new["issuerKeyId"], ski_a.as_str());
            assert_eq!(new["trustedCaKeyIds"], json!([ski_a]));
            Some((200, stored(cm, 6)))
        }),
        step(
            "POST",
            "/api/v1/namespaces/team-a/serviceaccounts/carol/token?",
            |b| {
                assert_eq!(b["spec"]["expirationSeconds"], 7 * 86_400);
                let expires =
                    tenantctl::time::rfc3339(SystemTime::now() + Duration::from_secs(7 * 86_400));
                Some((
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                    "spec": b["spec"].clone(), "status": {"token": "eyJhbGciOi.carol.token", "expirationTimestamp": expires}}),
                ))
            },
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-carol?"),
            move |cm| {
                assert_eq!(cm["metadata"]["resourceVersion"], "3");
                assert!(
                    !carol_path.exists(),
                    "recorded before the kubeconfig is written"
                );
                let r = record_of(cm);
                assert_eq!(r["credentials"][1]["kind"], "token");
                assert_eq!(r["credentials"][1]["trustedCaKeyIds"], json!([ski_c]));
                assert!(!cm.to_string().contains("eyJhbGciOi"), "never the token");
                Some((200, stored(cm, 4)))
            },
        ),
    ];
    let out_arg = out_dir.display().to_string();
    let cert_dir = pki.path().display().to_string();
    let (r, out) = renew_all_case(
        &pki,
        &[
            "--out-dir",
            &out_arg,
            "--cert-dir",
            &cert_dir,
            "--ttl",
            "7d",
            "-o",
            "json",
        ],
        admin,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["kind"], "TenantRenewal");
    let users: Vec<&str> = v["renewed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "carol"], "{out}");
    assert_eq!(v["failed"], json!([]));
    assert_eq!(
        std::fs::metadata(&out_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for kc in [&alice_kc, &carol_kc] {
        assert_eq!(
            std::fs::metadata(kc).unwrap().permissions().mode() & 0o777,
            0o600
        );
        Kubeconfig::from_yaml(&std::fs::read_to_string(kc).unwrap()).unwrap();
    }
    let cert = Kubeconfig::from_yaml(&std::fs::read_to_string(&alice_kc).unwrap())
        .unwrap()
        .current()
        .unwrap()
        .validate(SystemTime::now())
        .unwrap()
        .client_certificate
        .unwrap();
    cert.verify_signed_by(pki.ca.certificate()).unwrap();
    assert_eq!(cert.organizations(), ["dev"], "same identity");

    // --expiring 30d: alice (until 2099) is left alone, carol (expired) renewed.
    let mut carol_now = carol.clone();
    carol_now["credentials"][0]["notAfter"] = json!("2026-11-02T00:00:00Z");
    let admin = vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list_of(
                "ConfigMap",
                vec![record_cm(&alice, 5), record_cm(&carol_now, 3)],
            ),
        ),
        reply(
            "POST",
            "/api/v1/namespaces/team-a/serviceaccounts/carol/token?",
            201,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                "spec": {}, "status": {"token": "eyJhbGciOi.carol.token", "expirationTimestamp": "2099-01-01T00:00:00Z"}}),
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-carol?"),
            |cm| Some((200, stored(cm, 4))),
        ),
    ];
    let (r, out) = renew_all_case(
        &pki,
        &[
            "--expiring",
            "30d",
            "--out-dir",
            &out_arg,
            "--cert-dir",
            &cert_dir,
        ],
        admin,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.stdout.contains("renewed carol"), "{out}");
    assert!(
        out.stdout
            .contains("1 renewed, 0 failed, 1 left as they are"),
        "{out}"
    );
}

/// A tenant that fails is reported and the others are still renewed; exit 1.
#[tokio::test(start_paused = true)]
async fn renew_all_goes_on_past_a_failure_and_exits_1() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let out_arg = dir.path().display().to_string();
    let mut alice = alice_record("local");
    alice["phase"] = json!("Active");
    let mut erin = alice_record("local");
    erin["user"] = json!("erin");
    let admin = vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list_of("ConfigMap", vec![record_cm(&alice, 5), record_cm(&erin, 8)]),
        ),
        reply(
            "PUT",
            format!("{}?", record_uri()),
            403,
            status(403, "Forbidden"),
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-erin?"),
            |cm| Some((200, stored(cm, 9))),
        ),
    ];
    let cert_dir = pki.path().display().to_string();
    let (r, out) = renew_all_case(
        &pki,
        &["--out-dir", &out_arg, "--cert-dir", &cert_dir],
        admin,
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(out.stderr.contains("warning: alice: not renewed"), "{out}");
    assert!(out.stdout.contains("FAILED  alice"), "{out}");
    assert!(out.stdout.contains("renewed erin"), "{out}");
    assert!(
        !dir.path().join("alice.kubeconfig").exists(),
        "nothing handed out for alice"
    );
    assert!(dir.path().join("erin.kubeconfig").exists());
}

/// `renew --all ARGS…` against the admin requests `admin`.
async fn renew_all_case(
    pki: &Pki,
    argv: &[&str],
    admin: Vec<Step>,
) -> (Result<(), Error>, Streams) {
    let mut all = vec!["tenantctl", "renew", "--all"];
    all.extend_from_slice(argv);
    let cli = <Cli as clap::Parser>::try_parse_from(all).unwrap();
    let Command::Renew(args) = cli.command else {
        unreachable!()
    };
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    run_renew(cluster, &pki.entry(), &args, serve(handle, admin)).await
}

fn pki_core_hex(id: &[u8]) -> String {
    id.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
