//! Tenant identities and the names derived from them: parsed once, with the guardrails, so every
//! later step works on values that are known to be acceptable.

use std::{fmt, path::PathBuf};

use k8s_openapi::api::rbac::v1::PolicyRule;
use sha2::{Digest as _, Sha256};

use crate::{cli::AuthKind, cluster::RoleKind, error::Error};

/// Label naming the tenant an object belongs to (see [`Tenant::label`]).
pub(crate) const TENANT_LABEL: &str = "tenantctl.io/tenant";
/// The label naming the set (`apply --set`) a tenant's record and objects belong to.
pub(crate) const SET_LABEL: &str = "tenantctl.io/set";
/// The set of a tenant a controller's Tenant object manages: `tenant.UID`.
pub(crate) const CONTROLLER_SET_PREFIX: &str = "tenant.";
/// The key of a kubeconfig Secret the controller writes.
pub(crate) const KUBECONFIG_KEY: &str = "kubeconfig";
/// Annotation holding the exact user name (labels cannot hold every user name).
pub(crate) const USER_ANNOTATION: &str = "tenantctl.io/user";

/// A role to bind: `view`, `ClusterRole/view` or `Role/deployer`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RoleRef {
    /// ClusterRole or Role.
    pub kind: RoleKind,
    /// The role's name.
    pub name: String,
}

impl RoleRef {
    /// Parses `NAME`, `ClusterRole/NAME` or `Role/NAME`; a bare name takes `default_kind`.
    pub(crate) fn parse(value: &str, default_kind: RoleKind) -> Result<Self, Error> {
        let (kind, name) = match value.split_once('/') {
            Some(("ClusterRole" | "clusterrole", name)) => (RoleKind::ClusterRole, name),
            Some(("Role" | "role", name)) => (RoleKind::Role, name),
            Some(_) => {
                return Err(usage(
                    "--role",
                    format!("{value:?}: expected NAME, ClusterRole/NAME or Role/NAME"),
                ));
            }
            None => (default_kind, value),
        };
        rbac_name("--role", name)?;
        Ok(Self {
            kind,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A tenant's identity, checked against the guardrails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    user: String,
    groups: Vec<String>,
    auth: AuthKind,
}

impl Tenant {
    /// Checks a user name and groups.
    ///
    /// Refused unless `allow_privileged`: a user name starting with `system:` and any `system:`
    /// group (`system:masters` bypasses RBAC entirely and cannot be revoked before the certificate
    /// expires). Always refused: empty names, control characters, names longer than an X.509 CN
    /// may be (64), and — for token tenants — user names that are not valid ServiceAccount names.
    pub fn new(
        user: &str,
        groups: &[String],
        auth: AuthKind,
        allow_privileged: bool,
    ) -> Result<Self, Error> {
        plain_name("user name", user)?;
        if user.chars().count() > 64 {
            return Err(usage(
                "user name",
                format!("{user:?} is longer than 64 characters (the X.509 common name limit)"),
            ));
        }
        if auth == AuthKind::Token {
            dns_subdomain("user name (a ServiceAccount name for --auth token)", user)?;
        }
        if user.starts_with("system:") && !allow_privileged {
            return Err(Error::Refused {
                what: format!("user name {user:?}"),
                why: "names starting with \"system:\" are reserved for Kubernetes components",
            });
        }
        let mut checked: Vec<String> = Vec::with_capacity(groups.len());
        for g in groups {
            plain_name("--group", g)?;
            if g.starts_with("system:") && !allow_privileged {
                return Err(Error::Refused {
                    what: format!("group {g:?}"),
                    why: if g == "system:masters" {
                        "system:masters bypasses RBAC and cannot be revoked until the certificate expires"
                    } else {
                        "\"system:\" groups are reserved for Kubernetes and grant built-in privileges"
                    },
                });
            }
            if !checked.contains(g) {
                checked.push(g.clone());
            }
        }
        if auth == AuthKind::Token && !checked.is_empty() {
            return Err(usage(
                "--group",
                "a ServiceAccount token carries the ServiceAccount's groups; --group needs --auth cert".into(),
            ));
        }
        Ok(Self {
            user: user.to_owned(),
            groups: checked,
            auth,
        })
    }

    /// The user name (the certificate's CN, or the ServiceAccount's name).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The groups (the certificate's O values), in order, without duplicates.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// How the tenant authenticates.
    pub fn auth(&self) -> AuthKind {
        self.auth
    }

    /// The name the API server will see for this tenant in `namespace` (token tenants are
    /// `system:serviceaccount:NS:NAME`).
    pub fn username_in_cluster(&self, namespace: Option<&str>) -> String {
        match (self.auth, namespace) {
            (AuthKind::Token, Some(ns)) => format!("system:serviceaccount:{ns}:{}", self.user),
            _ => self.user.clone(),
        }
    }

    /// A DNS-1123 form of the user name for object names: the name itself when it already is
    /// one, otherwise a readable part plus 8 hex digits of its SHA-256, so distinct users never
    /// share a slug.
    pub fn slug(&self) -> String {
        slug(&self.user, 200)
    }

    /// The value of the tenant label: a valid label value (at most 63 characters) that is unique
    /// per user.
    pub fn label(&self) -> String {
        slug(&self.user, 63)
    }

    /// `./USER.<suffix>`, or the user's slug when the name is not a plain file name.
    pub fn file_name(&self, suffix: &str) -> PathBuf {
        let user = &self.user;
        let base = if user.contains(['/', '\\'])
            || user.starts_with('.')
            || user.contains(char::is_whitespace)
        {
            self.slug()
        } else {
            user.clone()
        };
        PathBuf::from(format!("{base}.{suffix}"))
    }

    /// Name of the tenant's record (a ConfigMap in the record namespace).
    pub fn record_name(&self) -> String {
        format!("tenant-{}", self.slug())
    }

    /// Deterministic binding name: `tenantctl:USER:ROLE` for a ClusterRole,
    /// `tenantctl:USER:role:ROLE` for a Role (so both can be bound in one namespace).
    pub fn binding_name(&self, role: &RoleRef) -> String {
        // Names go into URL paths unescaped (kube does not encode them): keep to characters
        // that need no encoding, and use the slug for anything else.
        let plain = self
            .user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@:-".contains(c));
        let user = if plain {
            self.user.clone()
        } else {
            self.slug()
        };
        match role.kind {
            RoleKind::ClusterRole => format!("tenantctl:{user}:{}", role.name),
            RoleKind::Role => format!("tenantctl:{user}:role:{}", role.name),
        }
    }
}

/// Why binding `role` cluster-wide would make a tenant an administrator, if it would: a rule
/// granting `*` verbs or resources, `escalate`, `bind` or `impersonate`, writes to RBAC objects,
/// `nodes/proxy`, or reading secrets (cluster-wide). Without the rules (offline), the built-in
/// `cluster-admin`, `admin` and `edit` by name.
pub(crate) fn privileged(role: &RoleRef, rules: Option<&[PolicyRule]>) -> Option<String> {
    if role.kind != RoleKind::ClusterRole {
        return None;
    }
    let Some(rules) = rules else {
        return ["cluster-admin", "admin", "edit"]
            .contains(&role.name.as_str())
            .then(|| format!("the built-in ClusterRole {} grants it", role.name));
    };
    const WRITES: [&str; 6] = [
        "*",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    const RBAC: [&str; 4] = [
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
    ];
    for r in rules {
        let verbs = &r.verbs;
        let resources = r.resources.as_deref().unwrap_or_default();
        let has = |v: &str| verbs.iter().any(|x| x == v);
        let on = |res: &str| resources.iter().any(|x| x == res || x == "*");
        let shown = || {
            format!(
                "rule verbs [{}] on resources [{}]",
                verbs.join(","),
                resources.join(",")
            )
        };
        if has("*") || resources.iter().any(|x| x == "*") {
            return Some(format!("{} grants everything", shown()));
        }
        if let Some(v) = ["escalate", "bind", "impersonate"].iter().find(|v| has(v)) {
            return Some(format!("{} grants {v}", shown()));
        }
        if RBAC.iter().any(|res| on(res)) && WRITES.iter().any(|v| has(v)) {
            return Some(format!("{} writes RBAC objects", shown()));
        }
        if on("nodes/proxy") {
            return Some(format!("{} reaches every kubelet (nodes/proxy)", shown()));
        }
        if on("secrets") && ["get", "list", "watch"].iter().any(|v| has(v)) {
            return Some(format!("{} reads every secret", shown()));
        }
    }
    None
}

/// Checks a namespace name (a DNS-1123 label).
pub(crate) fn namespace(flag: &'static str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(usage(
            flag,
            format!(
                "{value:?} is not a namespace name (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)"
            ),
        ))
    }
}

fn plain_name(what: &'static str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(usage(what, "must not be empty".into()));
    }
    if value.chars().any(char::is_control) {
        return Err(usage(
            what,
            format!(
                "{:?} contains control characters",
                value.escape_debug().to_string()
            ),
        ));
    }
    if value != value.trim() {
        return Err(usage(
            what,
            format!("{value:?} has leading or trailing spaces"),
        ));
    }
    Ok(())
}

/// RBAC object names are path segments: anything but `/`, `%`, `.` and `..`.
fn rbac_name(flag: &'static str, value: &str) -> Result<(), Error> {
    plain_name(flag, value)?;
    if value.contains(['/', '%'])
        || value.contains(char::is_whitespace)
        || value == "."
        || value == ".."
    {
        return Err(usage(flag, format!("{value:?} is not a valid role name")));
    }
    Ok(())
}

fn dns_subdomain(what: &'static str, value: &str) -> Result<(), Error> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if value.len() <= 253 && value.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(usage(
            what,
            format!("{value:?} is not a DNS-1123 name (lowercase letters, digits, '-' and '.')"),
        ))
    }
}

fn slug(user: &str, max: usize) -> String {
    let mut readable = String::with_capacity(user.len());
    for c in user.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            readable.push(c);
        } else if !readable.ends_with('-') {
            readable.push('-');
        }
    }
    let readable = readable.trim_matches('-');
    if readable == user && readable.len() <= max {
        return readable.to_owned();
    }
    let hash = hex8(user);
    let keep = max.saturating_sub(hash.len() + 1);
    let head: String = readable.chars().take(keep).collect();
    let head = head.trim_end_matches('-');
    if head.is_empty() {
        format!("u-{hash}")
    } else {
        format!("{head}-{hash}")
    }
}

fn hex8(value: &str) -> String {
    Sha256::digest(value.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn usage(flag: &'static str, message: String) -> Error {
    Error::Usage { flag, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(user: &str, groups: &[&str]) -> Result<Tenant, Error> {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        Tenant::new(user, &groups, AuthKind::Cert, false)
    }

    #[test]
    fn guardrails_refuse_system_names() {
        for (user, groups) in [
            ("alice", vec!["system:masters"]),
            ("alice", vec!["dev", "system:nodes"]),
            ("system:admin", vec![]),
        ] {
            let err = cert(user, &groups).unwrap_err();
            assert!(matches!(err, Error::Refused { .. }), "{err}");
        }
        let forced = Tenant::new("alice", &["system:masters".into()], AuthKind::Cert, true);
        assert_eq!(forced.unwrap().groups(), ["system:masters"]);
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for user in ["", " ", "al\nice", " alice", &"a".repeat(65)] {
            assert!(
                matches!(cert(user, &[]), Err(Error::Usage { .. })),
                "{user:?}"
            );
        }
        assert!(matches!(
            cert("alice", &["dev\u{7}"]),
            Err(Error::Usage { .. })
        ));
        assert!(Tenant::new("Alice", &[], AuthKind::Token, false).is_err());
        assert!(Tenant::new("ci-bot", &["g".into()], AuthKind::Token, false).is_err());
        assert!(Tenant::new("ci-bot", &[], AuthKind::Token, false).is_ok());
    }

    #[test]
    fn groups_keep_order_without_duplicates() {
        let t = cert("alice", &["dev", "ops", "dev"]).unwrap();
        assert_eq!(t.groups(), ["dev", "ops"]);
    }

    #[test]
    fn names_are_deterministic_and_valid() {
        let t = cert("alice", &[]).unwrap();
        assert_eq!(t.slug(), "alice");
        assert_eq!(t.label(), "alice");
        assert_eq!(t.record_name(), "tenant-alice");
        let view = RoleRef::parse("view", RoleKind::ClusterRole).unwrap();
        let deployer = RoleRef::parse("Role/deployer", RoleKind::ClusterRole).unwrap();
        assert_eq!(t.binding_name(&view), "tenantctl:alice:view");
        assert_eq!(t.binding_name(&deployer), "tenantctl:alice:role:deployer");

        let email = cert("Alice.Smith@example.com", &[]).unwrap();
        let slug = email.slug();
        assert!(slug.starts_with("alice-smith-example-com-"), "{slug}");
        assert_eq!(slug, email.slug());
        assert_ne!(slug, cert("alice.smith@example.com", &[]).unwrap().slug());
        namespace("slug", &slug).unwrap();

        let long = cert(&"x".repeat(64), &[]).unwrap();
        assert!(long.label().len() <= 63);
        let odd = cert("a/b%c d", &[]).unwrap();
        assert!(!odd.binding_name(&view).contains(['/', '%', ' ']));
        assert_eq!(
            email.binding_name(&view),
            "tenantctl:Alice.Smith@example.com:view"
        );
        assert_eq!(cert("ñ", &[]).unwrap().slug().len(), 10);
    }

    #[test]
    fn role_refs() {
        assert_eq!(
            RoleRef::parse("ClusterRole/edit", RoleKind::Role)
                .unwrap()
                .kind,
            RoleKind::ClusterRole
        );
        assert_eq!(
            RoleRef::parse("x", RoleKind::Role).unwrap().kind,
            RoleKind::Role
        );
        for bad in ["", "Foo/bar", "..", "a%b", "Role/"] {
            assert!(RoleRef::parse(bad, RoleKind::ClusterRole).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces() {
        namespace("-n", "team-a").unwrap();
        for bad in ["", "Team", "-a", "a_b", &"a".repeat(64)] {
            assert!(namespace("-n", bad).is_err(), "{bad}");
        }
    }
}
