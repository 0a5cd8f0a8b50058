//! Cluster access through `kube`: finding the admin kubeconfig, building the client, and the
//! few API calls tenant onboarding needs, each retried on transient failures with a bound.

use std::{
    fmt::Debug,
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use k8s_openapi::{
    ByteString,
    api::{
        authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec},
        authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        },
        certificates::v1::{CertificateSigningRequest, CertificateSigningRequestSpec},
        core::v1::{ConfigMap, Namespace, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig as KubeKubeconfig},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Error,
    tenant::{FIELD_MANAGER, RoleKind, RoleRef, Tenant, TenantRecord, record_selector},
};

/// How many times a call is tried before its error is reported.
pub const ATTEMPTS: u32 = 5;
/// How long one attempt may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
#[allow(deprecated)]
const LIST: ListParams = ListParams {
    label_selector: None,
    field_selector: None,
    timeout: None,
    limit: None,
    continue_token: None,
    version_match: None,
    resource_version: None,
};
const DELETE: DeleteParams = DeleteParams {
    dry_run: false,
    grace_period_seconds: None,
    propagation_policy: None,
    preconditions: None,
};
const POST: PostParams = PostParams {
    dry_run: false,
    field_manager: None,
};

/// The signer of client certificates for the API server.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// Where to find the cluster: `--kubeconfig` and `--context`.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// The admin kubeconfig, resolved: kube's client configuration plus the cluster's name.
pub struct Resolved {
    /// kube's configuration.
    pub config: kube::Config,
    /// The cluster name of the current context (`kubernetes` in a pod).
    pub cluster_name: String,
    /// Where it came from.
    pub source: String,
}

impl Access {
    /// Finds the kubeconfig: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`,
    /// `/etc/kubernetes/admin.conf`, in that order; then the in-cluster configuration (inside a
    /// pod). Reads files only; no network.
    pub async fn resolve(&self) -> Result<Resolved, Error> {
        let Some((kubeconfig, source)) = self.find()? else {
            let config = kube::Config::incluster().map_err(|e| Error::NoCluster {
                message: format!(
                    "no --kubeconfig, KUBECONFIG, ~/.kube/config or /etc/kubernetes/admin.conf, and not in a pod ({e})"
                ),
            })?;
            return Ok(Resolved {
                config,
                cluster_name: "kubernetes".into(),
                source: "in-cluster service account".into(),
            });
        };
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let context_name = self
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        let cluster_name = kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_else(|| "kubernetes".into());
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| Error::ClusterConfig {
                source_name: source.clone(),
                source: Box::new(e),
            })?;
        Ok(Resolved {
            config,
            cluster_name,
            source,
        })
    }

    fn find(&self) -> Result<Option<(KubeKubeconfig, String)>, Error> {
        let read = |path: &Path| {
            KubeKubeconfig::read_from(path).map_err(|e| Error::ClusterConfig {
                source_name: path.display().to_string(),
                source: Box::new(e),
            })
        };
        if let Some(path) = &self.kubeconfig {
            return Ok(Some((read(path)?, path.display().to_string())));
        }
        if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let kc = KubeKubeconfig::from_env()
                .map_err(|e| Error::ClusterConfig {
                    source_name: "KUBECONFIG".into(),
                    source: Box::new(e),
                })?
                .ok_or_else(|| Error::NoCluster {
                    message: "KUBECONFIG names no readable file".into(),
                })?;
            return Ok(Some((
                kc,
                format!("KUBECONFIG={}", value.to_string_lossy()),
            )));
        }
        let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config"));
        for path in home
            .into_iter()
            .chain([PathBuf::from("/etc/kubernetes/admin.conf")])
        {
            if path.is_file() {
                return Ok(Some((read(&path)?, path.display().to_string())));
            }
        }
        Ok(None)
    }
}

/// A cluster connection with the record namespace.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    record_ns: String,
}

/// What the API server says the new credentials are.
#[derive(Debug, Default)]
pub struct Whoami {
    /// The user name.
    pub username: String,
    /// The groups.
    pub groups: Vec<String>,
}

impl Cluster {
    /// Wraps a client (a real one, or kube's mock service in tests).
    pub fn new(client: Client, record_ns: impl Into<String>) -> Self {
        Self {
            client,
            record_ns: record_ns.into(),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace of the tenant records.
    pub fn record_namespace(&self) -> &str {
        &self.record_ns
    }

    /// The rules of a role to bind; a missing role is [`Error::UnknownRole`] with the existing
    /// names closest to it.
    pub async fn role_rules(
        &self,
        role: &RoleRef,
        namespace: Option<&str>,
    ) -> Result<Vec<PolicyRule>, Error> {
        let what = format!("get {}", describe(role, namespace));
        let found = match (role.kind, namespace) {
            (RoleKind::ClusterRole, _) => {
                let api: Api<ClusterRole> = Api::all(self.client.clone());
                retry(&what, || api.get_opt(&role.name))
                    .await?
                    .map(|r| r.rules.unwrap_or_default())
            }
            (RoleKind::Role, Some(ns)) => {
                let api: Api<Role> = Api::namespaced(self.client.clone(), ns);
                retry(&what, || api.get_opt(&role.name))
                    .await?
                    .map(|r| r.rules.unwrap_or_default())
            }
            (RoleKind::Role, None) => None,
        };
        if let Some(rules) = found {
            return Ok(rules);
        }
        let names: Vec<String> = match (role.kind, namespace) {
            (RoleKind::ClusterRole, _) => {
                let api: Api<ClusterRole> = Api::all(self.client.clone());
                retry("list clusterroles", || api.list_metadata(&LIST))
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|r| r.metadata.name)
                    .collect()
            }
            (RoleKind::Role, Some(ns)) => {
                let api: Api<Role> = Api::namespaced(self.client.clone(), ns);
                retry("list roles", || api.list_metadata(&LIST))
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|r| r.metadata.name)
                    .collect()
            }
            (RoleKind::Role, None) => Vec::new(),
        };
        Err(Error::UnknownRole {
            kind: role.kind.to_string(),
            name: role.name.clone(),
            namespace: namespace
                .filter(|_| role.kind == RoleKind::Role)
                .map(str::to_owned),
            close: close_names(&role.name, &names),
        })
    }

    /// Whether a namespace exists.
    pub async fn namespace_exists(&self, name: &str) -> Result<bool, Error> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let what = format!("get namespace/{name}");
        Ok(retry(&what, || api.get_opt(name)).await?.is_some())
    }

    /// Server-side apply of a cluster-scoped object (field manager `tenantctl`, forced).
    pub async fn apply_cluster<K>(&self, obj: &K) -> Result<(), Error>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        apply(&Api::<K>::all(self.client.clone()), obj).await
    }

    /// Server-side apply of a namespaced object.
    pub async fn apply_namespaced<K>(&self, namespace: &str, obj: &K) -> Result<(), Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        apply(&Api::<K>::namespaced(self.client.clone(), namespace), obj).await
    }

    /// Deletes a cluster-scoped object; `false` when it was already gone.
    pub async fn delete_cluster<K>(&self, name: &str) -> Result<bool, Error>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    {
        delete(&Api::<K>::all(self.client.clone()), name).await
    }

    /// Deletes a namespaced object; `false` when it was already gone.
    pub async fn delete_namespaced<K>(&self, namespace: &str, name: &str) -> Result<bool, Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + DeserializeOwned
            + Clone
            + Debug,
    {
        delete(&Api::<K>::namespaced(self.client.clone(), namespace), name).await
    }

    /// The record's ConfigMap of `tenant`, if there is one.
    pub async fn record_map(&self, tenant: &Tenant) -> Result<Option<ConfigMap>, Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.record_ns);
        let name = tenant.record_name();
        let what = format!("get configmap/{name} in {}", self.record_ns);
        retry(&what, || api.get_opt(&name)).await
    }

    /// The record of `tenant`, if there is one.
    pub async fn record(&self, tenant: &Tenant) -> Result<Option<TenantRecord>, Error> {
        self.record_map(tenant)
            .await?
            .map(|cm| TenantRecord::from_config_map(&cm))
            .transpose()
    }

    /// Every tenant record, sorted by user.
    pub async fn records(&self) -> Result<Vec<TenantRecord>, Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.record_ns);
        let params = ListParams::default().labels(&record_selector());
        let what = format!("list tenant records in {}", self.record_ns);
        let list = retry(&what, || api.list(&params)).await?;
        let mut records = list
            .items
            .iter()
            .map(TenantRecord::from_config_map)
            .collect::<Result<Vec<_>, _>>()?;
        records.sort_by(|a, b| a.user.cmp(&b.user));
        Ok(records)
    }

    /// Writes `record` (creating the record namespace when needed).
    pub async fn save_record(&self, tenant: &Tenant, record: &TenantRecord) -> Result<(), Error> {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(self.record_ns.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_owned(),
                        "tenantctl".to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        self.apply_cluster(&ns).await?;
        let cm = record.to_config_map(tenant, &self.record_ns)?;
        self.apply_namespaced(&self.record_ns, &cm).await
    }

    /// Has the CSR API sign `csr_pem` for `ttl` and returns the certificate PEM.
    ///
    /// Creates the CertificateSigningRequest (`kubernetes.io/kube-apiserver-client`,
    /// `expirationSeconds`, usage `client auth`), approves it when `approve`, polls until the
    /// certificate is issued, the request is denied or fails, or `timeout` passes; the request
    /// object is deleted in every case.
    pub async fn sign_csr(&self, request: &CsrRequest<'_>) -> Result<String, Error> {
        let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
        let name = request.name;
        let csr = CertificateSigningRequest {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_owned(),
                        "tenantctl".to_owned(),
                    )]
                    .into(),
                ),
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
        retry(&what, || api.create(&POST, &csr)).await?;
        let outcome = self.await_certificate(&api, request).await;
        let what = format!("delete certificatesigningrequest/{name}");
        let cleanup = retry(&what, || api.delete(name, &DELETE)).await;
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
            retry(&what, || api.patch_approval(name, &params, &patch)).await?;
        }
        let deadline = tokio::time::Instant::now() + request.timeout;
        loop {
            let what = format!("get certificatesigningrequest/{name}");
            let csr = retry(&what, || api.get(name)).await?;
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

    /// A bound token for ServiceAccount `name` in `namespace`, valid for `ttl`; returns the
    /// token and its expiry as the API server set it.
    pub async fn request_token(
        &self,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<(kubeconfig::Secret, SystemTime), Error> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let request = TokenRequest {
            metadata: ObjectMeta::default(),
            spec: Some(TokenRequestSpec {
                audiences: Some(Vec::new()),
                expiration_seconds: Some(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
                ..TokenRequestSpec::default()
            }),
            status: None,
        };
        let what = format!("create token for serviceaccount/{name} in {namespace}");
        let response = retry(&what, || api.create_token_request(name, &POST, &request)).await?;
        let status = response.status.ok_or_else(|| Error::Verify {
            message: format!("{what}: the API server returned no token"),
        })?;
        let expires = status
            .expiration_timestamp
            .map(|t| SystemTime::from(t.0))
            .ok_or_else(|| Error::Verify {
                message: format!("{what}: no usable expirationTimestamp"),
            })?;
        let token = status
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Verify {
                message: format!("{what}: the API server returned an empty token"),
            })?;
        Ok((kubeconfig::Secret::new(token), expires))
    }

    /// Every binding (cluster-wide and in any namespace) that grants something to `user` or to
    /// one of `groups`, as `kind/name` (with the namespace).
    pub async fn bindings_granting(
        &self,
        user: &str,
        groups: &[String],
    ) -> Result<Vec<String>, Error> {
        let matches = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
            subjects.iter().flatten().any(|s| {
                (s.kind == "User" && s.name == user)
                    || (s.kind == "Group" && groups.contains(&s.name))
            })
        };
        let mut found = Vec::new();
        let crbs: Api<ClusterRoleBinding> = Api::all(self.client.clone());
        let list = retry("list clusterrolebindings", || crbs.list(&LIST)).await?;
        for b in list.items.into_iter().filter(|b| matches(&b.subjects)) {
            found.push(format!(
                "clusterrolebinding/{} ({}/{})",
                b.metadata.name.unwrap_or_default(),
                b.role_ref.kind,
                b.role_ref.name
            ));
        }
        let rbs: Api<RoleBinding> = Api::all(self.client.clone());
        let list = retry("list rolebindings", || rbs.list(&LIST)).await?;
        for b in list.items.into_iter().filter(|b| matches(&b.subjects)) {
            found.push(format!(
                "rolebinding/{} in {} ({}/{})",
                b.metadata.name.unwrap_or_default(),
                b.metadata.namespace.unwrap_or_default(),
                b.role_ref.kind,
                b.role_ref.name
            ));
        }
        Ok(found)
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

/// The API server's view of the caller (SelfSubjectReview); `None` on clusters older than 1.28,
/// which lack the API.
pub async fn whoami(client: &Client) -> Result<Option<Whoami>, Error> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match retry("create selfsubjectreview", || api.create(&POST, &review)).await {
        Ok(r) => {
            let info = r.status.and_then(|s| s.user_info).unwrap_or_default();
            Ok(Some(Whoami {
                username: info.username.unwrap_or_default(),
                groups: info.groups.unwrap_or_default(),
            }))
        }
        Err(Error::Api { status, .. }) if status.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Asks the API server whether the caller may `verb` `resource` (in `group`, in `namespace`).
pub async fn can_i(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<bool, Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let r = retry("create selfsubjectaccessreview", || {
        api.create(&POST, &review)
    })
    .await?;
    Ok(r.status.is_some_and(|s| s.allowed))
}

async fn apply<K>(api: &Api<K>, obj: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let what = format!("apply {}/{name}", K::kind(&()).to_lowercase());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(obj);
    retry(&what, || api.patch(&name, &params, &patch)).await?;
    Ok(())
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
{
    let what = format!("delete {}/{name}", K::kind(&()).to_lowercase());
    match retry(&what, || api.delete(name, &DELETE)).await {
        Ok(_) => Ok(true),
        Err(Error::Api { status, .. }) if status.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `call` up to [`ATTEMPTS`] times, each within [`CALL_TIMEOUT`], backing off
/// 0.5 s, 1 s, 2 s, 4 s after a transient failure: 429, 500, 502, 503, 504, a timeout or a
/// connection error. Any other failure is returned at once.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let last = attempt == ATTEMPTS;
        match tokio::time::timeout(CALL_TIMEOUT, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if !last && is_transient(&e) => {}
            Ok(Err(e)) => return Err(Error::kube(what, e)),
            Err(_elapsed) if !last => {}
            Err(_elapsed) => {
                return Err(Error::ApiTimeout {
                    what: what.to_owned(),
                    attempts: ATTEMPTS,
                });
            }
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    Err(Error::ApiTimeout {
        what: what.to_owned(),
        attempts: ATTEMPTS,
    })
}

fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn describe(role: &RoleRef, namespace: Option<&str>) -> String {
    match (role.kind, namespace) {
        (RoleKind::ClusterRole, _) => format!("clusterrole/{}", role.name),
        (RoleKind::Role, Some(ns)) => format!("role/{} in {ns}", role.name),
        (RoleKind::Role, None) => format!("role/{}", role.name),
    }
}

/// Existing names close to `wanted`: those containing it or contained in it, and those within a
/// small edit distance, best first, at most five.
fn close_names(wanted: &str, names: &[String]) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .filter_map(|n| {
            let d = edit_distance(wanted, n);
            let related = n.contains(wanted) || (wanted.len() > 2 && wanted.contains(n.as_str()));
            (d <= limit || related).then_some((d, n))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_rank_by_distance() {
        let names: Vec<String> = [
            "view",
            "edit",
            "admin",
            "cluster-admin",
            "system:aggregate-to-view",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(close_names("veiw", &names), ["view"]);
        assert_eq!(close_names("admn", &names), ["admin"]);
        assert_eq!(close_names("view", &names)[0], "view");
        assert!(close_names("zzzzzz", &names).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
