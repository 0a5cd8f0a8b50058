//! `tenantctl pki ca-hash`: the CA's public-key hash for `kubeadm join
//! --discovery-token-ca-cert-hash` (SHA-256 over the DER SubjectPublicKeyInfo).

use pki_core::Certificate;
use serde::Serialize;

use super::store::{self, DEFAULT_CERT_DIR};
use crate::{
    cli::CaHashArgs,
    error::Error,
    output::{Output, say},
};

/// `-o json|yaml`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CaHash {
    api_version: &'static str,
    kind: &'static str,
    ca_cert: String,
    /// `sha256:<hex>`.
    hash: String,
}

/// `pki ca-hash`.
pub fn run(args: &CaHashArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let path = args.ca_cert.clone().unwrap_or_else(|| {
        args.cert_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_CERT_DIR.into())
            .join("ca.crt")
    });
    let cert = Certificate::from_pem(&store::read_text(&path)?)?;
    let hash = CaHash {
        api_version: "tenantctl.io/v1",
        kind: "CAHash",
        ca_cert: path.display().to_string(),
        hash: cert.discovery_hash()?,
    };
    out.document(args.output, &hash, |out, h| {
        say!(out, "{}", h.hash);
        Ok(())
    })
}
