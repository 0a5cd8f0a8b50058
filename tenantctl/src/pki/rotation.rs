//! The state of a staged CA rotation, as every command that reads a PKI directory needs it:
//! which CA is mid-rotation, in which phase, and which CA signs what in the meantime.
//!
//! `pki/rotation/` (0700) holds one directory per CA (`cluster`, `front-proxy`, `etcd`), each
//! with `state.yaml` and, while the rotation runs, both CA pairs: `old.crt`/`old.key` and
//! `new.crt`/`new.key` (keys 0600). The control plane never reads this directory: it keeps
//! reading `ca.crt`/`ca.key` (and `front-proxy-ca.*`, `etcd/ca.*`), which each phase rewrites.
//! The command is [`super::rotate`].

use std::{
    fmt,
    path::{Path, PathBuf},
    time::SystemTime,
};

use clap::ValueEnum;
use pki_core::{Certificate, CertificateAuthority};
use serde::{Deserialize, Serialize};

use super::store;
use crate::error::Error;

/// The directory under `--cert-dir` that holds rotation state and key material.
pub const ROTATION_DIR: &str = "rotation";
/// The state file in each CA's rotation directory.
pub const STATE_FILE: &str = "state.yaml";

/// A CA that can be rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaKind {
    /// The cluster CA (`ca.crt`, `ca.key`): API server, kubelets, control-plane kubeconfigs,
    /// tenants.
    Cluster,
    /// The front-proxy CA (`front-proxy-ca.*`): the aggregation layer's client certificate.
    FrontProxy,
    /// The etcd CA (`etcd/ca.*`): etcd's serving, peer and client certificates.
    Etcd,
}

impl CaKind {
    /// Every CA, in rotation order.
    pub const ALL: [Self; 3] = [Self::Cluster, Self::FrontProxy, Self::Etcd];

    /// The file base under `--cert-dir` (`ca`, `front-proxy-ca`, `etcd/ca`).
    pub fn base(self) -> &'static str {
        match self {
            Self::Cluster => "ca",
            Self::FrontProxy => "front-proxy-ca",
            Self::Etcd => "etcd/ca",
        }
    }

    /// kubeadm's name of the CA's row (`ca`, `front-proxy-ca`, `etcd-ca`).
    pub fn cert_name(self) -> &'static str {
        match self {
            Self::Cluster => "ca",
            Self::FrontProxy => "front-proxy-ca",
            Self::Etcd => "etcd-ca",
        }
    }

    /// The name on the command line and in the state (`cluster`, `front-proxy`, `etcd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::FrontProxy => "front-proxy",
            Self::Etcd => "etcd",
        }
    }
}

impl fmt::Display for CaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `begin` ran: both CAs are trusted, the old key still signs.
    Begun,
    /// `reissue` ran: the new key signs, every leaf is on the new CA, both are still trusted.
    Reissued,
    /// `finish` ran: only the new CA is trusted; the old key material is shredded.
    Finished,
    /// `abort` ran: only the old CA is trusted again; the new key is shredded.
    Aborted,
}

impl Phase {
    /// Whether the rotation is under way (both CAs trusted).
    pub fn in_progress(self) -> bool {
        matches!(self, Self::Begun | Self::Reissued)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Begun => "begun",
            Self::Reissued => "reissued",
            Self::Finished => "finished",
            Self::Aborted => "aborted",
        })
    }
}

/// `rotation/<ca>/state.yaml` (schema `tenantctl.io/v1`, kind `CARotation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    /// `tenantctl.io/v1`.
    pub api_version: String,
    /// `CARotation`.
    pub kind: String,
    /// Which CA.
    pub ca: CaKind,
    /// Where the rotation stands.
    pub phase: Phase,
    /// The old CA's subject key identifier (hex, colon-separated).
    pub old_key_id: String,
    /// The new CA's subject key identifier.
    pub new_key_id: String,
    /// When each step ran (RFC 3339).
    pub begun: String,
    /// When `reissue` ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reissued: Option<String>,
    /// When `finish` ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// When `abort` ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
}

impl State {
    /// The state as YAML.
    pub fn to_yaml(&self) -> Result<String, Error> {
        crate::output::yaml(self)
    }
}

/// `<cert_dir>/rotation/<ca>`.
pub fn dir(cert_dir: &Path, ca: CaKind) -> PathBuf {
    cert_dir.join(ROTATION_DIR).join(ca.as_str())
}

/// The rotation state of `ca`, if a rotation was ever begun here.
pub fn read(cert_dir: &Path, ca: CaKind) -> Result<Option<State>, Error> {
    let path = dir(cert_dir, ca).join(STATE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Read { path, source }),
    };
    serde_saphyr::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Inconsistent {
            dir: dir(cert_dir, ca),
            problems: vec![format!("{STATE_FILE} cannot be read: {e}")],
        })
}

/// A key identifier as the state and the ledger write it: hex, colon-separated, lowercase.
pub fn key_id_hex(id: &[u8]) -> String {
    id.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A certificate's subject key identifier, as [`key_id_hex`] writes it.
pub fn subject_key_id(cert: &Certificate) -> Option<String> {
    cert.subject_key_id().map(|id| key_id_hex(&id))
}

/// A certificate's issuer key identifier (its AuthorityKeyIdentifier).
pub fn issuer_key_id(cert: &Certificate) -> Option<String> {
    cert.authority_key_id().map(|id| key_id_hex(&id))
}

/// The CA that signs tenants' certificates: the cluster CA, or during a rotation of it, the CA
/// that will remain (the new one, whose key `ca.key` becomes at `reissue`).
pub fn tenant_ca(cert_dir: &Path, now: SystemTime) -> Result<CertificateAuthority, Error> {
    match read(cert_dir, CaKind::Cluster)? {
        Some(state) if state.phase == Phase::Begun => {
            store::load_ca(&dir(cert_dir, CaKind::Cluster), "new", now)
        }
        _ => store::load_ca(cert_dir, "ca", now),
    }
}

/// Every CA certificate in `<cert_dir>/ca.crt` (one, or two during a rotation), when the file is
/// there and parses.
pub fn cluster_bundle(cert_dir: &Path) -> Option<Vec<Certificate>> {
    let pem = std::fs::read_to_string(cert_dir.join("ca.crt")).ok()?;
    Certificate::chain_from_pem(&pem).ok()
}

/// The subject key identifiers of the CA certificates in a PEM bundle (a kubeconfig's
/// `certificate-authority-data`).
pub fn bundle_key_ids(pem: &str) -> Vec<String> {
    Certificate::chain_from_pem(pem)
        .map(|certs| certs.iter().filter_map(subject_key_id).collect())
        .unwrap_or_default()
}
