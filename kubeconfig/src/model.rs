//! The kubeconfig model: kube's `Kubeconfig`, wrapped.
//!
//! # Why kube's type
//!
//! `kube::config::Kubeconfig` (kube 5) has every field of client-go's `clientcmd/api/v1` `Config` under
//! kubectl's names (`certificate-authority-data`, `client-certificate-data`, `client-key-data`, `token`,
//! `tokenFile`, `exec`, `auth-provider`, `as*`, `namespace`, `extensions`, `preferences`, ...) and keeps
//! anything else in `#[serde(flatten)] other` maps. Measured (test `kubectl_all_fields_round_trip`): a
//! kubectl-written file using every field, parsed by it and written back with serde-saphyr, is
//! byte-identical to the original after `kubectl config view --raw` normalises both. So this crate does
//! not keep a copy of the model; it wraps kube's to add safe YAML errors, redacted `Debug`, kubectl's
//! duplicate-name rule, merge/minify, and the resolved view.
//!
//! Known differences from kubectl, none of which lose data:
//! - keys are written in kube's declaration order, not sorted, and maps backed by `HashMap`
//!   (`auth-provider.config`, `as-user-extra`, `exec.env` entries) in no fixed order;
//! - a context without `cluster:` does not parse (kubectl always writes `cluster:`);
//! - a context without a user is written as `user: null`, and `exec` gains `provideClusterInfo: false`.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube::config::{Kubeconfig as KubeKubeconfig, NamedExtension};
use zeroize::Zeroizing;

use crate::Error;

/// A kubeconfig file (kubectl's `v1` `Config`) as data.
///
/// Parse with [`Kubeconfig::from_yaml`], write with [`Kubeconfig::to_yaml`], build with
/// [`Kubeconfig::with_client_certificate`] or [`Kubeconfig::with_token`], resolve the current context
/// with [`Kubeconfig::current`]. The underlying kube type is available through [`Kubeconfig::as_kube`]
/// and friends for anything this crate does not cover.
///
/// `Debug` prints only names, servers and credential kinds, never credentials (kube's own `Debug` would
/// print auth-provider configuration, which often holds tokens).
#[derive(Clone, Default)]
pub struct Kubeconfig {
    raw: KubeKubeconfig,
}

impl Kubeconfig {
    /// Parses kubeconfig YAML (or JSON). Several `---` documents are merged as kube does, first wins.
    ///
    /// Errors carry the position but no input text, and a list with two entries of one name is refused
    /// as kubectl refuses it (`users[alice]: duplicate name`).
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let options = serde_saphyr::options! { with_snippet: false };
        let docs: Vec<KubeKubeconfig> =
            serde_saphyr::from_multiple_with_options(text, options).map_err(|e| Error::yaml(&e))?;
        let docs = docs
            .into_iter()
            .map(|raw| {
                check_unique("clusters", raw.clusters.iter().map(|c| c.name.as_str()))?;
                check_unique("contexts", raw.contexts.iter().map(|c| c.name.as_str()))?;
                check_unique("users", raw.auth_infos.iter().map(|u| u.name.as_str()))?;
                check_unique(
                    "extensions",
                    raw.extensions.iter().flatten().map(|e| e.name.as_str()),
                )?;
                Ok(Self { raw })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Self::merge(docs))
    }

    /// Writes the kubeconfig as YAML, every `*-data` field on one line. The text holds the credentials,
    /// so it comes back zeroizing.
    pub fn to_yaml(&self) -> Result<Zeroizing<String>, Error> {
        // Plain one-line scalars: serde-saphyr's default would write strings over 80 characters (every
        // `*-data` field) as folded block scalars, which kubectl reads fine but kubeadm never writes.
        let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
        let mut out = Zeroizing::new(String::new());
        serde_saphyr::to_fmt_writer_with_options(&mut *out, &self.raw, options).map_err(|e| {
            Error::Serialize {
                message: e.to_string(),
            }
        })?;
        Ok(out)
    }

    /// The kube type underneath.
    pub fn as_kube(&self) -> &KubeKubeconfig {
        &self.raw
    }

    /// The kube type underneath, to edit.
    pub fn as_kube_mut(&mut self) -> &mut KubeKubeconfig {
        &mut self.raw
    }

    /// Unwraps the kube type (for `kube::Config::from_custom_kubeconfig`).
    pub fn into_kube(self) -> KubeKubeconfig {
        self.raw
    }

    /// `current-context`, if set and not empty.
    pub fn current_context(&self) -> Option<&str> {
        self.raw
            .current_context
            .as_deref()
            .filter(|c| !c.is_empty())
    }

    /// Merges kubeconfigs with kubectl's precedence (`KUBECONFIG=a:b:c`): the first to define a cluster,
    /// context, user or extension name wins it whole; `current-context` comes from the first that sets a
    /// non-empty one; `preferences.colors` from the first that sets it; `apiVersion`, `kind` and unknown
    /// top-level fields from the first that has them.
    pub fn merge(configs: impl IntoIterator<Item = Self>) -> Self {
        let mut out = KubeKubeconfig::default();
        for Self { raw: next } in configs {
            append_new(&mut out.clusters, next.clusters, |c| &c.name);
            append_new(&mut out.contexts, next.contexts, |c| &c.name);
            append_new(&mut out.auth_infos, next.auth_infos, |u| &u.name);
            merge_extensions(&mut out.extensions, next.extensions);
            if out.current_context.as_deref().is_none_or(str::is_empty)
                && next.current_context.is_some()
            {
                out.current_context = next.current_context;
            }
            match (&mut out.preferences, next.preferences) {
                (None, p) => out.preferences = p,
                (Some(mine), Some(theirs)) => {
                    mine.colors = mine.colors.or(theirs.colors);
                    merge_extensions(&mut mine.extensions, theirs.extensions);
                    for (k, v) in theirs.other {
                        mine.other.entry(k).or_insert(v);
                    }
                }
                (Some(_), None) => {}
            }
            out.api_version = out.api_version.or(next.api_version);
            out.kind = out.kind.or(next.kind);
            for (k, v) in next.other {
                out.other.entry(k).or_insert(v);
            }
        }
        Self { raw: out }
    }

    /// Keeps only the current context and the cluster and user it names, like
    /// `kubectl config view --minify` (preferences and top-level extensions stay).
    ///
    /// `--flatten`'s other half, inlining `certificate-authority`/`client-certificate`/`client-key`
    /// file references, is I/O and left to the caller; the files this crate writes have none.
    pub fn minify(&self) -> Result<Self, Error> {
        let context_name = self.current_context().ok_or(Error::NoCurrentContext)?;
        let context = self
            .raw
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .ok_or_else(|| Error::UnknownContext {
                context: context_name.to_owned(),
            })?;
        let mut out = KubeKubeconfig {
            preferences: self.raw.preferences.clone(),
            current_context: self.raw.current_context.clone(),
            extensions: self.raw.extensions.clone(),
            kind: self.raw.kind.clone(),
            api_version: self.raw.api_version.clone(),
            other: self.raw.other.clone(),
            contexts: vec![context.clone()],
            ..KubeKubeconfig::default()
        };
        if let Some(ctx) = &context.context {
            if !ctx.cluster.is_empty() {
                let cluster = self
                    .raw
                    .clusters
                    .iter()
                    .find(|c| c.name == ctx.cluster)
                    .ok_or_else(|| Error::UnknownCluster {
                        cluster: ctx.cluster.clone(),
                        context: context_name.to_owned(),
                    })?;
                out.clusters.push(cluster.clone());
            }
            if let Some(user) = ctx.user.as_deref().filter(|u| !u.is_empty()) {
                let auth = self
                    .raw
                    .auth_infos
                    .iter()
                    .find(|u| u.name == user)
                    .ok_or_else(|| Error::UnknownUser {
                        user: user.to_owned(),
                        context: context_name.to_owned(),
                    })?;
                out.auth_infos.push(auth.clone());
            }
        }
        Ok(Self { raw: out })
    }
}

impl From<KubeKubeconfig> for Kubeconfig {
    fn from(raw: KubeKubeconfig) -> Self {
        Self { raw }
    }
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Clusters<'a>(&'a KubeKubeconfig);
        impl fmt::Debug for Clusters<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.clusters.iter().map(|c| {
                        (
                            c.name.as_str(),
                            c.cluster.as_ref().and_then(|c| c.server.as_deref()),
                        )
                    }))
                    .finish()
            }
        }
        struct Contexts<'a>(&'a KubeKubeconfig);
        impl fmt::Debug for Contexts<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.contexts.iter().map(|c| {
                        let target = c
                            .context
                            .as_ref()
                            .map(|c| format!("{}@{}", c.user.as_deref().unwrap_or(""), c.cluster));
                        (c.name.as_str(), target)
                    }))
                    .finish()
            }
        }
        struct Users<'a>(&'a KubeKubeconfig);
        impl fmt::Debug for Users<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.auth_infos.iter().map(|u| {
                        let kinds = u
                            .auth_info
                            .as_ref()
                            .map(crate::resolve::credential_kinds)
                            .unwrap_or_default();
                        (u.name.as_str(), kinds)
                    }))
                    .finish()
            }
        }
        f.debug_struct("Kubeconfig")
            .field("current_context", &self.raw.current_context)
            .field("clusters", &Clusters(&self.raw))
            .field("contexts", &Contexts(&self.raw))
            .field("users", &Users(&self.raw))
            .finish_non_exhaustive()
    }
}

fn check_unique<'a>(list: &'static str, names: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(Error::DuplicateName {
                list,
                name: name.to_owned(),
            });
        }
    }
    Ok(())
}

fn append_new<T>(base: &mut Vec<T>, next: Vec<T>, name: impl Fn(&T) -> &String) {
    let existing: HashSet<String> = base.iter().map(|x| name(x).clone()).collect();
    base.extend(next.into_iter().filter(|x| !existing.contains(name(x))));
}

fn merge_extensions(base: &mut Option<Vec<NamedExtension>>, next: Option<Vec<NamedExtension>>) {
    match (base.as_mut(), next) {
        (None, next) => *base = next,
        (Some(mine), Some(theirs)) => append_new(mine, theirs, |e| &e.name),
        (Some(_), None) => {}
    }
}

/// Standard base64 with padding, as kubectl writes `*-data` fields.
pub(crate) fn encode(pem: &str) -> String {
    STANDARD.encode(pem)
}

/// Encodes a secret so that the `String` never reallocates (no stray unzeroized copies) and moves into
/// kube's `SecretString` without a copy.
pub(crate) fn encode_secret(pem: &str) -> secrecy::SecretString {
    let len = base64::encoded_len(pem.len(), true).unwrap_or(0);
    let mut out = String::with_capacity(len);
    STANDARD.encode_string(pem, &mut out);
    // len == capacity, so `into_boxed_str` inside `From<String>` does not reallocate.
    secrecy::SecretString::from(out)
}

/// Decodes a `*-data` field to PEM text. `entry` is `clusters[x]` or `users[y]`, for the error.
pub(crate) fn decode(data: &str, entry: &str, field: &'static str) -> Result<String, Error> {
    let bytes = STANDARD.decode(data.trim()).map_err(|_| Error::Base64 {
        entry: entry.to_owned(),
        field,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        // Zeroize the rejected bytes too: they may be a DER key.
        drop(Zeroizing::new(e.into_bytes()));
        Error::NotText {
            entry: entry.to_owned(),
            field,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_FIELDS: &str = include_str!("../tests/data/kubectl-all-fields.yaml");

    fn names<T>(list: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
        list.iter().map(name).collect()
    }

    #[test]
    fn keeps_every_kubectl_field_through_a_round_trip() {
        let first = Kubeconfig::from_yaml(ALL_FIELDS).unwrap();
        let yaml = first.to_yaml().unwrap();
        let again = Kubeconfig::from_yaml(&yaml).unwrap();
        // kube's own reader agrees.
        kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        for needle in [
            "certificate-authority-data: aGVsbG8K",
            "tls-server-name: api.example",
            "proxy-url: http://proxy:3128",
            "disable-compression: true",
            "insecure-skip-tls-verify: true",
            "namespace: team-a",
            "name: ext-ctx",
            "name: ext-cluster",
            "name: ext-user",
            "name: ext-top",
            "name: ext-pref",
            "colors: true",
            "as: bob",
            "as-uid: \"42\"",
            "tokenFile: /tok",
            "interactiveMode: Never",
            "idp-issuer-url: https://x",
            "current-context: a@prod",
        ] {
            assert!(yaml.contains(needle), "{needle} lost:\n{}", &*yaml);
        }
        assert_eq!(again.to_yaml().unwrap().len(), yaml.len());
    }

    #[test]
    fn yaml_errors_keep_position_but_not_values() {
        let err = Kubeconfig::from_yaml(
            "clusters:\n- name: a\n  cluster:\n    insecure-skip-tls-verify: s3cr3t-value\n",
        )
        .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(matches!(err, Error::Yaml { line: Some(4), .. }), "{err:?}");

        let err = Kubeconfig::from_yaml(
            "users:\n- name: a\n  user:\n    token: [s3cr3t]\n  bad indent: x\n",
        )
        .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err}");
    }

    #[test]
    fn refuses_duplicate_names_like_kubectl() {
        let err = Kubeconfig::from_yaml(
            "users:\n- name: a\n  user: {token: x}\n- name: a\n  user: {token: y}\n",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "users[a]: duplicate name");
    }

    #[test]
    fn merge_follows_kubectl_precedence() {
        let a = Kubeconfig::from_yaml(
            "clusters: [{name: c1, cluster: {server: 'https://a:1'}}]\n\
             users: [{name: u, user: {token: from-a}}]\n\
             contexts: [{name: x, context: {cluster: c1, user: u}}]\n\
             current-context: ''\n",
        )
        .unwrap();
        let b = Kubeconfig::from_yaml(
            "clusters: [{name: c1, cluster: {server: 'https://b:1'}}, {name: c2, cluster: {server: 'https://b:2'}}]\n\
             users: [{name: u, user: {token: from-b}}, {name: v, user: {token: v}}]\n\
             contexts: [{name: y, context: {cluster: c2, user: v}}]\n\
             current-context: y\npreferences: {colors: true}\n",
        )
        .unwrap();
        let c = Kubeconfig::from_yaml("current-context: x\n").unwrap();
        let merged = Kubeconfig::merge([a, b, c]);
        let raw = merged.as_kube();
        assert_eq!(names(&raw.clusters, |c| &c.name), ["c1", "c2"]);
        assert_eq!(
            raw.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("https://a:1")
        );
        assert_eq!(names(&raw.auth_infos, |u| &u.name), ["u", "v"]);
        assert_eq!(names(&raw.contexts, |c| &c.name), ["x", "y"]);
        // The first file's empty current-context does not count; the second's wins over the third's.
        assert_eq!(merged.current_context(), Some("y"));
        assert_eq!(raw.preferences.as_ref().and_then(|p| p.colors), Some(true));
        let current = merged.current().unwrap();
        assert_eq!(current.server, "https://b:2");
    }

    #[test]
    fn minify_keeps_only_the_current_context() {
        let config =
            Kubeconfig::from_yaml(include_str!("../tests/data/multi-context.yaml")).unwrap();
        let min = config.minify().unwrap();
        let raw = min.as_kube();
        assert_eq!(names(&raw.contexts, |c| &c.name), ["admin@prod"]);
        assert_eq!(names(&raw.clusters, |c| &c.name), ["prod"]);
        assert_eq!(names(&raw.auth_infos, |u| &u.name), ["admin"]);
        assert_eq!(
            min.current().unwrap().server,
            "https://vip.prod.example:6443"
        );

        let mut broken = config;
        broken.as_kube_mut().current_context = Some("ghost-user".into());
        assert_eq!(
            broken.minify().unwrap_err().to_string(),
            "users[nobody]: no such user (named by contexts[ghost-user])"
        );
        broken.as_kube_mut().current_context = None;
        assert!(matches!(broken.minify(), Err(Error::NoCurrentContext)));
    }

    #[test]
    fn multi_document_and_json_input() {
        let config =
            Kubeconfig::from_yaml("current-context: a\n---\ncurrent-context: b\nclusters: []\n")
                .unwrap();
        assert_eq!(config.current_context(), Some("a"));
        let json = r#"{"apiVersion":"v1","kind":"Config","clusters":[{"name":"k","cluster":{"server":"https://[::1]:6443"}}],"contexts":[],"users":[],"current-context":""}"#;
        let config = Kubeconfig::from_yaml(json).unwrap();
        assert_eq!(config.current_context(), None);
        assert_eq!(config.as_kube().clusters[0].name, "k");
        assert!(
            Kubeconfig::from_yaml("")
                .unwrap()
                .as_kube()
                .clusters
                .is_empty()
        );
    }

    #[test]
    fn debug_shows_names_not_secrets() {
        let config = Kubeconfig::from_yaml(ALL_FIELDS).unwrap();
        let debug = format!("{config:?}");
        for secret in ["s3cr3t", "abc", "aGVsbG8K"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(
            debug.contains("a@prod") && debug.contains("auth provider"),
            "{debug}"
        );
    }
}
