//! The changing steps: begin, reissue, finish and abort (finish and abort share `settle`),
//! and the files each wants.

use super::*;

/// `begin`: a new CA next to the old one; both trusted, the old key still signs.
pub(super) fn begin(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let base = kind.base();
    let (state, pair) = match &before {
        Some(st) if st.phase == Phase::Begun => {
            // Again here, or on another control-plane node the rotation directory was copied to.
            let pair = load_pair(s, kind)?;
            ensure_key_is(s, kind, &[&pair.old])?;
            (st.clone(), pair)
        }
        Some(st) if st.phase == Phase::Reissued => {
            return Err(phase_error(
                kind,
                format!(
                    "already reissued on {}: finish it (`tenantctl pki rotate-ca finish --ca {kind}`) or abort it",
                    st.reissued.as_deref().unwrap_or("?")
                ),
            ));
        }
        _ => {
            // A finish or abort killed before it shredded leaves key material: shred it now.
            shred_pairs(args.dry_run, s, kind, &["old", "new"])?;
            if !path_of(s, base, "key").exists() {
                return Err(Error::Inconsistent {
                    dir: s.cert_dir.clone(),
                    problems: vec![format!(
                        "{base}.key is absent (external CA): rotate that CA where its key is kept"
                    )],
                });
            }
            let cert_pem = store::read_text(&path_of(s, base, "crt"))?;
            let certs = Certificate::chain_from_pem(&cert_pem)?;
            if certs.len() != 1 {
                return Err(Error::Inconsistent {
                    dir: s.cert_dir.clone(),
                    problems: vec![format!(
                        "{base}.crt holds {} certificates but no rotation is under way (rotation/{kind}/{STATE_FILE}): restore the single CA certificate that matches {base}.key",
                        certs.len()
                    )],
                });
            }
            let old = store::load_ca(&s.cert_dir, base, now)?;
            let def = ca_def(s, kind).ok_or_else(|| phase_error(kind, "no such CA"))?;
            let algorithm = args
                .pki
                .encryption_algorithm
                .unwrap_or(old.key().algorithm());
            progress!(
                out,
                "[rotate-ca] {kind} CA: generating a new {algorithm} key"
            );
            let mut spec = s.cfg.spec_for(def, now)?;
            spec.common_name = old.certificate().common_name().unwrap_or(spec.common_name);
            spec.organizations = old.certificate().organizations();
            let new = CertificateAuthority::self_signed(&spec, PrivateKey::generate(algorithm)?)?;
            let id = |c: &CertificateAuthority| {
                rotation::subject_key_id(c.certificate()).unwrap_or_default()
            };
            let state = State {
                api_version: "tenantctl.io/v1".into(),
                kind: "CARotation".into(),
                ca: kind,
                phase: Phase::Begun,
                old_key_id: id(&old),
                new_key_id: id(&new),
                begun: rfc3339(now),
                reissued: None,
                finished: None,
                aborted: None,
            };
            (state, Pair { old, new })
        }
    };
    let trust = bundle(pair.old.certificate(), pair.new.certificate());
    let mut wants = pair_wants(s, kind, &pair)?;
    wants.push(state_want(s, &state)?);
    wants.push(Want::new(path_of(s, base, "crt"), trust.clone(), false));
    if kind == CaKind::Cluster {
        wants.push(Want::new(
            rot_path(s, kind, "signing.crt"),
            pair.old.certificate().to_pem(),
            false,
        ));
    }
    let mut warnings = Vec::new();
    wants.extend(kubeconfig_wants(s, kind, None, &trust, now, &mut warnings)?);
    let written = converge(args.dry_run, s, kind, &wants)?;
    if kind == CaKind::Cluster && !written.is_empty() {
        warnings.push(format!(
            "kube-controller-manager's CSR signer refuses a bundle in --cluster-signing-cert-file (\"expected 1 certificate, found 2\", pkg/controller/certificates/signer): if it points at {}, point it at {} (the single certificate that matches ca.key, kept current by every step) before restarting it, and back after finish",
            path_of(s, base, "crt").display(),
            rot_path(s, kind, "signing.crt").display()
        ));
    }
    Ok(StepReport {
        ca: kind,
        step: "begin",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Begun,
        written,
        shredded: Vec::new(),
        ended: Vec::new(),
        warnings,
        restart: restarts(kind, Step::Begin),
        next: match kind {
            CaKind::Cluster => "distribute ca.crt to every node, restart as listed, re-issue tenants with `tenantctl renew --all`, then `tenantctl pki rotate-ca reissue`".into(),
            _ => format!("restart as listed, then `tenantctl pki rotate-ca reissue --ca {kind}`"),
        },
    })
}

/// The rotation directory's copies of both pairs (keys 0600).
pub(super) fn pair_wants(s: &Settings, kind: CaKind, pair: &Pair) -> Result<Vec<Want>, Error> {
    Ok(vec![
        Want::new(
            rot_path(s, kind, "old.key"),
            pair.old.key().secret_pem()?.as_bytes().to_vec(),
            true,
        ),
        Want::new(
            rot_path(s, kind, "old.crt"),
            pair.old.certificate().to_pem(),
            false,
        ),
        Want::new(
            rot_path(s, kind, "new.key"),
            pair.new.key().secret_pem()?.as_bytes().to_vec(),
            true,
        ),
        Want::new(
            rot_path(s, kind, "new.crt"),
            pair.new.certificate().to_pem(),
            false,
        ),
    ])
}

/// The CA pair files themselves: `<base>.key` = `signer`'s key, `<base>.crt` = `trust`.
pub(super) fn ca_wants(
    s: &Settings,
    kind: CaKind,
    signer: &CertificateAuthority,
    trust: &str,
) -> Result<Vec<Want>, Error> {
    let base = kind.base();
    let mut wants = vec![
        Want::new(
            path_of(s, base, "key"),
            signer.key().secret_pem()?.as_bytes().to_vec(),
            true,
        ),
        Want::new(path_of(s, base, "crt"), trust.to_owned(), false),
    ];
    if kind == CaKind::Cluster {
        wants.push(Want::new(
            rot_path(s, kind, "signing.crt"),
            signer.certificate().to_pem(),
            false,
        ));
    }
    Ok(wants)
}

/// Every leaf under `kind` that `signer` did not sign, re-issued from it with a new key of the
/// same algorithm (CN, O, SANs and usage kept).
pub(super) fn leaf_wants(
    s: &Settings,
    kind: CaKind,
    signer: &CertificateAuthority,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Vec<Want>, Error> {
    let mut wants = Vec::new();
    for def in leaves(s, kind) {
        let crt = path_of(s, def.base, "crt");
        let key = path_of(s, def.base, "key");
        let Ok(pem) = std::fs::read_to_string(&crt) else {
            warnings.push(format!("{}: not present, not re-issued", def.name));
            continue;
        };
        let old = Certificate::from_pem(&pem)?;
        if old.verify_signed_by(signer.certificate()).is_ok() {
            continue;
        }
        let algorithm = match std::fs::read_to_string(&key) {
            Ok(k) => PrivateKey::from_pem(&k)?.algorithm(),
            Err(_) => old.key_algorithm()?,
        };
        let new_key = PrivateKey::generate(algorithm)?;
        let spec = CertSpec {
            common_name: old.common_name().unwrap_or_default(),
            organizations: old.organizations(),
            usage: def.usage,
            sans: old.sans(),
            validity: Validity::kubeadm(now, s.cfg.cert_validity)
                .capped_at(signer.certificate().not_after()),
        };
        let cert = signer.issue(&spec, &new_key.public_key_der()?)?;
        wants.push(Want {
            what: format!("{}.key", def.base),
            path: key,
            contents: new_key.secret_pem()?.as_bytes().to_vec(),
            secret: true,
        });
        wants.push(Want {
            what: format!("{}.crt", def.base),
            path: crt,
            contents: cert.to_pem().into_bytes(),
            secret: false,
        });
    }
    Ok(wants)
}

/// The control-plane kubeconfigs (cluster CA only): the embedded CA set to `trust`, and with a
/// `signer`, an embedded client certificate it did not sign re-issued from it (same CN and O,
/// a new key). The kubelet's own rotated certificate (a file reference) is left to the kubelet.
pub(super) fn kubeconfig_wants(
    s: &Settings,
    kind: CaKind,
    signer: Option<&CertificateAuthority>,
    trust: &str,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Vec<Want>, Error> {
    if kind != CaKind::Cluster {
        return Ok(Vec::new());
    }
    let mut wants = Vec::new();
    for spec in &CONTROL_PLANE_KUBECONFIGS {
        let path = s.kubeconfig_dir.join(spec.file_name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut kc = Kubeconfig::from_yaml(&text)?;
        let (client, ca_matches) = {
            let current = kc.current()?;
            let ca_matches =
                matches!(&current.ca, ClusterCa::Embedded(p) if p.trim() == trust.trim());
            let client = match &current.credentials {
                Credentials::ClientCertificate { cert_pem, key_pem } => Some((
                    Certificate::from_pem(cert_pem)?,
                    PrivateKey::from_pem(key_pem.expose_secret())?.algorithm(),
                )),
                _ => None,
            };
            (client, ca_matches)
        };
        match (signer, client) {
            (Some(signer), Some((old, algorithm)))
                if old.verify_signed_by(signer.certificate()).is_err() =>
            {
                let key = PrivateKey::generate(algorithm)?;
                let identity = ClientIdentity {
                    user: old.common_name().unwrap_or_default(),
                    groups: old.organizations(),
                };
                let cert = signer.issue_client(
                    &identity,
                    &key,
                    Validity::kubeadm(now, s.cfg.cert_validity)
                        .capped_at(signer.certificate().not_after()),
                )?;
                kc.renew_client_certificate(&cert.to_pem(), Secret::new(key.secret_pem()?), trust)?;
            }
            (signer, client) => {
                if signer.is_some() && client.is_none() {
                    warnings.push(format!(
                        "{}: its client certificate is a file (the kubelet's own): move it with `tenantctl pki rotate-ca kubelet` once this step is done, and restart the kubelet",
                        spec.file_name
                    ));
                }
                if !ca_matches {
                    kc.set_certificate_authority(trust)?;
                }
            }
        }
        let yaml = kc.to_yaml()?;
        if yaml.as_bytes() != text.as_bytes() {
            wants.push(Want {
                what: spec.file_name.to_owned(),
                path,
                contents: yaml.as_bytes().to_vec(),
                secret: true,
            });
        }
    }
    Ok(wants)
}

/// `reissue`: the new key signs, every leaf and kubeconfig client certificate moves to it.
pub(super) fn reissue(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    tenants: Option<&[TenantRecord]>,
    now: SystemTime,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let mut state = match &before {
        Some(st) if st.phase.in_progress() => st.clone(),
        Some(st) => {
            return Err(phase_error(
                kind,
                format!(
                    "no rotation under way (the last one {}): begin one first",
                    st.phase
                ),
            ));
        }
        None => return Err(phase_error(kind, "no rotation under way: begin one first")),
    };
    let pair = load_pair(s, kind)?;
    ensure_key_is(s, kind, &[&pair.old, &pair.new])?;
    let mut warnings = Vec::new();
    if state.phase == Phase::Begun {
        // Who would stop trusting the API server once it presents a certificate of the new CA.
        let mut blockers = Vec::new();
        if let Some(records) = tenants {
            blockers.extend(tenants_trusting_only_old(records, &state.new_key_id));
        }
        if kind == CaKind::Cluster {
            blockers.extend(kubeconfigs_trusting_only_old(s, &state.new_key_id));
        }
        refuse_or_warn(
            args,
            kind,
            "reissue",
            "these trust only the old CA, and after reissue the API server presents a certificate of the new one",
            blockers,
            &mut warnings,
        )?;
        state.phase = Phase::Reissued;
        state.reissued = Some(rfc3339(now));
    }
    let trust = bundle(pair.new.certificate(), pair.old.certificate());
    let mut wants = pair_wants(s, kind, &pair)?;
    wants.extend(ca_wants(s, kind, &pair.new, &trust)?);
    wants.extend(leaf_wants(s, kind, &pair.new, now, &mut warnings)?);
    wants.extend(kubeconfig_wants(
        s,
        kind,
        Some(&pair.new),
        &trust,
        now,
        &mut warnings,
    )?);
    wants.push(state_want(s, &state)?);
    let written = converge(args.dry_run, s, kind, &wants)?;
    Ok(StepReport {
        ca: kind,
        step: "reissue",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Reissued,
        written,
        shredded: Vec::new(),
        ended: Vec::new(),
        warnings,
        restart: restarts(kind, Step::Reissue),
        next: format!(
            "restart as listed, copy the new kubeconfigs out, wait until every kubelet has a certificate from the new CA, then `tenantctl pki rotate-ca finish --ca {kind}`"
        ),
    })
}

/// `finish`: the old CA is dropped from every bundle and its key material shredded.
pub(super) fn finish(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    tenants: Option<&[TenantRecord]>,
    now: SystemTime,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let mut state = match &before {
        Some(st) if matches!(st.phase, Phase::Reissued | Phase::Finished) => st.clone(),
        Some(st) if st.phase == Phase::Begun => {
            return Err(phase_error(
                kind,
                "begun but not reissued: run `tenantctl pki rotate-ca reissue` first",
            ));
        }
        _ => {
            return Err(phase_error(
                kind,
                "no rotation to finish: begin one with `tenantctl pki rotate-ca begin`",
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut ended = Vec::new();
    let mut written = Vec::new();
    if state.phase == Phase::Reissued {
        let pair = load_pair(s, kind)?;
        ensure_key_is(s, kind, &[&pair.new])?;
        let mut blockers = on_old_ca(s, kind, pair.new.certificate());
        if let Some(records) = tenants {
            blockers.extend(tenants_on_old_ca(records, &state.new_key_id));
            ended = superseded_on_old_ca(records, &state.new_key_id, now);
        }
        refuse_or_warn(
            args,
            kind,
            "finish",
            "these are signed by the old CA, which stops being trusted",
            blockers,
            &mut warnings,
        )?;
        state.phase = Phase::Finished;
        state.finished = Some(rfc3339(now));
        written = settle(args, s, &pair.new, &state, now, &mut warnings)?;
    }
    let shredded = shred_pairs(args.dry_run, s, kind, &["old", "new"])?;
    Ok(StepReport {
        ca: kind,
        step: "finish",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Finished,
        written,
        shredded,
        ended,
        warnings,
        restart: restarts(kind, Step::Finish),
        next: if kind == CaKind::Cluster {
            "restart as listed; distribute the new ca.crt to every node; the rotation is complete"
                .into()
        } else {
            "restart as listed; the rotation is complete".into()
        },
    })
}

/// The end of a rotation either way (finish: `remaining` is the new CA; abort: the old one):
/// `remaining` alone is trusted and signs, anything it did not sign is re-issued from it, and
/// the state says so; one batch. Returns what was written.
pub(super) fn settle(
    args: &RotateCaArgs,
    s: &Settings,
    remaining: &CertificateAuthority,
    state: &State,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, Error> {
    let kind = state.ca;
    let trust = remaining.certificate().to_pem();
    let mut wants = ca_wants(s, kind, remaining, &trust)?;
    wants.extend(leaf_wants(s, kind, remaining, now, warnings)?);
    wants.extend(kubeconfig_wants(
        s,
        kind,
        Some(remaining),
        &trust,
        now,
        warnings,
    )?);
    wants.push(state_want(s, state)?);
    converge(args.dry_run, s, kind, &wants)
}

/// `abort`: back to the old CA alone; whatever is already on the new CA is re-issued from the
/// old one, and the new key is shredded.
pub(super) fn abort(
    args: &RotateCaArgs,
    s: &Settings,
    kind: CaKind,
    tenants: Option<&[TenantRecord]>,
    now: SystemTime,
) -> Result<StepReport, Error> {
    let before = rotation::read(&s.cert_dir, kind)?;
    let mut state = match &before {
        Some(st) if st.phase != Phase::Finished => st.clone(),
        Some(_) => {
            return Err(phase_error(
                kind,
                "finished: the old CA's key is gone; begin a new rotation instead",
            ));
        }
        None => {
            return Err(phase_error(
                kind,
                "no rotation to abort (none was begun here)",
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut written = Vec::new();
    if state.phase != Phase::Aborted {
        let pair = load_pair(s, kind)?;
        ensure_key_is(s, kind, &[&pair.old, &pair.new])?;
        if let Some(records) = tenants {
            let on_new = tenants_on_ca(records, &state.new_key_id);
            if !on_new.is_empty() {
                warnings.push(format!(
                    "these tenants' current certificates are from the new CA and stop authenticating after the restart: {}; run `tenantctl renew --all` afterwards",
                    on_new.join(", ")
                ));
            }
        }
        state.phase = Phase::Aborted;
        state.aborted = Some(rfc3339(now));
        written = settle(args, s, &pair.old, &state, now, &mut warnings)?;
    }
    let shredded = shred_pairs(args.dry_run, s, kind, &["new", "old"])?;
    Ok(StepReport {
        ca: kind,
        step: "abort",
        phase_before: before.map(|b| b.phase),
        phase: Phase::Aborted,
        written,
        shredded,
        ended: Vec::new(),
        warnings,
        restart: restarts(kind, Step::Abort),
        next: "restart as listed; the old CA is the only one again".into(),
    })
}
