//! `tenantctl pki renew NAME|all`: re-issue leaf certificates and kubeconfig client
//! certificates from their CA, keeping their identity; fix the API server's SANs.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kubeconfig::{
    CONTROL_PLANE_KUBECONFIGS, ControlPlaneKubeconfig, Credentials, Kubeconfig, Secret,
};
use pki_core::{
    CertDef, CertSpec, Certificate, CertificateAuthority, ClusterConfig, PrivateKey, San, Usage,
    Validity,
};
use serde::Serialize;

use super::{
    settings::{Settings, settings},
    store,
};
use crate::{
    cli::PkiRenewArgs,
    error::Error,
    fs::{self, Pending},
    output::{Output, say},
    time::rfc3339,
};

/// What a renewal will do to one item.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Renewal {
    name: String,
    #[serde(skip)]
    files: Vec<(PathBuf, Vec<u8>, bool)>,
    /// What changes: the key, SANs, validity.
    changes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip)]
    restart: &'static str,
}

/// The result of `pki renew` (`-o json|yaml`: schema `tenantctl.io/v1`, kind `PKIRenew`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewReport {
    api_version: &'static str,
    kind: &'static str,
    dry_run: bool,
    renewed: Vec<Renewal>,
    /// Components to restart so that they load the new files.
    restart: Vec<&'static str>,
}

/// `pki renew NAME|all`.
pub fn run(args: &PkiRenewArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let s = settings(&args.pki)?;
    let now = SystemTime::now();
    // The lock on the PKI directory serializes every tenantctl writing this PKI; a run that
    // died mid-write is finished or rolled back before anything is read.
    let _lock = fs::lock_dir(&s.cert_dir, args.pki.lock_timeout)?;
    if !args.dry_run {
        let etcd_dir = s.cert_dir.join("etcd");
        for line in fs::recover(&s.cert_dir, &[&s.cert_dir, &etcd_dir, &s.kubeconfig_dir])?.lines {
            out.warning(line);
        }
    }
    let targets = targets(&s.cfg, &args.names)?;
    if !(args.add_san.is_empty() && args.remove_san.is_empty())
        && targets
            .iter()
            .any(|t| !matches!(t, Target::Cert(d) if d.usage != Usage::Client))
    {
        return Err(Error::Usage {
            flag: "--add-san",
            message: "SAN changes apply to serving certificates only: name apiserver, etcd-server or etcd-peer".into(),
        });
    }
    // Each CA is read, parsed and checked once, however many leaves it signs.
    let mut cas: BTreeMap<&'static str, CertificateAuthority> = BTreeMap::new();
    let mut renewals = Vec::new();
    for t in &targets {
        let (ca_base, name) = match t {
            Target::Cert(def) => (issuer_of(&s.cfg, def)?.base, def.name),
            Target::Kubeconfig(file) => ("ca", file.file_name),
        };
        if !cas.contains_key(ca_base) {
            cas.insert(ca_base, load_ca(&s.cert_dir, ca_base, name, now)?);
        }
        let ca = cas.get(ca_base).ok_or_else(|| Error::Usage {
            flag: "NAME",
            message: format!("{name}: its CA {ca_base} was not loaded"),
        })?;
        renewals.push(match t {
            Target::Cert(def) => renew_cert(&s, def, ca, args, now)?,
            Target::Kubeconfig(file) => renew_kubeconfig(&s, file, ca, args, now)?,
        });
    }
    if !args.dry_run {
        // One journaled batch, each key before its certificate: a crash at any instant leaves
        // either every old pair or (after the next run's recovery) every new one, never a new
        // certificate over an old key.
        let pending: Vec<Pending<'_>> = renewals
            .iter()
            .flat_map(|r| &r.files)
            .map(|(path, contents, secret)| Pending {
                replace: true,
                ..Pending::new(path.clone(), contents, *secret)
            })
            .collect();
        fs::write_batch(&s.cert_dir, &pending)?;
    }
    for w in renewals.iter().flat_map(|r| &r.warnings) {
        out.warning(w);
    }
    let mut restart: Vec<&'static str> = renewals
        .iter()
        .map(|r| r.restart)
        .filter(|r| !r.is_empty())
        .collect();
    restart.sort_unstable();
    restart.dedup();
    if !args.dry_run && !restart.is_empty() {
        out.note(format_args!(
            "restart {} to load the new files (static pods: move each manifest out of /etc/kubernetes/manifests and back)",
            restart.join(", ")
        ));
    }
    let report = RenewReport {
        api_version: "tenantctl.io/v1",
        kind: "PKIRenew",
        dry_run: args.dry_run,
        renewed: renewals,
        restart,
    };
    out.document(args.output, &report, |out, r| {
        for item in &r.renewed {
            say!(
                out,
                "[renew] {}{}",
                item.name,
                if r.dry_run { " (dry run)" } else { "" }
            );
            for l in &item.changes {
                say!(out, "  {l}");
            }
        }
        if r.dry_run {
            say!(out, "dry run: nothing was written");
        } else {
            say!(out, "{} renewed.", r.renewed.len());
        }
        Ok(())
    })
}

enum Target {
    Cert(&'static CertDef),
    Kubeconfig(&'static kubeconfig::ControlPlaneSpec),
}

/// kubeadm's renewable names: the leaves and the kubeconfigs with a client certificate
/// (`kubelet.conf` is left to the kubelet's own rotation, as kubeadm does).
fn targets(cfg: &ClusterConfig, names: &[String]) -> Result<Vec<Target>, Error> {
    let leaves: Vec<&'static CertDef> = cfg.certs().filter(|d| d.usage != Usage::Ca).collect();
    let kubeconfigs: Vec<&'static kubeconfig::ControlPlaneSpec> = CONTROL_PLANE_KUBECONFIGS
        .iter()
        .filter(|k| k.id != ControlPlaneKubeconfig::Kubelet)
        .collect();
    if names.iter().any(|n| n == "all") {
        return Ok(leaves
            .into_iter()
            .map(Target::Cert)
            .chain(kubeconfigs.into_iter().map(Target::Kubeconfig))
            .collect());
    }
    let mut out = Vec::new();
    for n in names {
        if let Some(d) = leaves.iter().find(|d| d.name == n) {
            out.push(Target::Cert(d));
        } else if let Some(k) = kubeconfigs.iter().find(|k| k.file_name == n) {
            out.push(Target::Kubeconfig(k));
        } else if cfg.certs().any(|d| d.name == n) {
            return Err(Error::Usage {
                flag: "NAME",
                message: format!(
                    "{n} is a CA; CAs are not renewed here (a new CA invalidates every certificate it signed)"
                ),
            });
        } else {
            let known: Vec<&str> = leaves
                .iter()
                .map(|d| d.name)
                .chain(kubeconfigs.iter().map(|k| k.file_name))
                .collect();
            return Err(Error::Usage {
                flag: "NAME",
                message: format!(
                    "{n:?} is not renewable; choose all or one of {}",
                    known.join(", ")
                ),
            });
        }
    }
    Ok(out)
}

fn load_ca(
    cert_dir: &Path,
    base: &str,
    for_what: &str,
    now: SystemTime,
) -> Result<CertificateAuthority, Error> {
    if !cert_dir.join(format!("{base}.key")).exists() {
        return Err(Error::Inconsistent {
            dir: cert_dir.to_owned(),
            problems: vec![format!(
                "{base}.key is absent (external CA): {for_what} cannot be renewed here; make a CSR with `tenantctl pki csr` and have the CA sign it"
            )],
        });
    }
    store::load_ca(cert_dir, base, now)
}

fn validity(
    cfg: &ClusterConfig,
    ca: &CertificateAuthority,
    now: SystemTime,
    name: &str,
    warnings: &mut Vec<String>,
) -> Validity {
    let v = Validity::kubeadm(now, cfg.cert_validity);
    let end = ca.certificate().not_after();
    if v.not_after > end {
        warnings.push(format!(
            "{name}: capped at the CA's expiry {} (a leaf never outlives its CA)",
            rfc3339(end)
        ));
    }
    v.capped_at(end)
}

/// A new key (same algorithm unless `--encryption-algorithm`), or `None` with `--reuse-key`.
fn new_key(
    existing: &PrivateKey,
    args: &PkiRenewArgs,
    lines: &mut Vec<String>,
) -> Result<Option<PrivateKey>, Error> {
    if args.reuse_key {
        lines.push("key: reused".into());
        return Ok(None);
    }
    let alg = args
        .pki
        .encryption_algorithm
        .unwrap_or(existing.algorithm());
    lines.push(format!("key: new {alg}"));
    Ok(Some(PrivateKey::generate(alg)?))
}

/// The CA that signs `def`.
fn issuer_of(cfg: &ClusterConfig, def: &CertDef) -> Result<&'static CertDef, Error> {
    def.issuer
        .and_then(|id| cfg.certs().find(|d| d.id == id))
        .ok_or_else(|| Error::Usage {
            flag: "NAME",
            message: format!("{} has no issuer", def.name),
        })
}

fn renew_cert(
    s: &Settings,
    def: &'static CertDef,
    ca: &CertificateAuthority,
    args: &PkiRenewArgs,
    now: SystemTime,
) -> Result<Renewal, Error> {
    let crt_path = s.cert_dir.join(format!("{}.crt", def.base));
    let key_path = s.cert_dir.join(format!("{}.key", def.base));
    let old = Certificate::from_pem(&store::read_text(&crt_path)?)?;
    let old_key = PrivateKey::from_pem(&store::read_text(&key_path)?)?;
    if !old.matches_key(&old_key)? {
        return Err(Error::Inconsistent {
            dir: s.cert_dir.clone(),
            problems: vec![format!(
                "{}.key does not belong to {}.crt",
                def.base, def.base
            )],
        });
    }
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    let mut sans = if args.pki.sets_sans() {
        s.cfg.sans_for(def)?
    } else {
        old.sans()
    };
    sans.extend(args.add_san.iter().cloned());
    sans.retain(|x| !args.remove_san.contains(x));
    let spec = CertSpec {
        common_name: old.common_name().unwrap_or_default(),
        organizations: old.organizations(),
        usage: def.usage,
        sans,
        validity: validity(&s.cfg, ca, now, def.name, &mut warnings),
    };
    let fresh = new_key(&old_key, args, &mut lines)?;
    let key = fresh.as_ref().unwrap_or(&old_key);
    let cert = ca.issue(&spec, &key.public_key_der()?)?;
    lines.extend(san_diff(&old.sans(), &cert.sans()));
    lines.push(format!(
        "valid until {} (was {})",
        rfc3339(cert.not_after()),
        rfc3339(old.not_after())
    ));
    let mut files = Vec::new();
    if !args.reuse_key {
        files.push((key_path, key.secret_pem()?.as_bytes().to_vec(), true));
    }
    files.push((crt_path, cert.to_pem().into_bytes(), false));
    Ok(Renewal {
        name: def.name.to_owned(),
        files,
        changes: lines,
        warnings,
        restart: if def.base.starts_with("etcd/") {
            "etcd"
        } else {
            "kube-apiserver"
        },
    })
}

fn renew_kubeconfig(
    s: &Settings,
    file: &'static kubeconfig::ControlPlaneSpec,
    ca: &CertificateAuthority,
    args: &PkiRenewArgs,
    now: SystemTime,
) -> Result<Renewal, Error> {
    let path = s.kubeconfig_dir.join(file.file_name);
    let mut kc = Kubeconfig::from_yaml(&store::read_text(&path)?)?;
    let (old, old_key) = match kc.current()?.credentials {
        Credentials::ClientCertificate { cert_pem, key_pem } => (
            Certificate::from_pem(&cert_pem)?,
            PrivateKey::from_pem(key_pem.expose_secret())?,
        ),
        _ => {
            return Err(Error::Inconsistent {
                dir: s.kubeconfig_dir.clone(),
                problems: vec![format!(
                    "{}: has no embedded client certificate to renew",
                    file.file_name
                )],
            });
        }
    };
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    let identity = pki_core::ClientIdentity {
        user: old.common_name().unwrap_or_default(),
        groups: old.organizations(),
    };
    let fresh = new_key(&old_key, args, &mut lines)?;
    let key = fresh.as_ref().unwrap_or(&old_key);
    let cert = ca.issue_client(
        &identity,
        key,
        validity(&s.cfg, ca, now, file.file_name, &mut warnings),
    )?;
    // The kubeconfig trusts what ca.crt trusts: both CAs during a rotation.
    let trust = std::fs::read_to_string(s.cert_dir.join("ca.crt"))
        .ok()
        .and_then(|t| Certificate::chain_from_pem(&t).ok())
        .filter(|c| c.first() == Some(ca.certificate()))
        .map_or_else(
            || ca.certificate().to_pem(),
            |c| c.iter().map(Certificate::to_pem).collect(),
        );
    kc.renew_client_certificate(&cert.to_pem(), Secret::new(key.secret_pem()?), &trust)?;
    lines.push(format!(
        "client certificate CN={} valid until {} (was {}); embedded CA refreshed",
        identity.user,
        rfc3339(cert.not_after()),
        rfc3339(old.not_after())
    ));
    Ok(Renewal {
        name: file.file_name.to_owned(),
        files: vec![(path, kc.to_yaml()?.as_bytes().to_vec(), true)],
        changes: lines,
        warnings,
        restart: match file.id {
            ControlPlaneKubeconfig::ControllerManager => "kube-controller-manager",
            ControlPlaneKubeconfig::Scheduler => "kube-scheduler",
            _ => "",
        },
    })
}

fn san_diff(old: &[San], new: &[San]) -> Vec<String> {
    let mut lines: Vec<String> = new
        .iter()
        .filter(|s| !old.contains(s))
        .map(|s| format!("+ SAN {s}"))
        .collect();
    lines.extend(
        old.iter()
            .filter(|s| !new.contains(s))
            .map(|s| format!("- SAN {s}")),
    );
    lines
}
