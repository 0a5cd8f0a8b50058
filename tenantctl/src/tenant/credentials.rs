//! Minting a tenant's credentials — a key and certificate from the local cluster CA or the CSR
//! API, or a token — and the kubeconfig around them.

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use kubeconfig::{ClusterEntry, Kubeconfig, Secret, ServerUrl};
use pki_core::{
    Certificate, CertificateAuthority, ClientIdentity, Csr, KeyAlgorithm, PrivateKey, San, Validity,
};
use sha2::Digest as _;

use super::{CredentialRecord, Tenant};
use crate::{
    cli::CsrApiArgs,
    cluster::{CLIENT_SIGNER, Cluster, CsrRequest, Resolved},
    error::Error,
    time::{humanize, rfc3339},
};

/// Tenants with a certificate longer than this get a warning.
pub const LONG_TTL: Duration = Duration::from_secs(365 * 86_400);
/// How far below the requested lifetime a CSR-API certificate may end (the signer backdates
/// NotBefore by 5 minutes and counts the lifetime from there).
const CSR_SLACK: Duration = Duration::from_secs(10 * 60);

/// Who signs a tenant's certificate.
#[derive(Clone, Debug)]
pub enum Signer<'a> {
    /// The cluster CA's key in this directory.
    Local {
        /// `--cert-dir`.
        cert_dir: &'a Path,
    },
    /// The Kubernetes CSR API.
    CsrApi(CsrOptions),
}

impl Signer<'_> {
    /// Who signs, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Local { cert_dir } => format!("the cluster CA in {}", cert_dir.display()),
            Self::CsrApi(_) => format!("the CSR API ({CLIENT_SIGNER})"),
        }
    }
}

/// How to use the CSR API.
#[derive(Clone, Copy, Debug)]
pub struct CsrOptions {
    /// Approve the request ourselves.
    pub approve: bool,
    /// How long to wait for issuance.
    pub timeout: Duration,
    /// How often to look.
    pub poll: Duration,
}

impl CsrOptions {
    /// From `--approve` and `--csr-timeout`, polling every second.
    pub fn from_flags(flags: CsrApiArgs) -> Self {
        Self {
            approve: flags.approve,
            timeout: flags.csr_timeout,
            poll: Duration::from_secs(1),
        }
    }
}

/// A freshly minted key and certificate.
pub struct Minted {
    /// The tenant's private key.
    pub key: PrivateKey,
    /// The tenant's certificate.
    pub cert: Certificate,
    /// The record entry.
    pub record: CredentialRecord,
    /// Things the user should know (a lifetime capped at the CA's expiry).
    pub warnings: Vec<String>,
}

/// Mints a key and a client certificate for `tenant` from the local CA, capped at the CA's own
/// expiry.
pub fn mint_local(
    ca: &CertificateAuthority,
    tenant: &Tenant,
    algorithm: KeyAlgorithm,
    ttl: Duration,
    now: SystemTime,
) -> Result<Minted, Error> {
    let key = PrivateKey::generate(algorithm)?;
    let validity = Validity::kubeadm(now, ttl);
    let ca_end = ca.certificate().not_after();
    let mut warnings = Vec::new();
    if validity.not_after > ca_end {
        warnings.push(format!(
            "the certificate ends with the CA on {} instead of after {}",
            rfc3339(ca_end),
            humanize(ttl)
        ));
    }
    let cert = ca.issue_client(&identity(tenant), &key, validity.capped_at(ca_end))?;
    Ok(Minted {
        record: CredentialRecord::certificate(&cert, "local"),
        key,
        cert,
        warnings,
    })
}

/// Mints a key and has the CSR API sign it; checks that the certificate is for this key and
/// identity and lasts as long as asked.
pub async fn mint_csr(
    cluster: &Cluster,
    tenant: &Tenant,
    algorithm: KeyAlgorithm,
    ttl: Duration,
    options: CsrOptions,
    now: SystemTime,
) -> Result<Minted, Error> {
    if ttl < Duration::from_secs(600) {
        return Err(Error::Usage {
            flag: "--ttl",
            message: "the CSR API needs at least 10m (expirationSeconds >= 600)".into(),
        });
    }
    let key = PrivateKey::generate(algorithm)?;
    let csr = Csr::build(&key, tenant.user(), tenant.groups(), &[] as &[San])?;
    let fingerprint: String = sha2::Sha256::digest(key.public_key_der()?)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("tenantctl-{}-{}", tenant.slug(), &fingerprint[..10]);
    let pem = cluster
        .sign_csr(&CsrRequest {
            name: &name,
            csr_pem: &csr.to_pem(),
            ttl,
            approve: options.approve,
            timeout: options.timeout,
            poll: options.poll,
        })
        .await?;
    let bad = |message: String| Error::Csr {
        name: name.clone(),
        message,
    };
    let cert = Certificate::from_pem(&pem)
        .map_err(|e| bad(format!("the issued certificate does not parse: {e}")))?;
    if !cert.matches_key(&key)? {
        return Err(bad("the issued certificate is for another key".into()));
    }
    if cert.common_name().as_deref() != Some(tenant.user())
        || cert.organizations() != tenant.groups()
    {
        return Err(bad(format!(
            "the issued certificate names {:?} {:?}, not the tenant",
            cert.common_name(),
            cert.organizations()
        )));
    }
    let wanted = now + ttl;
    if cert.not_after() + CSR_SLACK < wanted {
        let got = cert
            .not_after()
            .duration_since(now)
            .map_or(Duration::ZERO, |d| {
                Duration::from_secs((d.as_secs() + 30) / 60 * 60)
            });
        return Err(bad(format!(
            "the signer issued {} instead of the {} asked (kube-controller-manager --cluster-signing-duration caps it); ask for a shorter --ttl",
            humanize(got),
            humanize(ttl)
        )));
    }
    Ok(Minted {
        record: CredentialRecord::certificate(&cert, CLIENT_SIGNER),
        key,
        cert,
        warnings: Vec::new(),
    })
}

/// A certificate signed elsewhere (`--cert`/`--key`): it must be a client certificate for this
/// key, with the tenant's CN and O, and in date.
pub fn import(
    cert_path: &Path,
    key_path: &Path,
    tenant: &Tenant,
    now: SystemTime,
) -> Result<Minted, Error> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert = Certificate::from_pem(&read(cert_path)?)?;
    let key = PrivateKey::from_pem(&read(key_path)?)?;
    let bad = |message: String| Error::Usage {
        flag: "--cert",
        message: format!("{}: {message}", cert_path.display()),
    };
    if !cert.matches_key(&key)? {
        return Err(bad(format!(
            "is not the certificate of {}",
            key_path.display()
        )));
    }
    if cert.common_name().as_deref() != Some(tenant.user())
        || cert.organizations() != tenant.groups()
    {
        return Err(bad(format!(
            "names CN={:?} O={:?}, not the tenant's CN={:?} O={:?}",
            cert.common_name().unwrap_or_default(),
            cert.organizations(),
            tenant.user(),
            tenant.groups()
        )));
    }
    if !cert
        .ext_key_usages()
        .contains(&pki_core::ExtKeyUsage::ClientAuth)
    {
        return Err(bad("lacks the clientAuth extended key usage".into()));
    }
    if !cert.is_valid_at(now) {
        return Err(bad(format!(
            "is not valid now (valid {} to {})",
            rfc3339(cert.not_before()),
            rfc3339(cert.not_after())
        )));
    }
    Ok(Minted {
        record: CredentialRecord::certificate(&cert, "external"),
        key,
        cert,
        warnings: Vec::new(),
    })
}

/// A client-certificate kubeconfig for `tenant`.
pub fn cert_kubeconfig(
    cluster: &ClusterEntry,
    tenant: &Tenant,
    minted: &Minted,
    namespace: Option<&str>,
) -> Result<Kubeconfig, Error> {
    let key_pem = minted.key.secret_pem()?;
    Ok(Kubeconfig::with_client_certificate(
        cluster,
        tenant.user(),
        &minted.cert.to_pem(),
        Secret::new(key_pem),
        namespace,
    )?)
}

/// The cluster half of the tenant's kubeconfig: name, server and CA from the admin kubeconfig,
/// `--server` overriding the server; the CA from `ca_fallback` when the kubeconfig has none.
pub fn cluster_entry(
    resolved: Option<&Resolved>,
    server: Option<&ServerUrl>,
    ca_fallback: Option<&[Certificate]>,
) -> Result<ClusterEntry, Error> {
    let name = resolved.map_or_else(|| "kubernetes".to_owned(), |r| r.cluster_name.clone());
    let server = match (server, resolved) {
        (Some(s), _) => s.clone(),
        (None, Some(r)) => {
            let url = r.config.cluster_url.to_string();
            url.trim_end_matches('/').parse()?
        }
        (None, None) => {
            return Err(Error::Usage {
                flag: "--server",
                message: "no admin kubeconfig to take the API server URL from; pass --server https://HOST:6443".into(),
            });
        }
    };
    let ca_pem = match resolved.and_then(|r| r.config.root_cert.as_ref()) {
        Some(ders) if !ders.is_empty() => ders
            .iter()
            .map(|der| Certificate::from_der(der).map(|c| c.to_pem()))
            .collect::<Result<String, _>>()?,
        _ => ca_fallback
            .map(|certs| certs.iter().map(Certificate::to_pem).collect::<String>())
            .ok_or_else(|| Error::Usage {
                flag: "--kubeconfig",
                message: "the cluster CA is unknown: the kubeconfig embeds none and there is no --cert-dir ca.crt".into(),
            })?,
    };
    Ok(ClusterEntry {
        name,
        server,
        ca_pem,
    })
}

/// `CN=USER, O=GROUP, …`, for messages.
pub(super) fn subject(tenant: &Tenant) -> String {
    let mut s = format!("CN={}", tenant.user());
    for g in tenant.groups() {
        s.push_str(&format!(", O={g}"));
    }
    s
}

fn identity(tenant: &Tenant) -> ClientIdentity {
    ClientIdentity {
        user: tenant.user().to_owned(),
        groups: tenant.groups().to_vec(),
    }
}
