//! The control-plane kubeconfigs of `pki init`: reuse what exists and checks out, create
//! what is missing, signed by the cluster CA.

use std::{collections::BTreeMap, time::SystemTime};

use kubeconfig::{CONTROL_PLANE_KUBECONFIGS, ControlPlaneCluster, ControlPlaneSpec, ServerUrl};
use pki_core::{Certificate, ClusterConfig, Executed, PrivateKey, Validity};
use zeroize::Zeroizing;

use crate::error::Error;

enum KcAction {
    Reuse(Vec<String>),
    Create,
}

/// What happens to each kubeconfig.
pub(crate) struct KcPlan {
    entries: Vec<(&'static ControlPlaneSpec, KcAction)>,
    cluster: ControlPlaneCluster,
}

/// A kubeconfig to write (always 0600).
pub(crate) struct NewKubeconfig {
    /// File name relative to the kubeconfig directory.
    pub(crate) path: String,
    /// YAML.
    pub(crate) contents: Zeroizing<Vec<u8>>,
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Plans the control-plane kubeconfigs against what exists (kubeadm spec §2.5, plus the client
/// certificate checks kubeadm skips). `pki_files` are the PKI directory's existing files.
pub(crate) fn plan(
    cfg: &ClusterConfig,
    existing: &BTreeMap<String, Vec<u8>>,
    pki_files: &BTreeMap<String, Vec<u8>>,
    now: SystemTime,
) -> Result<KcPlan, Vec<String>> {
    let ca = pki_files
        .get("ca.crt")
        .and_then(|b| text(b))
        .and_then(|t| Certificate::chain_from_pem(t).ok());
    let external = ca.is_some() && !pki_files.contains_key("ca.key");
    let cluster = control_plane_cluster(cfg).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    for file in &CONTROL_PLANE_KUBECONFIGS {
        let action = match existing.get(file.file_name) {
            None => {
                if external {
                    problems.push(format!(
                        "{}: is missing; the cluster CA is external (ca.key is absent), so every control-plane kubeconfig must be provided",
                        file.file_name
                    ));
                }
                KcAction::Create
            }
            Some(bytes) => match &ca {
                None => {
                    problems.push(format!(
                        "{}: exists but ca.crt does not; it cannot be trusted by a new CA: remove it or restore the CA",
                        file.file_name
                    ));
                    KcAction::Create
                }
                Some(ca) => {
                    let Some(yaml) = text(bytes) else {
                        problems.push(format!("{}: is not text", file.file_name));
                        continue;
                    };
                    // During a CA rotation ca.crt is a bundle, and so is every kubeconfig's CA.
                    let check = file.check_existing_trusting(&cluster, ca, yaml, now);
                    if check.is_reusable() {
                        KcAction::Reuse(check.warnings.iter().map(ToString::to_string).collect())
                    } else {
                        problems.extend(
                            check
                                .problems
                                .iter()
                                .map(|e| format!("{}: {e}", file.file_name)),
                        );
                        KcAction::Create
                    }
                }
            },
        };
        entries.push((file, action));
    }
    if problems.is_empty() {
        Ok(KcPlan { entries, cluster })
    } else {
        Err(problems)
    }
}

impl KcPlan {
    /// How many new keys [`execute`] needs.
    pub(crate) fn keys_needed(&self) -> usize {
        self.entries
            .iter()
            .filter(|(_, a)| matches!(a, KcAction::Create))
            .count()
    }
}

/// One kubeconfig of the plan: its file name, whether it is reused, and the warnings about it.
pub(crate) struct KcEntry<'a> {
    pub(crate) file_name: &'static str,
    pub(crate) reused: bool,
    pub(crate) warnings: &'a [String],
}

impl KcPlan {
    /// Each kubeconfig, in kubeadm's order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = KcEntry<'_>> {
        self.entries.iter().map(|(file, action)| KcEntry {
            file_name: file.file_name,
            reused: matches!(action, KcAction::Reuse(_)),
            warnings: match action {
                KcAction::Reuse(w) => w,
                KcAction::Create => &[],
            },
        })
    }
}

/// The cluster-wide inputs of the kubeconfigs, from the cluster configuration.
fn control_plane_cluster(cfg: &ClusterConfig) -> Result<ControlPlaneCluster, kubeconfig::Error> {
    Ok(ControlPlaneCluster {
        cluster_name: cfg.cluster_name.clone(),
        control_plane_endpoint: cfg.control_plane_url().parse::<ServerUrl>()?,
        local_endpoint: cfg.local_url().parse::<ServerUrl>()?,
        node_name: cfg.node_name.clone(),
    })
}

/// Makes the missing kubeconfigs with the cluster CA from `executed` and keys from `keys`.
/// `trust` is `ca.crt`'s text when it holds more than the signing CA (a CA rotation): every new
/// kubeconfig then trusts that whole bundle, as the existing ones do, so a kubeconfig made
/// mid-rotation (a lost `admin.conf`) does not block `rotate-ca reissue`.
pub(crate) fn execute(
    cfg: &ClusterConfig,
    plan: KcPlan,
    executed: &Executed,
    trust: Option<&str>,
    now: SystemTime,
    keys: &mut impl Iterator<Item = PrivateKey>,
) -> Result<Vec<NewKubeconfig>, Error> {
    let mut out = Vec::new();
    for (file, action) in &plan.entries {
        if !matches!(action, KcAction::Create) {
            continue;
        }
        let Some(ca) = &executed.cluster_ca else {
            // plan() refuses a missing kubeconfig under an external CA.
            continue;
        };
        let key = keys.next().ok_or(pki_core::Error::KeyGeneration {
            algorithm: cfg.key_algorithm,
        })?;
        let validity = Validity::kubeadm(now, cfg.cert_validity);
        let mut kc = file.build(&plan.cluster, ca, &key, validity)?;
        if let Some(bundle) = trust {
            let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bundle);
            for c in &mut kc.as_kube_mut().clusters {
                if let Some(cluster) = &mut c.cluster {
                    cluster.certificate_authority_data = Some(data.clone());
                }
            }
        }
        let yaml = kc.to_yaml()?;
        out.push(NewKubeconfig {
            path: file.file_name.to_owned(),
            contents: Zeroizing::new(yaml.as_bytes().to_vec()),
        });
    }
    Ok(out)
}
