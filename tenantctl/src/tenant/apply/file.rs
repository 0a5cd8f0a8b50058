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

use std::{fmt, time::Duration};

use pki_core::KeyAlgorithm;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::super::{
    AuthKind, RoleKind, RoleRef,
    spec::{TenantInput, TenantSpec, field_of},
};
use crate::{cli::SignerKind, time::parse_duration};

/// The `apiVersion` of a tenants file.
pub const API_VERSION: &str = "tenantctl.io/v1";
/// A credential's lifetime when the document gives none (`create --ttl`'s default).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 86_400);

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

/// Options that apply to every document.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// `--allow-privileged`: the guardrails of `create --allow-privileged`.
    pub allow_privileged: bool,
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
        let field_line = |f: Option<u64>| f.or(spec_line);

        let user = s.user.as_ref().unwrap_or(name);
        let auth = match s.auth.as_ref().map(|a| a.value.as_str()) {
            None | Some("cert") => AuthKind::Cert,
            Some("token") => AuthKind::Token,
            Some(other) => {
                self.at(
                    s.auth.as_ref().and_then(line_of),
                    Some("spec.auth"),
                    format!("{other:?} is not cert or token"),
                );
                AuthKind::Cert
            }
        };
        let signer = match s.signer.as_ref().map(|a| a.value.as_str()) {
            None | Some("local") => SignerKind::Local,
            Some("csr") => SignerKind::Csr,
            Some(other) => {
                self.at(
                    s.signer.as_ref().and_then(line_of),
                    Some("spec.signer"),
                    format!("{other:?} is not local or csr"),
                );
                SignerKind::Local
            }
        };
        let ttl = match &s.ttl {
            None => DEFAULT_TTL,
            Some(t) => match parse_duration(&t.value) {
                Ok(d) => d,
                Err(e) => {
                    self.at(line_of(t), Some("spec.ttl"), e);
                    DEFAULT_TTL
                }
            },
        };
        let key_algorithm = match &s.key_algorithm {
            None => KeyAlgorithm::EcdsaP256,
            Some(k) => k.value.parse::<KeyAlgorithm>().unwrap_or_else(|e| {
                self.at(line_of(k), Some("spec.keyAlgorithm"), e.to_string());
                KeyAlgorithm::EcdsaP256
            }),
        };
        let roles: Vec<String> = match &s.roles {
            None => {
                self.at(
                    spec_line,
                    Some("spec.roles"),
                    "missing (e.g. [view])".into(),
                );
                return None;
            }
            Some(roles) => roles.value.iter().map(|r| r.value.clone()).collect(),
        };
        // Each role and group on its own first, so a bad one is pointed at by its line.
        for (i, r) in s.roles.iter().flat_map(|r| r.value.iter()).enumerate() {
            if let Err(e) = RoleRef::parse(&r.value, RoleKind::ClusterRole) {
                self.at(line_of(r), Some(&format!("spec.roles[{i}]")), reason(&e));
            }
        }
        let groups: Vec<String> = s.groups.iter().flatten().map(|g| g.value.clone()).collect();
        for (i, g) in s.groups.iter().flatten().enumerate() {
            if let Err(e) = super::super::Tenant::new(
                "probe",
                std::slice::from_ref(&g.value),
                AuthKind::Cert,
                options.allow_privileged,
            ) {
                self.at(line_of(g), Some(&format!("spec.groups[{i}]")), reason(&e));
            }
        }
        if self.problems.len() > before {
            return None;
        }
        let input = TenantInput {
            user: &user.value,
            groups: &groups,
            auth,
            roles: &roles,
            role_kind: RoleKind::ClusterRole,
            namespace: s.namespace.as_ref().map(|n| n.value.clone()),
            create_namespace: s.create_namespace.as_ref().is_some_and(|b| b.value),
            bind_group: s.bind_group.as_ref().is_some_and(|b| b.value),
            ttl,
            key_algorithm,
            signer,
            allow_privileged: options.allow_privileged,
        };
        match TenantSpec::check(&input) {
            Ok(spec) => Some(Desired {
                spec,
                source: format!(
                    "{}:{}",
                    self.file,
                    line(doc).map_or_else(|| "?".to_owned(), |l| l.to_string())
                ),
            }),
            Err(e) => {
                let field = field_of(&e);
                let at = match field {
                    "spec.user" => s.user.as_ref().map_or(line_of(name), line_of),
                    "spec.roles" => s.roles.as_ref().and_then(line_of),
                    "spec.groups" => s.groups.iter().flatten().next().and_then(line_of),
                    "spec.namespace" => s.namespace.as_ref().and_then(line_of),
                    "spec.createNamespace" => s.create_namespace.as_ref().and_then(line_of),
                    "spec.bindGroup" => s.bind_group.as_ref().and_then(line_of),
                    "spec.signer" => s.signer.as_ref().and_then(line_of),
                    _ => None,
                };
                self.at(field_line(at), Some(field), reason(&e));
                None
            }
        }
    }
}

/// An error's message without create's flag spelling.
fn reason(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Usage { message, .. } => message.clone(),
        other => other.to_string(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
