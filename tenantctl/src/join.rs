//! Node join, kubeadm-compatible on the wire: bootstrap tokens ([`token`]) and the detached
//! JWS that signs `cluster-info` ([`jws`]).

pub mod jws;
pub mod token;
