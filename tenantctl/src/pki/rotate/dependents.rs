//! What still depends on the old CA: leaves, kubeconfigs, tenants; the refusals built on it.

use super::*;

pub(super) fn refuse_or_warn(
    args: &RotateCaArgs,
    kind: CaKind,
    step: &'static str,
    reason: &str,
    blockers: Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    if blockers.is_empty() {
        return Ok(());
    }
    if args.force {
        warnings.push(format!(
            "--force: {step} goes on although {reason}: {}",
            blockers.join("; ")
        ));
        return Ok(());
    }
    Err(Error::RotationBlocked {
        ca: kind.to_string(),
        step,
        reason: reason.to_owned(),
        blockers,
    })
}

/// Leaves and control-plane kubeconfig client certificates that `new` did not sign.
pub(super) fn on_old_ca(s: &Settings, kind: CaKind, new: &Certificate) -> Vec<String> {
    let mut found = Vec::new();
    for def in leaves(s, kind) {
        let path = path_of(s, def.base, "crt");
        if let Ok(pem) = std::fs::read_to_string(&path)
            && let Ok(cert) = Certificate::from_pem(&pem)
            && cert.verify_signed_by(new).is_err()
        {
            found.push(format!("{} ({})", def.name, path.display()));
        }
    }
    if kind == CaKind::Cluster {
        for spec in &CONTROL_PLANE_KUBECONFIGS {
            let path = s.kubeconfig_dir.join(spec.file_name);
            if let Some(cert) = kubeconfig_client_cert(&path)
                && cert.verify_signed_by(new).is_err()
            {
                found.push(format!("{} client certificate", path.display()));
            }
            // The kubelet's certificate as a file (kubeadm's kubelet-client-current.pem).
            if let Some(k) = referenced(&path)
                && k.cert.verify_signed_by(new).is_err()
            {
                found.push(format!(
                    "kubelet client certificate {} ({}, named by {}): `tenantctl pki rotate-ca kubelet` after reissue",
                    k.path.display(),
                    k.cert.common_name().unwrap_or_default(),
                    path.display()
                ));
            }
        }
    }
    found
}

pub(super) fn kubeconfig_client_cert(path: &Path) -> Option<Certificate> {
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(path).ok()?).ok()?;
    match kc.current().ok()?.credentials {
        Credentials::ClientCertificate { cert_pem, .. } => Certificate::from_pem(&cert_pem).ok(),
        _ => None,
    }
}

/// Kubeconfigs in `--kubeconfig-dir` (`*.conf`, `*.kubeconfig`) whose current cluster's CA does
/// not include the new CA. The control-plane kubeconfigs are rewritten by the steps themselves.
pub(super) fn kubeconfigs_trusting_only_old(s: &Settings, new_id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(&s.kubeconfig_dir) else {
        return found;
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "conf" || e == "kubeconfig")
        })
        .collect();
    paths.sort();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(kc) = Kubeconfig::from_yaml(&text) else {
            continue;
        };
        let Ok(current) = kc.current() else { continue };
        if let ClusterCa::Embedded(pem) = &current.ca
            && !rotation::bundle_key_ids(pem).iter().any(|id| id == new_id)
        {
            found.push(format!(
                "kubeconfig {} trusts only the old CA",
                path.display()
            ));
        }
    }
    found
}

/// The current credential of each Active tenant.
pub(super) fn active_current(
    records: &[TenantRecord],
) -> impl Iterator<Item = (&str, &CredentialRecord)> {
    records
        .iter()
        .filter(|r| r.phase == tenant::Phase::Active)
        .filter_map(|r| r.current_credential().map(|c| (r.user.as_str(), c)))
}

pub(super) fn describe(user: &str, c: &CredentialRecord) -> String {
    match c.kind {
        AuthKind::Cert => format!(
            "tenant {user}: certificate serial {} (until {})",
            c.serial.as_deref().unwrap_or("?"),
            c.not_after
        ),
        AuthKind::Token => format!("tenant {user}: token (until {})", c.not_after),
    }
}

/// Active tenants whose newest kubeconfig trusts only the old CA (records from before the
/// rotation carry no trust list: they trust the CA of their day).
pub(super) fn tenants_trusting_only_old(records: &[TenantRecord], new_id: &str) -> Vec<String> {
    active_current(records)
        .filter(|(_, c)| !c.trusted_ca_key_ids.iter().any(|id| id == new_id))
        .map(|(u, c)| format!("{}: its kubeconfig trusts only the old CA", describe(u, c)))
        .collect()
}

/// Active tenants whose current certificate is not from the new CA.
pub(super) fn tenants_on_old_ca(records: &[TenantRecord], new_id: &str) -> Vec<String> {
    active_current(records)
        .filter(|(_, c)| c.kind == AuthKind::Cert && c.issuer_key_id.as_deref() != Some(new_id))
        .map(|(u, c)| format!("{}: signed by the old CA", describe(u, c)))
        .collect()
}

/// Active tenants whose current certificate is from the CA `id`.
pub(super) fn tenants_on_ca(records: &[TenantRecord], id: &str) -> Vec<String> {
    active_current(records)
        .filter(|(_, c)| c.kind == AuthKind::Cert && c.issuer_key_id.as_deref() == Some(id))
        .map(|(u, _)| u.to_owned())
        .collect()
}

/// Every other certificate handed out (superseded, revoked, or of a revoked tenant) that is not
/// from the new CA and has not expired: finish ends them.
pub(super) fn superseded_on_old_ca(
    records: &[TenantRecord],
    new_id: &str,
    now: SystemTime,
) -> Vec<String> {
    let mut ended = Vec::new();
    for r in records {
        let current = (r.phase == tenant::Phase::Active)
            .then(|| r.current_credential())
            .flatten();
        for c in &r.credentials {
            if c.kind != AuthKind::Cert
                || c.issuer_key_id.as_deref() == Some(new_id)
                || Some(c) == current
                || parse_rfc3339(&c.not_after).is_some_and(|end| end <= now)
            {
                continue;
            }
            let state = match (&c.revoked, r.phase) {
                (Some(t), _) => format!("revoked {t}"),
                (None, tenant::Phase::Revoked) => "tenant revoked".into(),
                _ => "superseded".into(),
            };
            ended.push(format!(
                "tenant {}: certificate serial {} ({state}, would have authenticated until {})",
                r.user,
                c.serial.as_deref().unwrap_or("?"),
                c.not_after
            ));
        }
    }
    ended
}

/// The tenant records, read through `--kubeconfig`; `None` with `--skip-tenants`.
pub(super) fn tenants(
    args: &RotateCaArgs,
    out: &mut Output<'_>,
) -> Result<Option<Vec<TenantRecord>>, Error> {
    if args.skip_tenants {
        out.warning("--skip-tenants: the tenant records were not read; tenants that depend on the old CA are not checked");
        return Ok(None);
    }
    cluster::block_on(async {
        let (cluster, resolved) = args.cluster.open().await?;
        progress!(out, "reading tenant records through {}", resolved.source);
        tenant::tenant_records(&cluster).await.map(Some)
    })
    .map_err(|e| match e {
        Error::NoCluster { message } => Error::Usage {
            flag: "--kubeconfig",
            message: format!(
                "this step reads the tenant records to check none depends on the old CA, but {message}; pass --kubeconfig FILE, or --skip-tenants when there are none"
            ),
        },
        e => e,
    })
}
