//! The Kubernetes objects of a tenant, built as values (no I/O): the same objects are applied to
//! the cluster by server-side apply, or written to `USER-rbac.yaml` for `kubectl apply -f`.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef as K8sRoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::{
    AuthKind, BindingRef, RoleKind, RoleRef, Tenant,
    names::{TENANT_LABEL, USER_ANNOTATION},
};
use crate::{cluster::MANAGED_BY, error::Error};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// What a tenant needs in the cluster, besides its record.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantObjects {
    /// The namespace, when `--create-namespace` asks for it.
    pub namespace: Option<Namespace>,
    /// The ServiceAccount of a token tenant.
    pub service_account: Option<ServiceAccount>,
    /// One binding per role.
    pub bindings: Vec<Binding>,
}

/// A RoleBinding or a ClusterRoleBinding.
#[derive(Clone, Debug, PartialEq)]
pub enum Binding {
    /// Cluster-wide.
    Cluster(ClusterRoleBinding),
    /// In one namespace.
    Namespaced(RoleBinding),
}

/// Where and how a tenant is bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingPlan {
    /// The roles.
    pub roles: Vec<RoleRef>,
    /// RoleBindings in this namespace; ClusterRoleBindings without one.
    pub namespace: Option<String>,
    /// Create the namespace.
    pub create_namespace: bool,
    /// Bind the tenant's groups as well as the user.
    pub bind_group: bool,
}

impl BindingPlan {
    /// Checks the combination: a Role needs a namespace, a token tenant needs a namespace (its
    /// ServiceAccount lives there), at least one role.
    pub fn new(
        tenant: &Tenant,
        roles: Vec<RoleRef>,
        namespace: Option<String>,
        create_namespace: bool,
        bind_group: bool,
    ) -> Result<Self, Error> {
        if let Some(ns) = &namespace {
            super::names::namespace("--namespace", ns)?;
        }
        if roles.is_empty() {
            return Err(Error::Usage {
                flag: "--role",
                message: "at least one role is required (e.g. --role view)".into(),
            });
        }
        if namespace.is_none() {
            if let Some(r) = roles.iter().find(|r| r.kind == RoleKind::Role) {
                return Err(Error::Usage {
                    flag: "--role",
                    message: format!("{r} is namespaced; give its namespace with -n/--namespace"),
                });
            }
            if tenant.auth() == AuthKind::Token {
                return Err(Error::Usage {
                    flag: "--namespace",
                    message: "--auth token needs -n/--namespace for the ServiceAccount".into(),
                });
            }
            if create_namespace {
                return Err(Error::Usage {
                    flag: "--create-namespace",
                    message: "needs -n/--namespace".into(),
                });
            }
        }
        if bind_group && tenant.groups().is_empty() {
            return Err(Error::Usage {
                flag: "--bind-group",
                message: "needs at least one --group".into(),
            });
        }
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        Ok(Self {
            roles,
            namespace,
            create_namespace,
            bind_group,
        })
    }

    /// The objects for `tenant`.
    pub fn objects(&self, tenant: &Tenant) -> TenantObjects {
        let namespace = self
            .namespace
            .as_ref()
            .filter(|_| self.create_namespace)
            .map(|ns| Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    labels: Some(BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())])),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            });
        let service_account = match (tenant.auth(), &self.namespace) {
            (AuthKind::Token, Some(ns)) => Some(ServiceAccount {
                metadata: meta(tenant, tenant.user().to_owned(), Some(ns)),
                ..ServiceAccount::default()
            }),
            _ => None,
        };
        let subjects = self.subjects(tenant);
        let bindings = self
            .roles
            .iter()
            .map(|role| {
                let role_ref = K8sRoleRef {
                    api_group: Some(RBAC_GROUP.into()),
                    kind: role.kind.to_string(),
                    name: role.name.clone(),
                };
                let name = tenant.binding_name(role);
                match &self.namespace {
                    Some(ns) => Binding::Namespaced(RoleBinding {
                        metadata: meta(tenant, name, Some(ns)),
                        role_ref,
                        subjects: Some(subjects.clone()),
                    }),
                    None => Binding::Cluster(ClusterRoleBinding {
                        metadata: meta(tenant, name, None),
                        role_ref,
                        subjects: Some(subjects.clone()),
                    }),
                }
            })
            .collect();
        TenantObjects {
            namespace,
            service_account,
            bindings,
        }
    }

    /// The record's view of the bindings.
    pub fn binding_refs(&self, tenant: &Tenant) -> Vec<BindingRef> {
        self.roles
            .iter()
            .map(|role| BindingRef {
                kind: if self.namespace.is_some() {
                    "RoleBinding".into()
                } else {
                    "ClusterRoleBinding".into()
                },
                name: tenant.binding_name(role),
                namespace: self.namespace.clone(),
                role: role.clone(),
            })
            .collect()
    }

    fn subjects(&self, tenant: &Tenant) -> Vec<Subject> {
        let mut subjects = vec![match (tenant.auth(), &self.namespace) {
            (AuthKind::Token, Some(ns)) => Subject {
                api_group: None,
                kind: "ServiceAccount".into(),
                name: tenant.user().to_owned(),
                namespace: Some(ns.clone()),
            },
            _ => Subject {
                api_group: Some(RBAC_GROUP.into()),
                kind: "User".into(),
                name: tenant.user().to_owned(),
                namespace: None,
            },
        }];
        if self.bind_group {
            subjects.extend(tenant.groups().iter().map(|g| Subject {
                api_group: Some(RBAC_GROUP.into()),
                kind: "Group".into(),
                name: g.clone(),
                namespace: None,
            }));
        }
        subjects
    }
}

impl Binding {
    /// The object's name.
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::Cluster(b) => &b.metadata,
            Self::Namespaced(b) => &b.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

impl TenantObjects {
    /// Multi-document YAML for `kubectl apply -f`, namespace first, each object with its
    /// `apiVersion` and `kind`.
    pub fn to_yaml(&self, header: &str) -> Result<String, Error> {
        let mut docs = Vec::new();
        if let Some(ns) = &self.namespace {
            docs.push(yaml(ns)?);
        }
        if let Some(sa) = &self.service_account {
            docs.push(yaml(sa)?);
        }
        for b in &self.bindings {
            docs.push(match b {
                Binding::Cluster(b) => yaml(b)?,
                Binding::Namespaced(b) => yaml(b)?,
            });
        }
        Ok(manifest(header, &docs))
    }

    /// The objects as a `v1` List, as `kubectl … --dry-run=client -o json` prints them.
    pub fn to_list(&self) -> serde_json::Value {
        let mut items: Vec<serde_json::Value> = Vec::new();
        let mut push = |v: Result<serde_json::Value, serde_json::Error>| {
            if let Ok(v) = v {
                items.push(v);
            }
        };
        if let Some(ns) = &self.namespace {
            push(serde_json::to_value(ns));
        }
        if let Some(sa) = &self.service_account {
            push(serde_json::to_value(sa));
        }
        for b in &self.bindings {
            push(match b {
                Binding::Cluster(b) => serde_json::to_value(b),
                Binding::Namespaced(b) => serde_json::to_value(b),
            });
        }
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
    }
}

/// Joins YAML documents under a comment header.
pub fn manifest(header: &str, docs: &[String]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    for doc in docs {
        out.push_str("---\n");
        out.push_str(doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

pub use crate::output::yaml;

/// `meta` carries the labels of `tenant`'s objects (managed by tenantctl, this tenant): a
/// kubeconfig Secret tenantctl may replace or delete.
pub(crate) fn is_tenants(meta: &ObjectMeta, tenant: &Tenant) -> bool {
    meta.labels.as_ref().is_some_and(|l| {
        l.get(MANAGED_BY.0).is_some_and(|v| v == MANAGED_BY.1)
            && l.get(TENANT_LABEL).is_some_and(|v| *v == tenant.label())
    })
}

/// The labels every object of `tenant` carries.
pub(crate) fn labels(tenant: &Tenant) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.into(), MANAGED_BY.1.into()),
        (TENANT_LABEL.into(), tenant.label()),
    ])
}

fn meta(tenant: &Tenant, name: String, namespace: Option<&String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: namespace.cloned(),
        labels: Some(labels(tenant)),
        annotations: Some(BTreeMap::from([(
            USER_ANNOTATION.to_owned(),
            tenant.user().to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

impl Binding {
    /// `clusterrolebinding/NAME` or `rolebinding/NAME in NS`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Cluster(crb) => format!(
                "clusterrolebinding/{}",
                crb.metadata.name.as_deref().unwrap_or_default()
            ),
            Self::Namespaced(rb) => format!(
                "rolebinding/{} in {}",
                rb.metadata.name.as_deref().unwrap_or_default(),
                rb.metadata.namespace.as_deref().unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(specs: &[&str]) -> Vec<RoleRef> {
        specs
            .iter()
            .map(|s| RoleRef::parse(s, RoleKind::ClusterRole).unwrap())
            .collect()
    }

    #[test]
    fn cluster_wide_binding() {
        let t = Tenant::new("alice", &["dev".into()], AuthKind::Cert, false).unwrap();
        let plan = BindingPlan::new(&t, roles(&["view"]), None, false, false).unwrap();
        let objs = plan.objects(&t);
        assert!(objs.namespace.is_none() && objs.service_account.is_none());
        let [Binding::Cluster(crb)] = objs.bindings.as_slice() else {
            panic!("{objs:?}")
        };
        assert_eq!(crb.metadata.name.as_deref(), Some("tenantctl:alice:view"));
        assert_eq!(crb.role_ref.kind, "ClusterRole");
        let subjects = crb.subjects.as_ref().unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(
            (subjects[0].kind.as_str(), subjects[0].name.as_str()),
            ("User", "alice")
        );
        assert_eq!(crb.metadata.labels.as_ref().unwrap()[TENANT_LABEL], "alice");
    }

    #[test]
    fn namespaced_bindings_groups_and_namespace() {
        let t = Tenant::new(
            "alice",
            &["dev".into(), "ops".into()],
            AuthKind::Cert,
            false,
        )
        .unwrap();
        let plan = BindingPlan::new(
            &t,
            roles(&["edit", "Role/deployer", "edit"]),
            Some("team-a".into()),
            true,
            true,
        )
        .unwrap();
        let objs = plan.objects(&t);
        assert_eq!(
            objs.namespace.as_ref().unwrap().metadata.name.as_deref(),
            Some("team-a")
        );
        let names: Vec<&str> = objs.bindings.iter().map(Binding::name).collect();
        assert_eq!(
            names,
            ["tenantctl:alice:edit", "tenantctl:alice:role:deployer"]
        );
        let Binding::Namespaced(rb) = &objs.bindings[1] else {
            panic!()
        };
        assert_eq!(rb.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(rb.role_ref.kind, "Role");
        let kinds: Vec<(&str, &str)> = rb
            .subjects
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| (s.kind.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("User", "alice"), ("Group", "dev"), ("Group", "ops")]
        );
        let refs = plan.binding_refs(&t);
        assert_eq!(refs[1].kind, "RoleBinding");
        assert_eq!(refs[1].name, "tenantctl:alice:role:deployer");

        let yaml = objs.to_yaml("test").unwrap();
        assert!(
            yaml.starts_with("# test\n---\napiVersion: v1\nkind: Namespace\n"),
            "{yaml}"
        );
        assert_eq!(yaml.matches("kind: RoleBinding").count(), 2, "{yaml}");
    }

    #[test]
    fn token_tenant_binds_its_service_account() {
        let t = Tenant::new("ci-bot", &[], AuthKind::Token, false).unwrap();
        let plan = BindingPlan::new(&t, roles(&["edit"]), Some("ci".into()), false, false).unwrap();
        let objs = plan.objects(&t);
        let sa = objs.service_account.as_ref().unwrap();
        assert_eq!(sa.metadata.name.as_deref(), Some("ci-bot"));
        let Binding::Namespaced(rb) = &objs.bindings[0] else {
            panic!()
        };
        let s = &rb.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (s.kind.as_str(), s.namespace.as_deref()),
            ("ServiceAccount", Some("ci"))
        );
        assert!(s.api_group.is_none());
    }

    #[test]
    fn invalid_combinations() {
        let cert = Tenant::new("alice", &[], AuthKind::Cert, false).unwrap();
        let token = Tenant::new("bot", &[], AuthKind::Token, false).unwrap();
        assert!(BindingPlan::new(&cert, vec![], None, false, false).is_err());
        assert!(BindingPlan::new(&cert, roles(&["Role/x"]), None, false, false).is_err());
        assert!(BindingPlan::new(&token, roles(&["view"]), None, false, false).is_err());
        assert!(BindingPlan::new(&cert, roles(&["view"]), None, true, false).is_err());
        assert!(BindingPlan::new(&cert, roles(&["view"]), None, false, true).is_err());
        assert!(
            BindingPlan::new(&cert, roles(&["view"]), Some("Bad_NS".into()), false, false).is_err()
        );
    }
}
