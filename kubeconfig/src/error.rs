//! The one error type of this crate.

use std::time::SystemTime;

use crate::time::Rfc3339;

/// Everything that can go wrong in `kubeconfig`.
///
/// Messages name the entry at fault the way kubectl addresses it (`clusters[prod]`, `contexts[a@prod]`,
/// `users[alice]`). No variant carries key material, tokens or base64 data; YAML syntax errors keep the
/// position but have quoted input values redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a kubeconfig document (YAML syntax, wrong types, missing required fields).
    #[error("invalid kubeconfig YAML: {message}")]
    Yaml {
        /// Line of the error, 1-based, when known.
        line: Option<u64>,
        /// Column of the error, 1-based, when known.
        column: Option<u64>,
        /// The parser's message, with quoted input values replaced by `"<redacted>"`.
        message: String,
    },
    /// The YAML writer failed.
    #[error("could not write kubeconfig YAML: {message}")]
    Serialize {
        /// The writer's message.
        message: String,
    },
    /// Two entries of one list share a name; kubectl refuses such a file.
    #[error("{list}[{name}]: duplicate name")]
    DuplicateName {
        /// `clusters`, `contexts`, `users` or `extensions`.
        list: &'static str,
        /// The repeated name.
        name: String,
    },
    /// A server URL that kubectl could not use.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidServerUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required name (cluster, user) is empty.
    #[error("{what} must not be empty")]
    EmptyName {
        /// Which name.
        what: &'static str,
    },
    /// Builder input that should be PEM text of the given kind is not.
    #[error("{what} is not {expected} PEM text")]
    NotPem {
        /// Which input (`CA certificate`, `client certificate`, `client key`).
        what: &'static str,
        /// The PEM kind expected.
        expected: &'static str,
    },
    /// `current-context` is missing or empty.
    #[error("current-context is not set")]
    NoCurrentContext,
    /// `current-context` names a context that does not exist.
    #[error("contexts[{context}]: no such context (named by current-context)")]
    UnknownContext {
        /// The name looked up.
        context: String,
    },
    /// The context has no cluster.
    #[error("contexts[{context}]: names no cluster")]
    ContextWithoutCluster {
        /// The context.
        context: String,
    },
    /// The context has no user.
    #[error("contexts[{context}]: names no user")]
    ContextWithoutUser {
        /// The context.
        context: String,
    },
    /// A context names a cluster that does not exist.
    #[error("clusters[{cluster}]: no such cluster (named by contexts[{context}])")]
    UnknownCluster {
        /// The cluster name looked up.
        cluster: String,
        /// The context naming it.
        context: String,
    },
    /// A context names a user that does not exist.
    #[error("users[{user}]: no such user (named by contexts[{context}])")]
    UnknownUser {
        /// The user name looked up.
        user: String,
        /// The context naming it.
        context: String,
    },
    /// The cluster has no `server`.
    #[error("clusters[{cluster}]: no server URL")]
    NoServer {
        /// The cluster.
        cluster: String,
    },
    /// A `*-data` field is not valid standard base64.
    #[error("{entry}: {field} is not valid base64")]
    Base64 {
        /// `clusters[x]` or `users[y]`.
        entry: String,
        /// The field (`certificate-authority-data`, `client-certificate-data`, `client-key-data`).
        field: &'static str,
    },
    /// A `*-data` field decodes to bytes that are not UTF-8 (so not PEM text).
    #[error("{entry}: {field} does not decode to PEM text")]
    NotText {
        /// `clusters[x]` or `users[y]`.
        entry: String,
        /// The field.
        field: &'static str,
    },
    /// The user has more than one kind of credentials.
    #[error("users[{user}]: more than one kind of credentials ({}); expected exactly one", kinds.join(", "))]
    AmbiguousCredentials {
        /// The user.
        user: String,
        /// The kinds found (`client certificate`, `token`, `basic auth`, `exec plugin`, `auth provider`).
        kinds: Vec<&'static str>,
    },
    /// The user has no credentials at all.
    #[error("users[{user}]: no credentials")]
    NoCredentials {
        /// The user.
        user: String,
    },
    /// A client certificate without a key, or a key without a certificate.
    #[error("users[{user}]: {present} is set but {missing} is not")]
    IncompleteClientCertificate {
        /// The user.
        user: String,
        /// The half that is there.
        present: &'static str,
        /// The half that is missing.
        missing: &'static str,
    },
    /// The cluster CA is not embedded (a file reference or none), so it cannot be checked here.
    #[error("clusters[{cluster}]: no embedded certificate-authority-data")]
    NoEmbeddedCa {
        /// The cluster.
        cluster: String,
    },
    /// The embedded CA data is not a certificate.
    #[error("clusters[{cluster}]: certificate-authority-data is not a valid certificate")]
    InvalidCa {
        /// The cluster.
        cluster: String,
        /// Why.
        #[source]
        source: Box<pki_core::Error>,
    },
    /// The user's client certificate is not embedded (a file reference), so it cannot be checked here.
    #[error("users[{user}]: no embedded client-certificate-data")]
    NoEmbeddedClientCertificate {
        /// The user.
        user: String,
    },
    /// The user authenticates with something other than a client certificate where one is required.
    #[error("users[{user}]: expected a client certificate, found {found}")]
    NotClientCertificate {
        /// The user.
        user: String,
        /// What was found instead.
        found: &'static str,
    },
    /// The embedded client certificate does not parse.
    #[error("users[{user}]: client-certificate-data is not a valid certificate")]
    InvalidClientCertificate {
        /// The user.
        user: String,
        /// Why.
        #[source]
        source: Box<pki_core::Error>,
    },
    /// The embedded client key does not parse.
    #[error("users[{user}]: client-key-data is not a usable private key")]
    InvalidClientKey {
        /// The user.
        user: String,
        /// Why (never key material).
        #[source]
        source: Box<pki_core::Error>,
    },
    /// The client certificate does not chain to the cluster CA.
    #[error(
        "users[{user}]: client certificate is not signed by the cluster CA (clusters[{cluster}])"
    )]
    NotSignedByCa {
        /// The user.
        user: String,
        /// The cluster whose CA was checked.
        cluster: String,
        /// Why.
        #[source]
        source: Box<pki_core::Error>,
    },
    /// The client certificate's NotAfter is before `now`.
    #[error("users[{user}]: client certificate expired at {}", Rfc3339(*not_after))]
    Expired {
        /// The user.
        user: String,
        /// NotAfter.
        not_after: SystemTime,
    },
    /// The client certificate's NotBefore is after `now`.
    #[error("users[{user}]: client certificate is not valid before {}", Rfc3339(*not_before))]
    NotYetValid {
        /// The user.
        user: String,
        /// NotBefore.
        not_before: SystemTime,
    },
    /// The client key is not the certificate's key.
    #[error("users[{user}]: client key does not match the client certificate")]
    KeyMismatch {
        /// The user.
        user: String,
    },
    /// The client certificate's CN is not the expected user.
    #[error("users[{user}]: client certificate has CN {}, expected {expected:?}", found.as_deref().map_or_else(|| "(none)".to_owned(), |cn| format!("{cn:?}")))]
    WrongCommonName {
        /// The user entry.
        user: String,
        /// Expected CN.
        expected: String,
        /// CN found, if any.
        found: Option<String>,
    },
    /// The client certificate's O values are not the expected groups.
    #[error("users[{user}]: client certificate has O {found:?}, expected {expected:?}")]
    WrongOrganizations {
        /// The user entry.
        user: String,
        /// Expected O values.
        expected: Vec<String>,
        /// O values found.
        found: Vec<String>,
    },
    /// kubeadm's reuse rule: an existing kubeconfig embeds a CA other than the cluster CA.
    #[error("a kubeconfig file {file:?} exists already but has got the wrong CA cert")]
    WrongCa {
        /// The file name.
        file: String,
    },
    /// An existing control-plane kubeconfig cannot be reused; `problems` says why.
    #[error("kubeconfig file {file:?} cannot be reused: {}", join(problems))]
    NotReusable {
        /// The file name.
        file: String,
        /// Every problem found.
        problems: Vec<Self>,
    },
    /// The CA could not issue the client certificate.
    #[error("could not issue a client certificate for {user:?}")]
    Issue {
        /// The user (CN).
        user: String,
        /// Why.
        #[source]
        source: Box<pki_core::Error>,
    },
    /// The client key could not be encoded as PEM.
    #[error("could not encode the client key for {user:?}")]
    KeyEncoding {
        /// The user (CN).
        user: String,
        /// Why.
        #[source]
        source: Box<pki_core::Error>,
    },
}

fn join(problems: &[Error]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Maps a serde-saphyr error to [`Error::Yaml`] without the input snippet and without quoted values.
    pub(crate) fn yaml(err: &serde_saphyr::Error) -> Self {
        let plain = err.without_snippet();
        let location = plain.location();
        Self::Yaml {
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message: redact_quoted(&plain.to_string()),
        }
    }
}

/// Replaces every `"…"` and `'…'` span of a parser message with `"<redacted>"`: serde quotes the offending
/// input value there (`invalid type: string "…", expected a boolean`), and that value may be a secret put in
/// the wrong place. Backticked field names stay, as they are what the user needs to see.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            // Skip to the matching quote (or the end).
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
            }
            out.push_str("\"<redacted>\"");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_quoted_values() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "s3cr3t", expected a boolean at `token`"#),
            r#"invalid type: string "<redacted>", expected a boolean at `token`"#
        );
        assert_eq!(
            redact_quoted("unterminated \"abc"),
            "unterminated \"<redacted>\""
        );
        assert_eq!(redact_quoted("it's 'x'"), "it\"<redacted>\"x\"<redacted>\"");
    }
}
