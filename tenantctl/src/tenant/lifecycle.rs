//! The tenant lifecycle around `create`: list, show, renew, revoke. Everything is read from the
//! records in the cluster; nothing local is needed.

use std::time::{Duration, SystemTime};

use kubeconfig::{ClusterEntry, Kubeconfig};
use pki_core::KeyAlgorithm;
use serde::Serialize;

use super::{
    AuthKind, CredentialRecord, Phase, Tenant, TenantRecord,
    credentials::{self, CsrOptions},
    ledger::{self, Stored},
};
use crate::{
    cli::{Format, ListArgs, RenewArgs, ShowArgs, SignerKind},
    cluster::{self, CLIENT_SIGNER, Cluster},
    error::Error,
    fs,
    output::{Output, progress, say},
    pki::rotation,
    time::{humanize, rfc3339},
};

/// `tenantctl list`.
pub fn list(args: &ListArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let cluster = args.cluster.open().await?.0;
        let records = ledger::records(&cluster).await?;
        print_list(&records, args.output, args.expiring, SystemTime::now(), out)
    })
}

/// Prints records as a table, JSON or YAML; `expiring` keeps those whose current credential
/// ends within it.
pub fn print_list(
    records: &[TenantRecord],
    format: Format,
    expiring: Option<Duration>,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let selected: Vec<&TenantRecord> = records
        .iter()
        .filter(|r| match expiring {
            None => true,
            Some(within) => {
                r.revoked.is_none()
                    && r.current_credential()
                        .and_then(CredentialRecord::expires)
                        .is_some_and(|end| end <= now + within)
            }
        })
        .collect();
    out.document(format, &selected, |out, selected| {
        let mut rows = vec![[
            "USER".to_owned(),
            "AUTH".into(),
            "GROUPS".into(),
            "ROLES".into(),
            "NAMESPACE".into(),
            "SIGNER".into(),
            "EXPIRES".into(),
            "RESIDUAL".into(),
            "STATUS".into(),
        ]];
        for r in selected {
            let cred = r.current_credential();
            rows.push([
                r.user.clone(),
                r.auth.to_string(),
                dash(r.groups.join(",")),
                r.roles
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>()
                    .join(","),
                r.namespace.clone().unwrap_or_else(|| "(cluster)".into()),
                cred.map_or_else(|| "-".into(), |c| c.signer.clone()),
                cred.map_or_else(|| "-".into(), |c| c.not_after.clone()),
                cred.and_then(CredentialRecord::expires)
                    .map_or_else(|| "-".into(), |end| residual(end, now)),
                r.status().into(),
            ]);
        }
        if selected.is_empty() {
            progress!(
                out,
                "No tenants{}.",
                if expiring.is_some() {
                    " expiring in that window"
                } else {
                    ""
                }
            );
            return Ok(());
        }
        out.table(&rows)
    })
}

/// `tenantctl show USER`.
pub fn show(args: &ShowArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let cluster = args.cluster.open().await?.0;
        let record = ledger::find(&cluster, &args.user).await?;
        print_record(&record.1.record, args.output, SystemTime::now(), out)
    })
}

/// Prints one record.
pub fn print_record(
    r: &TenantRecord,
    format: Format,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    out.document(format, r, |out, r| {
        say!(out, "User:        {}", r.user);
        say!(
            out,
            "Status:      {}{}",
            r.status(),
            r.revoked
                .as_ref()
                .map(|t| format!(" (revoked {t})"))
                .unwrap_or_default()
        );
        say!(out, "Auth:        {}", r.auth);
        say!(out, "Groups:      {}", dash(r.groups.join(", ")));
        say!(
            out,
            "Namespace:   {}{}",
            r.namespace.as_deref().unwrap_or("(cluster-wide)"),
            if r.created_namespace {
                " (created by tenantctl)"
            } else {
                ""
            }
        );
        if let Some(sa) = &r.service_account {
            say!(out, "ServiceAccount: {sa}");
        }
        say!(out, "Created:     {}", r.created);
        say!(out, "Bindings:");
        for b in &r.bindings {
            say!(
                out,
                "  {}/{}{} -> {}",
                b.kind,
                b.name,
                b.namespace
                    .as_ref()
                    .map(|n| format!(" in {n}"))
                    .unwrap_or_default(),
                b.role
            );
        }
        say!(out, "Credentials:");
        for c in &r.credentials {
            let state = match (&c.revoked, c.expires()) {
                (Some(t), _) => format!("revoked {t}"),
                (None, Some(end)) if end <= now => "expired".into(),
                (None, Some(end)) => format!("valid, {} left", residual(end, now)),
                (None, None) => "unknown expiry".into(),
            };
            say!(
                out,
                "  {} by {}{}{}  {} .. {}  [{state}]",
                c.kind,
                c.signer,
                c.serial
                    .as_ref()
                    .map(|s| format!("  serial {s}"))
                    .unwrap_or_default(),
                c.sha256
                    .as_ref()
                    .map(|s| format!("  sha256 {s}"))
                    .unwrap_or_default(),
                c.not_before,
                c.not_after
            );
        }
        Ok(())
    })
}

/// `tenantctl renew USER`.
pub fn renew(args: &RenewArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let (cluster, resolved) = args.cluster.open().await?;
        let entry = credentials::cluster_entry(
            Some(&resolved),
            args.server.as_ref(),
            rotation::cluster_bundle(&args.cert_dir).as_deref(),
        )?;
        renew_online(&cluster, &entry, args, out).await
    })
}

/// The renew flow on any client: a new key and certificate (or token) with the recorded
/// identity, the kubeconfig replaced atomically, the record updated. Bindings are not touched.
/// With `--all`, every Active tenant (or those `--expiring` selects), each into `--out-dir`.
pub async fn renew_online(
    cluster: &Cluster,
    entry: &ClusterEntry,
    args: &RenewArgs,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    if args.all {
        return renew_all(cluster, entry, args, out).await;
    }
    let user = args.user.as_deref().ok_or_else(|| Error::Usage {
        flag: "USER",
        message: "name the tenant to renew, or pass --all".into(),
    })?;
    let (tenant, stored) = ledger::find(cluster, user).await?;
    let kubeconfig_out = args
        .kubeconfig_out
        .clone()
        .unwrap_or_else(|| tenant.file_name("kubeconfig"));
    let (record, wrote) =
        renew_one(cluster, entry, args, &tenant, stored, &kubeconfig_out, out).await?;
    if args.output != Format::Table {
        progress!(out, "{wrote}");
    }
    out.document(args.output, &record, |out, _| {
        say!(out, "{wrote}");
        Ok(())
    })
}

/// One tenant's renewal; returns the updated record and the line that says what was written.
async fn renew_one(
    cluster: &Cluster,
    entry: &ClusterEntry,
    args: &RenewArgs,
    tenant: &Tenant,
    stored: Stored,
    kubeconfig_out: &std::path::Path,
    out: &mut Output<'_>,
) -> Result<(TenantRecord, String), Error> {
    let now = SystemTime::now();
    let record = &stored.record;
    refuse_unless_active(record)?;
    let ns = record.namespace.clone();
    let current = record.current_credential().cloned();
    let (kubeconfig, credential): (Kubeconfig, CredentialRecord) = match record.auth {
        AuthKind::Cert => {
            let algorithm = match (
                args.key_algorithm,
                current.as_ref().and_then(|c| c.key_algorithm.as_deref()),
            ) {
                (Some(a), _) => a,
                (None, Some(a)) => a.parse::<KeyAlgorithm>()?,
                (None, None) => KeyAlgorithm::EcdsaP256,
            };
            let signer = args
                .signer
                .unwrap_or(match current.as_ref().map(|c| c.signer.as_str()) {
                    Some(CLIENT_SIGNER) => SignerKind::Csr,
                    _ => SignerKind::Local,
                });
            let minted = match signer {
                SignerKind::Local => {
                    let ca = rotation::tenant_ca(&args.cert_dir, now)
                        .map_err(|e| local_ca_missing(e, tenant, current.as_ref()))?;
                    credentials::mint_local(&ca, tenant, algorithm, args.ttl, now)?
                }
                SignerKind::Csr => {
                    // `create --approve` approved the first request; renewal does the same.
                    let mut flags = args.csr_api;
                    flags.approve |= current.as_ref().is_some_and(|c| c.approve);
                    let mut minted = credentials::mint_csr(
                        cluster,
                        tenant,
                        algorithm,
                        args.ttl,
                        CsrOptions::from_flags(flags),
                        now,
                    )
                    .await?;
                    minted.record.approve = flags.approve;
                    minted
                }
            };
            for w in &minted.warnings {
                out.warning(w);
            }
            progress!(
                out,
                "[cert] new {algorithm} key and certificate for CN={}: serial {}, valid until {}",
                tenant.user(),
                minted.record.serial.as_deref().unwrap_or(""),
                minted.record.not_after
            );
            (
                credentials::cert_kubeconfig(entry, tenant, &minted, ns.as_deref())?,
                minted.record.trusting(&entry.ca_pem),
            )
        }
        AuthKind::Token => {
            let ns = ns.clone().ok_or_else(|| Error::Record {
                user: record.user.clone(),
                message: "token tenant without a namespace".into(),
            })?;
            let (token, expires) = cluster.request_token(&ns, tenant.user(), args.ttl).await?;
            progress!(
                out,
                "[token] new bound token for serviceaccount/{} in {ns}, valid until {}",
                tenant.user(),
                rfc3339(expires)
            );
            (
                Kubeconfig::with_token(entry, tenant.user(), token, Some(&ns))?,
                CredentialRecord::token(now, expires).trusting(&entry.ca_pem),
            )
        }
    };
    // Recorded before it is handed out; a concurrent renew's credential is kept (re-read and
    // re-applied on a conflict).
    let stored = ledger::update(cluster, tenant, stored, |r| {
        refuse_unless_active(r)?;
        r.credentials.push(credential.clone());
        Ok(())
    })
    .await?;
    let record = &stored.record;
    let yaml = kubeconfig.to_yaml()?;
    if let Err(e) = fs::write_secret(kubeconfig_out, yaml.as_bytes(), true) {
        // Best effort: the record need not list a credential nobody received.
        let _ = ledger::update(cluster, tenant, stored.clone(), |r| {
            r.credentials.retain(|c| c != &credential);
            Ok(())
        })
        .await;
        return Err(e);
    }
    if let Some(c) = current.filter(|c| c.kind == AuthKind::Cert) {
        out.note(format_args!(
            "the previous certificate (serial {}) stays valid until {}; Kubernetes cannot revoke it",
            c.serial.as_deref().unwrap_or("?"),
            c.not_after
        ));
    }
    let wrote = format!(
        "wrote {} (bindings unchanged: {})",
        kubeconfig_out.display(),
        record
            .roles
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok((record.clone(), wrote))
}

/// One tenant in `renew --all -o json|yaml`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewedTenant {
    user: String,
    kubeconfig: String,
    /// The new credential as recorded.
    credential: Option<CredentialRecord>,
}

/// A tenant `renew --all` could not renew.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedTenant {
    user: String,
    error: String,
}

/// What `renew --all -o json|yaml` prints (schema `tenantctl.io/v1`, kind `TenantRenewal`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewAllReport {
    api_version: &'static str,
    kind: &'static str,
    renewed: Vec<RenewedTenant>,
    failed: Vec<FailedTenant>,
    /// Active tenants left as they are (not expiring within `--expiring`, and not depending
    /// on the old CA of a rotation under way).
    skipped: Vec<String>,
}

/// Whether a credential still depends on the old CA of a cluster CA rotation whose new CA has
/// the key identifier `new_id`: a certificate not from it, or a kubeconfig that does not trust
/// it (records from before the rotation say neither).
fn depends_on_old_ca(c: &CredentialRecord, new_id: &str) -> bool {
    (c.kind == AuthKind::Cert && c.issuer_key_id.as_deref() != Some(new_id))
        || !c.trusted_ca_key_ids.iter().any(|id| id == new_id)
}

/// `renew --all`: every Active tenant in the ledger (with `--expiring D`, those whose current
/// credential ends within D, and during a rotation of the cluster CA those that still depend on
/// the old CA), one after another, each kubeconfig written to `--out-dir/USER.kubeconfig`. A
/// failure is reported and the others go on; exit 1 if any failed.
async fn renew_all(
    cluster: &Cluster,
    entry: &ClusterEntry,
    args: &RenewArgs,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let now = SystemTime::now();
    let dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    fs::create_private_dir(&dir)?;
    let rotating = rotation::read(&args.cert_dir, rotation::CaKind::Cluster)?
        .filter(|st| st.phase.in_progress());
    if let Some(st) = &rotating {
        progress!(
            out,
            "the cluster CA rotation is {}: certificates come from the new CA ({}), kubeconfigs trust both",
            st.phase,
            st.new_key_id
        );
    }
    let mut report = RenewAllReport {
        api_version: "tenantctl.io/v1",
        kind: "TenantRenewal",
        renewed: Vec::new(),
        failed: Vec::new(),
        skipped: Vec::new(),
    };
    let mut stored = ledger::stored_records(cluster).await?;
    stored.sort_by(|a, b| a.record.user.cmp(&b.record.user));
    for st in stored {
        let r = &st.record;
        if r.phase != Phase::Active {
            continue;
        }
        let user = r.user.clone();
        let current = r.current_credential();
        let selected = match args.expiring {
            None => true,
            Some(window) => {
                current
                    .and_then(CredentialRecord::expires)
                    .is_none_or(|end| end <= now + window)
                    || rotating.as_ref().is_some_and(|rot| {
                        current.is_none_or(|c| depends_on_old_ca(c, &rot.new_key_id))
                    })
            }
        };
        if !selected {
            report.skipped.push(user);
            continue;
        }
        let result = async {
            let tenant = Tenant::new(&r.user, &r.groups, r.auth, true)?;
            let path = dir.join(tenant.file_name("kubeconfig"));
            let (record, _) =
                renew_one(cluster, entry, args, &tenant, st.clone(), &path, out).await?;
            Ok::<_, Error>((record, path))
        }
        .await;
        match result {
            Ok((record, path)) => {
                progress!(out, "renewed {user}: wrote {}", path.display());
                report.renewed.push(RenewedTenant {
                    user,
                    kubeconfig: path.display().to_string(),
                    credential: record.current_credential().cloned(),
                });
            }
            Err(e) => {
                out.warning(format_args!("{user}: not renewed: {e}"));
                report.failed.push(FailedTenant {
                    user,
                    error: e.to_string(),
                });
            }
        }
    }
    let failed = report.failed.len();
    let total = failed + report.renewed.len();
    out.document(args.output, &report, |out, r| {
        for t in &r.renewed {
            say!(out, "renewed {}: {}", t.user, t.kubeconfig);
        }
        for t in &r.failed {
            say!(out, "FAILED  {}: {}", t.user, t.error);
        }
        say!(
            out,
            "{} renewed, {} failed, {} left as they are",
            r.renewed.len(),
            r.failed.len(),
            r.skipped.len()
        );
        Ok(())
    })?;
    if failed > 0 {
        return Err(Error::ApplyFailed { failed, total });
    }
    Ok(())
}

/// Renewal needs an Active tenant.
fn refuse_unless_active(record: &TenantRecord) -> Result<(), Error> {
    let user = record.user.clone();
    match record.phase {
        Phase::Active => Ok(()),
        Phase::Pending => Err(Error::Claimed {
            user,
            message: "is Pending (its create did not finish): run that create again to finish it"
                .into(),
        }),
        Phase::Revoked => Err(Error::Record {
            user,
            message: format!(
                "was revoked {}; create it again instead",
                record.revoked.as_deref().unwrap_or("")
            ),
        }),
    }
}

/// The local CA is not where `--cert-dir` points: say that the record names the local CA.
fn local_ca_missing(e: Error, tenant: &Tenant, current: Option<&CredentialRecord>) -> Error {
    match e {
        Error::Read { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::Usage {
                flag: "--cert-dir",
                message: format!(
                    "{}'s certificate was signed by the local cluster CA (issuer {}), but {} is not there: pass --cert-dir DIR holding that CA's ca.crt and ca.key, or --signer csr",
                    tenant.user(),
                    current
                        .and_then(|c| c.issuer.as_deref())
                        .unwrap_or("unknown"),
                    path.display()
                ),
            }
        }
        e => e,
    }
}

fn residual(end: SystemTime, now: SystemTime) -> String {
    match end.duration_since(now) {
        Ok(d) if d.as_secs() >= 86_400 => format!("{}d", d.as_secs() / 86_400),
        Ok(d) if d.as_secs() >= 3600 => format!("{}h", d.as_secs() / 3600),
        Ok(d) => {
            humanize(Duration::from_secs(d.as_secs().max(1) / 60 * 60 + 60)).replace("60s", "1m")
        }
        Err(_) => "expired".into(),
    }
}

fn dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::BindingRef;
    use crate::{
        tenant::{RoleKind, RoleRef},
        time::parse_rfc3339,
    };

    fn record(user: &str, not_after: &str, revoked: bool) -> TenantRecord {
        let role = RoleRef {
            kind: RoleKind::ClusterRole,
            name: "view".into(),
        };
        TenantRecord {
            user: user.into(),
            auth: AuthKind::Cert,
            groups: vec!["dev".into()],
            namespace: Some("team-a".into()),
            created_namespace: false,
            service_account: None,
            roles: vec![role.clone()],
            bindings: vec![BindingRef {
                kind: "RoleBinding".into(),
                name: format!("tenantctl:{user}:view"),
                namespace: Some("team-a".into()),
                role,
            }],
            bind_group: false,
            credentials: vec![CredentialRecord {
                kind: AuthKind::Cert,
                signer: "local".into(),
                issuer: Some("kubernetes".into()),
                serial: Some("0a".into()),
                sha256: Some("ff".into()),
                key_algorithm: Some("ECDSA-P256".into()),
                not_before: "2026-11-01T00:00:00Z".into(),
                not_after: not_after.into(),
                revoked: None,
                approve: false,
                issuer_key_id: None,
                trusted_ca_key_ids: Vec::new(),
            }],
            created: "2026-11-01T00:00:00Z".into(),
            revoked: revoked.then(|| "2026-11-20T00:00:00Z".into()),
            revoked_reason: None,
            set: None,
            phase: if revoked {
                Phase::Revoked
            } else {
                Phase::Active
            },
        }
    }

    fn now() -> SystemTime {
        parse_rfc3339("2026-11-24T00:00:00Z").unwrap()
    }

    /// What `print_list` writes to stdout and to stderr.
    fn streams(
        records: &[TenantRecord],
        format: Format,
        expiring: Option<Duration>,
    ) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print_list(
            records,
            format,
            expiring,
            now(),
            &mut Output::new(&mut out, &mut err),
        )
        .unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn text(records: &[TenantRecord], format: Format, expiring: Option<Duration>) -> String {
        streams(records, format, expiring).0
    }

    #[test]
    fn table_and_expiring_filter() {
        let records = [
            record("alice", "2026-11-27T00:00:00Z", false),
            record("bob", "2027-01-30T00:00:00Z", false),
            record("carol", "2026-11-25T00:00:00Z", true),
        ];
        let table = text(&records, Format::Table, None);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(
            lines[0].starts_with("USER    AUTH   GROUPS   ROLES   NAMESPACE   SIGNER   EXPIRES"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("alice") && lines[1].ends_with("3d         active"),
            "{table}"
        );
        assert!(lines[3].ends_with("revoked"), "{table}");

        let soon = text(
            &records,
            Format::Table,
            Some(Duration::from_secs(7 * 86_400)),
        );
        assert_eq!(
            soon.lines().count(),
            2,
            "only alice: bob is later, carol is revoked\n{soon}"
        );
        assert!(soon.contains("alice"));

        let json: serde_json::Value =
            serde_json::from_str(&text(&records, Format::Json, None)).unwrap();
        assert_eq!(json[1]["user"], "bob");
        assert_eq!(
            json[0]["credentials"][0]["notAfter"],
            "2026-11-27T00:00:00Z"
        );
        let yaml = text(&records[..1], Format::Yaml, None);
        assert!(yaml.contains("user: alice"), "{yaml}");
        // kubectl's convention: "No resources found" is a message, not a result.
        assert_eq!(
            streams(&[], Format::Table, None),
            (String::new(), "No tenants.\n".to_owned())
        );
    }

    #[test]
    fn list_shows_the_phase() {
        let mut pending = record("dave", "2027-01-30T00:00:00Z", false);
        pending.phase = Phase::Pending;
        let table = text(&[pending], Format::Table, None);
        assert!(
            table.lines().nth(1).unwrap().ends_with("pending"),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&text(
            &[record("erin", "2027-01-30T00:00:00Z", true)],
            Format::Json,
            None,
        ))
        .unwrap();
        assert_eq!(json[0]["phase"], "Revoked");
    }

    #[test]
    fn show_marks_expired_and_revoked_credentials() {
        let mut r = record("alice", "2026-11-20T00:00:00Z", false);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print_record(
            &r,
            Format::Table,
            now(),
            &mut Output::new(&mut out, &mut err),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("cert by local  serial 0a  sha256 ff  2026-11-01T00:00:00Z .. 2026-11-20T00:00:00Z  [expired]"), "{text}");
        r.credentials[0].revoked = Some("2026-11-21T00:00:00Z".into());
        let mut out = Vec::new();
        print_record(
            &r,
            Format::Table,
            now(),
            &mut Output::new(&mut out, &mut err),
        )
        .unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("[revoked 2026-11-21T00:00:00Z]")
        );
    }
}
