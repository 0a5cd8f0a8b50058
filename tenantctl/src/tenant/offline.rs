//! `create` without a cluster: `--dry-run` (the plan and the objects), `--offline` (the
//! kubeconfig, the RBAC manifest and the record as files) and `--csr-out` (a key and a CSR for
//! a CA elsewhere).

use std::{path::Path, time::SystemTime};

use k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kubeconfig::{ClusterEntry, Kubeconfig, ServerUrl};
use pki_core::Certificate;
use serde::Serialize;

use super::{
    AuthKind, Tenant, TenantRecord,
    create::CreatePlan,
    credentials::{self, subject},
    manifest, yaml,
};
use crate::{
    cli::{CreateArgs, Format, SignerKind},
    cluster::{CLIENT_SIGNER, managed_labels},
    error::Error,
    fs::{self, Pending},
    output::{Output, progress, say},
    pki::{rotation, store},
    time::humanize,
};

/// `--dry-run`: the plan (table) or the objects as a `v1` List (`-o json|yaml`); contacts
/// nothing, writes nothing.
pub(super) fn dry_run(
    plan: &CreatePlan,
    args: &CreateArgs,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let t = &plan.tenant;
    let objects = plan.bindings.objects(t);
    progress!(
        out,
        "dry run: nothing is minted, applied or written, and the cluster is not contacted"
    );
    if plan.format != Format::Table {
        return out.document(plan.format, &objects.to_list(), |_, _| Ok(()));
    }
    say!(
        out,
        "tenant {} ({} auth{}), lifetime {}",
        t.user(),
        t.auth(),
        if t.groups().is_empty() {
            String::new()
        } else {
            format!(", groups {}", t.groups().join(", "))
        },
        humanize(plan.ttl)
    );
    if t.auth() == AuthKind::Cert {
        say!(
            out,
            "would mint a {} key and a client certificate (CN={}) signed by {}",
            plan.key_algorithm,
            t.user(),
            match args.signer {
                SignerKind::Local => format!("the cluster CA in {}", args.cert_dir.display()),
                SignerKind::Csr => format!("the CSR API ({CLIENT_SIGNER})"),
            }
        );
    } else {
        say!(
            out,
            "would request a bound ServiceAccount token (TokenRequest)"
        );
    }
    say!(out, "would write {} (0600)", plan.kubeconfig_out.display());
    say!(out, "would apply (server-side, field manager tenantctl):");
    let yaml = objects.to_yaml("objects for the tenant")?;
    say!(out, "{}", yaml.trim_end());
    say!(
        out,
        "and record the tenant in configmap/{} in {}",
        t.record_name(),
        args.cluster.record_namespace
    );
    Ok(())
}

/// `--offline`: the kubeconfig, the RBAC manifest and the record as files; no cluster.
pub(super) fn offline(
    plan: &CreatePlan,
    args: &CreateArgs,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let tenant = &plan.tenant;
    if tenant.auth() == AuthKind::Token {
        return Err(Error::Usage {
            flag: "--offline",
            message:
                "a token comes from the cluster's TokenRequest API; --auth token cannot be offline"
                    .into(),
        });
    }
    if args.signer == SignerKind::Csr {
        return Err(Error::Usage {
            flag: "--offline",
            message: "the CSR API needs the cluster; use --signer local with --cert-dir".into(),
        });
    }
    let now = SystemTime::now();
    let (minted, ca_cert) = match &plan.import {
        Some((cert, key)) => {
            let minted = credentials::import(cert, key, tenant, now)?;
            let ca_pem = store::read_text(&args.cert_dir.join("ca.crt"))?;
            (minted, Certificate::from_pem(&ca_pem)?)
        }
        None => {
            let ca = rotation::tenant_ca(&args.cert_dir, now)?;
            let minted = credentials::mint_local(&ca, tenant, plan.key_algorithm, plan.ttl, now)?;
            (minted, ca.certificate().clone())
        }
    };
    // The kubeconfig trusts what ca.crt trusts (both CAs during a rotation).
    let trust = std::fs::read_to_string(args.cert_dir.join("ca.crt"))
        .ok()
        .filter(|t| Certificate::chain_from_pem(t).is_ok())
        .unwrap_or_else(|| ca_cert.to_pem());
    let entry = offline_cluster_entry(args, &trust)?;
    if let Some(w) = store::san_warning(&args.cert_dir, &entry.server) {
        out.warning(w);
    }
    for w in &minted.warnings {
        out.warning(w);
    }
    let ns = plan.bindings.namespace.as_deref();
    let kubeconfig = credentials::cert_kubeconfig(&entry, tenant, &minted, ns)?;
    let objects = plan.bindings.objects(tenant);
    let record = plan.record(
        objects.namespace.is_some(),
        None,
        vec![minted.record.clone()],
        now,
    );

    let dir = plan.kubeconfig_out.parent().unwrap_or(Path::new(""));
    let base = tenant.file_name("x");
    let stem = base.to_string_lossy().trim_end_matches(".x").to_owned();
    let rbac_path = dir.join(format!("{stem}-rbac.yaml"));
    let record_path = dir.join(format!("{stem}-tenant.yaml"));
    let rbac = objects.to_yaml(&format!(
        "RBAC for tenant {} made by tenantctl create --offline.\nApply with: kubectl apply --server-side --field-manager=tenantctl -f {}",
        tenant.user(),
        rbac_path.display()
    ))?;
    let record_yaml = record_manifest(tenant, &record, &args.cluster.record_namespace)?;
    let kc_yaml = kubeconfig.to_yaml()?;
    let files = [
        (&plan.kubeconfig_out, kc_yaml.as_bytes(), true),
        (&rbac_path, rbac.as_bytes(), false),
        (&record_path, record_yaml.as_bytes(), false),
    ];
    if plan.force {
        for (path, contents, secret) in files {
            fs::replace_file(path, contents, secret)?;
        }
    } else {
        if let Some((path, ..)) = files.iter().find(|(p, ..)| p.exists()) {
            return Err(Error::Exists {
                path: (*path).clone(),
            });
        }
        let pending: Vec<Pending<'_>> = files
            .iter()
            .map(|(path, contents, secret)| Pending::new((*path).clone(), contents, *secret))
            .collect();
        fs::write_new_files(&pending)?;
    }
    progress!(
        out,
        "[cert] {} key and certificate for {}: serial {}, valid until {}",
        plan.key_algorithm,
        subject(tenant),
        minted.record.serial.as_deref().unwrap_or(""),
        minted.record.not_after
    );
    out.document(plan.format, &record, |out, _| {
        say!(
            out,
            "wrote {} (context {}@{}, server {})",
            plan.kubeconfig_out.display(),
            tenant.user(),
            entry.name,
            entry.server.as_str()
        );
        say!(
            out,
            "wrote {} — apply it with: kubectl apply --server-side --field-manager=tenantctl -f {}",
            rbac_path.display(),
            rbac_path.display()
        );
        say!(
            out,
            "wrote {} — the tenant record; `kubectl apply -f` it to share it with `tenantctl list`",
            record_path.display()
        );
        Ok(())
    })
}

/// What `--csr-out` wrote.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CsrWritten {
    csr: String,
    key: String,
    common_name: String,
    organizations: Vec<String>,
}

/// `--csr-out FILE`: a key and a CSR for the tenant, for an offline CA. Never overwrites.
pub(super) fn csr_out(plan: &CreatePlan, path: &Path, out: &mut Output<'_>) -> Result<(), Error> {
    let tenant = &plan.tenant;
    if tenant.auth() == AuthKind::Token {
        return Err(Error::Usage {
            flag: "--csr-out",
            message: "a token tenant has no certificate".into(),
        });
    }
    let key_path = path.with_extension("key");
    let key = pki_core::PrivateKey::generate(plan.key_algorithm)?;
    let csr = pki_core::Csr::build(&key, tenant.user(), tenant.groups(), &[])?;
    let key_pem = key.secret_pem()?;
    let csr_pem = csr.to_pem();
    fs::write_new_files(&[
        Pending::new(key_path.clone(), key_pem.as_bytes(), true),
        Pending::new(path.to_owned(), csr_pem.as_bytes(), false),
    ])
    .map_err(|e| match e {
        Error::Write { path, source } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Error::Exists { path }
        }
        e => e,
    })?;
    out.note(format_args!(
        "have the CA sign it as a client certificate for at most {}, e.g.\n  openssl x509 -req -in {} -CA ca.crt -CAkey ca.key -days {} -extfile <(printf 'extendedKeyUsage=clientAuth\\nkeyUsage=critical,digitalSignature') -out {}.crt\nthen finish with: tenantctl create {} --cert {}.crt --key {} --role ...",
        humanize(plan.ttl),
        path.display(),
        plan.ttl.as_secs().div_ceil(86_400),
        path.with_extension("").display(),
        tenant.user(),
        path.with_extension("").display(),
        key_path.display()
    ));
    let written = CsrWritten {
        csr: path.display().to_string(),
        key: key_path.display().to_string(),
        common_name: tenant.user().to_owned(),
        organizations: tenant.groups().to_vec(),
    };
    out.document(plan.format, &written, |out, w| {
        say!(
            out,
            "wrote {} ({}) and its key {} (0600)",
            w.csr,
            subject(tenant),
            w.key
        );
        Ok(())
    })
}

/// The record as YAML: its namespace and its ConfigMap.
fn record_manifest(
    tenant: &Tenant,
    record: &TenantRecord,
    namespace: &str,
) -> Result<String, Error> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some(managed_labels()),
            ..Default::default()
        },
        ..Namespace::default()
    };
    let cm = record.to_config_map(tenant, namespace)?;
    Ok(manifest(
        &format!("tenantctl record of tenant {}", tenant.user()),
        &[yaml(&ns)?, yaml(&cm)?],
    ))
}

/// Offline: cluster name, server and CA from `--kubeconfig` (default: the `admin.conf` next to
/// the cert dir, kubeadm's layout) without contacting anything; `--server` overrides; the CA
/// falls back to `ca_pem` (ca.crt).
fn offline_cluster_entry(args: &CreateArgs, ca_pem: &str) -> Result<ClusterEntry, Error> {
    let path = args.cluster.api.kubeconfig.clone().or_else(|| {
        let p = args.cert_dir.parent()?.join("admin.conf");
        p.is_file().then_some(p)
    });
    let Some(path) = path else {
        let server: &ServerUrl = args.server.as_ref().ok_or_else(|| Error::Usage {
            flag: "--server",
            message: format!(
                "no admin kubeconfig next to {} to take the API server URL from; pass --server https://HOST:6443 or --kubeconfig FILE",
                args.cert_dir.display()
            ),
        })?;
        return Ok(ClusterEntry {
            name: "kubernetes".into(),
            server: server.clone(),
            ca_pem: ca_pem.to_owned(),
        });
    };
    let mut kc = Kubeconfig::from_yaml(&store::read_text(&path)?)?;
    if let Some(ctx) = &args.cluster.api.context {
        kc.as_kube_mut().current_context = Some(ctx.clone());
    }
    let current = kc.current()?;
    let server = match &args.server {
        Some(s) => s.clone(),
        None => current.server.parse()?,
    };
    let ca_pem = match &current.ca {
        kubeconfig::ClusterCa::Embedded(pem) => pem.clone(),
        _ => ca_pem.to_owned(),
    };
    Ok(ClusterEntry {
        name: current.cluster.to_owned(),
        server,
        ca_pem,
    })
}
