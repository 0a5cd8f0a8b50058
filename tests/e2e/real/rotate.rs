//! A whole cluster-CA rotation on the real control plane, kube-apiserver (and the controller
//! manager, with its one-certificate signing file) restarted after each step as the README says,
//! with this node's kubelet certificate kept as kubeadm leaves it after the TLS bootstrap: a
//! file that `kubelet.conf` names (`kubelet-client-current.pem`, a symlink).

use std::path::{Path, PathBuf};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use secrecy::ExposeSecret as _;
use workspace_tests::{control_plane::ControlPlane, tenantctl};

use super::tenant::as_tenant;

/// Rewrites `kubelet.conf` as kubeadm's kubelet leaves it: the certificate and key in
/// `DIR/kubelet-client-<stamp>.pem`, `kubelet-client-current.pem` a symlink to it, and both
/// `client-certificate` and `client-key` naming the symlink. Returns the symlink's path.
fn kubelet_layout(conf: &Path, dir: &Path) -> PathBuf {
    let mut kc =
        kube::config::Kubeconfig::from_yaml(&std::fs::read_to_string(conf).unwrap()).unwrap();
    let auth = kc.auth_infos[0].auth_info.as_mut().unwrap();
    let cert = B64
        .decode(auth.client_certificate_data.take().unwrap())
        .unwrap();
    let key = B64
        .decode(auth.client_key_data.take().unwrap().expose_secret())
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("kubelet-client-2026-01-01-00-00-00.pem");
    std::fs::write(&file, [cert, key].concat()).unwrap();
    let current = dir.join("kubelet-client-current.pem");
    std::os::unix::fs::symlink(&file, &current).unwrap();
    auth.client_certificate = Some(current.display().to_string());
    auth.client_key = Some(current.display().to_string());
    std::fs::write(conf, serde_json::to_string_pretty(&kc).unwrap()).unwrap();
    current
}

/// `tenantctl pki rotate-ca STEP` on the control plane's PKI (tenants read through admin.conf)
/// → Ok(stdout) or Err((exit code, message)).
fn rotate(cp: &ControlPlane, step: &str, extra: &[&str]) -> Result<String, (u8, String)> {
    let (pki, etc) = (
        cp.cluster.pki.display().to_string(),
        cp.cluster.etc.display().to_string(),
    );
    let admin = cp.admin().display().to_string();
    let mut argv = vec![
        "pki",
        "rotate-ca",
        step,
        "--cert-dir",
        &pki,
        "--kubeconfig-dir",
        &etc,
        "--kubeconfig",
        &admin,
    ];
    argv.extend_from_slice(extra);
    tenantctl(&argv).map_err(|e| {
        (
            e.exit_code(),
            format!("{e}\nhint: {}", e.hint().unwrap_or_default()),
        )
    })
}

/// `kubectl auth whoami` with `kubeconfig`: the user name, or the error text.
fn whoami(cp: &ControlPlane, kubeconfig: &Path) -> Result<String, String> {
    let (ok, out, err) = cp.kubectl_as(
        kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    if ok { Ok(out) } else { Err(err) }
}

#[test]
fn a_whole_rotation_through_restarts_with_a_kubelet_certificate_file() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = cp.cluster.etc.join("kubelet.conf");
    let current = kubelet_layout(&conf, &dir.path().join("var/lib/kubelet/pki"));
    assert_eq!(whoami(&cp, &conf).unwrap(), "system:node:cp1");
    let (pki, admin) = (
        cp.cluster.pki.display().to_string(),
        cp.admin().display().to_string(),
    );
    let old_alice = dir.path().join("alice-old.kubeconfig");
    let s = old_alice.display().to_string();
    tenantctl(&[
        "create",
        "alice",
        "--role",
        "view",
        "--kubeconfig-out",
        &s,
        "--kubeconfig",
        &admin,
        "--cert-dir",
        &pki,
    ])
    .unwrap();

    // begin: both CAs trusted; the API server restarted with the bundle as client CA.
    rotate(&cp, "begin", &[]).unwrap();
    cp.restart_apiserver();
    cp.signing_cert = Some(cp.cluster.pki.join("rotation/cluster/signing.crt"));
    cp.restart_controller_manager();
    for k in [&cp.admin(), &conf, &old_alice] {
        assert!(whoami(&cp, k).is_ok(), "{}", k.display());
    }
    let renewed = dir.path().join("renewed");
    let r = renewed.display().to_string();
    tenantctl(&[
        "renew",
        "--all",
        "--out-dir",
        &r,
        "--kubeconfig",
        &admin,
        "--cert-dir",
        &pki,
    ])
    .unwrap();

    // reissue: the new key signs, the API server presents a new-CA certificate.
    let out = rotate(&cp, "reissue", &[]).unwrap();
    assert!(out.contains("reissue done"), "{out}");
    cp.restart_apiserver();
    cp.restart_controller_manager();
    let new_alice = renewed.join("alice.kubeconfig");
    assert_eq!(whoami(&cp, &new_alice).unwrap(), "alice");
    assert_eq!(whoami(&cp, &cp.admin()).unwrap(), "kubernetes-admin");
    // The kubelet's file is still the old CA's: status names it, finish refuses.
    let status = rotate(&cp, "status", &[]).unwrap();
    assert!(status.contains(&current.display().to_string()), "{status}");
    let (code, err) = rotate(&cp, "finish", &[]).unwrap_err();
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("kubelet client certificate") && err.contains("system:node:cp1"),
        "{err}"
    );
    assert!(err.contains("rotate-ca kubelet"), "{err}");

    // rotate-ca kubelet: a new file from the new CA, the symlink swapped; the kubelet works.
    let out = rotate(&cp, "kubelet", &[]).unwrap();
    assert!(out.contains("re-issued"), "{out}");
    assert!(
        std::fs::symlink_metadata(&current)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_ne!(
        std::fs::read_link(&current).unwrap(),
        dir.path()
            .join("var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem")
    );
    assert_eq!(whoami(&cp, &conf).unwrap(), "system:node:cp1");
    let again = rotate(&cp, "kubelet", &[]).unwrap();
    assert!(again.contains("nothing changed"), "{again}");

    // finish: the old CA is gone; after the restart its certificates stop authenticating.
    rotate(&cp, "finish", &[]).unwrap();
    cp.restart_apiserver();
    cp.signing_cert = None;
    cp.restart_controller_manager();
    for k in [&cp.admin(), &conf, &new_alice] {
        assert!(whoami(&cp, k).is_ok(), "{}", k.display());
    }
    // alice's superseded certificate, shown the new CA so TLS succeeds: rejected.
    let mut kc =
        kube::config::Kubeconfig::from_yaml(&std::fs::read_to_string(&old_alice).unwrap()).unwrap();
    let ca = std::fs::read(cp.cluster.pki.join("ca.crt")).unwrap();
    kc.clusters[0]
        .cluster
        .as_mut()
        .unwrap()
        .certificate_authority_data = Some(B64.encode(ca));
    std::fs::write(&old_alice, serde_json::to_string(&kc).unwrap()).unwrap();
    let (ok, text) = as_tenant(&cp, &old_alice, &["auth", "whoami"]);
    assert!(
        !ok && text.contains("Unauthorized"),
        "the old certificate: {text}"
    );
}

/// admin.conf's `certificate-authority-data`, decoded.
fn admin_trust(cp: &ControlPlane) -> String {
    let kc =
        kube::config::Kubeconfig::from_yaml(&std::fs::read_to_string(cp.admin()).unwrap()).unwrap();
    let data = kc.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .certificate_authority_data
        .clone()
        .unwrap();
    String::from_utf8(B64.decode(data).unwrap()).unwrap()
}

/// `tenantctl create USER --role view` with its kubeconfig at `out`.
fn create(cp: &ControlPlane, user: &str, out: &Path) {
    let (pki, admin, out) = (
        cp.cluster.pki.display().to_string(),
        cp.admin().display().to_string(),
        out.display().to_string(),
    );
    tenantctl(&[
        "create",
        user,
        "--role",
        "view",
        "--kubeconfig-out",
        &out,
        "--kubeconfig",
        &admin,
        "--cert-dir",
        &pki,
    ])
    .unwrap();
}

/// `tenantctl renew --all --out-dir DIR`.
fn renew_all(cp: &ControlPlane, dir: &Path) {
    let (pki, admin, dir) = (
        cp.cluster.pki.display().to_string(),
        cp.admin().display().to_string(),
        dir.display().to_string(),
    );
    tenantctl(&[
        "renew",
        "--all",
        "--out-dir",
        &dir,
        "--kubeconfig",
        &admin,
        "--cert-dir",
        &pki,
    ])
    .unwrap();
}

/// The restarts the README lists after begin or reissue (the controller manager on the one
/// certificate that matches ca.key while ca.crt is a bundle), or after finish or abort.
fn restart(cp: &mut ControlPlane, bundle: bool) {
    cp.restart_apiserver();
    cp.signing_cert = bundle.then(|| cp.cluster.pki.join("rotation/cluster/signing.crt"));
    cp.restart_controller_manager();
}

#[test]
fn abort_after_reissue_puts_every_client_back_on_the_old_ca() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let alice_old = dir.path().join("alice-old.kubeconfig");
    create(&cp, "alice", &alice_old);
    let old_ca = std::fs::read_to_string(cp.cluster.pki.join("ca.crt")).unwrap();
    rotate(&cp, "begin", &[]).unwrap();
    restart(&mut cp, true);
    let moved = dir.path().join("moved");
    renew_all(&cp, &moved);
    rotate(&cp, "reissue", &[]).unwrap();
    restart(&mut cp, true);
    let alice_new = moved.join("alice.kubeconfig");
    assert_eq!(whoami(&cp, &alice_new).unwrap(), "alice");

    let out = rotate(&cp, "abort", &["-o", "json"]).unwrap();
    restart(&mut cp, false);
    let aborted: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(aborted["steps"][0]["phase"], "aborted", "{aborted}");
    assert!(
        aborted["steps"][0]["warnings"]
            .to_string()
            .contains("alice"),
        "{aborted}"
    );
    assert_eq!(
        std::fs::read_to_string(cp.cluster.pki.join("ca.crt")).unwrap(),
        old_ca,
        "the old CA alone"
    );
    // Never moved: works again. Moved to the new CA: rejected until renewed again.
    assert_eq!(whoami(&cp, &alice_old).unwrap(), "alice");
    let err = whoami(&cp, &alice_new).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
    assert_eq!(admin_trust(&cp), old_ca);
    assert_eq!(whoami(&cp, &cp.admin()).unwrap(), "kubernetes-admin");
    let again = dir.path().join("again");
    renew_all(&cp, &again);
    assert_eq!(
        whoami(&cp, &again.join("alice.kubeconfig")).unwrap(),
        "alice"
    );
}

/// `reissue --force` over a tenant that trusts only the old CA goes on with a warning; `finish`
/// is then refused while that tenant's current certificate is from the old CA (exit 3, named,
/// nothing written), and goes through once `renew --all` moved it.
#[test]
fn finish_is_refused_while_a_tenant_is_still_on_the_old_ca() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    create(&cp, "erin", &dir.path().join("erin-old.kubeconfig"));
    rotate(&cp, "begin", &[]).unwrap();
    restart(&mut cp, true);
    let (code, err) = rotate(&cp, "reissue", &[]).unwrap_err();
    assert_eq!(code, 3, "{err}");
    let forced: serde_json::Value =
        serde_json::from_str(&rotate(&cp, "reissue", &["--force", "-o", "json"]).unwrap()).unwrap();
    let warnings = forced["steps"][0]["warnings"].to_string();
    assert!(
        warnings.contains("--force") && warnings.contains("tenant erin"),
        "{forced}"
    );
    restart(&mut cp, true);
    let (code, err) = rotate(&cp, "finish", &[]).unwrap_err();
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("finish refused") && err.contains("tenant erin: certificate serial"),
        "{err}"
    );
    assert!(
        !err.contains("rotate-ca finish`"),
        "the hint names what moves erin: {err}"
    );
    let ca = std::fs::read_to_string(cp.cluster.pki.join("ca.crt")).unwrap();
    assert_eq!(
        ca.matches("BEGIN CERTIFICATE").count(),
        2,
        "nothing written"
    );
    renew_all(&cp, dir.path());
    let finished: serde_json::Value =
        serde_json::from_str(&rotate(&cp, "finish", &["-o", "json"]).unwrap()).unwrap();
    assert!(
        finished["steps"][0]["ended"]
            .to_string()
            .contains("tenant erin"),
        "{finished}"
    );
    restart(&mut cp, false);
    assert_eq!(
        whoami(&cp, &dir.path().join("erin.kubeconfig")).unwrap(),
        "erin"
    );
}
