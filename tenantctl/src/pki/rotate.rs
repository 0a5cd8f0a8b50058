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

use kubeconfig::{
    CONTROL_PLANE_KUBECONFIGS, ClusterCa, Credentials, Kubeconfig, OtherCredentials, Secret,
};
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

mod dependents;
mod kubelet;
mod shred;
mod status;
mod steps;

use dependents::*;
use kubelet::*;
use shred::*;
pub(super) use status::in_progress;
use status::*;
use steps::*;

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
        RotateStep::Kubelet => {
            let _lock = fs::lock_dir(&s.cert_dir, args.pki.lock_timeout)?;
            return kubelet(args, &s, now, out);
        }
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
                        format!(
                            ", {} rotation key copies overwritten and removed (the replaced ca.key was unlinked, not overwritten)",
                            st.shredded.len()
                        )
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
        TenantRecord::fixture(user, phase, credentials)
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
