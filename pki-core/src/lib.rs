#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cert;
mod cluster;
mod csr;
mod error;
mod issue;
mod key;
mod pem;
mod reconcile;
mod san;

// The public interface is:
pub use cert::{Certificate, ExtKeyUsage};
pub use cluster::{CertDef, CertId, ClusterConfig, Etcd, KUBEADM_CERTS, SanRule, Subject};
pub use csr::Csr;
pub use error::Error;
pub use issue::{
    BACKDATE, CA_VALIDITY, CertSpec, CertificateAuthority, ClientIdentity, LEAF_VALIDITY, Usage,
    Validity,
};
pub use key::{KeyAlgorithm, PrivateKey, generate_keys};
pub use reconcile::{Action, Executed, NewFile, Plan, PlanEntry, Problem, plan};
pub use san::{Cidr, Endpoint, San, https_url};
pub use zeroize::Zeroizing;
