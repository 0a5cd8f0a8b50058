//! The CSR API (`certificates.k8s.io/v1`): create a request, approve it if asked, wait for the
//! certificate, and always delete the request object.

use std::time::Duration;

use k8s_openapi::{
    ByteString,
    api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api,
    api::{Patch, PatchParams},
};

use super::api::{CLIENT_SIGNER, Cluster, DELETE, POST, managed_labels};
use crate::error::Error;

impl Cluster {
    /// Has the CSR API sign `csr_pem` for `ttl` and returns the certificate PEM.
    ///
    /// Creates the CertificateSigningRequest (`kubernetes.io/kube-apiserver-client`,
    /// `expirationSeconds`, usage `client auth`), approves it when `approve`, polls until the
    /// certificate is issued, the request is denied or fails, or `timeout` passes; the request
    /// object is deleted in every case.
    pub async fn sign_csr(&self, request: &CsrRequest<'_>) -> Result<String, Error> {
        let api: Api<CertificateSigningRequest> = Api::all(self.client().clone());
        let name = request.name;
        let csr = CertificateSigningRequest {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(managed_labels()),
                ..ObjectMeta::default()
            },
            spec: CertificateSigningRequestSpec {
                request: ByteString(request.csr_pem.as_bytes().to_vec()),
                signer_name: CLIENT_SIGNER.into(),
                expiration_seconds: Some(i32::try_from(request.ttl.as_secs()).unwrap_or(i32::MAX)),
                usages: Some(vec!["client auth".into()]),
                ..CertificateSigningRequestSpec::default()
            },
            status: None,
        };
        let what = format!("create certificatesigningrequest/{name}");
        self.retry().run(&what, || api.create(&POST, &csr)).await?;
        let outcome = self.await_certificate(&api, request).await;
        let what = format!("delete certificatesigningrequest/{name}");
        let cleanup = self.retry().run(&what, || api.delete(name, &DELETE)).await;
        let pem = outcome?;
        match cleanup {
            Ok(_) => Ok(pem),
            Err(Error::Api { status, .. }) if status.code == 404 => Ok(pem),
            Err(e) => Err(e),
        }
    }

    async fn await_certificate(
        &self,
        api: &Api<CertificateSigningRequest>,
        request: &CsrRequest<'_>,
    ) -> Result<String, Error> {
        let name = request.name;
        if request.approve {
            let params = PatchParams::default();
            let patch = serde_json::json!({"status": {"conditions": [{
                "type": "Approved",
                "status": "True",
                "reason": "TenantctlApprove",
                "message": "approved by tenantctl create",
            }]}});
            let patch = Patch::Merge(&patch);
            let what = format!("approve certificatesigningrequest/{name}");
            self.retry()
                .run(&what, || api.patch_approval(name, &params, &patch))
                .await?;
        }
        let deadline = tokio::time::Instant::now() + request.timeout;
        loop {
            let what = format!("get certificatesigningrequest/{name}");
            let csr = self.retry().run(&what, || api.get(name)).await?;
            let status = csr.status.unwrap_or_default();
            for c in status.conditions.iter().flatten() {
                if c.status == "True" && (c.type_ == "Denied" || c.type_ == "Failed") {
                    return Err(Error::Csr {
                        name: name.to_owned(),
                        message: format!(
                            "{} ({}: {})",
                            c.type_.to_lowercase(),
                            c.reason.as_deref().unwrap_or("no reason"),
                            c.message.as_deref().unwrap_or("no message")
                        ),
                    });
                }
            }
            if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
                return String::from_utf8(cert.0).map_err(|_| Error::Csr {
                    name: name.to_owned(),
                    message: "the issued certificate is not PEM text".into(),
                });
            }
            if tokio::time::Instant::now() + request.poll > deadline {
                let approved = status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Approved" && c.status == "True");
                return Err(Error::Csr {
                    name: name.to_owned(),
                    message: if approved {
                        format!(
                            "approved but not issued within {:?}; is the cluster's signer (kube-controller-manager --cluster-signing-cert-file) running?",
                            request.timeout
                        )
                    } else {
                        format!(
                            "not approved within {:?}; approve it with `kubectl certificate approve {name}` while tenantctl waits, or pass --approve",
                            request.timeout
                        )
                    },
                });
            }
            tokio::time::sleep(request.poll).await;
        }
    }
}

/// A request to the CSR API.
pub struct CsrRequest<'a> {
    /// Object name.
    pub name: &'a str,
    /// The PKCS#10 request, PEM.
    pub csr_pem: &'a str,
    /// Requested lifetime (`expirationSeconds`).
    pub ttl: Duration,
    /// Approve it ourselves.
    pub approve: bool,
    /// How long to wait for the certificate.
    pub timeout: Duration,
    /// How often to look.
    pub poll: Duration,
}
