//! Criterion benches for pki-core and kubeconfig; see `benches/` and `benches/README.md`.
