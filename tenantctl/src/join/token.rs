//! Bootstrap tokens, byte-compatible with kubeadm's: `[a-z0-9]{6}.[a-z0-9]{16}` from the
//! CSPRNG, stored as a `bootstrap.kubernetes.io/token` Secret `bootstrap-token-<id>` in
//! kube-system — so `kubeadm token list` shows ours and `tenantctl token list` shows kubeadm's.
//!
//! Mirrors `cmd/kubeadm/app/apis/bootstraptoken/v1/utils.go` (`encodeTokenSecretData`,
//! `BootstrapTokenFromSecret`) and the names and patterns of
//! `k8s.io/cluster-bootstrap/token/api/types.go`. The commands `token create|list|delete` are at
//! the bottom.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::api::ListParams;
use kubeconfig::ServerUrl;
use pki_core::Certificate;
use serde::Serialize;

use crate::{
    cli::{Format, TokenCreateArgs, TokenDeleteArgs, TokenListArgs},
    cluster::{self, Cluster},
    error::Error,
    output::{Output, progress, say},
    time::{humanize, parse_rfc3339, rfc3339},
};

/// `bootstrap-token-` + id.
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// The Secret type.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Where the Secrets live.
pub const NAMESPACE: &str = "kube-system";
/// kubeadm's default extra group for node tokens.
pub const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The usages a token may have (`usage-bootstrap-<usage>`).
pub const KNOWN_USAGES: [&str; 2] = ["signing", "authentication"];
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A bootstrap token and what its Secret says about it. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// The public half, `[a-z0-9]{6}`.
    pub id: String,
    secret: String,
    /// What it is for.
    pub description: Option<String>,
    /// When the token-cleaner deletes it; `None`: never.
    pub expires: Option<SystemTime>,
    /// `signing`, `authentication`, sorted.
    pub usages: Vec<String>,
    /// Extra groups (`system:bootstrappers:…`).
    pub groups: Vec<String>,
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"[REDACTED]")
            .field("expires", &self.expires)
            .field("usages", &self.usages)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

impl BootstrapToken {
    /// A new token from the CSPRNG; usages and groups checked as kubeadm checks them.
    pub fn generate(
        ttl: Option<Duration>,
        description: Option<String>,
        usages: &[String],
        groups: &[String],
        now: SystemTime,
    ) -> Result<Self, Error> {
        let mut usages = usages.to_vec();
        usages.sort();
        usages.dedup();
        if let Some(u) = usages.iter().find(|u| !KNOWN_USAGES.contains(&u.as_str())) {
            return Err(Error::Usage {
                flag: "--usages",
                message: format!("{u:?} is not a token usage; use signing and/or authentication"),
            });
        }
        for g in groups {
            if !valid_group(g) {
                return Err(Error::Usage {
                    flag: "--groups",
                    message: format!(
                        "{g:?} must match system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]"
                    ),
                });
            }
        }
        Ok(Self {
            id: random_chars(6)?,
            secret: random_chars(16)?,
            description: description.filter(|d| !d.is_empty()),
            expires: ttl.map(|t| now + t),
            usages,
            groups: groups.to_vec(),
        })
    }

    /// `id.secret`, what a joining node presents.
    pub fn token(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The secret half (for JWS keys).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The Secret kubeadm would write (`BootstrapTokenToSecret`).
    pub fn to_secret(&self) -> Secret {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        };
        put("token-id", &self.id);
        put("token-secret", &self.secret);
        if let Some(d) = &self.description {
            put("description", d);
        }
        if let Some(t) = self.expires {
            put("expiration", &rfc3339(t));
        }
        for u in &self.usages {
            put(&format!("usage-bootstrap-{u}"), "true");
        }
        if !self.groups.is_empty() {
            put("auth-extra-groups", &self.groups.join(","));
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(format!("{SECRET_PREFIX}{}", self.id)),
                namespace: Some(NAMESPACE.to_owned()),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_owned()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Reads a token Secret as kubeadm does (`BootstrapTokenFromSecret`): the name must be
    /// `bootstrap-token-<token-id>`, id and secret well-formed, the expiration RFC 3339.
    pub fn from_secret(secret: &Secret) -> Result<Self, String> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let data = secret.data.as_ref();
        let get = |k: &str| {
            data.and_then(|d| d.get(k))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .unwrap_or_default()
        };
        let id = get("token-id");
        if id.is_empty() {
            return Err(format!("bootstrap token Secret {name} has no token-id"));
        }
        if name != format!("{SECRET_PREFIX}{id}") {
            return Err(format!(
                "bootstrap token Secret {name} is not named {SECRET_PREFIX}{id}"
            ));
        }
        let secret_half = get("token-secret");
        let (id, secret_half) = parse(&format!("{id}.{secret_half}"))
            .map_err(|_| format!("bootstrap token Secret {name} holds a malformed token"))?;
        let expiration = get("expiration");
        let expires = if expiration.is_empty() {
            None
        } else {
            Some(parse_rfc3339(&expiration).ok_or_else(|| {
                format!("bootstrap token Secret {name}: expiration {expiration:?} is not RFC 3339")
            })?)
        };
        let mut usages: Vec<String> = data
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.0 == b"true")
            .filter_map(|(k, _)| k.strip_prefix("usage-bootstrap-").map(str::to_owned))
            .collect();
        usages.sort();
        let groups = get("auth-extra-groups");
        let description = get("description");
        Ok(Self {
            id,
            secret: secret_half,
            description: (!description.is_empty()).then_some(description),
            expires,
            usages,
            groups: if groups.is_empty() {
                Vec::new()
            } else {
                groups.split(',').map(str::to_owned).collect()
            },
        })
    }
}

/// Splits `id.secret`, checking kubeadm's pattern `\A([a-z0-9]{6})\.([a-z0-9]{16})\z`.
pub fn parse(token: &str) -> Result<(String, String), Error> {
    let bad = || Error::Usage {
        flag: "TOKEN",
        message: "a bootstrap token has the form [a-z0-9]{6}.[a-z0-9]{16}".into(),
    };
    let (id, secret) = token.split_once('.').ok_or_else(bad)?;
    if !(is_token_part(id, 6) && is_token_part(secret, 16)) {
        return Err(bad());
    }
    Ok((id.to_owned(), secret.to_owned()))
}

/// A token id (`[a-z0-9]{6}`) from a token or an id.
pub fn id_of(token_or_id: &str) -> Result<String, Error> {
    if is_token_part(token_or_id, 6) {
        return Ok(token_or_id.to_owned());
    }
    parse(token_or_id).map(|(id, _)| id)
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// `\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z`.
fn valid_group(g: &str) -> bool {
    let Some(rest) = g.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    let ok = |b: u8| b.is_ascii_digit() || b.is_ascii_lowercase();
    !rest.is_empty()
        && rest.len() <= 256
        && rest.bytes().all(|b| ok(b) || b == b':' || b == b'-')
        && rest.bytes().last().is_some_and(ok)
}

/// `n` characters of `[a-z0-9]`, uniformly (rejection sampling, as kubeadm's `randBytes`).
fn random_chars(n: usize) -> Result<String, Error> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 32];
    while out.len() < n {
        rng.fill(&mut buf).map_err(|_| Error::Usage {
            flag: "token",
            message: "the system random number generator failed".into(),
        })?;
        // 252 = 7 × 36: bytes above it would bias the alphabet.
        for b in buf.iter().filter(|&&b| b < 252) {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b) % 36]));
        }
    }
    Ok(out)
}

/// A token as `token list -o json|yaml` prints it (the secret half included, as kubeadm's
/// `token list` shows it: whoever may list Secrets in kube-system may read it anyway).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    usages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    join_command: Option<String>,
}

impl From<&BootstrapToken> for Listed {
    fn from(t: &BootstrapToken) -> Self {
        Self {
            token: t.token(),
            expires: t.expires.map(rfc3339),
            usages: t.usages.clone(),
            description: t.description.clone(),
            groups: t.groups.clone(),
            join_command: None,
        }
    }
}

/// `tenantctl token create`: prints the token alone on stdout, like kubeadm, or with
/// `--print-join-command` the whole join line.
pub fn create(args: &TokenCreateArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let now = SystemTime::now();
    let ttl = (!args.ttl.is_zero()).then_some(args.ttl);
    let token = BootstrapToken::generate(
        ttl,
        args.description.clone(),
        &args.usages,
        &args.groups,
        now,
    )?;
    cluster::block_on(async {
        let (cluster, resolved) = cluster::open(
            &args.api.access(),
            args.api.retry(),
            cluster::RECORD_NAMESPACE,
        )
        .await?;
        let join = if args.print_join_command {
            let server = match &args.server {
                Some(s) => s.clone(),
                None => resolved
                    .config
                    .cluster_url
                    .to_string()
                    .trim_end_matches('/')
                    .parse()?,
            };
            // One hash per CA the admin kubeconfig trusts, as kubeadm prints them: a line
            // made mid-rotation (two CAs) still pins after `finish` leaves the new one.
            let cas = resolved.config.root_cert.as_deref().unwrap_or_default();
            if cas.is_empty() {
                return Err(Error::Usage {
                    flag: "--print-join-command",
                    message: "the admin kubeconfig embeds no cluster CA to take the hash from"
                        .into(),
                });
            }
            let hashes = cas
                .iter()
                .map(|der| Certificate::from_der(der)?.discovery_hash())
                .collect::<Result<Vec<_>, _>>()?;
            Some(join_command(&server, &token, &hashes))
        } else {
            None
        };
        create_online(&cluster, &token, join, args.output, out).await
    })
}

/// `tenantctl join HOST:PORT --token T --discovery-token-ca-cert-hash H…` (one per hash).
pub fn join_command(server: &ServerUrl, token: &BootstrapToken, ca_hashes: &[String]) -> String {
    let host = match server.host().parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => server.host().to_owned(),
    };
    let mut line = format!(
        "tenantctl join {host}:{} --token {}",
        server.port().unwrap_or(443),
        token.token()
    );
    for h in ca_hashes {
        line.push_str(" --discovery-token-ca-cert-hash ");
        line.push_str(h);
    }
    line
}

/// The create flow on any client: one POST of the Secret (a 409 is an id collision). The
/// result is the token, or `join` (the join line) when given.
pub async fn create_online(
    cluster: &Cluster,
    token: &BootstrapToken,
    join: Option<String>,
    format: Format,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    cluster
        .create_namespaced(NAMESPACE, &token.to_secret())
        .await?;
    progress!(
        out,
        "bootstrap token {} created in secret/{SECRET_PREFIX}{} in {NAMESPACE}{}",
        token.id,
        token.id,
        token
            .expires
            .map(|t| format!(", expires {}", rfc3339(t)))
            .unwrap_or_else(|| ", never expires".into())
    );
    let mut listed = Listed::from(token);
    listed.join_command = join;
    out.document(format, &listed, |out, t| {
        say!(out, "{}", t.join_command.as_deref().unwrap_or(&t.token));
        Ok(())
    })
}

/// `tenantctl token list`: every bootstrap token Secret, kubeadm's and ours.
pub fn list(args: &TokenListArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let cluster = connect(args.api.clone()).await?;
        list_online(&cluster, args.output, SystemTime::now(), out).await
    })
}

/// The list flow on any client.
pub async fn list_online(
    cluster: &Cluster,
    format: Format,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let secrets: Vec<Secret> = cluster
        .list_namespaced(
            NAMESPACE,
            &ListParams::default().fields(&format!("type={SECRET_TYPE}")),
        )
        .await?;
    let mut tokens = Vec::new();
    for s in &secrets {
        match BootstrapToken::from_secret(s) {
            Ok(t) => tokens.push(t),
            Err(why) => out.warning(why),
        }
    }
    tokens.sort_by(|a, b| a.id.cmp(&b.id));
    let listed: Vec<Listed> = tokens.iter().map(Listed::from).collect();
    out.document(format, &listed, |out, listed| {
        if listed.is_empty() {
            progress!(out, "No bootstrap tokens.");
            return Ok(());
        }
        let mut rows = vec![[
            "TOKEN".to_owned(),
            "TTL".into(),
            "EXPIRES".into(),
            "USAGES".into(),
            "DESCRIPTION".into(),
            "EXTRA GROUPS".into(),
        ]];
        for (t, l) in tokens.iter().zip(listed) {
            rows.push([
                l.token.clone(),
                match t.expires {
                    None => "<forever>".into(),
                    Some(end) => end.duration_since(now).map_or_else(
                        |_| "<invalid>".into(),
                        |d| {
                            humanize(
                                Duration::from_secs(d.as_secs() / 60 * 60)
                                    .max(Duration::from_secs(60)),
                            )
                        },
                    ),
                },
                l.expires.clone().unwrap_or_else(|| "<never>".into()),
                l.usages.join(","),
                l.description.clone().unwrap_or_else(|| "<none>".into()),
                if l.groups.is_empty() {
                    "<none>".into()
                } else {
                    l.groups.join(",")
                },
            ]);
        }
        out.table(&rows)
    })
}

/// `tenantctl token delete TOKEN|ID…`.
pub fn delete(args: &TokenDeleteArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let ids = args
        .tokens
        .iter()
        .map(|t| id_of(t))
        .collect::<Result<Vec<_>, _>>()?;
    cluster::block_on(async {
        let cluster = connect(args.api.clone()).await?;
        delete_online(&cluster, &ids, out).await
    })
}

/// The delete flow on any client; an unknown id is an error (after the others are deleted).
pub async fn delete_online(
    cluster: &Cluster,
    ids: &[String],
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let mut missing = Vec::new();
    for id in ids {
        let name = format!("{SECRET_PREFIX}{id}");
        if cluster
            .delete_namespaced::<Secret>(NAMESPACE, &name, None)
            .await?
        {
            say!(out, "bootstrap token {id:?} deleted");
        } else {
            missing.push(id.clone());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage {
            flag: "TOKEN",
            message: format!(
                "no bootstrap token {} (no secret/{SECRET_PREFIX}… in {NAMESPACE})",
                missing.join(", ")
            ),
        })
    }
}

async fn connect(api: crate::cli::ApiArgs) -> Result<Cluster, Error> {
    Ok(
        cluster::open(&api.access(), api.retry(), cluster::RECORD_NAMESPACE)
            .await?
            .0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_549_800)
    }

    #[test]
    fn generated_tokens_have_kubeadm_form_and_secret() {
        let t = BootstrapToken::generate(
            Some(Duration::from_secs(86_400)),
            Some("for node-3".into()),
            &["signing".into(), "authentication".into()],
            &[DEFAULT_GROUP.into()],
            now(),
        )
        .unwrap();
        let (id, secret) = parse(&t.token()).unwrap();
        assert_eq!((id.len(), secret.len()), (6, 16));
        assert!(!format!("{t:?}").contains(&secret), "Debug redacts");
        let s = t.to_secret();
        assert_eq!(
            s.metadata.name.as_deref(),
            Some(format!("bootstrap-token-{id}").as_str())
        );
        assert_eq!(s.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(s.type_.as_deref(), Some("bootstrap.kubernetes.io/token"));
        let data: BTreeMap<&str, String> = s
            .data
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8(v.0.clone()).unwrap()))
            .collect();
        assert_eq!(
            data,
            BTreeMap::from([
                ("auth-extra-groups", DEFAULT_GROUP.to_owned()),
                ("description", "for node-3".to_owned()),
                ("expiration", "2026-11-25T19:50:00Z".to_owned()),
                ("token-id", id),
                ("token-secret", secret),
                ("usage-bootstrap-authentication", "true".to_owned()),
                ("usage-bootstrap-signing", "true".to_owned()),
            ])
        );
        assert_eq!(BootstrapToken::from_secret(&s).unwrap(), t);
        // Different every time.
        let other = BootstrapToken::generate(None, None, &[], &[], now()).unwrap();
        assert_ne!(other.token(), t.token());
        assert!(!other.to_secret().data.unwrap().contains_key("expiration"));
    }

    #[test]
    fn bad_input_is_refused() {
        for bad in [
            "abcdef",
            "abcdef.0123456789abcdeF",
            "abcde.0123456789abcdef",
            "abcdef-0123456789abcdef",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(id_of("abcdef").unwrap(), "abcdef");
        assert_eq!(id_of("abcdef.0123456789abcdef").unwrap(), "abcdef");
        assert!(id_of("ABCDEF").is_err());
        for g in [
            "system:masters",
            "system:bootstrappers:",
            "system:bootstrappers:x-",
            "dev",
        ] {
            assert!(
                BootstrapToken::generate(None, None, &[], &[g.into()], now()).is_err(),
                "{g}"
            );
        }
        assert!(BootstrapToken::generate(None, None, &["sign".into()], &[], now()).is_err());
    }

    /// The join line names the endpoint as `join` takes it back (IPv6 in brackets).
    #[test]
    fn the_join_command_round_trips_through_join() {
        let t = BootstrapToken::generate(None, None, &[], &[], now()).unwrap();
        for (server, endpoint) in [
            ("https://vip.example.com:6443", "vip.example.com:6443"),
            ("https://10.0.0.10:443", "10.0.0.10:443"),
            ("https://[fd00::10]:6443", "[fd00::10]:6443"),
        ] {
            let line = join_command(&server.parse().unwrap(), &t, &["sha256:ab".into()]);
            assert_eq!(
                line,
                format!(
                    "tenantctl join {endpoint} --token {} --discovery-token-ca-cert-hash sha256:ab",
                    t.token()
                )
            );
            assert_eq!(
                crate::join::node::endpoint_url(endpoint).unwrap().as_str(),
                server
            );
        }
        // Mid-rotation: one hash per CA, as kubeadm prints them.
        let line = join_command(
            &"https://vip.example.com:6443".parse().unwrap(),
            &t,
            &["sha256:aa".into(), "sha256:bb".into()],
        );
        assert!(
            line.ends_with(
                " --discovery-token-ca-cert-hash sha256:aa --discovery-token-ca-cert-hash sha256:bb"
            ),
            "{line}"
        );
    }

    /// A Secret as `kubeadm token create` writes it (values from its documentation).
    #[test]
    fn reads_a_kubeadm_secret() {
        let data = [
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("expiration", "2026-12-03T00:00:00Z"),
            ("usage-bootstrap-authentication", "true"),
            ("usage-bootstrap-signing", "true"),
            ("usage-bootstrap-other", "false"),
            (
                "auth-extra-groups",
                "system:bootstrappers:kubeadm:default-node-token",
            ),
        ];
        let mut s = Secret {
            metadata: ObjectMeta {
                name: Some("bootstrap-token-abcdef".into()),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let t = BootstrapToken::from_secret(&s).unwrap();
        assert_eq!(t.token(), "abcdef.0123456789abcdef");
        assert_eq!(t.usages, ["authentication", "signing"]);
        assert_eq!(t.groups, [DEFAULT_GROUP]);
        assert_eq!(t.description, None);
        s.metadata.name = Some("bootstrap-token-zzzzzz".into());
        assert!(
            BootstrapToken::from_secret(&s)
                .unwrap_err()
                .contains("is not named")
        );
    }
}
