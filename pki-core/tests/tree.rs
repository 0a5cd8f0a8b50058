//! The whole tree, generated and reconciled, checked with pki-core's independent verifier.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use pki_core::{
    Action, CertId, Certificate, CertificateAuthority, ClientIdentity, ClusterConfig, Error, Etcd,
    ExtKeyUsage, KeyAlgorithm, PrivateKey, San, Validity, generate_keys, plan,
};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

fn cfg(alg: KeyAlgorithm) -> ClusterConfig {
    let mut cfg = ClusterConfig::new("cp1", "10.0.0.10".parse().unwrap());
    cfg.key_algorithm = alg;
    cfg.control_plane_endpoint = Some("vip.example.com:6443".parse().unwrap());
    cfg
}

fn generate(
    cfg: &ClusterConfig,
    existing: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let p = plan(cfg, existing, now())?;
    let keys = generate_keys(cfg.key_algorithm, p.keys_needed())?;
    let out = p.execute(&mut keys.into_iter())?;
    let mut files = existing.clone();
    for f in out.files {
        assert!(
            !existing.contains_key(&f.path),
            "{} would be overwritten",
            f.path
        );
        files.insert(f.path, f.contents.to_vec());
    }
    Ok(files)
}

fn cert(files: &BTreeMap<String, Vec<u8>>, path: &str) -> Certificate {
    Certificate::from_pem(std::str::from_utf8(&files[path]).unwrap()).unwrap()
}

fn key(files: &BTreeMap<String, Vec<u8>>, path: &str) -> PrivateKey {
    PrivateKey::from_pem(std::str::from_utf8(&files[path]).unwrap()).unwrap()
}

#[test]
fn every_algorithm_builds_a_consistent_tree() {
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
    ] {
        let cfg = cfg(alg);
        let files = generate(&cfg, &BTreeMap::new()).unwrap();
        assert_eq!(files.len(), 22, "10 certs + keys, sa.key, sa.pub");
        for def in cfg.certs() {
            let c = cert(&files, &format!("{}.crt", def.base));
            let k = key(&files, &format!("{}.key", def.base));
            assert!(c.matches_key(&k).unwrap(), "{} key", def.name);
            assert_eq!(k.algorithm(), alg);
            let issuer = cert(
                &files,
                &format!("{}.crt", def.issuer.unwrap_or(def.id).def().base),
            );
            c.verify_signed_by(&issuer).unwrap();
            assert_eq!(c.is_ca(), def.issuer.is_none());
            assert_eq!(c.common_name().unwrap(), cfg.common_name(def));
            assert_eq!(c.not_before(), now() - Duration::from_secs(300));
            let period = if c.is_ca() {
                cfg.ca_validity
            } else {
                cfg.cert_validity
            };
            assert_eq!(c.not_after(), now() + period);
            if c.is_ca() {
                assert!(c.subject_key_id().is_some());
            } else {
                assert_eq!(c.authority_key_id(), issuer.subject_key_id());
            }
        }
        let sa = key(&files, "sa.key");
        assert!(
            std::str::from_utf8(&files["sa.pub"])
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert_eq!(sa.algorithm(), alg);
    }
}

#[test]
fn identities_are_kubeadm_v1_29() {
    let files = generate(&cfg(KeyAlgorithm::EcdsaP256), &BTreeMap::new()).unwrap();
    let kc = cert(&files, "apiserver-kubelet-client.crt");
    assert_eq!(kc.organizations(), ["kubeadm:cluster-admins"]);
    assert_eq!(kc.ext_key_usages(), [ExtKeyUsage::ClientAuth]);
    for name in [
        "apiserver-etcd-client.crt",
        "etcd/healthcheck-client.crt",
        "front-proxy-client.crt",
    ] {
        assert!(cert(&files, name).organizations().is_empty(), "{name}");
    }
    let server = cert(&files, "etcd/server.crt");
    assert_eq!(server.common_name().unwrap(), "cp1");
    assert_eq!(
        server.ext_key_usages(),
        [ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth]
    );
    let sans: Vec<String> = server.sans().iter().map(ToString::to_string).collect();
    assert_eq!(sans, ["cp1", "localhost", "10.0.0.10", "127.0.0.1", "::1"]);
    let api = cert(&files, "apiserver.crt");
    assert_eq!(api.ext_key_usages(), [ExtKeyUsage::ServerAuth]);
    assert!(api.covers(&"vip.example.com".parse().unwrap()));
    assert!(api.covers(&"10.96.0.1".parse().unwrap()));
    assert!(!api.covers(&"evil.example.com".parse().unwrap()));
    assert_eq!(
        cert(&files, "ca.crt").sans(),
        [San::Dns("kubernetes".into())]
    );
}

#[test]
fn second_run_reuses_everything() {
    let cfg = cfg(KeyAlgorithm::EcdsaP256);
    let files = generate(&cfg, &BTreeMap::new()).unwrap();
    let p = plan(&cfg, &files, now() + Duration::from_secs(60)).unwrap();
    assert!(p.is_noop());
    assert_eq!(p.keys_needed(), 0);
    assert!(p.entries().iter().all(|e| e.action == Action::Reuse));
}

#[test]
fn a_missing_leaf_is_issued_by_the_existing_ca() {
    let cfg = cfg(KeyAlgorithm::EcdsaP256);
    let mut files = generate(&cfg, &BTreeMap::new()).unwrap();
    files.remove("apiserver.crt");
    files.remove("apiserver.key");
    let again = generate(&cfg, &files).unwrap();
    cert(&again, "apiserver.crt")
        .verify_signed_by(&cert(&files, "ca.crt"))
        .unwrap();
}

fn problems(cfg: &ClusterConfig, files: &BTreeMap<String, Vec<u8>>) -> String {
    match plan(cfg, files, now()) {
        Err(Error::Plan(p)) => p
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected a plan error, got {other:?}"),
    }
}

#[test]
fn tampered_inputs_are_named() {
    let cfg = cfg(KeyAlgorithm::EcdsaP256);
    let files = generate(&cfg, &BTreeMap::new()).unwrap();
    let other = generate(&cfg, &BTreeMap::new()).unwrap();

    let mut t = files.clone();
    t.insert("apiserver.key".into(), other["apiserver.key"].clone());
    assert!(
        problems(&cfg, &t)
            .contains("apiserver.key: does not match the public key in apiserver.crt")
    );

    let mut t = files.clone();
    t.insert("apiserver.crt".into(), other["apiserver.crt"].clone());
    t.insert("apiserver.key".into(), other["apiserver.key"].clone());
    assert!(problems(&cfg, &t).contains("apiserver.crt: is not signed by the ca CA"));

    let mut t = files.clone();
    t.insert("ca.key".into(), other["ca.key"].clone());
    assert!(problems(&cfg, &t).contains("ca.key: does not belong to ca.crt"));

    let mut t = files.clone();
    t.insert("ca.crt".into(), b"garbage".to_vec());
    assert!(problems(&cfg, &t).contains("ca.crt: cannot be read as a certificate"));

    let mut t = files.clone();
    let k = t["front-proxy-client.key"].clone();
    t.insert("front-proxy-client.key".into(), k[..k.len() / 2].to_vec());
    assert!(problems(&cfg, &t).contains("front-proxy-client.key: cannot be read as a private key"));

    let mut t = files.clone();
    t.remove("etcd/peer.crt");
    assert!(problems(&cfg, &t).contains("etcd/peer.crt: is missing but etcd/peer.key exists"));

    let mut t = files.clone();
    t.remove("ca.crt");
    let p = problems(&cfg, &t);
    assert!(p.contains("ca.crt: is missing but ca.key exists"), "{p}");

    let mut more = cfg.clone();
    more.apiserver_extra_sans
        .push("new.example.com".parse().unwrap());
    assert!(problems(&more, &files).contains("apiserver.crt: is not valid for new.example.com"));

    let mut rsa = cfg;
    rsa.key_algorithm = KeyAlgorithm::Rsa2048;
    assert!(
        problems(&rsa, &files)
            .contains("apiserver.key: is ECDSA-P256, but the configured algorithm is RSA-2048")
    );
}

#[test]
fn a_leaf_with_the_wrong_identity_is_refused() {
    let cfg = cfg(KeyAlgorithm::EcdsaP256);
    let mut files = generate(&cfg, &BTreeMap::new()).unwrap();
    // Re-sign front-proxy-client as system:masters with the real front-proxy CA.
    let ca = CertificateAuthority::from_pem(
        std::str::from_utf8(&files["front-proxy-ca.crt"]).unwrap(),
        std::str::from_utf8(&files["front-proxy-ca.key"]).unwrap(),
    )
    .unwrap();
    let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let id = ClientIdentity {
        user: "front-proxy-client".into(),
        groups: vec!["system:masters".into()],
    };
    let c = ca
        .issue_client(&id, &k, Validity::kubeadm(now(), Duration::from_secs(3600)))
        .unwrap();
    files.insert("front-proxy-client.crt".into(), c.to_pem().into_bytes());
    files.insert(
        "front-proxy-client.key".into(),
        k.secret_pem().unwrap().as_bytes().to_vec(),
    );
    assert!(
        problems(&cfg, &files)
            .contains("front-proxy-client.crt: has O [\"system:masters\"], expected []")
    );
}

#[test]
fn external_ca_mode() {
    let cfg = cfg(KeyAlgorithm::EcdsaP256);
    let mut files = generate(&cfg, &BTreeMap::new()).unwrap();
    files.remove("ca.key");
    let p = plan(&cfg, &files, now()).unwrap();
    let action = |n: &str| p.entries().iter().find(|e| e.name == n).unwrap().action;
    assert_eq!(action("ca"), Action::KeepExternal);
    assert_eq!(action("apiserver"), Action::KeepExternal);
    assert_eq!(action("front-proxy-ca"), Action::Reuse);
    let out = p.execute(&mut std::iter::empty()).unwrap();
    assert!(out.files.is_empty());
    assert!(out.cluster_ca.is_none());

    files.remove("apiserver.crt");
    files.remove("apiserver.key");
    assert!(problems(&cfg, &files).contains("apiserver.crt: is missing; the ca CA is external"));
}

#[test]
fn expired_ca_is_refused() {
    let mut cfg = cfg(KeyAlgorithm::EcdsaP256);
    cfg.ca_validity = Duration::from_secs(3600);
    cfg.cert_validity = Duration::from_secs(1800);
    let files = generate(&cfg, &BTreeMap::new()).unwrap();
    let later = now() + Duration::from_secs(7200);
    match plan(&cfg, &files, later) {
        Err(Error::Plan(p)) => assert!(
            p.iter()
                .any(|p| p.file == "ca.crt" && p.message.contains("not valid now"))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn leaves_never_outlive_their_ca_and_keep_many_groups() {
    let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cfg = cfg(KeyAlgorithm::EcdsaP256);
    let mut spec = cfg.spec_for(CertId::Ca.def(), now()).unwrap();
    spec.validity = Validity::kubeadm(now(), Duration::from_secs(3600));
    let ca = CertificateAuthority::self_signed(&spec, ca_key).unwrap();
    let k = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let id = ClientIdentity {
        user: "alice".into(),
        groups: vec!["dev".into(), "ops team".into(), "équipe".into()],
    };
    let c = ca
        .issue_client(
            &id,
            &k,
            Validity::kubeadm(now(), Duration::from_secs(86400)),
        )
        .unwrap();
    assert_eq!(c.not_after(), ca.certificate().not_after());
    assert_eq!(c.organizations(), id.groups);
    assert_eq!(c.common_name().unwrap(), "alice");
    c.verify_signed_by(ca.certificate()).unwrap();
    assert!(c.matches_key(&k).unwrap());
    assert!(!c.matches_key(ca.key()).unwrap());
}

#[test]
fn external_etcd_and_algorithm_names() {
    let mut cfg = cfg(KeyAlgorithm::EcdsaP256);
    cfg.etcd = Etcd::External;
    let files = generate(&cfg, &BTreeMap::new()).unwrap();
    assert!(
        !files
            .keys()
            .any(|k| k.starts_with("etcd/") || k.contains("etcd-client"))
    );
    for (s, a) in [
        ("RSA-2048", KeyAlgorithm::Rsa2048),
        ("ecdsa-p256", KeyAlgorithm::EcdsaP256),
        ("ECDSA-P384", KeyAlgorithm::EcdsaP384),
        ("rsa-4096", KeyAlgorithm::Rsa4096),
    ] {
        assert_eq!(s.parse::<KeyAlgorithm>().unwrap(), a);
        assert_eq!(a.to_string().parse::<KeyAlgorithm>().unwrap(), a);
    }
    assert!(
        "dsa"
            .parse::<KeyAlgorithm>()
            .unwrap_err()
            .to_string()
            .contains("\"dsa\"")
    );
}

#[test]
fn keys_read_every_encoding_and_never_print() {
    let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let pem = k.secret_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    assert!(!format!("{k:?}").contains(&pem[40..60]));
    let again = PrivateKey::from_pem(&pem).unwrap();
    assert_eq!(again.public_key_der().unwrap(), k.public_key_der().unwrap());
    let r = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    assert!(
        r.secret_pem()
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert!(matches!(
        PrivateKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        ),
        Err(Error::EncryptedKey)
    ));
    assert!(matches!(
        PrivateKey::from_pem("nothing here"),
        Err(Error::NoPem { .. })
    ));
}

/// The outer signatureAlgorithm is not covered by the signature: it must equal the signed one,
/// with absent or NULL parameters (RFC 5280 §4.1.1.2), or the certificate is not "signed by".
#[test]
fn an_altered_outer_signature_algorithm_is_refused() {
    for (alg, from, to) in [
        // sha256WithRSAEncryption with NULL parameters → an empty OCTET STRING instead.
        (
            KeyAlgorithm::Rsa2048,
            &[0x01, 0x01, 0x0b, 0x05, 0x00][..],
            &[0x01, 0x01, 0x0b, 0x04, 0x00][..],
        ),
        // ecdsa-with-SHA256 → ecdsa-with-SHA384 (same length).
        (
            KeyAlgorithm::EcdsaP256,
            &[0xce, 0x3d, 0x04, 0x03, 0x02][..],
            &[0xce, 0x3d, 0x04, 0x03, 0x03][..],
        ),
    ] {
        let spec = cfg(alg).spec_for(CertId::Ca.def(), now()).unwrap();
        let ca =
            CertificateAuthority::self_signed(&spec, PrivateKey::generate(alg).unwrap()).unwrap();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let id = ClientIdentity {
            user: "alice".into(),
            groups: vec![],
        };
        let leaf = ca
            .issue_client(
                &id,
                &key,
                Validity::kubeadm(now(), Duration::from_secs(86_400)),
            )
            .unwrap();
        leaf.verify_signed_by(ca.certificate()).unwrap();
        // The outer AlgorithmIdentifier is the last occurrence (after the TBS).
        let mut der = leaf.der().to_vec();
        let at = der
            .windows(from.len())
            .rposition(|w| w == from)
            .expect("the outer algorithm identifier");
        der[at..at + from.len()].copy_from_slice(to);
        let altered = Certificate::from_der(&der).unwrap();
        assert!(
            matches!(
                altered.verify_signed_by(ca.certificate()),
                Err(Error::NotSignedBy { .. })
            ),
            "{alg}"
        );
    }
}

/// The shared queue hands out exactly `count` keys, every one distinct and of the algorithm,
/// whatever the count against the number of threads.
#[test]
fn generate_keys_makes_exactly_the_keys_asked_for() {
    for (alg, count) in [
        (KeyAlgorithm::Rsa2048, 0),
        (KeyAlgorithm::Rsa2048, 1),
        (KeyAlgorithm::Rsa2048, 5),
        (KeyAlgorithm::EcdsaP256, 7),
    ] {
        let keys = generate_keys(alg, count).unwrap();
        assert_eq!(keys.len(), count, "{alg}");
        let mut publics: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| {
                assert_eq!(k.algorithm(), alg);
                k.public_key_der().unwrap()
            })
            .collect();
        publics.sort();
        publics.dedup();
        assert_eq!(publics.len(), count, "{alg}: distinct keys");
    }
}
