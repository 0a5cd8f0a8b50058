//! Node join, kubeadm-compatible on the wire: bootstrap tokens ([`token`]), the detached JWS
//! that signs `cluster-info` ([`jws`]), and publishing cluster-info with kubeadm's bootstrap
//! RBAC ([`bootstrap_setup`]).

pub mod bootstrap_setup;
pub mod jws;
pub mod token;
