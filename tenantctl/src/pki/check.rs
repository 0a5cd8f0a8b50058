//! `tenantctl pki check`: expiry and health of every certificate, CA, key and control-plane
//! kubeconfig (kubeadm's `certs check-expiration`, plus the checks `pki init` applies before
//! reusing anything).

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, SystemTime},
};

use kubeconfig::{CONTROL_PLANE_KUBECONFIGS, Credentials, Kubeconfig};
use pki_core::{CertDef, Certificate, ClusterConfig, Usage};
use serde::Serialize;

use super::{
    init::pki_paths,
    kubeconfigs,
    settings::{Settings, infer_from_pki, settings},
    store,
};
use crate::{
    cli::CheckArgs,
    error::Error,
    fs,
    output::{Output, say},
    time::{humanize, parse_rfc3339, rfc3339},
};

/// The JSON/YAML document of `pki check -o json|yaml` (schema `tenantctl.io/v1`, kind
/// `PKICheck`; fields are only ever added).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    api_version: &'static str,
    kind: &'static str,
    /// When the check ran (RFC 3339).
    pub checked_at: String,
    /// Leaf certificates and kubeconfig client certificates.
    pub certificates: Vec<CheckItem>,
    /// The CAs.
    pub certificate_authorities: Vec<CheckItem>,
    /// The service-account key pair.
    pub service_account_key: CheckItem,
    /// Problems not tied to one item.
    pub problems: Vec<String>,
    /// CA rotations under way (`tenantctl pki rotate-ca status` has the detail): while one
    /// runs, `ca.crt` trusting two CAs is expected, not a problem. Absent when none runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<String>,
}

/// One row of the check.
#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct CheckItem {
    /// kubeadm's name (`apiserver`, `admin.conf`, `ca`, `sa`).
    pub name: String,
    /// The file checked.
    pub path: String,
    /// End of validity (RFC 3339), when the file holds a certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Seconds until then (negative when expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual_seconds: Option<i64>,
    /// The CA's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// Its CA key is absent here (external CA): tenantctl cannot renew it.
    pub externally_managed: bool,
    /// The file does not exist.
    pub missing: bool,
    /// What is wrong with it.
    pub problems: Vec<String>,
}

impl CheckReport {
    fn items(&self) -> impl Iterator<Item = &CheckItem> {
        self.certificates
            .iter()
            .chain(&self.certificate_authorities)
            .chain([&self.service_account_key])
    }

    /// Whether anything is missing or has a problem.
    pub fn has_errors(&self) -> bool {
        !self.problems.is_empty() || self.items().any(|i| i.missing || !i.problems.is_empty())
    }

    /// Items that expire within `window`.
    pub fn expiring_within(&self, window: Duration) -> Vec<&CheckItem> {
        let limit = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        self.items()
            .filter(|i| i.residual_seconds.is_some_and(|r| r <= limit))
            .collect()
    }
}

/// `pki check`.
pub fn run(args: &CheckArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let settings = match infer_from_pki(&args.pki) {
        Some((inferred, source)) => {
            out.note(format_args!(
                "no identity flags or --config: checking against what the PKI states ({source}); pass --node-name, --apiserver-advertise-address, … or --config to check against other settings"
            ));
            settings(&inferred)?
        }
        None => settings(&args.pki)?,
    };
    let now = SystemTime::now();
    let report = check_report(&settings, now)?;
    out.document(args.output, &report, print_check_table)?;
    if let Some(path) = &args.prometheus_textfile {
        fs::replace_file(path, prometheus(&report).as_bytes(), false)?;
    }
    if report.has_errors() {
        let n = report
            .items()
            .filter(|i| i.missing || !i.problems.is_empty())
            .count()
            + report.problems.len();
        return Err(Error::Check {
            code: 2,
            message: format!("{n} item(s) missing or failing their checks"),
        });
    }
    if let Some(window) = args.warn_within {
        let soon = report.expiring_within(window);
        if !soon.is_empty() {
            return Err(Error::Check {
                code: 1,
                message: format!(
                    "{} expire(s) within {}: {}",
                    soon.len(),
                    humanize(window),
                    soon.iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Builds the check report: every file kubeadm's layout should have, reconciled against the
/// settings with the same checks `pki init` applies before reusing anything.
pub fn check_report_for(
    cfg: &ClusterConfig,
    cert_dir: &Path,
    kubeconfig_dir: &Path,
    now: SystemTime,
) -> Result<CheckReport, Error> {
    check_report(
        &Settings {
            cfg: cfg.clone(),
            cert_dir: cert_dir.to_owned(),
            kubeconfig_dir: kubeconfig_dir.to_owned(),
        },
        now,
    )
}

fn check_report(s: &Settings, now: SystemTime) -> Result<CheckReport, Error> {
    let cfg = &s.cfg;
    let paths = pki_paths(cfg);
    let pki_files = fs::read_existing(&s.cert_dir, paths.iter().cloned())?;
    let kc_files = fs::read_existing(
        &s.kubeconfig_dir,
        CONTROL_PLANE_KUBECONFIGS
            .iter()
            .map(|f| f.file_name.to_owned()),
    )?;
    let mut by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Err(e) = pki_core::plan(cfg, &pki_files, now) {
        match e {
            pki_core::Error::Plan(problems) => {
                for p in problems {
                    by_file.entry(p.file).or_default().push(p.message);
                }
            }
            other => by_file
                .entry(String::new())
                .or_default()
                .push(other.to_string()),
        }
    }
    if let Err(problems) = kubeconfigs::plan(cfg, &kc_files, &pki_files, now) {
        for p in problems {
            let (file, message) = p.split_once(": ").unwrap_or(("", &p));
            by_file
                .entry(file.to_owned())
                .or_default()
                .push(message.to_owned());
        }
    }

    let mut certificates = Vec::new();
    let mut authorities = Vec::new();
    for def in cfg.certs() {
        let crt = format!("{}.crt", def.base);
        let key = format!("{}.key", def.base);
        let ca_def = def.issuer.and_then(|id| cfg.certs().find(|d| d.id == id));
        let ca_key_missing = |d: &CertDef| !pki_files.contains_key(&format!("{}.key", d.base));
        let mut item = CheckItem {
            name: def.name.to_owned(),
            path: s.cert_dir.join(&crt).display().to_string(),
            expires: None,
            residual_seconds: None,
            certificate_authority: ca_def.map(|d| d.name.to_owned()),
            externally_managed: match ca_def {
                Some(ca) => ca_key_missing(ca),
                None => ca_key_missing(def),
            },
            missing: !pki_files.contains_key(&crt),
            problems: Vec::new(),
        };
        for f in [&crt, &key] {
            if let Some(p) = by_file.remove(f.as_str()) {
                item.problems.extend(p);
            }
        }
        if let Some(cert) = pki_files.get(&crt).and_then(|b| parse_cert(b)) {
            set_expiry(&mut item, &cert, now);
        }
        if def.usage == Usage::Ca {
            authorities.push(item);
        } else {
            certificates.push(item);
        }
    }
    let ca_external = !pki_files.contains_key("ca.key");
    let apiserver = pki_files.get("apiserver.crt").and_then(|b| parse_cert(b));
    for spec in &CONTROL_PLANE_KUBECONFIGS {
        let mut item = CheckItem {
            name: spec.file_name.to_owned(),
            path: s.kubeconfig_dir.join(spec.file_name).display().to_string(),
            expires: None,
            residual_seconds: None,
            certificate_authority: Some("ca".into()),
            externally_managed: ca_external,
            missing: !kc_files.contains_key(spec.file_name),
            problems: by_file.remove(spec.file_name).unwrap_or_default(),
        };
        let (cert, server) = kc_files
            .get(spec.file_name)
            .map_or((None, None), |b| kubeconfig_facts(b));
        if let Some(cert) = cert {
            set_expiry(&mut item, &cert, now);
        }
        // kubeadm#3267: a kubeconfig whose server the API server's certificate does not name.
        if let (Some(api), Some(server)) = (&apiserver, server)
            && let Some(message) = store::uncovered_server(api, &server)
        {
            item.problems
                .push(format!("server {}: {message}", server.as_str()));
        }
        certificates.push(item);
    }
    certificates.sort_by(|a, b| a.name.cmp(&b.name));
    let mut sa = CheckItem {
        name: "sa".into(),
        path: s.cert_dir.join("sa.key").display().to_string(),
        expires: None,
        residual_seconds: None,
        certificate_authority: None,
        externally_managed: false,
        missing: !pki_files.contains_key("sa.key") || !pki_files.contains_key("sa.pub"),
        problems: Vec::new(),
    };
    for f in ["sa.key", "sa.pub"] {
        if let Some(p) = by_file.remove(f) {
            sa.problems.extend(p);
        }
    }
    let mut problems: Vec<String> = by_file
        .into_iter()
        .flat_map(|(f, ps)| {
            ps.into_iter()
                .map(move |p| if f.is_empty() { p } else { format!("{f}: {p}") })
        })
        .collect();
    if s.cert_dir.join(fs::JOURNAL).exists() {
        problems.push(format!(
            "{}: a write was interrupted (a run died); the next `tenantctl pki init` or `pki renew` completes or rolls it back",
            fs::JOURNAL
        ));
    }
    Ok(CheckReport {
        api_version: "tenantctl.io/v1",
        kind: "PKICheck",
        checked_at: rfc3339(now),
        certificates,
        certificate_authorities: authorities,
        service_account_key: sa,
        problems,
        rotations: super::rotate::in_progress(&s.cert_dir),
    })
}

fn parse_cert(bytes: &[u8]) -> Option<Certificate> {
    Certificate::from_pem(std::str::from_utf8(bytes).ok()?).ok()
}

/// The client certificate and the server URL of a kubeconfig's current context, parsed once.
fn kubeconfig_facts(bytes: &[u8]) -> (Option<Certificate>, Option<kubeconfig::ServerUrl>) {
    let Some(kc) = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| Kubeconfig::from_yaml(text).ok())
    else {
        return (None, None);
    };
    let Ok(current) = kc.current() else {
        return (None, None);
    };
    let cert = match &current.credentials {
        Credentials::ClientCertificate { cert_pem, .. } => Certificate::from_pem(cert_pem).ok(),
        _ => None,
    };
    (cert, current.server.parse().ok())
}

fn set_expiry(item: &mut CheckItem, cert: &Certificate, now: SystemTime) {
    let end = cert.not_after();
    item.expires = Some(rfc3339(end));
    item.residual_seconds = Some(match end.duration_since(now) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    });
}

fn print_check_table(out: &mut Output<'_>, r: &CheckReport) -> Result<(), Error> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let mut rows = vec![[
        "CERTIFICATE".to_owned(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "CERTIFICATE AUTHORITY".into(),
        "EXTERNALLY MANAGED".into(),
    ]];
    for i in &r.certificates {
        rows.push([
            i.name.clone(),
            expires_cell(i),
            residual_cell(i),
            i.certificate_authority.clone().unwrap_or_default(),
            yes_no(i.externally_managed),
        ]);
    }
    out.table(&rows)?;
    say!(out, "");
    let mut rows = vec![[
        "CERTIFICATE AUTHORITY".to_owned(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "EXTERNALLY MANAGED".into(),
    ]];
    for i in &r.certificate_authorities {
        rows.push([
            i.name.clone(),
            expires_cell(i),
            residual_cell(i),
            yes_no(i.externally_managed),
        ]);
    }
    out.table(&rows)?;
    let sa = &r.service_account_key;
    say!(out, "");
    say!(
        out,
        "SERVICE ACCOUNT KEY   {}",
        if sa.missing {
            "MISSING"
        } else if sa.problems.is_empty() {
            "ok (sa.key matches sa.pub)"
        } else {
            "PROBLEM"
        }
    );
    let problems: Vec<String> = r
        .items()
        .flat_map(|i| i.problems.iter().map(move |p| format!("{}: {p}", i.name)))
        .chain(r.problems.iter().cloned())
        .collect();
    if !r.rotations.is_empty() {
        say!(out, "");
        say!(out, "CA ROTATION IN PROGRESS");
        for l in &r.rotations {
            say!(out, "  {l}");
        }
    }
    if !problems.is_empty() {
        say!(out, "");
        say!(out, "PROBLEMS");
        for p in problems {
            say!(out, "  {p}");
        }
    }
    Ok(())
}

fn expires_cell(i: &CheckItem) -> String {
    if i.missing {
        return "MISSING".into();
    }
    i.expires
        .as_deref()
        .and_then(parse_rfc3339)
        .and_then(|t| k8s_openapi::jiff::Timestamp::try_from(t).ok())
        .map_or_else(
            || "-".into(),
            |ts| ts.strftime("%b %d, %Y %H:%M UTC").to_string(),
        )
}

fn residual_cell(i: &CheckItem) -> String {
    match i.residual_seconds {
        None => "-".into(),
        Some(s) if s <= 0 => "<invalid>".into(),
        Some(s) if s >= 2 * 365 * 86_400 => format!("{}y", s / (365 * 86_400)),
        Some(s) if s >= 86_400 => format!("{}d", s / 86_400),
        Some(s) if s >= 3600 => format!("{}h", s / 3600),
        Some(s) => format!("{}m", s / 60),
    }
}

/// node-exporter's textfile format: one expiry timestamp per certificate, and a problem count.
pub fn prometheus(r: &CheckReport) -> String {
    let mut s = String::from(
        "# HELP tenantctl_certificate_expiration_timestamp_seconds When the certificate expires (Unix time).\n\
         # TYPE tenantctl_certificate_expiration_timestamp_seconds gauge\n",
    );
    let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    for i in r.items() {
        if let Some(t) = i.expires.as_deref().and_then(parse_rfc3339) {
            let secs = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            s.push_str(&format!(
                "tenantctl_certificate_expiration_timestamp_seconds{{name=\"{}\",path=\"{}\",authority=\"{}\"}} {secs}\n",
                label(&i.name),
                label(&i.path),
                label(i.certificate_authority.as_deref().unwrap_or(""))
            ));
        }
    }
    s.push_str(
        "# HELP tenantctl_certificate_problems Problems found by tenantctl pki check (1 = missing or failing).\n\
         # TYPE tenantctl_certificate_problems gauge\n",
    );
    for i in r.items() {
        s.push_str(&format!(
            "tenantctl_certificate_problems{{name=\"{}\"}} {}\n",
            label(&i.name),
            u8::from(i.missing || !i.problems.is_empty())
        ));
    }
    s
}
