//! Fixtures for unit tests: keys and certificates are generated here, never committed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pki_core::{CertSpec, CertificateAuthority, KeyAlgorithm, PrivateKey, Usage, Validity};

/// A fixed "now": 2026-01-01T00:00:00Z.
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub(crate) fn key() -> PrivateKey {
    PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap()
}

pub(crate) fn ca(cn: &str) -> CertificateAuthority {
    let spec = CertSpec {
        common_name: cn.to_owned(),
        organizations: vec![],
        usage: Usage::Ca,
        sans: vec![],
        validity: Validity::kubeadm(now(), pki_core::CA_VALIDITY),
    };
    CertificateAuthority::self_signed(&spec, key()).unwrap()
}

pub(crate) const FAKE_CA_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
