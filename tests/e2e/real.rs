//! End to end on a real control plane (etcd, kube-apiserver, kube-controller-manager from
//! `../shared/k8s`; see `workspace_tests::control_plane`). Each test starts its own and skips
//! with one line when `TENANTCTL_K8S` is not set.

mod apply;
mod controller;
mod join;
mod rotate;
mod tenant;
mod webhook;
