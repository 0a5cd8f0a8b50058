//! `tenantctl pki csr`: a key and a CSR for every leaf and every control-plane kubeconfig, for
//! an external CA to sign (kubeadm `certs generate-csr`). Never overwrites.

use std::{path::PathBuf, time::SystemTime};

use kubeconfig::CONTROL_PLANE_KUBECONFIGS;
use pki_core::{Csr, San, Usage};
use serde::Serialize;

use super::settings::settings;
use crate::{
    cli::CsrArgs,
    error::Error,
    fs::{self, Pending},
    output::{Output, say},
};

/// The result (`-o json|yaml`: schema `tenantctl.io/v1`, kind `PKICsr`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CsrReport {
    api_version: &'static str,
    kind: &'static str,
    requests: Vec<CsrWritten>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CsrWritten {
    csr: String,
    key: String,
}

/// One key and CSR to write.
struct Request {
    key: PathBuf,
    csr: PathBuf,
    common_name: String,
    organizations: Vec<String>,
    sans: Vec<San>,
}

/// `pki csr`: a key and a CSR for every leaf and every control-plane kubeconfig, for an
/// external CA to sign (kubeadm `certs generate-csr`). Never overwrites.
pub fn run(args: &CsrArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let s = settings(&args.pki)?;
    let now = SystemTime::now();
    let mut wanted: Vec<Request> = Vec::new();
    for def in s.cfg.certs().filter(|d| d.usage != Usage::Ca) {
        let spec = s.cfg.spec_for(def, now)?;
        wanted.push(Request {
            key: s.cert_dir.join(format!("{}.key", def.base)),
            csr: s.cert_dir.join(format!("{}.csr", def.base)),
            common_name: spec.common_name,
            organizations: spec.organizations,
            sans: spec.sans,
        });
    }
    for file in &CONTROL_PLANE_KUBECONFIGS {
        let id = file.identity(&s.cfg.node_name);
        wanted.push(Request {
            key: s.kubeconfig_dir.join(format!("{}.key", file.file_name)),
            csr: s.kubeconfig_dir.join(format!("{}.csr", file.file_name)),
            common_name: id.user,
            organizations: id.groups,
            sans: Vec::new(),
        });
    }
    if let Some(p) = wanted
        .iter()
        .flat_map(|r| [&r.key, &r.csr])
        .find(|p| p.exists())
    {
        return Err(Error::Exists { path: p.clone() });
    }
    let created_cert_dir = !s.cert_dir.exists();
    fs::create_dirs(&s.cert_dir)?;
    let lock = fs::lock_dir(&s.cert_dir, args.pki.lock_timeout)?;
    let etcd_dir = s.cert_dir.join("etcd");
    for line in fs::recover(&s.cert_dir, &[&s.cert_dir, &etcd_dir, &s.kubeconfig_dir])?.lines {
        out.warning(line);
    }
    let keys = pki_core::generate_keys(s.cfg.key_algorithm, wanted.len())?;
    let mut blobs: Vec<(PathBuf, Vec<u8>, bool)> = Vec::new();
    for (r, key) in wanted.into_iter().zip(keys) {
        let csr = Csr::build(&key, &r.common_name, &r.organizations, &r.sans)?;
        blobs.push((r.key, key.secret_pem()?.as_bytes().to_vec(), true));
        blobs.push((r.csr, csr.to_pem().into_bytes(), false));
    }
    let pending: Vec<Pending<'_>> = blobs
        .iter()
        .map(|(path, contents, secret)| Pending::new(path.clone(), contents, *secret))
        .collect();
    let written = match fs::write_batch(&s.cert_dir, &pending) {
        Ok(written) => written,
        Err(e) => {
            if created_cert_dir {
                drop(lock);
                let _ = std::fs::remove_dir(&s.cert_dir);
            }
            return Err(e);
        }
    };
    out.note(
        "have the CAs sign each .csr (leaves by their kubeadm CA, kubeconfigs by the cluster CA), put the certificates next to their keys as .crt, then run `tenantctl pki init` in external-CA mode (ca.crt without ca.key)",
    );
    let report = CsrReport {
        api_version: "tenantctl.io/v1",
        kind: "PKICsr",
        requests: written
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "csr"))
            .map(|p| CsrWritten {
                csr: p.display().to_string(),
                key: p.with_extension("key").display().to_string(),
            })
            .collect(),
    };
    out.document(args.output, &report, |out, r| {
        for w in &r.requests {
            say!(out, "[csr] wrote {} (and its .key)", w.csr);
        }
        Ok(())
    })
}
