//! The typed API calls, each through [`retry`]: server-side apply, delete, get and list of
//! any object, role rules, namespaces, tokens, and the reviews a client makes about itself.
//! Nothing here knows what a tenant is; the tenant domain builds its objects and calls these.

use std::{
    fmt,
    fmt::Debug,
    time::{Duration, SystemTime},
};

use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec},
        authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
            SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
        },
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{access::Decision, retry::Retry};
use crate::error::Error;

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "tenantctl";
/// Label on every object tenantctl creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "tenantctl");
/// Default namespace of the tenant records.
pub const RECORD_NAMESPACE: &str = "tenantctl-system";
/// The signer of client certificates for the API server.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

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
pub(super) const DELETE: DeleteParams = DeleteParams {
    dry_run: false,
    grace_period_seconds: None,
    propagation_policy: None,
    preconditions: None,
};
pub(super) const POST: PostParams = PostParams {
    dry_run: false,
    field_manager: None,
};

/// The `app.kubernetes.io/managed-by: tenantctl` label set.
pub fn managed_labels() -> std::collections::BTreeMap<String, String> {
    [(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())].into()
}

/// The kind of role a binding refers to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum RoleKind {
    /// A cluster-wide ClusterRole (bindable cluster-wide or in one namespace).
    ClusterRole,
    /// A namespaced Role (bindable only in its namespace).
    Role,
}

impl fmt::Display for RoleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClusterRole => "ClusterRole",
            Self::Role => "Role",
        })
    }
}

/// A cluster connection with the record namespace.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    record_ns: String,
    retry: Retry,
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
            retry: Retry::default(),
        }
    }

    /// With this retry policy (`--request-timeout`, `--timeout`).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy, for calls made with another client (the tenant's).
    pub fn retry(&self) -> &Retry {
        &self.retry
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
    /// names closest to it. A `Role` needs a namespace.
    pub async fn role_rules(
        &self,
        kind: RoleKind,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<PolicyRule>, Error> {
        let what = format!("get {}", describe(kind, name, namespace));
        let found = match (kind, namespace) {
            (RoleKind::ClusterRole, _) => {
                let api: Api<ClusterRole> = Api::all(self.client.clone());
                self.retry
                    .run(&what, || api.get_opt(name))
                    .await?
                    .map(|r| r.rules.unwrap_or_default())
            }
            (RoleKind::Role, Some(ns)) => {
                let api: Api<Role> = Api::namespaced(self.client.clone(), ns);
                self.retry
                    .run(&what, || api.get_opt(name))
                    .await?
                    .map(|r| r.rules.unwrap_or_default())
            }
            (RoleKind::Role, None) => None,
        };
        if let Some(rules) = found {
            return Ok(rules);
        }
        let names: Vec<String> = match (kind, namespace) {
            (RoleKind::ClusterRole, _) => {
                let api: Api<ClusterRole> = Api::all(self.client.clone());
                self.retry
                    .run("list clusterroles", || api.list_metadata(&LIST))
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|r| r.metadata.name)
                    .collect()
            }
            (RoleKind::Role, Some(ns)) => {
                let api: Api<Role> = Api::namespaced(self.client.clone(), ns);
                self.retry
                    .run("list roles", || api.list_metadata(&LIST))
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|r| r.metadata.name)
                    .collect()
            }
            (RoleKind::Role, None) => Vec::new(),
        };
        Err(Error::UnknownRole {
            kind: kind.to_string(),
            name: name.to_owned(),
            namespace: namespace
                .filter(|_| kind == RoleKind::Role)
                .map(str::to_owned),
            close: close_names(name, &names),
        })
    }

    /// Whether a namespace exists.
    pub async fn namespace_exists(&self, name: &str) -> Result<bool, Error> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let what = format!("get namespace/{name}");
        Ok(self.retry.run(&what, || api.get_opt(name)).await?.is_some())
    }

    /// Server-side apply of a cluster-scoped object (field manager `tenantctl`, forced).
    pub async fn apply_cluster<K>(&self, obj: &K) -> Result<K, Error>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        apply(&self.retry, &Api::<K>::all(self.client.clone()), obj).await
    }

    /// Server-side apply of a namespaced object.
    pub async fn apply_namespaced<K>(&self, namespace: &str, obj: &K) -> Result<K, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        apply(
            &self.retry,
            &Api::<K>::namespaced(self.client.clone(), namespace),
            obj,
        )
        .await
    }

    /// A namespaced object, if it exists.
    pub async fn get_namespaced<K>(&self, namespace: &str, name: &str) -> Result<Option<K>, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let what = format!("get {}/{name} in {namespace}", K::kind(&()).to_lowercase());
        self.retry.run(&what, || api.get_opt(name)).await
    }

    /// The namespaced objects `params` select (labels, fields).
    pub async fn list_namespaced<K>(
        &self,
        namespace: &str,
        params: &ListParams,
    ) -> Result<Vec<K>, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let what = format!("list {}s in {namespace}", K::kind(&()).to_lowercase());
        Ok(self.retry.run(&what, || api.list(params)).await?.items)
    }

    /// Every object of a kind `params` select: cluster-scoped ones, or namespaced ones across
    /// all namespaces (one request; `apply` lists what it plans from this way).
    pub async fn list_all<K>(&self, params: &ListParams) -> Result<Vec<K>, Error>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let what = format!("list {}s", K::kind(&()).to_lowercase());
        Ok(self.retry.run(&what, || api.list(params)).await?.items)
    }

    /// Asks the API server whether `user` with `groups` may `verb` `resource` (in `group`, in
    /// `namespace`): a SubjectAccessReview, the authorizer's answer for that identity.
    #[allow(clippy::too_many_arguments)]
    pub async fn subject_can(
        &self,
        user: &str,
        groups: &[String],
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<Decision, Error> {
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_owned()),
                groups: Some(groups.to_vec()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    group: Some(group.to_owned()),
                    resource: Some(resource.to_owned()),
                    namespace: namespace.map(str::to_owned),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let what = format!("create subjectaccessreview for {user}");
        let r = self.retry.run(&what, || api.create(&POST, &review)).await?;
        Ok(decision(r.status))
    }

    /// Whether the API server's authorizers deny `user` (with `groups`) presenting the
    /// client certificate whose SHA-256 is `sha256_hex` (its X.509 credential id) a `get` of
    /// namespaces: the denial's reason when they do.
    pub async fn denies_credential(
        &self,
        user: &str,
        groups: &[String],
        sha256_hex: &str,
    ) -> Result<Option<String>, Error> {
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_owned()),
                groups: Some(groups.to_vec()),
                extra: Some(std::collections::BTreeMap::from([(
                    "authentication.kubernetes.io/credential-id".to_owned(),
                    vec![format!("X509SHA256={sha256_hex}")],
                )])),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some("get".into()),
                    resource: Some("namespaces".into()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let what = format!("create subjectaccessreview for a credential of {user}");
        let r = self.retry.run(&what, || api.create(&POST, &review)).await?;
        Ok(r.status
            .filter(|s| s.denied == Some(true))
            .map(|s| s.reason.unwrap_or_default()))
    }

    /// Creates a namespaced object (POST): a 409 means it exists already.
    pub async fn create_namespaced<K>(&self, namespace: &str, obj: &K) -> Result<K, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let name = obj.meta().name.clone().unwrap_or_default();
        let what = format!(
            "create {}/{name} in {namespace}",
            K::kind(&()).to_lowercase()
        );
        self.retry.run(&what, || api.create(&POST, obj)).await
    }

    /// Replaces a namespaced object (PUT) if its `metadata.resourceVersion` is still the
    /// server's: a 409 means another writer changed it since it was read.
    pub async fn replace_namespaced<K>(&self, namespace: &str, obj: &K) -> Result<K, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let name = obj.meta().name.clone().unwrap_or_default();
        let what = format!(
            "update {}/{name} in {namespace}",
            K::kind(&()).to_lowercase()
        );
        self.retry
            .run(&what, || api.replace(&name, &POST, obj))
            .await
    }

    /// Deletes a cluster-scoped object — only the one with `precondition`'s uid (and resource
    /// version), when given; `false` when it was already gone.
    pub async fn delete_cluster<K>(
        &self,
        name: &str,
        precondition: Option<Preconditions>,
    ) -> Result<bool, Error>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    {
        delete(
            &self.retry,
            &Api::<K>::all(self.client.clone()),
            name,
            precondition,
        )
        .await
    }

    /// Deletes a namespaced object — only the one with `precondition`'s uid (and resource
    /// version), when given; `false` when it was already gone.
    pub async fn delete_namespaced<K>(
        &self,
        namespace: &str,
        name: &str,
        precondition: Option<Preconditions>,
    ) -> Result<bool, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Clone
            + Debug,
    {
        delete(
            &self.retry,
            &Api::<K>::namespaced(self.client.clone(), namespace),
            name,
            precondition,
        )
        .await
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
        let response = self
            .retry
            .run(&what, || api.create_token_request(name, &POST, &request))
            .await?;
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
        let list = self
            .retry
            .run("list clusterrolebindings", || crbs.list(&LIST))
            .await?;
        for b in list.items.into_iter().filter(|b| matches(&b.subjects)) {
            found.push(format!(
                "clusterrolebinding/{} ({}/{})",
                b.metadata.name.unwrap_or_default(),
                b.role_ref.kind,
                b.role_ref.name
            ));
        }
        let rbs: Api<RoleBinding> = Api::all(self.client.clone());
        let list = self
            .retry
            .run("list rolebindings", || rbs.list(&LIST))
            .await?;
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

/// The API server's view of the caller (SelfSubjectReview); `None` on clusters older than 1.28,
/// which lack the API.
pub async fn whoami(client: &Client, retry: &Retry) -> Result<Option<Whoami>, Error> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match retry
        .run("create selfsubjectreview", || api.create(&POST, &review))
        .await
    {
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
    retry: &Retry,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<Decision, Error> {
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
    let r = retry
        .run("create selfsubjectaccessreview", || {
            api.create(&POST, &review)
        })
        .await?;
    Ok(decision(r.status))
}

/// What an access review's status says (an absent status allows nothing).
fn decision(status: Option<SubjectAccessReviewStatus>) -> Decision {
    status.map_or_else(Decision::default, |s| Decision {
        allowed: s.allowed,
        denied: s.denied.unwrap_or(false),
        reason: s
            .reason
            .filter(|r| !r.is_empty())
            .or(s.evaluation_error)
            .unwrap_or_default(),
    })
}

async fn apply<K>(retry: &Retry, api: &Api<K>, obj: &K) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let what = format!("apply {}/{name}", K::kind(&()).to_lowercase());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(obj);
    retry.run(&what, || api.patch(&name, &params, &patch)).await
}

async fn delete<K>(
    retry: &Retry,
    api: &Api<K>,
    name: &str,
    preconditions: Option<Preconditions>,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
{
    let what = format!("delete {}/{name}", K::kind(&()).to_lowercase());
    let params = DeleteParams {
        preconditions,
        ..DELETE
    };
    match retry.run(&what, || api.delete(name, &params)).await {
        Ok(_) => Ok(true),
        Err(Error::Api { status, .. }) if status.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

fn describe(kind: RoleKind, name: &str, namespace: Option<&str>) -> String {
    match (kind, namespace) {
        (RoleKind::ClusterRole, _) => format!("clusterrole/{name}"),
        (RoleKind::Role, Some(ns)) => format!("role/{name} in {ns}"),
        (RoleKind::Role, None) => format!("role/{name}"),
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
