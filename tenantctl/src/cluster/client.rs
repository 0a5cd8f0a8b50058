//! Finding the admin kubeconfig and building kube clients from it; the runtime the cluster
//! calls run on.

use std::{
    future::Future,
    path::{Path, PathBuf},
};

use kube::{
    Client,
    config::{KubeConfigOptions, Kubeconfig as KubeKubeconfig},
};

use crate::error::Error;

/// Where to find the cluster: `--kubeconfig` and `--context`.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// The admin kubeconfig, resolved: kube's client configuration plus the cluster's name.
pub struct Resolved {
    /// kube's configuration.
    pub config: kube::Config,
    /// The cluster name of the current context (`kubernetes` in a pod).
    pub cluster_name: String,
    /// Where it came from.
    pub source: String,
}

impl Access {
    /// Finds the kubeconfig: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`,
    /// `/etc/kubernetes/admin.conf`, in that order; then the in-cluster configuration (inside a
    /// pod). Reads files only; no network.
    pub async fn resolve(&self) -> Result<Resolved, Error> {
        let Some((kubeconfig, source)) = self.find()? else {
            let config = kube::Config::incluster().map_err(|e| Error::NoCluster {
                message: format!(
                    "no --kubeconfig, KUBECONFIG, ~/.kube/config or /etc/kubernetes/admin.conf, and not in a pod ({e})"
                ),
            })?;
            return Ok(Resolved {
                config,
                cluster_name: "kubernetes".into(),
                source: "in-cluster service account".into(),
            });
        };
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let context_name = self
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        let cluster_name = kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_else(|| "kubernetes".into());
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| Error::ClusterConfig {
                source_name: source.clone(),
                source: Box::new(e),
            })?;
        Ok(Resolved {
            config,
            cluster_name,
            source,
        })
    }

    fn find(&self) -> Result<Option<(KubeKubeconfig, String)>, Error> {
        let read = |path: &Path| {
            KubeKubeconfig::read_from(path).map_err(|e| Error::ClusterConfig {
                source_name: path.display().to_string(),
                source: Box::new(e),
            })
        };
        if let Some(path) = &self.kubeconfig {
            return Ok(Some((read(path)?, path.display().to_string())));
        }
        if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let kc = KubeKubeconfig::from_env()
                .map_err(|e| Error::ClusterConfig {
                    source_name: "KUBECONFIG".into(),
                    source: Box::new(e),
                })?
                .ok_or_else(|| Error::NoCluster {
                    message: "KUBECONFIG names no readable file".into(),
                })?;
            return Ok(Some((
                kc,
                format!("KUBECONFIG={}", value.to_string_lossy()),
            )));
        }
        let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config"));
        for path in home
            .into_iter()
            .chain([PathBuf::from("/etc/kubernetes/admin.conf")])
        {
            if path.is_file() {
                return Ok(Some((read(&path)?, path.display().to_string())));
            }
        }
        Ok(None)
    }
}

/// A kube client from kube's configuration. kube's own connect and write timeouts are off:
/// every call is bounded by [`super::Retry`] (`--request-timeout`), which counts a server that
/// does not answer as silence (retried once), where kube's 30 s connect timeout would surface
/// as a connection error and be retried five times.
pub fn connect(config: &kube::Config) -> Result<Client, Error> {
    let mut config = config.clone();
    config.connect_timeout = None;
    config.read_timeout = None;
    config.write_timeout = None;
    Client::try_from(config).map_err(|e| Error::kube("connect to the API server", e))
}

/// A kube client speaking with the credentials of `kubeconfig` (a tenant's new one).
pub async fn connect_as(kubeconfig: kubeconfig::Kubeconfig) -> Result<Client, Error> {
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig.into_kube(), &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::ClusterConfig {
                source_name: "the new kubeconfig".into(),
                source: Box::new(e),
            })?;
    connect(&config)
}

/// Finds the kubeconfig (`access`) and connects: the cluster, with `retry` and the record
/// namespace, and the resolved configuration (its server, CA and source).
pub async fn open(
    access: &Access,
    retry: super::Retry,
    record_ns: &str,
) -> Result<(super::Cluster, Resolved), Error> {
    let resolved = access.resolve().await?;
    let client = connect(&resolved.config)?;
    Ok((
        super::Cluster::new(client, record_ns).with_retry(retry),
        resolved,
    ))
}

/// Runs a future on a single-threaded tokio runtime (the CLI's cluster calls are sequential).
pub fn block_on<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Write {
            path: PathBuf::from("<tokio runtime>"),
            source,
        })?
        .block_on(fut)
}
