//! The cluster, through `kube`: finding the admin kubeconfig and building clients
//! ([`client`]), every call bounded in attempts and time ([`retry`]), and the typed calls the
//! commands make ([`api`], [`csr`]). This is the only module that talks to an API server.

mod access;
mod api;
mod client;
mod csr;
mod retry;

pub use access::{Decision, VERIFY_TIMEOUT, until_allowed};
pub use api::{
    CLIENT_SIGNER, Cluster, FIELD_MANAGER, MANAGED_BY, RECORD_NAMESPACE, RoleKind, Whoami, can_i,
    managed_labels, whoami,
};
pub use kube::api::Preconditions;

pub use client::{Access, Resolved, block_on, connect, connect_as, open};
pub use csr::CsrRequest;
pub use retry::{ATTEMPTS, CALL_TIMEOUT, Report, Retry, SILENT_ATTEMPTS};
