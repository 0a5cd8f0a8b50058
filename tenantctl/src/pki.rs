//! The cluster PKI commands, in kubeadm's layout: `init`, `check`, `renew`, `csr`, `ca-hash`,
//! with the settings they share ([`settings`], kubeadm's config file in [`kubeadm_config`]),
//! the control-plane kubeconfigs ([`kubeconfigs`]) and what other domains read from a PKI
//! directory ([`store`]).

pub mod ca_hash;
pub mod check;
pub mod csr;
pub mod init;
pub mod kubeadm_config;
mod kubeconfigs;
pub mod renew;
pub mod rotate;
pub mod rotation;
pub mod settings;
pub mod store;
pub mod upload_certs;

pub use check::{CheckItem, CheckReport, check_report_for, prometheus};
