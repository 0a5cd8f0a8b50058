//! `tenantctl pki upload-certs`: the cluster's CAs and service-account keys, encrypted with a
//! certificate key, in kubeadm's `kubeadm-certs` Secret, so another control-plane node can join
//! with `--certificate-key` — byte-compatible with `kubeadm init phase upload-certs`.
//!
//! Mirrors `cmd/kubeadm/app/phases/copycerts/copycerts.go` (the entries, the 2-hour token that
//! owns the Secret so the garbage collector removes it, the `kubeadm:kubeadm-certs` Role) and
//! `cmd/kubeadm/app/util/crypto/crypto.go` (AES-GCM, a random 12-byte nonce prepended; the key
//! is the hex-decoded certificate key, 32 bytes: AES-256).

use std::{collections::BTreeMap, path::Path, time::Duration};

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom as _, SystemRandom},
};
use k8s_openapi::{
    ByteString,
    api::{
        core::v1::Secret,
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{
    cli::UploadCertsArgs,
    cluster::{self, Cluster},
    error::Error,
    output::{Output, progress, say},
};

/// The Secret's name (kubeadm's `KubeadmCertsSecret`).
pub const SECRET: &str = "kubeadm-certs";
/// The Role and RoleBinding that let bootstrap tokens read it.
pub const ROLE: &str = "kubeadm:kubeadm-certs";
/// How long the Secret lives: its owner token's TTL (kubeadm's `DefaultCertTokenDuration`).
pub const TTL: Duration = Duration::from_secs(2 * 3600);
const NAMESPACE: &str = "kube-system";
const BOOTSTRAP_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// The files a joining control-plane node needs: Secret key → path under the PKI directory.
/// With an external etcd, kubeadm sends its client files instead of the etcd CA.
pub fn entries(external_etcd: bool) -> &'static [(&'static str, &'static str)] {
    const LOCAL: [(&str, &str); 8] = [
        ("ca.crt", "ca.crt"),
        ("ca.key", "ca.key"),
        ("front-proxy-ca.crt", "front-proxy-ca.crt"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
        ("sa.pub", "sa.pub"),
        ("sa.key", "sa.key"),
        ("etcd-ca.crt", "etcd/ca.crt"),
        ("etcd-ca.key", "etcd/ca.key"),
    ];
    const EXTERNAL: [(&str, &str); 9] = [
        ("ca.crt", "ca.crt"),
        ("ca.key", "ca.key"),
        ("front-proxy-ca.crt", "front-proxy-ca.crt"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
        ("sa.pub", "sa.pub"),
        ("sa.key", "sa.key"),
        ("external-etcd-ca.crt", "external-etcd-ca.crt"),
        ("external-etcd.crt", "external-etcd.crt"),
        ("external-etcd.key", "external-etcd.key"),
    ];
    if external_etcd { &EXTERNAL } else { &LOCAL }
}

/// A certificate key: 32 random bytes, hex (kubeadm's `CreateCertificateKey`).
pub fn new_certificate_key() -> Result<Zeroizing<String>, Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| crypto("the system random number generator failed"))?;
    Ok(Zeroizing::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// Decodes a certificate key: 64 hex digits.
pub fn decode_key(hex: &str) -> Result<Zeroizing<[u8; 32]>, Error> {
    let bad = || Error::Usage {
        flag: "--certificate-key",
        message: "a certificate key is 64 hex digits (32 bytes: AES-256)".into(),
    };
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        key[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// AES-256-GCM with a random nonce, prepended (`EncryptBytes`).
pub fn encrypt(data: &[u8], key: &[u8; 32]) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| crypto("the system random number generator failed"))?;
    let sealing =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| crypto("bad AES key"))?);
    let mut sealed = data.to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed,
        )
        .map_err(|_| crypto("AES-GCM sealing failed"))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(out)
}

/// The inverse of [`encrypt`] (`DecryptBytes`): a wrong key or altered bytes fail GCM's
/// authentication.
pub fn decrypt(data: &[u8], key: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if data.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(crypto("the entry is shorter than a nonce and a tag"));
    }
    let (nonce, sealed) = data.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| crypto("bad nonce"))?;
    let opening =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| crypto("bad AES key"))?);
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = opening
        .open_in_place(nonce, Aad::empty(), buf.as_mut())
        .map_err(|_| {
            crypto("the certificate key does not open it (wrong --certificate-key, or the Secret was altered)")
        })?;
    Ok(Zeroizing::new(plain.to_vec()))
}

fn crypto(message: &str) -> Error {
    Error::Usage {
        flag: "--certificate-key",
        message: message.to_owned(),
    }
}

/// The Secret's data: each entry's file encrypted; a missing file is an empty entry, as kubeadm
/// writes it.
pub fn secret_data(
    cert_dir: &Path,
    external_etcd: bool,
    key: &[u8; 32],
) -> Result<BTreeMap<String, ByteString>, Error> {
    let mut data = BTreeMap::new();
    for (name, rel) in entries(external_etcd) {
        let path = cert_dir.join(rel);
        let value = match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                encrypt(&bytes, key)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(Error::Read { path, source }),
        };
        data.insert((*name).to_owned(), ByteString(value));
    }
    Ok(data)
}

/// The Secret's entries decrypted; every entry must be there (an empty one stays empty).
pub fn open_secret(
    secret: &Secret,
    external_etcd: bool,
    key: &[u8; 32],
) -> Result<BTreeMap<&'static str, Zeroizing<Vec<u8>>>, Error> {
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    open_data(&data, external_etcd, key)
}

/// [`open_secret`] on the Secret's data: what the network gave, entry by entry.
pub fn open_data(
    data: &BTreeMap<String, Vec<u8>>,
    external_etcd: bool,
    key: &[u8; 32],
) -> Result<BTreeMap<&'static str, Zeroizing<Vec<u8>>>, Error> {
    let mut out = BTreeMap::new();
    for (name, _) in entries(external_etcd) {
        let value = data.get(*name).ok_or_else(|| Error::Inconsistent {
            dir: Path::new(NAMESPACE).join(SECRET),
            problems: vec![format!(
                "the {SECRET} Secret has no {name} entry; upload the certificates again (tenantctl pki upload-certs)"
            )],
        })?;
        let plain = if value.is_empty() {
            Zeroizing::new(Vec::new())
        } else {
            decrypt(value, key)?
        };
        out.insert(*name, plain);
    }
    Ok(out)
}

/// What `upload-certs -o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Uploaded<'a> {
    certificate_key: &'a str,
    secret: String,
    owner_token_id: String,
    expires_in_seconds: u64,
}

/// `tenantctl pki upload-certs`.
pub fn run(args: &UploadCertsArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let (hex, generated) = match &args.certificate_key {
        Some(k) => (Zeroizing::new(k.clone()), false),
        None => (new_certificate_key()?, true),
    };
    let key = decode_key(&hex)?;
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| super::store::DEFAULT_CERT_DIR.into());
    let external = !cert_dir.join("etcd/ca.crt").exists();
    let data = secret_data(&cert_dir, external, &key)?;
    cluster::block_on(async {
        let (cluster, _) = cluster::open(
            &args.api.access(),
            args.api.retry(),
            cluster::RECORD_NAMESPACE,
        )
        .await?;
        let token_id = upload_online(&cluster, data, out).await?;
        if generated {
            out.note("generated a new certificate key; keep it secret: with a bootstrap token it gives its holder the cluster's CA keys for the next 2 hours");
        }
        let uploaded = Uploaded {
            certificate_key: &hex,
            secret: format!("{NAMESPACE}/{SECRET}"),
            owner_token_id: token_id,
            expires_in_seconds: TTL.as_secs(),
        };
        out.document(args.output, &uploaded, |out, u| {
            say!(out, "{}", u.certificate_key);
            Ok(())
        })
    })
}

/// The upload on any client: a 2-hour token Secret (its owner), the `kubeadm-certs` Secret
/// owned by it, and the Role and RoleBinding that let bootstrap tokens read it. Returns the
/// owner token's id.
pub async fn upload_online(
    cluster: &Cluster,
    data: BTreeMap<String, ByteString>,
    out: &mut Output<'_>,
) -> Result<String, Error> {
    let owner = crate::join::token::BootstrapToken::generate(
        Some(TTL),
        Some("Proxy for managing TTL for the kubeadm-certs secret".into()),
        &[],
        &[],
        std::time::SystemTime::now(),
    )?;
    let made = cluster
        .create_namespaced(NAMESPACE, &owner.to_secret())
        .await?;
    let owner_ref = OwnerReference {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: made.metadata.name.clone().unwrap_or_default(),
        uid: made.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET.into()),
            namespace: Some(NAMESPACE.into()),
            owner_references: Some(vec![owner_ref]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..Secret::default()
    };
    cluster.apply_namespaced(NAMESPACE, &secret).await?;
    progress!(
        out,
        "[upload-certs] stored the certificates in secret/{SECRET} in {NAMESPACE}, removed with token {} in 2h",
        owner.id
    );
    let role = Role {
        metadata: ObjectMeta {
            name: Some(ROLE.into()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            verbs: vec!["get".into()],
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            resource_names: Some(vec![SECRET.into()]),
            ..PolicyRule::default()
        }]),
    };
    cluster.apply_namespaced(NAMESPACE, &role).await?;
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some(ROLE.into()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: ROLE.into(),
        },
        subjects: Some(vec![Subject {
            kind: "Group".into(),
            name: BOOTSTRAP_GROUP.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }]),
    };
    cluster.apply_namespaced(NAMESPACE, &binding).await?;
    Ok(owner.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_entries_open_with_the_key_only() {
        let hex = new_certificate_key().unwrap();
        assert_eq!(hex.len(), 64);
        let key = decode_key(&hex).unwrap();
        let sealed = encrypt(b"-----BEGIN EC PRIVATE KEY-----", &key).unwrap();
        assert_eq!(sealed.len(), 12 + 30 + 16, "nonce, ciphertext, tag");
        assert_eq!(
            &*decrypt(&sealed, &key).unwrap(),
            b"-----BEGIN EC PRIVATE KEY-----"
        );
        let other = decode_key(&new_certificate_key().unwrap()).unwrap();
        assert!(
            decrypt(&sealed, &other)
                .unwrap_err()
                .to_string()
                .contains("does not open it")
        );
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert!(decrypt(&altered, &key).is_err());
        assert!(decrypt(&sealed[..20], &key).is_err());
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(62)] {
            assert!(decode_key(bad).is_err(), "{bad}");
        }
    }
}
