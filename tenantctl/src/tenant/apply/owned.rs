//! `apply` writes only kubeconfig files it owns: an existing `OUT-DIR/USER.kubeconfig` is
//! replaced only when it holds a credential tenantctl handed out to that tenant (a client
//! certificate whose SHA-256 is in the tenant's record, or a ServiceAccount token of the
//! tenant's own ServiceAccount), or with `--overwrite`. Anything else (another user's
//! kubeconfig, a hand-edited file, not a kubeconfig at all) refuses that tenant before anything
//! is minted or applied for it; the other tenants go on. `create` refuses every existing file
//! without `--force`, so this only matters to apply, which re-writes its own files on renewal.

use std::{io, path::Path};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use kubeconfig::{Credentials, Kubeconfig};
use pki_core::Certificate;

use super::super::{AuthKind, Tenant, TenantRecord};
use crate::error::Error;

/// Ok when `path` is absent or holds a credential of `tenant` (as `record` knows it).
pub(super) fn check(
    path: &Path,
    tenant: &Tenant,
    namespace: Option<&str>,
    record: Option<&TenantRecord>,
) -> Result<(), Error> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    match foreign(&text, tenant, namespace, record) {
        None => Ok(()),
        Some(why) => Err(Error::Record {
            user: tenant.user().to_owned(),
            message: format!(
                "{} exists and is not a kubeconfig tenantctl wrote for {} ({why}); nothing was done for this tenant: move it away, or pass --overwrite to replace it",
                path.display(),
                tenant.user()
            ),
        }),
    }
}

/// Why the file is not the tenant's, or `None` when it is.
fn foreign(
    bytes: &[u8],
    tenant: &Tenant,
    namespace: Option<&str>,
    record: Option<&TenantRecord>,
) -> Option<String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some("not UTF-8 text".into());
    };
    let kc = match Kubeconfig::from_yaml(text) {
        Ok(kc) => kc,
        Err(e) => return Some(format!("not a kubeconfig: {e}")),
    };
    let current = match kc.current() {
        Ok(c) => c,
        Err(e) => return Some(format!("no usable current context: {e}")),
    };
    let Some(record) = record else {
        return Some(format!("no record of {} names a credential", tenant.user()));
    };
    match (&current.credentials, tenant.auth()) {
        (Credentials::ClientCertificate { cert_pem, .. }, AuthKind::Cert) => {
            let Ok(cert) = Certificate::from_pem(cert_pem) else {
                return Some("its client certificate does not parse".into());
            };
            let sha = cert.sha256_fingerprint();
            let ours = record
                .credentials
                .iter()
                .any(|c| c.sha256.as_deref() == Some(sha.as_str()));
            (!ours).then(|| {
                format!(
                    "its client certificate (CN={}) is not one the ledger records for this tenant",
                    cert.common_name().unwrap_or_default()
                )
            })
        }
        (Credentials::Token(token), AuthKind::Token) => {
            let want = tenant.username_in_cluster(namespace);
            match token_subject(token.expose_secret()) {
                Some(sub) if sub == want => None,
                Some(sub) => Some(format!("its token is for {sub}, not {want}")),
                None => Some("its token is not a ServiceAccount token".into()),
            }
        }
        (c, _) => Some(format!(
            "it holds a {} and the tenant uses {}",
            c.kind(),
            tenant.auth()
        )),
    }
}

/// The `sub` claim of a JWT (a bound ServiceAccount token), read without checking the
/// signature: this only tells whose file it is, it grants nothing.
fn token_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_subject_reads_the_claim_only() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"system:serviceaccount:team-a:bot"}"#);
        assert_eq!(
            token_subject(&format!("e30.{claims}.sig")).as_deref(),
            Some("system:serviceaccount:team-a:bot")
        );
        assert_eq!(token_subject("not-a-jwt"), None);
        assert_eq!(token_subject("a.!!!.c"), None);
    }
}
