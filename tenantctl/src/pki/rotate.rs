//! `tenantctl pki rotate-ca begin|reissue|finish|abort|status`: a staged, resumable rotation of
//! a CA without downtime, in place — the control plane's flags keep pointing at `ca.crt` and
//! `ca.key` (or `front-proxy-ca.*`, `etcd/ca.*`), and each step rewrites those files:
//!
//! | phase    | `ca.crt`          | `ca.key` | leaves and kubeconfig client certs | kubeconfig CA |
//! |----------|-------------------|----------|------------------------------------|---------------|
//! | (before) | old               | old      | old CA                             | old           |
//! | begun    | old, new          | old      | old CA                             | old, new      |
//! | reissued | new, old          | new      | new CA                             | new, old      |
//! | finished | new               | new      | new CA                             | new           |
//! | aborted  | old               | old      | old CA                             | old           |
//!
//! The CA that signs comes first in the bundle, so every reader that takes the first certificate
//! of `ca.crt` with `ca.key` (tenantctl itself, kube-apiserver's `--client-ca-file` pool, kubeadm)
//! keeps pairing them. Each step is one journaled batch (see [`crate::fs::write_batch`]) that
//! also carries the new state, so a kill at any instant leaves the previous phase or the next one,
//! and the same step run again converges; a step run twice changes nothing the second time.
//!
//! The steps that end trust in a CA (`reissue`, whose new serving certificate old-only clients
//! would not trust; `finish`, after which old client certificates stop authenticating) are
//! refused while a recorded tenant or a kubeconfig still depends on the old CA.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kubeconfig::{CONTROL_PLANE_KUBECONFIGS, ClusterCa, Credentials, Kubeconfig, Secret};
use pki_core::{
    CertDef, CertSpec, Certificate, CertificateAuthority, ClientIdentity, PrivateKey, Validity,
};
use serde::Serialize;

use super::{
    rotation::{self, CaKind, Phase, STATE_FILE, State},
    settings::{Settings, settings},
    store,
};
use crate::{
    cli::{CaChoice, RotateCaArgs, RotateStep},
    cluster,
    error::Error,
    fs::{self, Pending},
    output::{Output, progress, say},
    tenant::{self, AuthKind, CredentialRecord, TenantRecord},
    time::{parse_rfc3339, rfc3339},
};

/// What one step did to one CA (`-o json|yaml`: schema `tenantctl.io/v1`, kind `CARotation`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StepReport {
    ca: CaKind,
    step: &'static str,
    /// The phase before the step (`null`: no rotation was under way).
    phase_before: Option<Phase>,
    /// The phase after it.
    phase: Phase,
    /// Every file written; empty when the step had already run.
    written: Vec<String>,
    /// Key material overwritten and removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shredded: Vec<String>,
    /// Client certificates that stop authenticating with this step (`finish`): signed by the
    /// old CA, superseded or revoked but not expired. Kubernetes has no other way to end them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ended: Vec<String>,
    /// What was overridden with `--force`, and other things to know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// What to restart, in order, so the control plane loads the new files.
    restart: Vec<&'static str>,
    /// The step that comes next.
    next: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RotateReport {
    api_version: &'static str,
    kind: &'static str,
    /// `--dry-run`: `written` and `shredded` say what the step would do; nothing changed.
    dry_run: bool,
    steps: Vec<StepReport>,
}

/// `pki rotate-ca STEP [--ca ...]`.
pub fn run(args: &RotateCaArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let s = settings(&args.pki)?;
    let now = SystemTime::now();
    let kinds: Vec<CaKind> = match args.ca {
        CaChoice::All => CaKind::ALL
            .into_iter()
            .filter(|k| ca_def(&s, *k).is_some())
            .collect(),
        CaChoice::Cluster => vec![CaKind::Cluster],
        CaChoice::FrontProxy => vec![CaKind::FrontProxy],
        CaChoice::Etcd => vec![CaKind::Etcd],
    };
    for k in &kinds {
        if ca_def(&s, *k).is_none() {
            return Err(Error::Usage {
                flag: "--ca",
                message: format!("there is no {k} CA here (external etcd)"),
            });
        }
    }
    // Status only reads; the other steps change files, under the lock.
    let step = match args.step {
        RotateStep::Begin => Step::Begin,
        RotateStep::Reissue => Step::Reissue,
        RotateStep::Finish => Step::Finish,
        RotateStep::Abort => Step::Abort,
        RotateStep::Status => return status(args, &s, &kinds, now, out),
    };
    let _lock = fs::lock_dir(&s.cert_dir, args.pki.lock_timeout)?;
    let etcd_dir = s.cert_dir.join("etcd");
    let rotation_dirs: Vec<PathBuf> = CaKind::ALL
        .iter()
        .map(|k| rotation::dir(&s.cert_dir, *k))
        .collect();
    let mut sweep: Vec<&Path> = vec![&s.cert_dir, &etcd_dir, &s.kubeconfig_dir];
    sweep.extend(rotation_dirs.iter().map(PathBuf::as_path));
    if args.dry_run {
        if s.cert_dir.join(fs::JOURNAL).exists() {
            out.warning("an interrupted write is pending in this directory; the next run without --dry-run completes or rolls it back first");
        }
    } else {
        for line in fs::recover(&s.cert_dir, &sweep)?.lines {
            out.warning(line);
        }
    }
    // The tenants matter for the cluster CA only, and only to the steps that end a trust from
    // the phase where they would.
    let cluster_phase = if kinds.contains(&CaKind::Cluster) {
        rotation::read(&s.cert_dir, CaKind::Cluster)?.map(|st| st.phase)
    } else {
        None
    };
    let tenants = match (step, cluster_phase) {
        (Step::Reissue, Some(Phase::Begun)) | (Step::Finish, Some(Phase::Reissued)) => {
            tenants(args, out)?
        }
        (Step::Abort, Some(p)) if p.in_progress() => match tenants(args, out) {
            Ok(t) => t,
            Err(e) => {
                out.warning(format_args!(
                    "tenant records not read ({e}): tenants already on the new CA are not listed"
                ));
                None
            }
        },
        _ => None,
    };
    let mut steps = Vec::new();
    for kind in kinds {
        let t = if kind == CaKind::Cluster {
            tenants.as_deref()
        } else {
            None
        };
        let report = match step {
            Step::Begin => begin(args, &s, kind, now, out)?,
            Step::Reissue => reissue(args, &s, kind, t, now)?,
            Step::Finish => finish(args, &s, kind, t, now)?,
            Step::Abort => abort(args, &s, kind, t, now)?,
        };
        for w in &report.warnings {
            out.warning(w);
        }
        if !args.dry_run && !report.written.is_empty() && !report.restart.is_empty() {
            out.note(format_args!(
                "{} CA {}: restart, in this order: {} (static pods: move each manifest out of /etc/kubernetes/manifests and back, one control-plane node at a time)",
                report.ca,
                report.phase,
                report.restart.join(", ")
            ));
        }
        steps.push(report);
    }
    let report = RotateReport {
        api_version: "tenantctl.io/v1",
        kind: "CARotation",
        dry_run: args.dry_run,
        steps,
    };
    out.document(args.output, &report, |out, r| {
        for st in &r.steps {
            if st.written.is_empty() && st.shredded.is_empty() {
                say!(
                    out,
                    "[rotate-ca] {} CA: {} already done (phase {}); nothing changed",
                    st.ca,
                    st.step,
                    st.phase
                );
            } else if r.dry_run {
                say!(
                    out,
                    "[rotate-ca] {} CA: {} would write {} files and shred {} (dry run: nothing was changed)",
                    st.ca,
                    st.step,
                    st.written.len(),
                    st.shredded.len()
                );
                for w in &st.written {
                    say!(out, "  would write: {w}");
                }
            } else {
                say!(
                    out,
                    "[rotate-ca] {} CA: {} done, phase {}: {} files written{}",
                    st.ca,
                    st.step,
                    st.phase,
                    st.written.len(),
                    if st.shredded.is_empty() {
                        String::new()
                    } else {
                        format!(", {} shredded", st.shredded.len())
                    }
                );
            }
            if !st.ended.is_empty() {
                say!(
                    out,
                    "  {} client certificates of the old CA stop authenticating now (rotating the CA is the one way Kubernetes has to end a client certificate before it expires):",
                    st.ended.len()
                );
            }
            for e in &st.ended {
                say!(out, "  ended: {e}");
            }
            say!(out, "  next: {}", st.next);
        }
        Ok(())
    })
}

/// A step that changes files (`status` only reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Begin,
    Reissue,
    Finish,
    Abort,
}

/// The CA's row in the PKI table, when this cluster has it.
fn ca_def(s: &Settings, kind: CaKind) -> Option<&'static CertDef> {
    s.cfg.certs().find(|d| d.base == kind.base())
}

/// The leaves that `kind` signs.
fn leaves(s: &Settings, kind: CaKind) -> Vec<&'static CertDef> {
    let Some(ca) = ca_def(s, kind) else {
        return Vec::new();
    };
    s.cfg.certs().filter(|d| d.issuer == Some(ca.id)).collect()
}

fn path_of(s: &Settings, base: &str, ext: &str) -> PathBuf {
    s.cert_dir.join(format!("{base}.{ext}"))
}

fn rot_path(s: &Settings, kind: CaKind, name: &str) -> PathBuf {
    rotation::dir(&s.cert_dir, kind).join(name)
}

fn bundle(first: &Certificate, second: &Certificate) -> String {
    format!("{}{}", first.to_pem(), second.to_pem())
}

fn phase_error(kind: CaKind, message: impl Into<String>) -> Error {
    Error::RotationPhase {
        ca: kind.to_string(),
        message: message.into(),
    }
}

/// Both CA pairs of a rotation under way, from `rotation/<ca>/`.
struct Pair {
    old: CertificateAuthority,
    new: CertificateAuthority,
}

fn load_pair(s: &Settings, kind: CaKind) -> Result<Pair, Error> {
    let dir = rotation::dir(&s.cert_dir, kind);
    let load = |base: &str| {
        let cert = store::read_text(&dir.join(format!("{base}.crt")))?;
        let key = store::read_text(&dir.join(format!("{base}.key")))?;
        Ok::<_, Error>(CertificateAuthority::from_pem(&cert, &key)?)
    };
    Ok(Pair {
        old: load("old")?,
        new: load("new")?,
    })
}

/// This node's `<base>.key` must be the key of one of `expected` (the CA pairs the step may find
/// there): a rotation directory copied from another cluster, or a CA key replaced by hand, would
/// otherwise be overwritten or paired with the wrong certificate.
fn ensure_key_is(
    s: &Settings,
    kind: CaKind,
    expected: &[&CertificateAuthority],
) -> Result<(), Error> {
    let base = kind.base();
    let key = PrivateKey::from_pem(&store::read_text(&path_of(s, base, "key"))?)?;
    let public = key.public_key_der()?;
    for ca in expected {
        if ca.key().public_key_der()? == public {
            return Ok(());
        }
    }
    Err(Error::Inconsistent {
        dir: s.cert_dir.clone(),
        problems: vec![format!(
            "{base}.key is neither CA key of the rotation in rotation/{kind}/ (was the rotation directory copied from another cluster, or {base}.key replaced?): nothing was changed"
        )],
    })
}

/// A file a step wants, with what it should hold.
struct Want {
    path: PathBuf,
    contents: Vec<u8>,
    secret: bool,
    /// A name for messages.
    what: String,
}

impl Want {
    fn new(path: PathBuf, contents: impl Into<Vec<u8>>, secret: bool) -> Self {
        Self {
            what: path.display().to_string(),
            path,
            contents: contents.into(),
            secret,
        }
    }
}

/// Writes, as one journaled batch, those of `wants` whose file does not already hold exactly
/// that; returns the paths written (none when every file was already right).
fn converge(
    dry_run: bool,
    s: &Settings,
    kind: CaKind,
    wants: &[Want],
) -> Result<Vec<String>, Error> {
    let changed: Vec<&Want> = wants
        .iter()
        .filter(|w| std::fs::read(&w.path).ok().as_deref() != Some(w.contents.as_slice()))
        .collect();
    if changed.is_empty() || dry_run {
        return Ok(changed.iter().map(|w| w.what.clone()).collect());
    }
    fs::create_private_dir(&rotation::dir(&s.cert_dir, kind))?;
    set_private(&s.cert_dir.join(rotation::ROTATION_DIR))?;
    set_private(&rotation::dir(&s.cert_dir, kind))?;
    let pending: Vec<Pending<'_>> = changed
        .iter()
        .map(|w| Pending {
            replace: true,
            ..Pending::new(w.path.clone(), &w.contents, w.secret)
        })
        .collect();
    fs::write_batch(&s.cert_dir, &pending)?;
    Ok(changed.iter().map(|w| w.what.clone()).collect())
}

fn set_private(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        Error::Write {
            path: dir.to_owned(),
            source,
        }
    })
}

fn state_want(s: &Settings, state: &State) -> Result<Want, Error> {
    Ok(Want::new(
        rot_path(s, state.ca, STATE_FILE),
        state.to_yaml()?,
        false,
    ))
}

/// `begin`: a new CA next to the old one; both trusted, the old key still signs.
fn begin(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let base = kind.base();
    let (state, pair) = match &before {
        Some(st) if st.phase == Phase::Begun => {
            // Again here, or on another control-plane node the rotation directory was copied to.
            let pair = load_pair(s, kind)?;
            ensure_key_is(s, kind, &[&pair.old])?;
            (st.clone(), pair)
        }
        Some(st) if st.phase == Phase::Reissued => {
            return Err(phase_error(
                kind,
                format!(
                    "already reissued on {}: finish it (`tenantctl pki rotate-ca finish --ca {kind}`) or abort it",
                    st.reissued.as_deref().unwrap_or("?")
                ),
            ));
        }
        _ => {
            // A finish or abort killed before it shredded leaves key material: shred it now.
            shred_pairs(args.dry_run, s, kind, &["old", "new"])?;
            if !path_of(s, base, "key").exists() {
                return Err(Error::Inconsistent {
                    dir: s.cert_dir.clone(),
                    problems: vec![format!(
                        "{base}.key is absent (external CA): rotate that CA where its key is kept"
                    )],
                });
            }
            let cert_pem = store::read_text(&path_of(s, base, "crt"))?;
            let certs = Certificate::chain_from_pem(&cert_pem)?;
            if certs.len() != 1 {
                return Err(Error::Inconsistent {
                    dir: s.cert_dir.clone(),
                    problems: vec![format!(
                        "{base}.crt holds {} certificates but no rotation is under way (rotation/{kind}/{STATE_FILE}): restore the single CA certificate that matches {base}.key",
                        certs.len()
                    )],
                });
            }
            let old = store::load_ca(&s.cert_dir, base, now)?;
            let def = ca_def(s, kind).ok_or_else(|| phase_error(kind, "no such CA"))?;
            let algorithm = args
                .pki
                .encryption_algorithm
                .unwrap_or(old.key().algorithm());
            progress!(
                out,
                "[rotate-ca] {kind} CA: generating a new {algorithm} key"
            );
            let mut spec = s.cfg.spec_for(def, now)?;
            spec.common_name = old.certificate().common_name().unwrap_or(spec.common_name);
            spec.organizations = old.certificate().organizations();
            let new = CertificateAuthority::self_signed(&spec, PrivateKey::generate(algorithm)?)?;
            let id = |c: &CertificateAuthority| {
                rotation::subject_key_id(c.certificate()).unwrap_or_default()
            };
            let state = State {
                api_version: "tenantctl.io/v1".into(),
                kind: "CARotation".into(),
                ca: kind,
                phase: Phase::Begun,
                old_key_id: id(&old),
                new_key_id: id(&new),
                begun: rfc3339(now),
                reissued: None,
                finished: None,
                aborted: None,
            };
            (state, Pair { old, new })
        }
    };
    let trust = bundle(pair.old.certificate(), pair.new.certificate());
    let mut wants = pair_wants(s, kind, &pair)?;
    wants.push(state_want(s, &state)?);
    wants.push(Want::new(path_of(s, base, "crt"), trust.clone(), false));
    if kind == CaKind::Cluster {
        wants.push(Want::new(
            rot_path(s, kind, "signing.crt"),
            pair.old.certificate().to_pem(),
            false,
        ));
    }
    let mut warnings = Vec::new();
    wants.extend(kubeconfig_wants(s, kind, None, &trust, now, &mut warnings)?);
    let written = converge(args.dry_run, s, kind, &wants)?;
    if kind == CaKind::Cluster && !written.is_empty() {
        warnings.push(format!(
            "kube-controller-manager's CSR signer refuses a bundle in --cluster-signing-cert-file (\"expected 1 certificate, found 2\", pkg/controller/certificates/signer): if it points at {}, point it at {} (the single certificate that matches ca.key, kept current by every step) before restarting it, and back after finish",
            path_of(s, base, "crt").display(),
            rot_path(s, kind, "signing.crt").display()
        ));
    }
    Ok(StepReport {
        ca: kind,
        step: "begin",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Begun,
        written,
        shredded: Vec::new(),
        ended: Vec::new(),
        warnings,
        restart: restarts(kind, Step::Begin),
        next: match kind {
            CaKind::Cluster => "distribute ca.crt to every node, restart as listed, re-issue tenants with `tenantctl renew --all`, then `tenantctl pki rotate-ca reissue`".into(),
            _ => format!("restart as listed, then `tenantctl pki rotate-ca reissue --ca {kind}`"),
        },
    })
}

/// The rotation directory's copies of both pairs (keys 0600).
fn pair_wants(s: &Settings, kind: CaKind, pair: &Pair) -> Result<Vec<Want>, Error> {
    Ok(vec![
        Want::new(
            rot_path(s, kind, "old.key"),
            pair.old.key().secret_pem()?.as_bytes().to_vec(),
            true,
        ),
        Want::new(
            rot_path(s, kind, "old.crt"),
            pair.old.certificate().to_pem(),
            false,
        ),
        Want::new(
            rot_path(s, kind, "new.key"),
            pair.new.key().secret_pem()?.as_bytes().to_vec(),
            true,
        ),
        Want::new(
            rot_path(s, kind, "new.crt"),
            pair.new.certificate().to_pem(),
            false,
        ),
    ])
}

/// The CA pair files themselves: `<base>.key` = `signer`'s key, `<base>.crt` = `trust`.
fn ca_wants(
    s: &Settings,
    kind: CaKind,
    signer: &CertificateAuthority,
    trust: &str,
) -> Result<Vec<Want>, Error> {
    let base = kind.base();
    let mut wants = vec![
        Want::new(
            path_of(s, base, "key"),
            signer.key().secret_pem()?.as_bytes().to_vec(),
            true,
        ),
        Want::new(path_of(s, base, "crt"), trust.to_owned(), false),
    ];
    if kind == CaKind::Cluster {
        wants.push(Want::new(
            rot_path(s, kind, "signing.crt"),
            signer.certificate().to_pem(),
            false,
        ));
    }
    Ok(wants)
}

/// Every leaf under `kind` that `signer` did not sign, re-issued from it with a new key of the
/// same algorithm (CN, O, SANs and usage kept).
fn leaf_wants(
    s: &Settings,
    kind: CaKind,
    signer: &CertificateAuthority,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Vec<Want>, Error> {
    let mut wants = Vec::new();
    for def in leaves(s, kind) {
        let crt = path_of(s, def.base, "crt");
        let key = path_of(s, def.base, "key");
        let Ok(pem) = std::fs::read_to_string(&crt) else {
            warnings.push(format!("{}: not present, not re-issued", def.name));
            continue;
        };
        let old = Certificate::from_pem(&pem)?;
        if old.verify_signed_by(signer.certificate()).is_ok() {
            continue;
        }
        let algorithm = match std::fs::read_to_string(&key) {
            Ok(k) => PrivateKey::from_pem(&k)?.algorithm(),
            Err(_) => old.key_algorithm()?,
        };
        let new_key = PrivateKey::generate(algorithm)?;
        let spec = CertSpec {
            common_name: old.common_name().unwrap_or_default(),
            organizations: old.organizations(),
            usage: def.usage,
            sans: old.sans(),
            validity: Validity::kubeadm(now, s.cfg.cert_validity)
                .capped_at(signer.certificate().not_after()),
        };
        let cert = signer.issue(&spec, &new_key.public_key_der()?)?;
        wants.push(Want {
            what: format!("{}.key", def.base),
            path: key,
            contents: new_key.secret_pem()?.as_bytes().to_vec(),
            secret: true,
        });
        wants.push(Want {
            what: format!("{}.crt", def.base),
            path: crt,
            contents: cert.to_pem().into_bytes(),
            secret: false,
        });
    }
    Ok(wants)
}

/// The control-plane kubeconfigs (cluster CA only): the embedded CA set to `trust`, and with a
/// `signer`, an embedded client certificate it did not sign re-issued from it (same CN and O,
/// a new key). The kubelet's own rotated certificate (a file reference) is left to the kubelet.
fn kubeconfig_wants(
    s: &Settings,
    kind: CaKind,
    signer: Option<&CertificateAuthority>,
    trust: &str,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Vec<Want>, Error> {
    if kind != CaKind::Cluster {
        return Ok(Vec::new());
    }
    let mut wants = Vec::new();
    for spec in &CONTROL_PLANE_KUBECONFIGS {
        let path = s.kubeconfig_dir.join(spec.file_name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut kc = Kubeconfig::from_yaml(&text)?;
        let (client, ca_matches) = {
            let current = kc.current()?;
            let ca_matches =
                matches!(&current.ca, ClusterCa::Embedded(p) if p.trim() == trust.trim());
            let client = match &current.credentials {
                Credentials::ClientCertificate { cert_pem, key_pem } => Some((
                    Certificate::from_pem(cert_pem)?,
                    PrivateKey::from_pem(key_pem.expose_secret())?.algorithm(),
                )),
                _ => None,
            };
            (client, ca_matches)
        };
        match (signer, client) {
            (Some(signer), Some((old, algorithm)))
                if old.verify_signed_by(signer.certificate()).is_err() =>
            {
                let key = PrivateKey::generate(algorithm)?;
                let identity = ClientIdentity {
                    user: old.common_name().unwrap_or_default(),
                    groups: old.organizations(),
                };
                let cert = signer.issue_client(
                    &identity,
                    &key,
                    Validity::kubeadm(now, s.cfg.cert_validity)
                        .capped_at(signer.certificate().not_after()),
                )?;
                kc.renew_client_certificate(&cert.to_pem(), Secret::new(key.secret_pem()?), trust)?;
            }
            (signer, client) => {
                if signer.is_some() && client.is_none() {
                    warnings.push(format!(
                        "{}: its client certificate is not embedded (the kubelet's own, rotated through the CSR API): restart the kubelet after kube-controller-manager signs with the new key, or re-issue it by hand",
                        spec.file_name
                    ));
                }
                if !ca_matches {
                    kc.set_certificate_authority(trust)?;
                }
            }
        }
        let yaml = kc.to_yaml()?;
        if yaml.as_bytes() != text.as_bytes() {
            wants.push(Want {
                what: spec.file_name.to_owned(),
                path,
                contents: yaml.as_bytes().to_vec(),
                secret: true,
            });
        }
    }
    Ok(wants)
}

/// `reissue`: the new key signs, every leaf and kubeconfig client certificate moves to it.
fn reissue(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    tenants: Option<&[TenantRecord]>,
    now: SystemTime,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let mut state = match &before {
        Some(st) if st.phase.in_progress() => st.clone(),
        Some(st) => {
            return Err(phase_error(
                kind,
                format!(
                    "no rotation under way (the last one {}): begin one first",
                    st.phase
                ),
            ));
        }
        None => return Err(phase_error(kind, "no rotation under way: begin one first")),
    };
    let pair = load_pair(s, kind)?;
    ensure_key_is(s, kind, &[&pair.old, &pair.new])?;
    let mut warnings = Vec::new();
    if state.phase == Phase::Begun {
        // Who would stop trusting the API server once it presents a certificate of the new CA.
        let mut blockers = Vec::new();
        if let Some(records) = tenants {
            blockers.extend(tenants_trusting_only_old(records, &state.new_key_id));
        }
        if kind == CaKind::Cluster {
            blockers.extend(kubeconfigs_trusting_only_old(s, &state.new_key_id));
        }
        refuse_or_warn(
            args,
            kind,
            "reissue",
            "these trust only the old CA, and after reissue the API server presents a certificate of the new one",
            blockers,
            &mut warnings,
        )?;
        state.phase = Phase::Reissued;
        state.reissued = Some(rfc3339(now));
    }
    let trust = bundle(pair.new.certificate(), pair.old.certificate());
    let mut wants = pair_wants(s, kind, &pair)?;
    wants.extend(ca_wants(s, kind, &pair.new, &trust)?);
    wants.extend(leaf_wants(s, kind, &pair.new, now, &mut warnings)?);
    wants.extend(kubeconfig_wants(
        s,
        kind,
        Some(&pair.new),
        &trust,
        now,
        &mut warnings,
    )?);
    wants.push(state_want(s, &state)?);
    let written = converge(args.dry_run, s, kind, &wants)?;
    Ok(StepReport {
        ca: kind,
        step: "reissue",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Reissued,
        written,
        shredded: Vec::new(),
        ended: Vec::new(),
        warnings,
        restart: restarts(kind, Step::Reissue),
        next: format!(
            "restart as listed, copy the new kubeconfigs out, wait until every kubelet has a certificate from the new CA, then `tenantctl pki rotate-ca finish --ca {kind}`"
        ),
    })
}

/// `finish`: the old CA is dropped from every bundle and its key material shredded.
fn finish(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    tenants: Option<&[TenantRecord]>,
    now: SystemTime,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let mut state = match &before {
        Some(st) if matches!(st.phase, Phase::Reissued | Phase::Finished) => st.clone(),
        Some(st) if st.phase == Phase::Begun => {
            return Err(phase_error(
                kind,
                "begun but not reissued: run `tenantctl pki rotate-ca reissue` first",
            ));
        }
        _ => {
            return Err(phase_error(
                kind,
                "no rotation to finish: begin one with `tenantctl pki rotate-ca begin`",
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut ended = Vec::new();
    let mut written = Vec::new();
    if state.phase == Phase::Reissued {
        let pair = load_pair(s, kind)?;
        ensure_key_is(s, kind, &[&pair.new])?;
        let mut blockers = on_old_ca(s, kind, pair.new.certificate());
        if let Some(records) = tenants {
            blockers.extend(tenants_on_old_ca(records, &state.new_key_id));
            ended = superseded_on_old_ca(records, &state.new_key_id, now);
        }
        refuse_or_warn(
            args,
            kind,
            "finish",
            "these are signed by the old CA, which stops being trusted",
            blockers,
            &mut warnings,
        )?;
        state.phase = Phase::Finished;
        state.finished = Some(rfc3339(now));
        written = settle(args, s, &pair.new, &state, now, &mut warnings)?;
    }
    let shredded = shred_pairs(args.dry_run, s, kind, &["old", "new"])?;
    Ok(StepReport {
        ca: kind,
        step: "finish",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Finished,
        written,
        shredded,
        ended,
        warnings,
        restart: restarts(kind, Step::Finish),
        next: if kind == CaKind::Cluster {
            "restart as listed; distribute the new ca.crt to every node; the rotation is complete"
                .into()
        } else {
            "restart as listed; the rotation is complete".into()
        },
    })
}

/// The end of a rotation either way (finish: `remaining` is the new CA; abort: the old one):
/// `remaining` alone is trusted and signs, anything it did not sign is re-issued from it, and
/// the state says so; one batch. Returns what was written.
fn settle(
    args: &RotateCaArgs,
    s: &Settings,
    remaining: &CertificateAuthority,
    state: &State,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, Error> {
    let kind = state.ca;
    let trust = remaining.certificate().to_pem();
    let mut wants = ca_wants(s, kind, remaining, &trust)?;
    wants.extend(leaf_wants(s, kind, remaining, now, warnings)?);
    wants.extend(kubeconfig_wants(
        s,
        kind,
        Some(remaining),
        &trust,
        now,
        warnings,
    )?);
    wants.push(state_want(s, state)?);
    converge(args.dry_run, s, kind, &wants)
}

/// `abort`: back to the old CA alone; whatever is already on the new CA is re-issued from the
/// old one, and the new key is shredded.
fn abort(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    tenants: Option<&[TenantRecord]>,
    now: SystemTime,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let mut state = match &before {
        Some(st) if st.phase != Phase::Finished => st.clone(),
        Some(_) => {
            return Err(phase_error(
                kind,
                "finished: the old CA's key is gone; begin a new rotation instead",
            ));
        }
        None => {
            return Err(phase_error(
                kind,
                "no rotation to abort (none was begun here)",
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut written = Vec::new();
    if state.phase != Phase::Aborted {
        let pair = load_pair(s, kind)?;
        ensure_key_is(s, kind, &[&pair.old, &pair.new])?;
        if let Some(records) = tenants {
            let on_new = tenants_on_ca(records, &state.new_key_id);
            if !on_new.is_empty() {
                warnings.push(format!(
                    "these tenants' current certificates are from the new CA and stop authenticating after the restart: {}; run `tenantctl renew --all` afterwards",
                    on_new.join(", ")
                ));
            }
        }
        state.phase = Phase::Aborted;
        state.aborted = Some(rfc3339(now));
        written = settle(args, s, &pair.old, &state, now, &mut warnings)?;
    }
    let shredded = shred_pairs(args.dry_run, s, kind, &["new", "old"])?;
    Ok(StepReport {
        ca: kind,
        step: "abort",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Aborted,
        written,
        shredded,
        ended: Vec::new(),
        warnings,
        restart: restarts(kind, Step::Abort),
        next: "restart as listed; the old CA is the only one again".into(),
    })
}

/// Overwrites and removes `rotation/<ca>/<name>.key` and removes `<name>.crt`, for each name;
/// returns what was removed. Run after the step's batch committed, so a kill between the two
/// leaves files the same step removes when run again.
fn shred_pairs(
    dry_run: bool,
    s: &Settings,
    kind: CaKind,
    names: &[&str],
) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    if dry_run {
        for name in names {
            for ext in ["key", "crt"] {
                let p = rot_path(s, kind, &format!("{name}.{ext}"));
                if p.exists() {
                    done.push(p.display().to_string());
                }
            }
        }
        return Ok(done);
    }
    for name in names {
        let key = rot_path(s, kind, &format!("{name}.key"));
        if shred(&key)? {
            done.push(key.display().to_string());
        }
        let crt = rot_path(s, kind, &format!("{name}.crt"));
        match std::fs::remove_file(&crt) {
            Ok(()) => done.push(crt.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Write { path: crt, source }),
        }
    }
    if !done.is_empty() {
        fs::sync_dir(&rotation::dir(&s.cert_dir, kind))?;
    }
    Ok(done)
}

/// Overwrites a file with zeros, fsyncs it, then removes it. `false` when it was not there.
fn shred(path: &Path) -> Result<bool, Error> {
    let werr = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(werr)?;
    let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
    f.write_all(&zeros).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    drop(f);
    std::fs::remove_file(path).map_err(werr)?;
    Ok(true)
}

fn refuse_or_warn(
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
fn on_old_ca(s: &Settings, kind: CaKind, new: &Certificate) -> Vec<String> {
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
        }
    }
    found
}

fn kubeconfig_client_cert(path: &Path) -> Option<Certificate> {
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(path).ok()?).ok()?;
    match kc.current().ok()?.credentials {
        Credentials::ClientCertificate { cert_pem, .. } => Certificate::from_pem(&cert_pem).ok(),
        _ => None,
    }
}

/// Kubeconfigs in `--kubeconfig-dir` (`*.conf`, `*.kubeconfig`) whose current cluster's CA does
/// not include the new CA. The control-plane kubeconfigs are rewritten by the steps themselves.
fn kubeconfigs_trusting_only_old(s: &Settings, new_id: &str) -> Vec<String> {
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
fn active_current(records: &[TenantRecord]) -> impl Iterator<Item = (&str, &CredentialRecord)> {
    records
        .iter()
        .filter(|r| r.phase == tenant::Phase::Active)
        .filter_map(|r| r.current_credential().map(|c| (r.user.as_str(), c)))
}

fn describe(user: &str, c: &CredentialRecord) -> String {
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
fn tenants_trusting_only_old(records: &[TenantRecord], new_id: &str) -> Vec<String> {
    active_current(records)
        .filter(|(_, c)| !c.trusted_ca_key_ids.iter().any(|id| id == new_id))
        .map(|(u, c)| format!("{}: its kubeconfig trusts only the old CA", describe(u, c)))
        .collect()
}

/// Active tenants whose current certificate is not from the new CA.
fn tenants_on_old_ca(records: &[TenantRecord], new_id: &str) -> Vec<String> {
    active_current(records)
        .filter(|(_, c)| c.kind == AuthKind::Cert && c.issuer_key_id.as_deref() != Some(new_id))
        .map(|(u, c)| format!("{}: signed by the old CA", describe(u, c)))
        .collect()
}

/// Active tenants whose current certificate is from the CA `id`.
fn tenants_on_ca(records: &[TenantRecord], id: &str) -> Vec<String> {
    active_current(records)
        .filter(|(_, c)| c.kind == AuthKind::Cert && c.issuer_key_id.as_deref() == Some(id))
        .map(|(u, _)| u.to_owned())
        .collect()
}

/// Every other certificate handed out (superseded, revoked, or of a revoked tenant) that is not
/// from the new CA and has not expired: finish ends them.
fn superseded_on_old_ca(records: &[TenantRecord], new_id: &str, now: SystemTime) -> Vec<String> {
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
fn tenants(args: &RotateCaArgs, out: &mut Output<'_>) -> Result<Option<Vec<TenantRecord>>, Error> {
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

/// What to restart after a step, in order, for a kubeadm control plane.
fn restarts(kind: CaKind, step: Step) -> Vec<&'static str> {
    match (kind, step) {
        (CaKind::Cluster, Step::Begin) => vec![
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet (every node, once its /etc/kubernetes/pki/ca.crt and kubelet.conf trust both CAs)",
            "pods that read the ServiceAccount ca.crt (kube-proxy, CoreDNS, ...) once kube-controller-manager republished kube-root-ca.crt",
        ],
        (CaKind::Cluster, _) => vec![
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet (every node)",
        ],
        (CaKind::FrontProxy, _) => vec!["kube-apiserver", "kube-controller-manager"],
        (CaKind::Etcd, _) => vec!["etcd (each member in turn)", "kube-apiserver"],
    }
}

/// `rotate-ca status` for one CA (`-o json|yaml`: kind `CARotationStatus`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CaStatus {
    ca: CaKind,
    /// `null`: never rotated here.
    phase: Option<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<State>,
    /// Leaves and kubeconfig client certificates not signed by the CA that will remain.
    still_on_old_ca: Vec<String>,
    /// Tenants whose current certificate is from the old CA, or whose kubeconfig trusts only
    /// it (`null`: the records were not read).
    tenants_on_old_ca: Option<Vec<String>>,
    /// Certificates that `finish` ends.
    superseded_on_old_ca: Option<Vec<String>>,
    /// Key material left in the rotation directory.
    key_material: Vec<String>,
    next: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusReport {
    api_version: &'static str,
    kind: &'static str,
    cas: Vec<CaStatus>,
}

fn status(
    args: &RotateCaArgs,
    s: &Settings,
    kinds: &[CaKind],
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    if s.cert_dir.join(fs::JOURNAL).exists() {
        out.warning("a write was interrupted in this directory: the next rotate-ca step (or pki init/renew) completes or rolls it back first");
    }
    let states: Vec<(CaKind, Option<State>)> = kinds
        .iter()
        .map(|k| Ok::<_, Error>((*k, rotation::read(&s.cert_dir, *k)?)))
        .collect::<Result<_, _>>()?;
    let need_tenants = states
        .iter()
        .any(|(k, st)| *k == CaKind::Cluster && st.as_ref().is_some_and(|s| s.phase.in_progress()));
    let records = if need_tenants && !args.skip_tenants {
        match tenants(args, out) {
            Ok(r) => r,
            Err(e) => {
                out.warning(format_args!("tenant records not read: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut cas = Vec::new();
    for (kind, state) in states {
        let key_material: Vec<String> = ["old.key", "new.key"]
            .iter()
            .map(|n| rot_path(s, kind, n))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        let (still, tenants_old, superseded, next) = match &state {
            Some(st) if st.phase.in_progress() => {
                let new = load_pair(s, kind)?.new;
                let mut still = on_old_ca(s, kind, new.certificate());
                if kind == CaKind::Cluster {
                    still.extend(kubeconfigs_trusting_only_old(s, &st.new_key_id));
                }
                let (t, sup) = match (&records, kind) {
                    (Some(r), CaKind::Cluster) => {
                        let mut t = tenants_on_old_ca(r, &st.new_key_id);
                        t.extend(tenants_trusting_only_old(r, &st.new_key_id));
                        (Some(t), Some(superseded_on_old_ca(r, &st.new_key_id, now)))
                    }
                    (_, CaKind::Cluster) => (None, None),
                    _ => (Some(Vec::new()), Some(Vec::new())),
                };
                let next = if st.phase == Phase::Begun {
                    format!(
                        "`tenantctl renew --all`, then `tenantctl pki rotate-ca reissue --ca {kind}`"
                    )
                } else {
                    format!("`tenantctl pki rotate-ca finish --ca {kind}`")
                };
                (still, t, sup, next)
            }
            Some(st) => (
                Vec::new(),
                None,
                None,
                if key_material.is_empty() {
                    "nothing: no rotation under way".to_owned()
                } else {
                    format!(
                        "run `tenantctl pki rotate-ca {} --ca {kind}` again to shred the key material left",
                        if st.phase == Phase::Finished {
                            "finish"
                        } else {
                            "abort"
                        }
                    )
                },
            ),
            None => (
                Vec::new(),
                None,
                None,
                format!("`tenantctl pki rotate-ca begin --ca {kind}` to start one"),
            ),
        };
        cas.push(CaStatus {
            ca: kind,
            phase: state.as_ref().map(|s| s.phase),
            state,
            still_on_old_ca: still,
            tenants_on_old_ca: tenants_old,
            superseded_on_old_ca: superseded,
            key_material,
            next,
        });
    }
    let report = StatusReport {
        api_version: "tenantctl.io/v1",
        kind: "CARotationStatus",
        cas,
    };
    out.document(args.output, &report, |out, r| {
        for c in &r.cas {
            match &c.state {
                None => say!(out, "{} CA: never rotated here", c.ca),
                Some(st) => {
                    say!(out, "{} CA: {}", c.ca, st.phase);
                    say!(out, "  old key id {}", st.old_key_id);
                    say!(out, "  new key id {}", st.new_key_id);
                    say!(out, "  begun    {}", st.begun);
                    for (what, when) in [
                        ("reissued", &st.reissued),
                        ("finished", &st.finished),
                        ("aborted ", &st.aborted),
                    ] {
                        if let Some(t) = when {
                            say!(out, "  {what} {t}");
                        }
                    }
                }
            }
            for l in &c.still_on_old_ca {
                say!(out, "  on the old CA: {l}");
            }
            match &c.tenants_on_old_ca {
                Some(t) => {
                    for l in t {
                        say!(out, "  {l}");
                    }
                }
                None if c.phase.is_some_and(Phase::in_progress) && c.ca == CaKind::Cluster => {
                    say!(out, "  tenants: not checked");
                }
                None => {}
            }
            for l in c.superseded_on_old_ca.iter().flatten() {
                say!(out, "  finish ends: {l}");
            }
            for l in &c.key_material {
                say!(out, "  key material: {l}");
            }
            say!(out, "  next: {}", c.next);
        }
        Ok(())
    })
}

/// A summary of the rotations under way in `cert_dir`, for `pki check`: one line per CA.
pub fn in_progress(cert_dir: &Path) -> Vec<String> {
    CaKind::ALL
        .iter()
        .filter_map(|k| {
            let st = rotation::read(cert_dir, *k).ok()??;
            st.phase.in_progress().then(|| {
                format!(
                    "rotation of the {k} CA: {} (begun {}{}); both CAs are trusted; next: {}",
                    st.phase,
                    st.begun,
                    st.reissued
                        .as_deref()
                        .map(|t| format!(", reissued {t}"))
                        .unwrap_or_default(),
                    if st.phase == Phase::Begun {
                        "renew --all, then rotate-ca reissue"
                    } else {
                        "rotate-ca finish"
                    }
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::Phase as TenantPhase;

    fn cert(
        serial: &str,
        issuer: Option<&str>,
        trusted: &[&str],
        not_after: &str,
    ) -> CredentialRecord {
        CredentialRecord {
            kind: AuthKind::Cert,
            signer: "local".into(),
            issuer: Some("kubernetes".into()),
            serial: Some(serial.into()),
            sha256: None,
            key_algorithm: None,
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: not_after.into(),
            revoked: None,
            approve: false,
            issuer_key_id: issuer.map(Into::into),
            trusted_ca_key_ids: trusted.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn record(user: &str, phase: TenantPhase, credentials: Vec<CredentialRecord>) -> TenantRecord {
        TenantRecord {
            user: user.into(),
            phase,
            auth: AuthKind::Cert,
            groups: Vec::new(),
            namespace: None,
            created_namespace: false,
            service_account: None,
            roles: Vec::new(),
            bindings: Vec::new(),
            bind_group: false,
            credentials,
            created: "2026-01-01T00:00:00Z".into(),
            revoked: None,
            set: None,
        }
    }

    const FAR: &str = "2099-01-01T00:00:00Z";

    #[test]
    fn who_depends_on_the_old_ca() {
        let records = vec![
            // Renewed during the rotation: new CA, trusts both; its old certificate superseded.
            record(
                "alice",
                TenantPhase::Active,
                vec![
                    cert("01", Some("old"), &[], FAR),
                    cert("02", Some("new"), &["old", "new"], FAR),
                ],
            ),
            // From before the rotation: no key ids at all (old CA, trusts the old one).
            record("bob", TenantPhase::Active, vec![cert("03", None, &[], FAR)]),
            // Revoked: its certificate still authenticates until finish ends it.
            record(
                "carol",
                TenantPhase::Revoked,
                vec![cert("04", Some("old"), &["old"], FAR)],
            ),
            // Expired: nothing to end.
            record(
                "dave",
                TenantPhase::Revoked,
                vec![cert("05", Some("old"), &["old"], "2020-01-01T00:00:00Z")],
            ),
            // Pending: not a current credential of an Active tenant.
            record(
                "erin",
                TenantPhase::Pending,
                vec![cert("06", Some("old"), &["old"], FAR)],
            ),
        ];
        let trusting = tenants_trusting_only_old(&records, "new");
        assert_eq!(trusting.len(), 1, "{trusting:?}");
        assert!(
            trusting[0].starts_with("tenant bob: certificate serial 03"),
            "{trusting:?}"
        );
        let on_old = tenants_on_old_ca(&records, "new");
        assert_eq!(on_old.len(), 1, "{on_old:?}");
        assert!(on_old[0].starts_with("tenant bob:"), "{on_old:?}");
        let ended = superseded_on_old_ca(&records, "new", SystemTime::now());
        let users: Vec<&str> = ended.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            users,
            ["tenant alice", "tenant carol", "tenant erin"],
            "{ended:?}"
        );
        assert!(ended[0].contains("serial 01 (superseded"), "{ended:?}");
        assert!(ended[1].contains("tenant revoked"), "{ended:?}");
        assert_eq!(tenants_on_ca(&records, "new"), ["alice"]);
    }

    #[test]
    fn the_state_file_round_trips_and_refuses_unknown_fields() {
        let state = State {
            api_version: "tenantctl.io/v1".into(),
            kind: "CARotation".into(),
            ca: CaKind::FrontProxy,
            phase: Phase::Reissued,
            old_key_id: "aa:bb".into(),
            new_key_id: "cc:dd".into(),
            begun: "2026-12-02T00:00:00Z".into(),
            reissued: Some("2026-12-03T00:00:00Z".into()),
            finished: None,
            aborted: None,
        };
        let yaml = state.to_yaml().unwrap();
        assert!(
            yaml.contains("ca: front-proxy") && yaml.contains("phase: reissued"),
            "{yaml}"
        );
        let back: State = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, state);
        assert!(serde_saphyr::from_str::<State>(&format!("{yaml}extra: 1\n")).is_err());
    }
}
