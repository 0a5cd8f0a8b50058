//! The kubeadm PKI directory as other commands read it: a CA pair, the cluster CA certificate,
//! and whether the API server's serving certificate covers a server URL.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use kubeconfig::ServerUrl;
use pki_core::{Certificate, CertificateAuthority, San};

use crate::error::Error;

/// Defaults of the PKI directories (kubeadm's).
pub const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
/// Where kubeadm keeps the control-plane kubeconfigs.
pub const DEFAULT_KUBECONFIG_DIR: &str = "/etc/kubernetes";

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// Loads the CA `<base>.crt` + `<base>.key` (e.g. `ca`, `etcd/ca`) from `cert_dir` and checks
/// that it is in date.
pub fn load_ca(
    cert_dir: &Path,
    base: &str,
    now: SystemTime,
) -> Result<CertificateAuthority, Error> {
    let path = |ext: &str| -> PathBuf { cert_dir.join(format!("{base}.{ext}")) };
    let cert_pem = read_text(&path("crt"))?;
    let key_pem = read_text(&path("key"))?;
    let ca = CertificateAuthority::from_pem(&cert_pem, &key_pem)?;
    ca.check_valid_at(now)?;
    Ok(ca)
}

/// `<cert_dir>/ca.crt`, when it is there and parses.
pub fn read_ca_cert(cert_dir: &Path) -> Option<Certificate> {
    let pem = std::fs::read_to_string(cert_dir.join("ca.crt")).ok()?;
    Certificate::from_pem(&pem).ok()
}

/// When `<cert_dir>/apiserver.crt` is readable, a warning if the server's host is not among its
/// SANs (clients would then fail the TLS handshake).
pub fn san_warning(cert_dir: &Path, server: &ServerUrl) -> Option<String> {
    let pem = std::fs::read_to_string(cert_dir.join("apiserver.crt")).ok()?;
    let cert = Certificate::from_pem(&pem).ok()?;
    uncovered_server(&cert, server)
}

/// A message when `server`'s host is not among the serving certificate's SANs.
pub fn uncovered_server(cert: &Certificate, server: &ServerUrl) -> Option<String> {
    let host = server.host().trim_start_matches('[').trim_end_matches(']');
    let san = match host.parse() {
        Ok(ip) => San::Ip(ip),
        Err(_) => San::Dns(host.to_owned()),
    };
    (!cert.covers(&san)).then(|| {
        format!(
            "{host} is not among the API server certificate's SANs ({}): clients will fail TLS verification; add it with `tenantctl pki renew apiserver --add-san {host}`",
            cert.sans().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )
    })
}
