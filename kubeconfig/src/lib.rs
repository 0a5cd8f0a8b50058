//! kubeconfig files as data: build client-certificate and token kubeconfigs, parse, resolve, validate,
//! merge and minify. No I/O: bytes and `now` in, values out.
//!
//! The model is kube's [`kube::config::Kubeconfig`] (it round-trips every field of kubectl's `v1 Config`),
//! wrapped in [`Kubeconfig`] for safe errors, redacted `Debug` and the resolved view ([`Current`]).
//!
//! Emit:
//!
//! ```
//! use kubeconfig::{ClusterEntry, Kubeconfig, Secret};
//! # let ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
//! let cluster = ClusterEntry {
//!     name: "kubernetes".into(),
//!     server: "https://[fd00::10]:6443".parse()?,
//!     ca_pem: ca_pem.into(),
//! };
//! let config = Kubeconfig::with_token(&cluster, "alice", Secret::from("abc.def".to_owned()), Some("team-a"))?;
//! let yaml = config.to_yaml()?;
//! assert!(yaml.contains("current-context: alice@kubernetes"));
//! # Ok::<(), kubeconfig::Error>(())
//! ```
//!
//! Parse and resolve:
//!
//! ```
//! use kubeconfig::{Credentials, Kubeconfig};
//! let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: a@k\n\
//!     clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443'}}]\n\
//!     contexts: [{name: a@k, context: {cluster: k, user: a}}]\n\
//!     users: [{name: a, user: {token: abc}}]\n";
//! let config = Kubeconfig::from_yaml(yaml)?;
//! let current = config.current()?;
//! assert_eq!(current.server, "https://10.0.0.1:6443");
//! assert!(matches!(current.credentials, Credentials::Token(_)));
//! # Ok::<(), kubeconfig::Error>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod build;
mod control_plane;
mod error;
mod model;
mod resolve;
mod secret;
mod server;
#[cfg(test)]
mod test_support;
mod time;

// The public interface:
pub use build::{ClusterEntry, context_name};
pub use control_plane::{
    ApiEndpoint, CONTROL_PLANE_KUBECONFIGS, ClientName, ControlPlaneCluster,
    ControlPlaneKubeconfig, ControlPlaneSpec, ReuseCheck, Warning, control_plane_context,
};
pub use error::Error;
pub use model::Kubeconfig;
pub use resolve::{ClusterCa, Credentials, Current, OtherCredentials, Validated};
pub use secret::Secret;
pub use server::ServerUrl;
