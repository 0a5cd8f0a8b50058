//! Cross-crate end-to-end tests: real verifiers (openssl, kubectl, kube's loader, rustls)
//! against files written by `tenantctl pki init`.

mod fake_apiserver;
mod fuzz_corpus;
mod kube_loader;
mod openssl;
mod real;
mod tenant;
mod tls;
