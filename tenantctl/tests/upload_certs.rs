//! The `kubeadm-certs` encryption against an independent implementation: Python's
//! `cryptography` AESGCM opens what we seal, and we open what it seals the way kubeadm's
//! `EncryptBytes` does (a random 12-byte nonce, then ciphertext and tag).

use std::process::Command;

use tenantctl::pki::upload_certs::{
    decode_key, decrypt, encrypt, new_certificate_key, open_secret, secret_data,
};

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "python3 (needs the cryptography package; .ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_aesgcm_opens_ours_and_we_open_its() {
    let hex = new_certificate_key().unwrap();
    let key = decode_key(&hex).unwrap();
    let plain = "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n";
    let sealed = encrypt(plain.as_bytes(), &key).unwrap();
    let sealed_hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
    let opened = python(
        "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
         key = bytes.fromhex(sys.argv[1]); data = bytes.fromhex(sys.argv[2])\n\
         sys.stdout.write(AESGCM(key).decrypt(data[:12], data[12:], None).decode())",
        &[&hex, &sealed_hex],
    );
    assert_eq!(opened, plain);

    let theirs = python(
        "import os, sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
         key = bytes.fromhex(sys.argv[1]); nonce = os.urandom(12)\n\
         print((nonce + AESGCM(key).encrypt(nonce, sys.argv[2].encode(), None)).hex())",
        &[&hex, "sa.key contents"],
    );
    let bytes: Vec<u8> = (0..theirs.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&theirs.trim()[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(&*decrypt(&bytes, &key).unwrap(), b"sa.key contents");
}

#[test]
fn the_secret_round_trips_and_refuses_a_wrong_key_or_a_missing_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args([
            "pki",
            "init",
            "--encryption-algorithm",
            "ECDSA-P256",
            "--node-name",
            "cp1",
        ])
        .args(["--apiserver-advertise-address", "10.0.0.10", "--cert-dir"])
        .arg(dir.path().join("pki"))
        .arg("--kubeconfig-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = decode_key(&new_certificate_key().unwrap()).unwrap();
    let data = secret_data(&dir.path().join("pki"), false, &key).unwrap();
    let names: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "ca.crt",
            "ca.key",
            "etcd-ca.crt",
            "etcd-ca.key",
            "front-proxy-ca.crt",
            "front-proxy-ca.key",
            "sa.key",
            "sa.pub"
        ]
    );
    let mut secret = k8s_openapi::api::core::v1::Secret {
        data: Some(data),
        ..Default::default()
    };
    let opened = open_secret(&secret, false, &key).unwrap();
    assert_eq!(
        String::from_utf8(opened["ca.key"].to_vec()).unwrap(),
        std::fs::read_to_string(dir.path().join("pki/ca.key")).unwrap()
    );
    let other = decode_key(&new_certificate_key().unwrap()).unwrap();
    assert!(
        open_secret(&secret, false, &other)
            .unwrap_err()
            .to_string()
            .contains("does not open it")
    );
    secret.data.as_mut().unwrap().remove("sa.key");
    assert!(
        open_secret(&secret, false, &key)
            .unwrap_err()
            .to_string()
            .contains("has no sa.key entry")
    );
}
