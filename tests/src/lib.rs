//! Shared fixtures for the cross-crate tests: a PKI made by `tenantctl pki init` in a
//! temporary directory.

use std::{
    path::{Path, PathBuf},
    pin::pin,
    task::{Context, Poll, Waker},
};

use clap::Parser as _;

/// A PKI and kubeconfig set written by the real `pki init` code path.
pub struct Cluster {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// `<dir>/pki`.
    pub pki: PathBuf,
    /// `<dir>` (kubeconfigs).
    pub etc: PathBuf,
}

impl Cluster {
    /// Runs `tenantctl pki init` with `extra` flags on top of a fixed node and endpoint.
    pub fn init(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = dir.path().join("pki");
        let etc = dir.path().to_path_buf();
        let mut args: Vec<String> = [
            "tenantctl",
            "pki",
            "init",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
            "--control-plane-endpoint",
            "vip.example.com:6443",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.push("--cert-dir".into());
        args.push(pki.display().to_string());
        args.push("--kubeconfig-dir".into());
        args.push(etc.display().to_string());
        args.extend(extra.iter().map(ToString::to_string));
        let cli = tenantctl::Cli::try_parse_from(args).expect("valid flags");
        tenantctl::run_with_output(cli, &mut std::io::sink()).expect("pki init");
        Self { dir, pki, etc }
    }

    /// The text of a file under the PKI directory.
    pub fn pki_file(&self, rel: &str) -> String {
        read(&self.pki.join(rel))
    }

    /// The text of a kubeconfig.
    pub fn kubeconfig(&self, name: &str) -> String {
        read(&self.etc.join(name))
    }
}

/// Reads a text file or panics naming it.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Drives a future that never waits on I/O (kube's kubeconfig resolution) to completion.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
