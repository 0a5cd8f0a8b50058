//! Node join, kubeadm-compatible on the wire: bootstrap tokens ([`token`]), the detached JWS
//! that signs `cluster-info` ([`jws`]), and publishing cluster-info with kubeadm's bootstrap
//! RBAC ([`bootstrap_setup`]), token discovery ([`discovery`]) and the worker join ([`node`]).

pub mod bootstrap_setup;
pub mod discovery;
pub mod jws;
pub mod node;
pub mod token;
