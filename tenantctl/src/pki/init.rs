//! `tenantctl pki init`: load what exists, plan, generate, write — then report what is in
//! place (a file is reported as generated only once it is on disk).

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Instant, SystemTime},
};

use pki_core::{Action, ClusterConfig, San};
use serde::Serialize;

use super::{
    kubeconfigs,
    settings::{Settings, settings},
};
use crate::{
    cli::InitArgs,
    error::Error,
    fs::{self, Pending},
    output::{Output, progress, say},
};

/// The result of `pki init` (`-o json|yaml`: schema `tenantctl.io/v1`, kind `PKIInit`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InitReport {
    api_version: &'static str,
    kind: &'static str,
    cert_dir: String,
    kubeconfig_dir: String,
    dry_run: bool,
    /// Every file of the PKI and the control-plane kubeconfigs, in kubeadm's order.
    files: Vec<FileReport>,
    apiserver_sans: ApiserverSans,
    /// New keys generated (or, with `--dry-run`, that would be).
    keys_generated: usize,
    key_algorithm: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileReport {
    path: String,
    /// `generated`, `wouldGenerate`, `reused` or `keptExternal`.
    action: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip)]
    kubeconfig: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiserverSans {
    dns_names: Vec<String>,
    ips: Vec<String>,
}

/// Runs `pki init`: progress and warnings on stderr, the result on stdout.
pub fn run(init: &InitArgs, out: &mut Output<'_>) -> Result<(), Error> {
    run_with(init, &BTreeMap::new(), out)
}

/// `pki init` over a PKI directory plus `given` files (path under the PKI directory → bytes:
/// the CAs and keys a control-plane join downloaded) that are not on disk yet. The given files
/// are planned with as if they were on disk, and written in the same journaled batch as
/// everything generated, so a refusal (an existing file of another cluster) writes nothing and
/// a kill leaves all or none of them. A given file that is on disk already must be the same
/// bytes, or the run is refused.
pub fn run_with(
    init: &InitArgs,
    given: &BTreeMap<String, Vec<u8>>,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let started = Instant::now();
    let Settings {
        cfg,
        cert_dir,
        kubeconfig_dir,
    } = settings(&init.pki)?;
    let now = SystemTime::now();
    progress!(
        out,
        "[certs] Using certificateDir folder {:?}",
        cert_dir.display().to_string()
    );

    // The lock on the PKI directory serializes every tenantctl that writes this PKI; a run
    // that died left a journal, which is finished or rolled back before anything is read.
    let created_cert_dir = !init.dry_run && !cert_dir.exists();
    if created_cert_dir {
        fs::create_dirs(&cert_dir)?;
    }
    let _lock = fs::lock_dir(&cert_dir, init.pki.lock_timeout)?;
    if !init.dry_run {
        let etcd_dir = cert_dir.join("etcd");
        for line in fs::recover(&cert_dir, &[&cert_dir, &etcd_dir, &kubeconfig_dir])?.lines {
            out.warning(line);
        }
    } else if cert_dir.join(fs::JOURNAL).exists() {
        out.warning("an interrupted write is pending in this directory; the next run without --dry-run completes or rolls it back first");
    }

    let paths = pki_paths(&cfg);
    let mut existing = fs::read_existing(&cert_dir, paths.iter().cloned())?;
    let mut added: Vec<(&String, &Vec<u8>)> = Vec::new();
    for (rel, bytes) in given {
        match existing.get(rel) {
            Some(on_disk) if on_disk == bytes => {}
            Some(_) => {
                return Err(Error::Inconsistent {
                    dir: cert_dir,
                    problems: vec![format!(
                        "{rel} differs from the cluster's: this node has another PKI; nothing was written (remove it to join)"
                    )],
                });
            }
            None => {
                existing.insert(rel.clone(), bytes.clone());
                added.push((rel, bytes));
            }
        }
    }
    let plan = pki_core::plan(&cfg, &existing, now).map_err(|e| inconsistent(&cert_dir, e))?;
    let existing_kc = fs::read_existing(
        &kubeconfig_dir,
        kubeconfig::CONTROL_PLANE_KUBECONFIGS
            .iter()
            .map(|f| f.file_name.to_owned()),
    )?;
    let kc_plan = kubeconfigs::plan(&cfg, &existing_kc, &existing, now).map_err(|problems| {
        Error::Inconsistent {
            dir: kubeconfig_dir.clone(),
            problems,
        }
    })?;

    let mut report = InitReport {
        api_version: "tenantctl.io/v1",
        kind: "PKIInit",
        cert_dir: cert_dir.display().to_string(),
        kubeconfig_dir: kubeconfig_dir.display().to_string(),
        dry_run: init.dry_run,
        files: Vec::new(),
        apiserver_sans: apiserver_sans(&cfg)?,
        keys_generated: plan.keys_needed() + kc_plan.keys_needed(),
        key_algorithm: cfg.key_algorithm.to_string(),
    };
    let created = if init.dry_run {
        "wouldGenerate"
    } else {
        "generated"
    };
    for e in plan.entries() {
        let action = match e.action {
            Action::Create => created,
            Action::Reuse => "reused",
            Action::KeepExternal => "keptExternal",
        };
        for f in &e.files {
            report.files.push(FileReport {
                path: cert_dir.join(f).display().to_string(),
                action,
                warnings: e.warnings.iter().map(ToString::to_string).collect(),
                kubeconfig: false,
            });
        }
    }
    for e in kc_plan.entries() {
        report.files.push(FileReport {
            path: kubeconfig_dir.join(e.file_name).display().to_string(),
            action: if e.reused { "reused" } else { created },
            warnings: e.warnings.to_vec(),
            kubeconfig: true,
        });
    }
    let mut warned: Vec<&String> = report.files.iter().flat_map(|f| &f.warnings).collect();
    warned.dedup();
    for w in warned {
        out.warning(w);
    }

    if !init.dry_run {
        let reused = plan
            .entries()
            .iter()
            .filter(|e| e.action != Action::Create)
            .count();
        if report.keys_generated > 0 {
            progress!(
                out,
                "[certs] generating {} {} keys",
                report.keys_generated,
                cfg.key_algorithm
            );
        }
        let keys = pki_core::generate_keys(cfg.key_algorithm, report.keys_generated)?;
        let mut keys = keys.into_iter();
        let executed = plan.execute(&mut keys)?;
        // Mid-rotation ca.crt is a bundle: new kubeconfigs trust all of it.
        let trust = existing
            .get("ca.crt")
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|pem| pki_core::Certificate::chain_from_pem(pem).is_ok_and(|c| c.len() > 1));
        let kc_files = kubeconfigs::execute(&cfg, kc_plan, &executed, trust, now, &mut keys)?;

        let mut pending: Vec<Pending<'_>> = Vec::new();
        for (rel, bytes) in &added {
            let secret = !rel.ends_with(".crt") && !rel.ends_with(".pub");
            pending.push(Pending::new(cert_dir.join(rel), bytes, secret));
        }
        for f in &executed.files {
            pending.push(Pending::new(cert_dir.join(&f.path), &f.contents, f.secret));
        }
        for f in &kc_files {
            pending.push(Pending::new(
                kubeconfig_dir.join(&f.path),
                &f.contents,
                true,
            ));
        }
        let written = match fs::write_batch(&cert_dir, &pending) {
            Ok(written) => written,
            Err(e) => {
                // A failed run leaves no directory it made behind (the batch removed its own).
                if created_cert_dir {
                    drop(_lock);
                    let _ = std::fs::remove_dir(&cert_dir);
                }
                return Err(e);
            }
        };
        progress!(
            out,
            "{} files written, {reused} entries reused, {} new {} keys, in {:.0?}",
            written.len(),
            report.keys_generated,
            cfg.key_algorithm,
            started.elapsed()
        );
    }
    out.document(init.output, &report, print_table)
}

/// The human result: one line per file, the API server's SANs, and where things are.
fn print_table(out: &mut Output<'_>, r: &InitReport) -> Result<(), Error> {
    for f in &r.files {
        let verb = match f.action {
            "wouldGenerate" => "would generate",
            "keptExternal" => "kept external",
            other => other,
        };
        let tag = if f.kubeconfig {
            "[kubeconfig]"
        } else {
            "[certs]     "
        };
        say!(out, "{tag} {verb:<15} {}", f.path);
    }
    say!(
        out,
        "[certs] apiserver serving cert is signed for DNS names [{}] and IPs [{}]",
        r.apiserver_sans.dns_names.join(" "),
        r.apiserver_sans.ips.join(" ")
    );
    if r.dry_run {
        say!(
            out,
            "dry run: {} keys would be generated; nothing was written",
            r.keys_generated
        );
    } else {
        say!(
            out,
            "[certs] Valid certificates and keys now exist in {:?}",
            r.cert_dir
        );
    }
    Ok(())
}

fn apiserver_sans(cfg: &ClusterConfig) -> Result<ApiserverSans, Error> {
    let sans = cfg.apiserver_sans()?;
    let (dns, ips): (Vec<&San>, Vec<&San>) = sans.iter().partition(|s| matches!(s, San::Dns(_)));
    let strings = |v: Vec<&San>| v.into_iter().map(ToString::to_string).collect();
    Ok(ApiserverSans {
        dns_names: strings(dns),
        ips: strings(ips),
    })
}

fn inconsistent(dir: &Path, e: pki_core::Error) -> Error {
    match e {
        pki_core::Error::Plan(problems) => Error::Inconsistent {
            dir: dir.to_owned(),
            problems: problems.iter().map(ToString::to_string).collect(),
        },
        other => Error::Pki(other),
    }
}

/// Every path under the PKI directory that the tree may use.
pub(super) fn pki_paths(cfg: &ClusterConfig) -> Vec<String> {
    let mut paths: Vec<String> = cfg
        .certs()
        .flat_map(|d| [format!("{}.crt", d.base), format!("{}.key", d.base)])
        .collect();
    paths.push("sa.key".into());
    paths.push("sa.pub".into());
    paths
}
