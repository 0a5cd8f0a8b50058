//! The PKI lifecycle after `init`: `pki check` (expiry and health of every item), `pki renew`
//! (re-issue leaves and kubeconfig client certificates, fix SANs), `pki ca-hash` and `pki csr`.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use kubeconfig::{
    CONTROL_PLANE_KUBECONFIGS, ControlPlaneKubeconfig, Credentials, Kubeconfig, Secret,
};
use pki_core::{
    CertDef, CertSpec, Certificate, CertificateAuthority, ClusterConfig, Csr, PrivateKey, San,
    Usage, Validity,
};
use serde::Serialize;

use crate::{
    Error,
    cli::{CaHashArgs, CheckArgs, CsrArgs, Format, PkiRenewArgs},
    fs::{self, Pending},
    pki_init::{self, Settings},
    say,
    tenant::rfc3339,
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
pub(crate) fn check(args: &CheckArgs, out: &mut impl Write) -> Result<(), Error> {
    let settings = pki_init::settings(&args.pki)?;
    let now = SystemTime::now();
    let report = check_report(&settings, now)?;
    match args.output {
        Format::Table => print_check_table(&report, out)?,
        Format::Json => say!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).map_err(manifest)?
        ),
        Format::Yaml => say!(
            out,
            "{}",
            serde_saphyr::to_string(&report)
                .map_err(manifest)?
                .trim_end()
        ),
    }
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
                    crate::credentials::humanize(window),
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
    let paths = pki_init::pki_paths(cfg);
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
    if let Err(problems) = crate::kubeconfigs::plan(cfg, &kc_files, &pki_files, now) {
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
            && let Some(message) = crate::credentials::uncovered_server(api, &server)
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
    Ok(CheckReport {
        api_version: "tenantctl.io/v1",
        kind: "PKICheck",
        checked_at: rfc3339(now),
        certificates,
        certificate_authorities: authorities,
        service_account_key: sa,
        problems: by_file
            .into_iter()
            .flat_map(|(f, ps)| {
                ps.into_iter()
                    .map(move |p| if f.is_empty() { p } else { format!("{f}: {p}") })
            })
            .collect(),
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

fn print_check_table(r: &CheckReport, out: &mut impl Write) -> Result<(), Error> {
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
    crate::print_table(&rows, out)?;
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
    crate::print_table(&rows, out)?;
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
        .and_then(crate::tenant::parse_rfc3339)
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
        if let Some(t) = i.expires.as_deref().and_then(crate::tenant::parse_rfc3339) {
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

/// `pki ca-hash`.
pub(crate) fn ca_hash(args: &CaHashArgs, out: &mut impl Write) -> Result<(), Error> {
    let path = args.ca_cert.clone().unwrap_or_else(|| {
        args.cert_dir
            .clone()
            .unwrap_or_else(|| pki_init::DEFAULT_CERT_DIR.into())
            .join("ca.crt")
    });
    let pem = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let cert = Certificate::from_pem(&pem)?;
    say!(out, "{}", cert.discovery_hash()?);
    Ok(())
}

/// What a renewal will do to one item.
struct Renewal {
    name: String,
    files: Vec<(PathBuf, Vec<u8>, bool)>,
    lines: Vec<String>,
    restart: &'static str,
}

/// `pki renew NAME|all`.
pub(crate) fn renew(args: &PkiRenewArgs, out: &mut impl Write) -> Result<(), Error> {
    let s = pki_init::settings(&args.pki)?;
    let now = SystemTime::now();
    let _locks = (
        fs::lock_dir(&s.cert_dir)?,
        if s.kubeconfig_dir == s.cert_dir {
            None
        } else {
            fs::lock_dir(&s.kubeconfig_dir)?
        },
    );
    let targets = targets(&s.cfg, &args.names)?;
    if !(args.add_san.is_empty() && args.remove_san.is_empty())
        && targets
            .iter()
            .any(|t| !matches!(t, Target::Cert(d) if d.usage != Usage::Client))
    {
        return Err(Error::Usage {
            flag: "--add-san",
            message: "SAN changes apply to serving certificates only: name apiserver, etcd-server or etcd-peer".into(),
        });
    }
    // Each CA is read, parsed and checked once, however many leaves it signs.
    let mut cas: BTreeMap<&'static str, CertificateAuthority> = BTreeMap::new();
    let mut renewals = Vec::new();
    for t in &targets {
        let (ca_base, name) = match t {
            Target::Cert(def) => (issuer_of(&s.cfg, def)?.base, def.name),
            Target::Kubeconfig(file) => ("ca", file.file_name),
        };
        if !cas.contains_key(ca_base) {
            cas.insert(ca_base, load_ca(&s.cert_dir, ca_base, name, now)?);
        }
        let ca = cas.get(ca_base).ok_or_else(|| Error::Usage {
            flag: "NAME",
            message: format!("{name}: its CA {ca_base} was not loaded"),
        })?;
        renewals.push(match t {
            Target::Cert(def) => renew_cert(&s, def, ca, args, now)?,
            Target::Kubeconfig(file) => renew_kubeconfig(&s, file, ca, args, now)?,
        });
    }
    for r in &renewals {
        say!(
            out,
            "[renew] {}{}",
            r.name,
            if args.dry_run { " (dry run)" } else { "" }
        );
        for l in &r.lines {
            say!(out, "  {l}");
        }
    }
    if args.dry_run {
        say!(out, "dry run: nothing was written");
        return Ok(());
    }
    for r in &renewals {
        // The key first: a crash in between leaves the old certificate with a new key, which
        // `pki check` reports and a rerun fixes; the reverse would look valid and be broken.
        for (path, contents, secret) in &r.files {
            fs::replace_file(path, contents, *secret)?;
        }
    }
    let mut restart: Vec<&str> = renewals
        .iter()
        .map(|r| r.restart)
        .filter(|r| !r.is_empty())
        .collect();
    restart.sort_unstable();
    restart.dedup();
    say!(out, "{} renewed.", renewals.len());
    if !restart.is_empty() {
        say!(
            out,
            "Restart {} to load the new files (static pods: move each manifest out of /etc/kubernetes/manifests and back).",
            restart.join(", ")
        );
    }
    Ok(())
}

enum Target {
    Cert(&'static CertDef),
    Kubeconfig(&'static kubeconfig::ControlPlaneSpec),
}

/// kubeadm's renewable names: the leaves and the kubeconfigs with a client certificate
/// (`kubelet.conf` is left to the kubelet's own rotation, as kubeadm does).
fn targets(cfg: &ClusterConfig, names: &[String]) -> Result<Vec<Target>, Error> {
    let leaves: Vec<&'static CertDef> = cfg.certs().filter(|d| d.usage != Usage::Ca).collect();
    let kubeconfigs: Vec<&'static kubeconfig::ControlPlaneSpec> = CONTROL_PLANE_KUBECONFIGS
        .iter()
        .filter(|k| k.id != ControlPlaneKubeconfig::Kubelet)
        .collect();
    if names.iter().any(|n| n == "all") {
        return Ok(leaves
            .into_iter()
            .map(Target::Cert)
            .chain(kubeconfigs.into_iter().map(Target::Kubeconfig))
            .collect());
    }
    let mut out = Vec::new();
    for n in names {
        if let Some(d) = leaves.iter().find(|d| d.name == n) {
            out.push(Target::Cert(d));
        } else if let Some(k) = kubeconfigs.iter().find(|k| k.file_name == n) {
            out.push(Target::Kubeconfig(k));
        } else if cfg.certs().any(|d| d.name == n) {
            return Err(Error::Usage {
                flag: "NAME",
                message: format!(
                    "{n} is a CA; CAs are not renewed here (a new CA invalidates every certificate it signed)"
                ),
            });
        } else {
            let known: Vec<&str> = leaves
                .iter()
                .map(|d| d.name)
                .chain(kubeconfigs.iter().map(|k| k.file_name))
                .collect();
            return Err(Error::Usage {
                flag: "NAME",
                message: format!(
                    "{n:?} is not renewable; choose all or one of {}",
                    known.join(", ")
                ),
            });
        }
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn load_ca(
    cert_dir: &Path,
    base: &str,
    for_what: &str,
    now: SystemTime,
) -> Result<CertificateAuthority, Error> {
    let cert = read_text(&cert_dir.join(format!("{base}.crt")))?;
    let key_path = cert_dir.join(format!("{base}.key"));
    if !key_path.exists() {
        return Err(Error::Inconsistent {
            dir: cert_dir.to_owned(),
            problems: vec![format!(
                "{base}.key is absent (external CA): {for_what} cannot be renewed here; make a CSR with `tenantctl pki csr` and have the CA sign it"
            )],
        });
    }
    let ca = CertificateAuthority::from_pem(&cert, &read_text(&key_path)?)?;
    ca.check_valid_at(now)?;
    Ok(ca)
}

fn validity(
    cfg: &ClusterConfig,
    ca: &CertificateAuthority,
    now: SystemTime,
    lines: &mut Vec<String>,
) -> Validity {
    let v = Validity::kubeadm(now, cfg.cert_validity);
    let end = ca.certificate().not_after();
    if v.not_after > end {
        lines.push(format!(
            "warning: capped at the CA's expiry {} (a leaf never outlives its CA)",
            rfc3339(end)
        ));
    }
    v.capped_at(end)
}

/// A new key (same algorithm unless `--encryption-algorithm`), or `None` with `--reuse-key`.
fn new_key(
    existing: &PrivateKey,
    args: &PkiRenewArgs,
    lines: &mut Vec<String>,
) -> Result<Option<PrivateKey>, Error> {
    if args.reuse_key {
        lines.push("key: reused".into());
        return Ok(None);
    }
    let alg = args
        .pki
        .encryption_algorithm
        .unwrap_or(existing.algorithm());
    lines.push(format!("key: new {alg}"));
    Ok(Some(PrivateKey::generate(alg)?))
}

/// The CA that signs `def`.
fn issuer_of(cfg: &ClusterConfig, def: &CertDef) -> Result<&'static CertDef, Error> {
    def.issuer
        .and_then(|id| cfg.certs().find(|d| d.id == id))
        .ok_or_else(|| Error::Usage {
            flag: "NAME",
            message: format!("{} has no issuer", def.name),
        })
}

fn renew_cert(
    s: &Settings,
    def: &'static CertDef,
    ca: &CertificateAuthority,
    args: &PkiRenewArgs,
    now: SystemTime,
) -> Result<Renewal, Error> {
    let crt_path = s.cert_dir.join(format!("{}.crt", def.base));
    let key_path = s.cert_dir.join(format!("{}.key", def.base));
    let old = Certificate::from_pem(&read_text(&crt_path)?)?;
    let old_key = PrivateKey::from_pem(&read_text(&key_path)?)?;
    if !old.matches_key(&old_key)? {
        return Err(Error::Inconsistent {
            dir: s.cert_dir.clone(),
            problems: vec![format!(
                "{}.key does not belong to {}.crt",
                def.base, def.base
            )],
        });
    }
    let mut lines = Vec::new();
    let mut sans = if args.pki.sets_sans() {
        s.cfg.sans_for(def)?
    } else {
        old.sans()
    };
    sans.extend(args.add_san.iter().cloned());
    sans.retain(|x| !args.remove_san.contains(x));
    let spec = CertSpec {
        common_name: old.common_name().unwrap_or_default(),
        organizations: old.organizations(),
        usage: def.usage,
        sans,
        validity: validity(&s.cfg, ca, now, &mut lines),
    };
    let fresh = new_key(&old_key, args, &mut lines)?;
    let key = fresh.as_ref().unwrap_or(&old_key);
    let cert = ca.issue(&spec, &key.public_key_der()?)?;
    lines.extend(san_diff(&old.sans(), &cert.sans()));
    lines.push(format!(
        "valid until {} (was {})",
        rfc3339(cert.not_after()),
        rfc3339(old.not_after())
    ));
    let mut files = Vec::new();
    if !args.reuse_key {
        files.push((key_path, key.secret_pem()?.as_bytes().to_vec(), true));
    }
    files.push((crt_path, cert.to_pem().into_bytes(), false));
    Ok(Renewal {
        name: def.name.to_owned(),
        files,
        lines,
        restart: if def.base.starts_with("etcd/") {
            "etcd"
        } else {
            "kube-apiserver"
        },
    })
}

fn renew_kubeconfig(
    s: &Settings,
    file: &'static kubeconfig::ControlPlaneSpec,
    ca: &CertificateAuthority,
    args: &PkiRenewArgs,
    now: SystemTime,
) -> Result<Renewal, Error> {
    let path = s.kubeconfig_dir.join(file.file_name);
    let mut kc = Kubeconfig::from_yaml(&read_text(&path)?)?;
    let (old, old_key) = match kc.current()?.credentials {
        Credentials::ClientCertificate { cert_pem, key_pem } => (
            Certificate::from_pem(&cert_pem)?,
            PrivateKey::from_pem(key_pem.expose_secret())?,
        ),
        _ => {
            return Err(Error::Inconsistent {
                dir: s.kubeconfig_dir.clone(),
                problems: vec![format!(
                    "{}: has no embedded client certificate to renew",
                    file.file_name
                )],
            });
        }
    };
    let mut lines = Vec::new();
    let identity = pki_core::ClientIdentity {
        user: old.common_name().unwrap_or_default(),
        groups: old.organizations(),
    };
    let fresh = new_key(&old_key, args, &mut lines)?;
    let key = fresh.as_ref().unwrap_or(&old_key);
    let cert = ca.issue_client(&identity, key, validity(&s.cfg, ca, now, &mut lines))?;
    kc.renew_client_certificate(
        &cert.to_pem(),
        Secret::new(key.secret_pem()?),
        &ca.certificate().to_pem(),
    )?;
    lines.push(format!(
        "client certificate CN={} valid until {} (was {}); embedded CA refreshed",
        identity.user,
        rfc3339(cert.not_after()),
        rfc3339(old.not_after())
    ));
    Ok(Renewal {
        name: file.file_name.to_owned(),
        files: vec![(path, kc.to_yaml()?.as_bytes().to_vec(), true)],
        lines,
        restart: match file.id {
            ControlPlaneKubeconfig::ControllerManager => "kube-controller-manager",
            ControlPlaneKubeconfig::Scheduler => "kube-scheduler",
            _ => "",
        },
    })
}

fn san_diff(old: &[San], new: &[San]) -> Vec<String> {
    let mut lines: Vec<String> = new
        .iter()
        .filter(|s| !old.contains(s))
        .map(|s| format!("+ SAN {s}"))
        .collect();
    lines.extend(
        old.iter()
            .filter(|s| !new.contains(s))
            .map(|s| format!("- SAN {s}")),
    );
    lines
}

/// One key and CSR to write: key path, CSR path, CN, O, SANs.
/// One key and CSR to write.
struct Request {
    key: PathBuf,
    csr: PathBuf,
    common_name: String,
    organizations: Vec<String>,
    sans: Vec<San>,
}

/// `pki csr`: a key and a CSR for every leaf and every control-plane kubeconfig, for an
/// external CA to sign (kubeadm `certs generate-csr`). Never overwrites.
pub(crate) fn csr(args: &CsrArgs, out: &mut impl Write) -> Result<(), Error> {
    let s = pki_init::settings(&args.pki)?;
    let now = SystemTime::now();
    let mut wanted: Vec<Request> = Vec::new();
    for def in s.cfg.certs().filter(|d| d.usage != Usage::Ca) {
        let spec = s.cfg.spec_for(def, now)?;
        wanted.push(Request {
            key: s.cert_dir.join(format!("{}.key", def.base)),
            csr: s.cert_dir.join(format!("{}.csr", def.base)),
            common_name: spec.common_name,
            organizations: spec.organizations,
            sans: spec.sans,
        });
    }
    for file in &CONTROL_PLANE_KUBECONFIGS {
        let id = file.identity(&s.cfg.node_name);
        wanted.push(Request {
            key: s.kubeconfig_dir.join(format!("{}.key", file.file_name)),
            csr: s.kubeconfig_dir.join(format!("{}.csr", file.file_name)),
            common_name: id.user,
            organizations: id.groups,
            sans: Vec::new(),
        });
    }
    if let Some(p) = wanted
        .iter()
        .flat_map(|r| [&r.key, &r.csr])
        .find(|p| p.exists())
    {
        return Err(Error::Exists { path: p.clone() });
    }
    fs::create_dirs(&s.cert_dir)?;
    fs::create_dirs(&s.kubeconfig_dir)?;
    if let Some(dir) = wanted
        .iter()
        .filter_map(|r| r.key.parent())
        .find(|d| !d.exists())
    {
        fs::create_dirs(dir)?;
    }
    let keys = pki_core::generate_keys(s.cfg.key_algorithm, wanted.len())?;
    let mut blobs: Vec<(PathBuf, Vec<u8>, bool)> = Vec::new();
    for (r, key) in wanted.into_iter().zip(keys) {
        let csr = Csr::build(&key, &r.common_name, &r.organizations, &r.sans)?;
        blobs.push((r.key, key.secret_pem()?.as_bytes().to_vec(), true));
        blobs.push((r.csr, csr.to_pem().into_bytes(), false));
    }
    let pending: Vec<Pending<'_>> = blobs
        .iter()
        .map(|(path, contents, secret)| Pending {
            path: path.clone(),
            contents,
            secret: *secret,
        })
        .collect();
    let written = fs::write_new_files(&pending)?;
    for p in written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csr"))
    {
        say!(out, "[csr] wrote {} (and its .key)", p.display());
    }
    say!(
        out,
        "Have the CAs sign each .csr (leaves by their kubeadm CA, kubeconfigs by the cluster CA), put the certificates next to their keys as .crt, then run `tenantctl pki init` in external-CA mode (ca.crt without ca.key)."
    );
    Ok(())
}

fn manifest(e: impl std::fmt::Display) -> Error {
    Error::Manifest {
        message: e.to_string(),
    }
}
