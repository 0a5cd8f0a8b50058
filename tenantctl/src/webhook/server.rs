//! The webhook's HTTPS endpoint: rustls (aws-lc-rs) with the cluster CA's serving certificate;
//! `POST /authorize` only from the API server's client certificate (chained to the cluster CA,
//! CN [`CLIENT_CN`]); `/healthz` and `/metrics` to anyone. Bodies over [`MAX_BODY`], bad JSON,
//! a wrong apiVersion: an HTTP error, and the server goes on.

use std::{
    convert::Infallible,
    path::Path,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{Method, Request, Response, StatusCode, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{index::RevokedIndex, metrics::Metrics, review};
use crate::error::Error;

/// The CN of the client certificate the API server presents (written by `webhook setup`).
pub const CLIENT_CN: &str = "kube-apiserver-tenantctl-webhook";
/// The largest review accepted (the API server's are a few KiB).
pub const MAX_BODY: usize = 1 << 20;

/// What every connection shares.
#[derive(Debug, Default)]
pub struct State {
    /// The revoked credentials.
    pub index: RwLock<RevokedIndex>,
    /// The index holds the whole ledger (until then reviews get 503: the API server's failure
    /// policy decides, never a premature "no opinion").
    pub ready: AtomicBool,
    /// Decisions, latency, bad requests.
    pub metrics: Metrics,
}

/// The TLS configuration from `webhook setup`'s files in `dir`: `serving.crt` + `serving.key`,
/// clients verified against `ca.crt`.
pub fn tls_config(dir: &Path) -> Result<Arc<ServerConfig>, Error> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| Error::Read { path, source })
    };
    let bad = |name: &str, e: &dyn std::fmt::Display| Error::Tls {
        message: format!("{}: {e}", dir.join(name).display()),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read("serving.crt")?)
        .collect::<Result<_, _>>()
        .map_err(|e| bad("serving.crt", &e))?;
    let key =
        PrivateKeyDer::from_pem_slice(&read("serving.key")?).map_err(|e| bad("serving.key", &e))?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&read("ca.crt")?) {
        let ca = ca.map_err(|e| bad("ca.crt", &e))?;
        roots.add(ca).map_err(|e| bad("ca.crt", &e))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // A client certificate is asked for, not required: /healthz answers probes without one;
    // /authorize checks it.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| bad("ca.crt", &e))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("serving.crt", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad("serving.key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves on `listener` until the process ends.
pub async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, state: Arc<State>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                state.metrics.bad_request("tls");
                return;
            };
            let client_ok = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|der| pki_core::Certificate::from_der(der).ok())
                .and_then(|c| c.common_name())
                .is_some_and(|cn| cn == CLIENT_CN);
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, client_ok, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    client_ok: bool,
    state: &State,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => {
            if state.ready.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "loading the ledger\n")
            }
        }
        (&Method::GET, "/metrics") => {
            let revoked = state.index.read().map_or(0, |i| i.len());
            text(StatusCode::OK, &state.metrics.encode(revoked))
        }
        (&Method::POST, "/authorize") => {
            if !client_ok {
                state.metrics.bad_request("client_certificate");
                return text(
                    StatusCode::FORBIDDEN,
                    "a client certificate of the API server is required\n",
                );
            }
            if !state.ready.load(Ordering::Relaxed) {
                state.metrics.bad_request("not_ready");
                return text(StatusCode::SERVICE_UNAVAILABLE, "loading the ledger\n");
            }
            let declared = req
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > MAX_BODY) {
                state.metrics.bad_request("too_large");
                return text(StatusCode::PAYLOAD_TOO_LARGE, "review too large\n");
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    state.metrics.bad_request("too_large");
                    return text(StatusCode::PAYLOAD_TOO_LARGE, "review too large\n");
                }
            };
            let result = match state.index.read() {
                Ok(index) => review::review(&index, &body),
                Err(_) => Err(review::BadReview("index unavailable".into())),
            };
            match result {
                Ok((answer, decision)) => {
                    state.metrics.decided(decision.label(), started.elapsed());
                    let mut r = Response::new(Full::new(Bytes::from(answer)));
                    if let Ok(v) = "application/json".parse() {
                        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
                    }
                    r
                }
                Err(review::BadReview(why)) => {
                    state.metrics.bad_request("malformed");
                    text(StatusCode::BAD_REQUEST, &format!("{why}\n"))
                }
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r
}
