//! The tenants file of `tenantctl apply -f`: YAML documents `apiVersion: tenantctl.io/v1`,
//! `kind: Tenant` (or `kind: TenantList` with `items`), read with the line of every field and
//! checked by the same function as `create`'s flags ([`TenantSpec::check`]). No I/O here.
//!
//! ```yaml
//! apiVersion: tenantctl.io/v1
//! kind: Tenant
//! metadata:
//!   name: alice
//! spec:
//!   user: alice                # default: metadata.name
//!   auth: cert                 # cert | token
//!   groups: [dev]
//!   roles: [view, Role/deployer]
//!   namespace: team-a
//!   createNamespace: true
//!   bindGroup: false
//!   ttl: 7d
//!   keyAlgorithm: ECDSA-P256
//!   signer: local              # local | csr
//! ```

use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub use super::super::document::{DEFAULT_TTL, ParseOptions};
use super::super::{
    document::{SecretRef, TenantDocSpec},
    spec::TenantSpec,
};

/// The `apiVersion` of a tenants file.
pub const API_VERSION: &str = "tenantctl.io/v1";

/// One tenant the file asks for, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The checked spec.
    pub spec: TenantSpec,
    /// `FILE:LINE` of the document, for messages.
    pub source: String,
}

/// What is wrong with a document: where, which field, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file's name as given (`-` for standard input).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// `Tenant NAME` (or `document N` before the name is known).
    pub document: Option<String>,
    /// The field path, e.g. `spec.roles[1]`.
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(document) = &self.document {
            write!(f, "{document}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Parses one file's text. Every document is checked; the result is every tenant, or every
/// problem found (a YAML syntax error stops at the first).
pub fn parse(file: &str, text: &str, options: ParseOptions) -> Result<Vec<Desired>, Vec<Problem>> {
    let problem = |line: Option<u64>, message: String| Problem {
        file: file.to_owned(),
        line,
        document: None,
        field: None,
        message,
    };
    let yaml_options = serde_saphyr::options! { with_snippet: false };
    let docs: Vec<Spanned<RawDocument>> =
        serde_saphyr::from_multiple_with_options(text, yaml_options).map_err(|e| {
            let inner = e.without_snippet();
            vec![problem(
                inner.location().map(|l| l.line()).filter(|l| *l > 0),
                inner.to_string(),
            )]
        })?;
    let mut tenants = Vec::new();
    let mut problems = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let mut context = Context {
            file,
            document: format!("document {}", index + 1),
            problems: &mut problems,
        };
        match doc.value.kind.as_ref().map(|k| k.value.as_str()) {
            Some("TenantList") => {
                context.header(doc, "TenantList");
                if doc.value.spec.is_some() || doc.value.metadata.is_some() {
                    context.at(line(doc), None, "a TenantList has only items".into());
                }
                for (i, item) in doc.value.items.iter().flatten().enumerate() {
                    let mut item_context = Context {
                        file,
                        document: format!("document {} items[{i}]", index + 1),
                        problems: context.problems,
                    };
                    if item.value.kind.as_ref().map(|k| k.value.as_str()) != Some("Tenant") {
                        item_context.at(
                            line(item),
                            Some("kind"),
                            "items must be kind Tenant".into(),
                        );
                        continue;
                    }
                    tenants.extend(item_context.tenant(item, options));
                }
            }
            Some("Tenant") => tenants.extend(context.tenant(doc, options)),
            Some(other) => context.at(
                line(doc),
                Some("kind"),
                format!("{other:?} is not Tenant or TenantList"),
            ),
            None => context.at(
                line(doc),
                Some("kind"),
                "missing (Tenant or TenantList)".into(),
            ),
        }
    }
    if problems.is_empty() {
        Ok(tenants)
    } else {
        Err(problems)
    }
}

/// Two documents naming the same user: each problem names both places.
pub fn duplicates(tenants: &[Desired]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    let mut found = Vec::new();
    for t in tenants {
        let user = t.spec.tenant.user();
        if let Some(first) = seen.insert(user, &t.source) {
            found.push(format!(
                "{}: user {user:?} is also given at {first}; each tenant once",
                t.source
            ));
        }
    }
    found
}

struct Context<'a> {
    file: &'a str,
    document: String,
    problems: &'a mut Vec<Problem>,
}

impl Context<'_> {
    fn at(&mut self, line: Option<u64>, field: Option<&str>, message: String) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line,
            document: Some(self.document.clone()),
            field: field.map(str::to_owned),
            message,
        });
    }

    fn header(&mut self, doc: &Spanned<RawDocument>, kind: &str) {
        match &doc.value.api_version {
            Some(v) if v.value == API_VERSION => {}
            Some(v) => self.at(
                line_of(v),
                Some("apiVersion"),
                format!("{:?} is not {API_VERSION}", v.value),
            ),
            None => self.at(
                line(doc),
                Some("apiVersion"),
                format!("missing ({API_VERSION})"),
            ),
        }
        if kind == "Tenant" && doc.value.items.is_some() {
            self.at(
                line(doc),
                Some("items"),
                "only a TenantList has items".into(),
            );
        }
    }

    /// One `kind: Tenant` document.
    fn tenant(&mut self, doc: &Spanned<RawDocument>, options: ParseOptions) -> Option<Desired> {
        let before = self.problems.len();
        let name = doc
            .value
            .metadata
            .as_ref()
            .and_then(|m| m.value.name.as_ref())
            .filter(|n| !n.value.trim().is_empty());
        if let Some(name) = name {
            self.document = format!("Tenant {}", name.value);
        }
        self.header(doc, "Tenant");
        let Some(name) = name else {
            self.at(
                doc.value.metadata.as_ref().map_or(line(doc), line_of),
                Some("metadata.name"),
                "missing".into(),
            );
            return None;
        };
        let Some(spec) = &doc.value.spec else {
            self.at(
                line(doc),
                Some("spec"),
                "missing (at least spec.roles)".into(),
            );
            return None;
        };
        let s = &spec.value;
        let spec_line = line_of(spec);
        if s.roles.is_none() {
            self.at(
                spec_line,
                Some("spec.roles"),
                "missing (e.g. [view])".into(),
            );
            return None;
        }
        let fields = s.fields();
        for field in fields.controller_fields() {
            self.at(
                s.line_of_field(field).or(spec_line),
                Some(field),
                "is for Tenant objects in the cluster, which `tenantctl controller` keeps; apply runs once and cannot renew or end access on time".into(),
            );
        }
        match fields.check(&name.value, options) {
            Ok(spec) if self.problems.len() == before => Some(Desired {
                spec,
                source: format!(
                    "{}:{}",
                    self.file,
                    line(doc).map_or_else(|| "?".to_owned(), |l| l.to_string())
                ),
            }),
            Ok(_) => None,
            Err(problems) => {
                for p in problems {
                    let at = match p.field.as_str() {
                        "spec.user" => s.user.as_ref().map_or(line_of(name), line_of),
                        field => s.line_of_field(field),
                    };
                    self.at(at.or(spec_line), Some(&p.field), p.message);
                }
                None
            }
        }
    }
}

/// The first line of a document: the smallest line of its fields (a mapping's own location is
/// not always its first key's).
fn line(doc: &Spanned<RawDocument>) -> Option<u64> {
    let d = &doc.value;
    [
        d.api_version.as_ref().and_then(line_of),
        d.kind.as_ref().and_then(line_of),
        d.metadata
            .as_ref()
            .and_then(|m| m.value.name.as_ref().and_then(line_of).or(line_of(m))),
        d.spec.as_ref().and_then(line_of),
        line_of(doc),
    ]
    .into_iter()
    .flatten()
    .min()
}

fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line()).filter(|l| *l > 0)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDocument {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    metadata: Option<Spanned<RawMetadata>>,
    spec: Option<Spanned<RawSpec>>,
    items: Option<Vec<Spanned<Self>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMetadata {
    name: Option<Spanned<String>>,
    #[allow(dead_code)]
    labels: Option<std::collections::BTreeMap<String, String>>,
    #[allow(dead_code)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSpec {
    user: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    groups: Option<Vec<Spanned<String>>>,
    roles: Option<Spanned<Vec<Spanned<String>>>>,
    namespace: Option<Spanned<String>>,
    create_namespace: Option<Spanned<bool>>,
    bind_group: Option<Spanned<bool>>,
    ttl: Option<Spanned<String>>,
    key_algorithm: Option<Spanned<String>>,
    signer: Option<Spanned<String>>,
    renew_before: Option<Spanned<String>>,
    expires_at: Option<Spanned<String>>,
    kubeconfig_secret: Option<Spanned<SecretRef>>,
}

impl RawSpec {
    /// The values without their places: the one spec type `apply` and the controller share.
    fn fields(&self) -> TenantDocSpec {
        fn value<T: Clone>(v: Option<&Spanned<T>>) -> Option<T> {
            v.map(|v| v.value.clone())
        }
        TenantDocSpec {
            user: value(self.user.as_ref()),
            auth: value(self.auth.as_ref()),
            groups: self
                .groups
                .as_ref()
                .map(|g| g.iter().map(|g| g.value.clone()).collect()),
            roles: self
                .roles
                .iter()
                .flat_map(|r| r.value.iter().map(|r| r.value.clone()))
                .collect(),
            namespace: value(self.namespace.as_ref()),
            create_namespace: value(self.create_namespace.as_ref()),
            bind_group: value(self.bind_group.as_ref()),
            ttl: value(self.ttl.as_ref()),
            key_algorithm: value(self.key_algorithm.as_ref()),
            signer: value(self.signer.as_ref()),
            renew_before: value(self.renew_before.as_ref()),
            expires_at: value(self.expires_at.as_ref()),
            kubeconfig_secret: value(self.kubeconfig_secret.as_ref()),
        }
    }

    /// The line of a field a problem names (`spec.roles[1]`: that item's).
    fn line_of_field(&self, field: &str) -> Option<u64> {
        let item = |list: Option<&Vec<Spanned<String>>>, prefix: &str| {
            let i: usize = field
                .strip_prefix(prefix)?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            list.and_then(|l| l.get(i)).and_then(line_of)
        };
        match field {
            "spec.user" => self.user.as_ref().and_then(line_of),
            "spec.auth" => self.auth.as_ref().and_then(line_of),
            "spec.groups" => self.groups.iter().flatten().next().and_then(line_of),
            "spec.roles" => self.roles.as_ref().and_then(line_of),
            "spec.namespace" => self.namespace.as_ref().and_then(line_of),
            "spec.createNamespace" => self.create_namespace.as_ref().and_then(line_of),
            "spec.bindGroup" => self.bind_group.as_ref().and_then(line_of),
            "spec.ttl" => self.ttl.as_ref().and_then(line_of),
            "spec.keyAlgorithm" => self.key_algorithm.as_ref().and_then(line_of),
            "spec.signer" => self.signer.as_ref().and_then(line_of),
            "spec.renewBefore" => self.renew_before.as_ref().and_then(line_of),
            "spec.expiresAt" => self.expires_at.as_ref().and_then(line_of),
            "spec.kubeconfigSecret" => self.kubeconfig_secret.as_ref().and_then(line_of),
            f if f.starts_with("spec.roles[") => {
                item(self.roles.as_ref().map(|r| &r.value), "spec.roles[")
            }
            f if f.starts_with("spec.groups[") => item(self.groups.as_ref(), "spec.groups["),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pki_core::KeyAlgorithm;

    use super::*;
    use crate::{cli::SignerKind, tenant::AuthKind};

    fn ok(text: &str) -> Vec<Desired> {
        parse("t.yaml", text, ParseOptions::default()).unwrap_or_else(|p| {
            panic!(
                "{}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
    }

    fn problems(text: &str) -> Vec<String> {
        parse("t.yaml", text, ParseOptions::default())
            .expect_err("expected problems")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const ALICE: &str = "apiVersion: tenantctl.io/v1
kind: Tenant
metadata:
  name: alice
spec:
  groups: [dev]
  roles:
    - view
    - Role/deployer
  namespace: team-a
  createNamespace: true
  ttl: 7d
";

    #[test]
    fn a_tenant_with_defaults() {
        let t = ok(ALICE);
        assert_eq!(t.len(), 1);
        let spec = &t[0].spec;
        assert_eq!(spec.tenant.user(), "alice");
        assert_eq!(spec.tenant.groups(), ["dev"]);
        assert_eq!(spec.tenant.auth(), AuthKind::Cert);
        assert_eq!(spec.bindings.namespace.as_deref(), Some("team-a"));
        assert!(spec.bindings.create_namespace);
        assert_eq!(spec.bindings.roles.len(), 2);
        assert_eq!(spec.ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(spec.key_algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(spec.signer, SignerKind::Local);
        assert_eq!(t[0].source, "t.yaml:1");
    }

    #[test]
    fn lists_and_streams() {
        let text = format!(
            "{ALICE}---\napiVersion: tenantctl.io/v1\nkind: TenantList\nitems:\n  - apiVersion: tenantctl.io/v1\n    kind: Tenant\n    metadata: {{name: b}}\n    spec: {{user: bob@example.com, roles: [edit], namespace: x}}\n  - apiVersion: tenantctl.io/v1\n    kind: Tenant\n    metadata: {{name: ci}}\n    spec: {{auth: token, roles: [edit], namespace: ci}}\n"
        );
        let t = ok(&text);
        let users: Vec<&str> = t.iter().map(|d| d.spec.tenant.user()).collect();
        assert_eq!(users, ["alice", "bob@example.com", "ci"]);
        assert_eq!(t[2].spec.tenant.auth(), AuthKind::Token);
        assert!(ok("").is_empty());
        assert!(duplicates(&t).is_empty());
        let twice = format!("{ALICE}---\n{ALICE}");
        let d = duplicates(&ok(&twice));
        assert_eq!(
            d,
            ["t.yaml:14: user \"alice\" is also given at t.yaml:1; each tenant once"]
        );
    }

    #[test]
    fn problems_name_document_field_and_line() {
        let bad_role = ALICE.replace("Role/deployer", "Foo/deployer");
        assert_eq!(
            problems(&bad_role),
            [
                "t.yaml:9: Tenant alice: spec.roles[1]: \"Foo/deployer\": expected NAME, ClusterRole/NAME or Role/NAME"
            ]
        );
        let bad_group = ALICE.replace("[dev]", "[dev, system:masters]");
        let p = problems(&bad_group);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with(
                "t.yaml:6: Tenant alice: spec.groups[1]: refusing group \"system:masters\""
            ),
            "{p:?}"
        );
        let bad_ns = ALICE.replace("team-a", "Team_A");
        let p = problems(&bad_ns);
        assert!(
            p[0].starts_with(
                "t.yaml:10: Tenant alice: spec.namespace: \"Team_A\" is not a namespace name"
            ),
            "{p:?}"
        );
        let bad_ttl = ALICE.replace("7d", "7 weeks");
        let p = problems(&bad_ttl);
        assert!(
            p[0].starts_with("t.yaml:12: Tenant alice: spec.ttl: "),
            "{p:?}"
        );
        let admin = "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata: {name: root}\nspec:\n  roles: [cluster-admin]\n";
        let p = problems(admin);
        assert!(p[0].starts_with("t.yaml:5: Tenant root: spec.roles: refusing a cluster-wide binding of ClusterRole/cluster-admin"), "{p:?}");
        let allowed = parse(
            "t.yaml",
            admin,
            ParseOptions {
                allow_privileged: true,
            },
        )
        .unwrap();
        assert_eq!(allowed.len(), 1);
        let token_groups = "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata: {name: ci}\nspec:\n  auth: token\n  groups: [g]\n  roles: [edit]\n  namespace: ci\n";
        assert!(problems(token_groups)[0].starts_with("t.yaml:6: Tenant ci: spec.groups: "));
    }

    #[test]
    fn structure_problems() {
        let typo = ALICE.replace("createNamespace", "createNamspace");
        let p = problems(&typo);
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("t.yaml:11"), "{p:?}");
        assert!(p[0].contains("createNamspace"), "{p:?}");
        let p = problems(&ALICE.replace("tenantctl.io/v1", "tenantctl.io/v2"));
        assert_eq!(
            p,
            ["t.yaml:1: Tenant alice: apiVersion: \"tenantctl.io/v2\" is not tenantctl.io/v1"]
        );
        let p = problems("apiVersion: tenantctl.io/v1\nkind: Tenant\nspec: {roles: [view]}\n");
        assert_eq!(p, ["t.yaml:1: document 1: metadata.name: missing"]);
        let p = problems("apiVersion: v1\nkind: ConfigMap\n");
        assert_eq!(
            p,
            ["t.yaml:1: document 1: kind: \"ConfigMap\" is not Tenant or TenantList"]
        );
        let p = problems("apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata: {name: a}\n");
        assert_eq!(
            p,
            ["t.yaml:1: Tenant a: spec: missing (at least spec.roles)"]
        );
        let p = problems("kind: Tenant\n  bad: [\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("t.yaml:"), "{p:?}");
        // Every document is checked: two bad ones, two problems.
        let two = format!(
            "{}---\n{}",
            ALICE.replace("view", "a%b"),
            ALICE.replace("alice", "bob").replace("team-a", "-x")
        );
        assert_eq!(problems(&two).len(), 2);
    }

    /// The reader with places knows every field of the one spec type: a document with all of
    /// them set parses, and only the controller's are refused.
    #[test]
    fn every_field_of_the_shared_spec_is_read_and_controller_fields_refused() {
        let full = TenantDocSpec {
            user: Some("alice".into()),
            auth: Some("cert".into()),
            groups: Some(vec!["dev".into()]),
            roles: vec!["view".into()],
            namespace: Some("team-a".into()),
            create_namespace: Some(true),
            bind_group: Some(false),
            ttl: Some("3h".into()),
            key_algorithm: Some("ECDSA-P384".into()),
            signer: Some("local".into()),
            renew_before: Some("1h".into()),
            expires_at: Some("2030-01-01T00:00:00Z".into()),
            kubeconfig_secret: Some(SecretRef {
                namespace: Some("x".into()),
                name: Some("y".into()),
            }),
        };
        let spec = serde_json::to_string(&full).unwrap();
        let text = format!(
            "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata: {{name: alice}}\nspec: {spec}\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 3, "{p:?}");
        for (problem, field) in p.iter().zip([
            "spec.renewBefore",
            "spec.expiresAt",
            "spec.kubeconfigSecret",
        ]) {
            assert!(
                problem.starts_with(&format!(
                    "t.yaml:4: Tenant alice: {field}: is for Tenant objects in the cluster"
                )),
                "{problem}"
            );
        }
    }
}
