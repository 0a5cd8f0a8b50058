//! Every generated certificate passes `openssl verify` against its CA, with the purpose its
//! usage implies, and its key matches (compared by openssl).

use std::{path::Path, process::Command};

use workspace_tests::Cluster;

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn public_key_of(args: &[&str]) -> String {
    let (ok, out) = openssl(args);
    assert!(ok, "{args:?}: {out}");
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn openssl_verifies_every_certificate_and_key() {
    for alg in ["RSA-2048", "ECDSA-P256", "ECDSA-P384"] {
        let cluster = Cluster::init(&["--encryption-algorithm", alg]);
        for def in pki_core::KUBEADM_CERTS {
            let crt = cluster.pki.join(format!("{}.crt", def.base));
            let key = cluster.pki.join(format!("{}.key", def.base));
            let ca = cluster
                .pki
                .join(format!("{}.crt", def.issuer.unwrap_or(def.id).def().base));
            let purpose = match def.usage {
                pki_core::Usage::Ca => "any",
                pki_core::Usage::Server => "sslserver",
                pki_core::Usage::Client => "sslclient",
                pki_core::Usage::ServerClient => "sslserver",
            };
            let (ok, out) = openssl(&[
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                path(&ca),
                path(&crt),
            ]);
            assert!(ok && out.contains(": OK"), "{alg} {}: {out}", def.name);
            let from_cert = public_key_of(&["x509", "-noout", "-pubkey", "-in", path(&crt)]);
            let from_key = public_key_of(&["pkey", "-pubout", "-in", path(&key)]);
            assert_eq!(from_cert, from_key, "{alg} {} key does not match", def.name);
        }
        let from_sa = public_key_of(&["pkey", "-pubout", "-in", path(&cluster.pki.join("sa.key"))]);
        assert_eq!(from_sa, cluster.pki_file("sa.pub"), "{alg} sa.pub");
    }
}

#[test]
fn a_foreign_certificate_fails_openssl_verify() {
    let a = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    let b = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    let (ok, _) = openssl(&[
        "verify",
        "-CAfile",
        path(&a.pki.join("ca.crt")),
        path(&b.pki.join("apiserver.crt")),
    ]);
    assert!(!ok);
}
