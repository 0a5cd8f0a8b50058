//! Flag blocks more than one command group uses.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use crate::{
    cluster::{self, Access, Cluster, RECORD_NAMESPACE, Resolved, Retry},
    error::Error,
    time::parse_duration,
};

/// The output format (`-o`/`--output`) of every command that prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// How to reach the API server: every command that calls the cluster.
#[derive(Debug, Args, Clone)]
pub struct ApiArgs {
    /// The admin kubeconfig (default: KUBECONFIG, ~/.kube/config, /etc/kubernetes/admin.conf,
    /// then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// How long one API request may take before it is retried (twice at most for silence,
    /// five times in all for 429/5xx and connection errors).
    #[arg(allow_hyphen_values = true, long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// Give up the whole command after DURATION, whatever is under way.
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
}

impl ApiArgs {
    /// The access flags.
    pub fn access(&self) -> Access {
        Access {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    /// The retry policy of `--request-timeout` and `--timeout`, the clock starting now.
    pub fn retry(&self) -> Retry {
        Retry::new(self.request_timeout, self.timeout)
    }
}

/// How to reach the cluster and where tenant records live.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,

    /// The namespace holding tenant records.
    #[arg(long, default_value = RECORD_NAMESPACE, value_name = "NS")]
    pub record_namespace: String,
}

impl ClusterArgs {
    /// The access flags.
    pub fn access(&self) -> Access {
        self.api.access()
    }

    /// The retry policy of `--request-timeout` and `--timeout`, the clock starting now.
    pub fn retry(&self) -> Retry {
        self.api.retry()
    }

    /// A client for the cluster these flags name, with the records in `--record-namespace`.
    pub async fn open(&self) -> Result<(Cluster, Resolved), Error> {
        cluster::open(&self.access(), self.retry(), &self.record_namespace).await
    }
}
