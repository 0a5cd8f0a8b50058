//! `rotate-ca status` and the restarts each step needs.

use super::*;

/// What to restart after a step, in order, for a kubeadm control plane.
pub(super) fn restarts(kind: CaKind, step: Step) -> Vec<&'static str> {
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
pub(super) struct CaStatus {
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
pub(super) struct StatusReport {
    api_version: &'static str,
    kind: &'static str,
    cas: Vec<CaStatus>,
}

pub(super) fn status(
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
                // Tenants hang off the cluster CA only: the others' next step is a restart.
                let next = if st.phase == Phase::Begun && kind == CaKind::Cluster {
                    format!(
                        "`tenantctl renew --all`, then `tenantctl pki rotate-ca reissue --ca {kind}`"
                    )
                } else if st.phase == Phase::Begun {
                    format!(
                        "restart what reads it (see begin's list), then `tenantctl pki rotate-ca reissue --ca {kind}`"
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
pub(crate) fn in_progress(cert_dir: &Path) -> Vec<String> {
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
                    match (st.phase, k) {
                        (Phase::Begun, CaKind::Cluster) => "renew --all, then rotate-ca reissue",
                        (Phase::Begun, _) => "restarts, then rotate-ca reissue",
                        _ => "rotate-ca finish",
                    }
                )
            })
        })
        .collect()
}
