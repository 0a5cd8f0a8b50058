//! The kubelet's client certificate when `kubelet.conf` names it as a file, as kubeadm leaves it
//! after the TLS bootstrap: `client-certificate` and `client-key` both point at
//! `/var/lib/kubelet/pki/kubelet-client-current.pem`, a symlink to
//! `kubelet-client-<timestamp>.pem` holding the certificate and the key (client-go's
//! `util/certificate/certificate_store.go`, which refuses to rotate later if `-current` is not a
//! symlink). The steps that copy embedded kubeconfig certificates cannot reach it, and the
//! kubelet's own rotation only renews at 70–90 % of the lifetime, so after `finish` the node
//! would stop authenticating.
//!
//! [`referenced`] finds it for the dependents checks (status, reissue, finish); [`kubelet`] is
//! `rotate-ca kubelet`: a new `system:node:NAME` certificate (O = `system:nodes`, kept from the
//! old one) from the CA that signs now, written as kubeadm's layout expects: a new timestamped
//! file (0600), then the `-current` symlink swapped atomically (a regular file is replaced by
//! rename instead).

use std::os::unix::fs::symlink;

use super::*;

/// `kubelet.conf`'s client certificate file and the certificate in it.
pub(super) struct KubeletCert {
    /// The path `client-certificate` names (relative ones resolved against the kubeconfig).
    pub(super) path: PathBuf,
    /// The certificate.
    pub(super) cert: Certificate,
}

/// The client certificate `kubeconfig` references as a file, if it does.
pub(super) fn referenced(kubeconfig: &Path) -> Option<KubeletCert> {
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(kubeconfig).ok()?).ok()?;
    let Credentials::Other(OtherCredentials::ClientCertificateFiles {
        certificate: Some(file),
        ..
    }) = kc.current().ok()?.credentials
    else {
        return None;
    };
    let path = kubeconfig
        .parent()
        .map_or_else(|| PathBuf::from(&file), |dir| dir.join(&file));
    let pem = std::fs::read_to_string(&path).ok()?;
    let cert = first_certificate(&pem)?;
    Some(KubeletCert { path, cert })
}

/// The first CERTIFICATE block of a PEM file that may also hold a key.
fn first_certificate(pem: &str) -> Option<Certificate> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN)?;
    let end = pem[start..].find(END)? + start + END.len();
    Certificate::from_pem(&pem[start..end]).ok()
}

/// `rotate-ca kubelet`: this node's kubelet client certificate from the CA that signs now
/// (after `reissue`, the new one). Nothing to do when it already chains to it.
pub(super) fn kubelet(
    args: &RotateCaArgs,
    s: &Settings,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let conf = s.kubeconfig_dir.join("kubelet.conf");
    let Some(found) = referenced(&conf) else {
        return Err(Error::Usage {
            flag: "--kubeconfig-dir",
            message: format!(
                "{} names no client certificate file (an embedded one moves with `rotate-ca reissue`)",
                conf.display()
            ),
        });
    };
    let signer = store::load_ca(&s.cert_dir, "ca", now)?;
    let user = found.cert.common_name().unwrap_or_default();
    if found.cert.verify_signed_by(signer.certificate()).is_ok() {
        say!(
            out,
            "[rotate-ca] kubelet client certificate {} ({user}) is already from the signing CA: nothing changed",
            found.path.display()
        );
        return Ok(());
    }
    if !user.starts_with("system:node:") {
        return Err(Error::Usage {
            flag: "--kubeconfig-dir",
            message: format!(
                "{}'s certificate is for {user:?}, not a node (system:node:NAME): refusing to re-issue it",
                found.path.display()
            ),
        });
    }
    let key = PrivateKey::generate(s.cfg.key_algorithm)?;
    let identity = ClientIdentity {
        user: user.clone(),
        groups: found.cert.organizations(),
    };
    let cert = signer.issue_client(
        &identity,
        &key,
        Validity::kubeadm(now, s.cfg.cert_validity).capped_at(signer.certificate().not_after()),
    )?;
    let mut pem = cert.to_pem();
    pem.push_str(&key.secret_pem()?);
    if args.dry_run {
        say!(
            out,
            "[rotate-ca] would re-issue {user}'s client certificate into {} (dry run: nothing was changed)",
            found.path.display()
        );
        return Ok(());
    }
    let written = write_kubelet_pem(&found.path, pem.as_bytes(), now)?;
    say!(
        out,
        "[rotate-ca] kubelet client certificate for {user} re-issued from the signing CA: {}",
        written.display()
    );
    out.note(
        "restart the kubelet on this node (it reads its client certificate at start); other nodes: give each a bootstrap kubeconfig (`tenantctl join` or `kubeadm token create`), move kubelet-client-current.pem away and restart its kubelet, which then asks the CSR API, signed by kube-controller-manager with the new key",
    );
    Ok(())
}

/// Writes the new certificate and key next to `current` and points `current` at it (a symlink,
/// as client-go's store keeps it), or replaces `current` when it is a regular file. Returns the
/// file written.
fn write_kubelet_pem(current: &Path, pem: &[u8], now: SystemTime) -> Result<PathBuf, Error> {
    let dir = current.parent().unwrap_or(Path::new("."));
    let is_link = std::fs::symlink_metadata(current).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        fs::replace_file(current, pem, true)?;
        return Ok(current.to_owned());
    }
    // client-go's store names them kubelet-client-<timestamp>.pem (…-2006-01-02-15-04-05).
    let stamp = rfc3339(now)
        .replace(['T', ':'], "-")
        .trim_end_matches('Z')
        .to_owned();
    let name = format!("kubelet-client-{stamp}.pem");
    let file = dir.join(&name);
    fs::write_secret(&file, pem, false)?;
    let tmp = dir.join(format!(".{name}.link"));
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Write { path, source }
    };
    let _ = std::fs::remove_file(&tmp);
    symlink(&name, &tmp).map_err(werr(&tmp))?;
    std::fs::rename(&tmp, current).map_err(werr(current))?;
    fs::sync_dir(dir)?;
    Ok(file)
}
