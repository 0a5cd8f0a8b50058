//! Reconcile existing files with the configuration, as a pure function: kubeadm's reuse rules
//! (spec §2) plus the checks kubeadm skips, then the generation of what is missing.

use std::{collections::BTreeMap, fmt, time::SystemTime};

use zeroize::Zeroizing;

use crate::{
    CertDef, CertId, Certificate, CertificateAuthority, ClusterConfig, Error, ExtKeyUsage,
    PrivateKey, San, Usage, cert::rfc3339, pem,
};

/// One thing wrong with an existing file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the PKI directory.
    pub file: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// What happens to one entry of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The files exist and pass every check: they are left exactly as they are.
    Reuse,
    /// Nothing exists: a new key and certificate are made.
    Create,
    /// The files exist and their CA's key is absent: an externally managed entry, checked and
    /// kept.
    KeepExternal,
}

/// The plan for one entry: a certificate and key, or the service-account key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanEntry {
    /// kubeadm's name (`apiserver`, `etcd-ca`, `sa`).
    pub name: &'static str,
    /// The files, relative to the PKI directory.
    pub files: Vec<String>,
    /// What happens.
    pub action: Action,
    /// Non-fatal findings (for example a leaf capped at its CA's expiry).
    pub warnings: Vec<String>,
}

enum CaState {
    Reuse(CertificateAuthority),
    External(Certificate),
    Create,
}

enum SaState {
    Reuse,
    WritePublic(PrivateKey),
    Create,
}

/// A checked plan, ready to [`execute`](Plan::execute).
pub struct Plan {
    cfg: ClusterConfig,
    now: SystemTime,
    entries: Vec<PlanEntry>,
    cas: BTreeMap<CertId, CaState>,
    sa: SaState,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

/// A file to write: a path relative to the PKI directory, its bytes, and whether it is secret
/// (mode 0600) or public (0644).
pub struct NewFile {
    /// Relative path (`etcd/server.key`).
    pub path: String,
    /// Contents.
    pub contents: Zeroizing<Vec<u8>>,
    /// A private key.
    pub secret: bool,
}

impl fmt::Debug for NewFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewFile")
            .field("path", &self.path)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// What [`Plan::execute`] produced.
#[derive(Debug)]
pub struct Executed {
    /// The new files; reused files are not among them and must be left untouched.
    pub files: Vec<NewFile>,
    /// The cluster CA with its key, when it is held locally (not external).
    pub cluster_ca: Option<CertificateAuthority>,
    /// The cluster CA certificate (local or external).
    pub cluster_ca_cert: Certificate,
}

fn crt(def: &CertDef) -> String {
    format!("{}.crt", def.base)
}

fn key(def: &CertDef) -> String {
    format!("{}.key", def.base)
}

struct Checker<'a> {
    existing: &'a BTreeMap<String, Vec<u8>>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, file: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_owned(),
            message: message.into(),
        });
    }

    fn text(&mut self, file: &str) -> Option<&str> {
        let bytes = self.existing.get(file)?;
        match std::str::from_utf8(bytes) {
            Ok(t) => Some(t),
            Err(_) => {
                self.problems.push(Problem {
                    file: file.to_owned(),
                    message: "is not PEM text (binary data)".into(),
                });
                None
            }
        }
    }

    fn cert(&mut self, file: &str) -> Option<Certificate> {
        let text = self.text(file)?;
        match Certificate::from_pem(text) {
            Ok(c) => Some(c),
            Err(e) => {
                self.problem(file, format!("cannot be read as a certificate: {e}"));
                None
            }
        }
    }

    fn key(&mut self, file: &str) -> Option<PrivateKey> {
        let text = self.text(file)?;
        match PrivateKey::from_pem(text) {
            Ok(k) => Some(k),
            Err(e) => {
                self.problem(file, format!("cannot be read as a private key: {e}"));
                None
            }
        }
    }
}

/// Checks the files that already exist (relative path → bytes) against `cfg` at `now`, and
/// returns the plan for every entry, or every problem found (each naming its file).
///
/// The rules are kubeadm's (spec §2): a CA certificate without its key is an external CA,
/// whose leaves must all exist and chain to it; an existing leaf must chain to its CA and
/// cover every expected SAN. On top of kubeadm: the key must match the certificate; CN, O and
/// ExtKeyUsage must be the expected ones; the key algorithm must be the configured one; and
/// nothing expired is reused. A key whose certificate is missing is an error, never
/// overwritten.
pub fn plan(
    cfg: &ClusterConfig,
    existing: &BTreeMap<String, Vec<u8>>,
    now: SystemTime,
) -> Result<Plan, Error> {
    cfg.validate()?;
    let mut ck = Checker {
        existing,
        problems: Vec::new(),
    };
    let mut entries = Vec::new();
    let mut cas = BTreeMap::new();
    for def in cfg.certs() {
        let (crt_path, key_path) = (crt(def), key(def));
        let files = vec![crt_path.clone(), key_path.clone()];
        let has_crt = existing.contains_key(&crt_path);
        let has_key = existing.contains_key(&key_path);
        let mut warnings = Vec::new();
        let action = if def.usage == Usage::Ca {
            let state = match (has_crt, has_key) {
                (false, false) => CaState::Create,
                (false, true) => {
                    ck.problem(&crt_path, format!("is missing but {key_path} exists; restore the certificate (a CA key is never overwritten)"));
                    CaState::Create
                }
                (true, false) => match ck.cert(&crt_path) {
                    Some(c) => {
                        check_ca(&mut ck, &crt_path, &c, now);
                        CaState::External(c)
                    }
                    None => CaState::Create,
                },
                (true, true) => match (ck.cert(&crt_path), ck.key(&key_path)) {
                    (Some(c), Some(k)) => {
                        check_ca(&mut ck, &crt_path, &c, now);
                        match CertificateAuthority::from_parts(c, k) {
                            Ok(ca) => CaState::Reuse(ca),
                            Err(e) => {
                                ck.problem(
                                    &key_path,
                                    format!("does not belong to {crt_path}: {e}"),
                                );
                                CaState::Create
                            }
                        }
                    }
                    _ => CaState::Create,
                },
            };
            let action = match &state {
                CaState::Reuse(_) => Action::Reuse,
                CaState::External(_) => Action::KeepExternal,
                CaState::Create => Action::Create,
            };
            cas.insert(def.id, state);
            action
        } else {
            check_leaf(&mut ck, cfg, def, &cas, now, &mut warnings)?
        };
        entries.push(PlanEntry {
            name: def.name,
            files,
            action,
            warnings,
        });
    }
    let sa = check_sa(&mut ck);
    entries.push(PlanEntry {
        name: "sa",
        files: vec!["sa.key".into(), "sa.pub".into()],
        action: match sa {
            SaState::Reuse => Action::Reuse,
            SaState::WritePublic(_) | SaState::Create => Action::Create,
        },
        warnings: Vec::new(),
    });
    if !ck.problems.is_empty() {
        return Err(Error::Plan(ck.problems));
    }
    Ok(Plan {
        cfg: cfg.clone(),
        now,
        entries,
        cas,
        sa,
    })
}

fn check_ca(ck: &mut Checker<'_>, path: &str, c: &Certificate, now: SystemTime) {
    if !c.is_ca() {
        ck.problem(
            path,
            "is not a CA certificate (BasicConstraints CA:TRUE is missing)",
        );
    } else if !c.is_valid_at(now) {
        ck.problem(
            path,
            format!("the CA is not valid now (valid {} to {}); a new CA means new certificates everywhere", rfc3339(c.not_before()), rfc3339(c.not_after())),
        );
    }
}

fn check_leaf(
    ck: &mut Checker<'_>,
    cfg: &ClusterConfig,
    def: &CertDef,
    cas: &BTreeMap<CertId, CaState>,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<Action, Error> {
    let (crt_path, key_path) = (crt(def), key(def));
    let has_crt = ck.existing.contains_key(&crt_path);
    let has_key = ck.existing.contains_key(&key_path);
    let Some(issuer_id) = def.issuer else {
        return Ok(Action::Create);
    };
    let issuer_def = issuer_id.def();
    let issuer = cas.get(&issuer_id);
    let external = matches!(issuer, Some(CaState::External(_)));
    match (has_crt, has_key) {
        (false, false) => {
            if external {
                ck.problem(
                    &crt_path,
                    format!("is missing; the {} CA is external ({}.key is absent), so this certificate must be provided, signed by it", issuer_def.name, issuer_def.base),
                );
            }
            return Ok(Action::Create);
        }
        (true, false) => {
            ck.problem(
                &key_path,
                format!("is missing but {crt_path} exists; provide the key or remove both files"),
            );
            return Ok(Action::Create);
        }
        (false, true) => {
            ck.problem(&crt_path, format!("is missing but {key_path} exists; provide the certificate or remove both files (a key is never overwritten)"));
            return Ok(Action::Create);
        }
        (true, true) => {}
    }
    let (Some(c), Some(k)) = (ck.cert(&crt_path), ck.key(&key_path)) else {
        return Ok(Action::Reuse);
    };
    let issuer_cert = match issuer {
        Some(CaState::Reuse(ca)) => Some(ca.certificate()),
        Some(CaState::External(cert)) => Some(cert),
        Some(CaState::Create) | None => None,
    };
    match issuer_cert {
        None => ck.problem(&crt_path, format!("exists but its CA {}.crt does not; it cannot chain to a new CA: remove it or restore the CA", issuer_def.base)),
        Some(ca) => {
            if c.verify_signed_by(ca).is_err() {
                ck.problem(&crt_path, format!("is not signed by the {} CA ({}.crt)", issuer_def.name, issuer_def.base));
            }
        }
    }
    match c.matches_key(&k) {
        Ok(true) => {}
        Ok(false) => ck.problem(
            &key_path,
            format!("does not match the public key in {crt_path}"),
        ),
        Err(e) => ck.problem(
            &key_path,
            format!("cannot be compared with {crt_path}: {e}"),
        ),
    }
    let spec = cfg.spec_for(def, now)?;
    let cn = c.common_name().unwrap_or_default();
    if cn != spec.common_name {
        ck.problem(
            &crt_path,
            format!("has CN {cn:?}, expected {:?}", spec.common_name),
        );
    }
    let orgs = c.organizations();
    if orgs != spec.organizations {
        ck.problem(
            &crt_path,
            format!("has O {orgs:?}, expected {:?}", spec.organizations),
        );
    }
    let want_eku = match def.usage {
        Usage::Server => vec![ExtKeyUsage::ServerAuth],
        Usage::Client => vec![ExtKeyUsage::ClientAuth],
        Usage::ServerClient => vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth],
        Usage::Ca => vec![],
    };
    let have_eku = c.ext_key_usages();
    if !want_eku.iter().all(|u| have_eku.contains(u)) {
        ck.problem(
            &crt_path,
            format!("has extended key usages {have_eku:?}, expected {want_eku:?}"),
        );
    }
    let missing: Vec<String> = spec
        .sans
        .iter()
        .filter(|s| !c.covers(s))
        .map(San::to_string)
        .collect();
    if !missing.is_empty() {
        ck.problem(
            &crt_path,
            format!("is not valid for {}; remove {crt_path} and {key_path} to re-issue it (or use `tenantctl pki renew`)", missing.join(", ")),
        );
    }
    if !external && k.algorithm() != cfg.key_algorithm {
        ck.problem(
            &key_path,
            format!(
                "is {}, but the configured algorithm is {}",
                k.algorithm(),
                cfg.key_algorithm
            ),
        );
    }
    if !c.is_valid_at(now) {
        ck.problem(
            &crt_path,
            format!(
                "is not valid now (valid {} to {}); renew it",
                rfc3339(c.not_before()),
                rfc3339(c.not_after())
            ),
        );
    }
    if let Some(ca) = issuer_cert
        && c.not_after() > ca.not_after()
    {
        warnings.push(format!(
            "{crt_path} expires after its CA {}.crt",
            issuer_def.base
        ));
    }
    Ok(if external {
        Action::KeepExternal
    } else {
        Action::Reuse
    })
}

fn check_sa(ck: &mut Checker<'_>) -> SaState {
    let has_key = ck.existing.contains_key("sa.key");
    let has_pub = ck.existing.contains_key("sa.pub");
    match (has_key, has_pub) {
        (false, false) => SaState::Create,
        (false, true) => {
            ck.problem("sa.key", "is missing but sa.pub exists; restore sa.key (service-account tokens are verified with sa.pub)");
            SaState::Create
        }
        (true, _) => {
            let Some(k) = ck.key("sa.key") else {
                return SaState::Create;
            };
            // kubeadm reuses any loadable sa.key, whatever its algorithm: tokens signed with
            // it must stay valid, so it is kept even after the algorithm changes.
            if !has_pub {
                return SaState::WritePublic(k);
            }
            let Some(text) = ck.text("sa.pub") else {
                return SaState::Reuse;
            };
            let public = pem::blocks(text)
                .ok()
                .and_then(|b| b.into_iter().find(|b| b.label == "PUBLIC KEY"));
            match (public, k.public_key_der()) {
                (Some(p), Ok(want)) if *p.der == want => SaState::Reuse,
                (Some(_), _) => {
                    ck.problem("sa.pub", "does not match sa.key");
                    SaState::Reuse
                }
                (None, _) => {
                    ck.problem("sa.pub", "holds no PUBLIC KEY block");
                    SaState::Reuse
                }
            }
        }
    }
}

impl Plan {
    /// Every entry, in table order, then `sa`.
    pub fn entries(&self) -> &[PlanEntry] {
        &self.entries
    }

    /// How many new private keys [`Self::execute`] needs.
    pub fn keys_needed(&self) -> usize {
        let certs = self
            .entries
            .iter()
            .filter(|e| e.name != "sa" && e.action == Action::Create)
            .count();
        certs + usize::from(matches!(self.sa, SaState::Create))
    }

    /// Whether nothing needs to be written.
    pub fn is_noop(&self) -> bool {
        self.entries.iter().all(|e| e.action != Action::Create)
    }

    /// Generates every missing certificate with the given fresh keys (at least
    /// [`Self::keys_needed`] of them, of the configured algorithm; see
    /// [`generate_keys`](crate::generate_keys), which makes them in parallel).
    pub fn execute(self, keys: &mut impl Iterator<Item = PrivateKey>) -> Result<Executed, Error> {
        let mut next_key = || {
            keys.next().ok_or(Error::KeyGeneration {
                algorithm: self.cfg.key_algorithm,
            })
        };
        let mut files = Vec::new();
        let mut cas: BTreeMap<CertId, CaState> = self.cas;
        for def in self.cfg.certs() {
            let entry = self.entries.iter().find(|e| e.name == def.name);
            if entry.map(|e| e.action) != Some(Action::Create) {
                continue;
            }
            let spec = self.cfg.spec_for(def, self.now)?;
            let k = next_key()?;
            match def.issuer {
                None => {
                    let ca = CertificateAuthority::self_signed(&spec, k)?;
                    files.push(cert_file(def, ca.certificate()));
                    files.push(key_file(def, ca.key())?);
                    cas.insert(def.id, CaState::Reuse(ca));
                }
                Some(issuer) => {
                    let Some(CaState::Reuse(ca)) = cas.get(&issuer) else {
                        // The plan only creates leaves under a CA it holds the key of.
                        return Err(Error::Plan(vec![Problem {
                            file: crt(def),
                            message: "its CA key is not available".into(),
                        }]));
                    };
                    let cert = ca.issue(&spec, &k.public_key_der()?)?;
                    files.push(cert_file(def, &cert));
                    files.push(key_file(def, &k)?);
                }
            }
        }
        let sa_key = match self.sa {
            SaState::Reuse => None,
            SaState::WritePublic(k) => Some((k, false)),
            SaState::Create => Some((next_key()?, true)),
        };
        if let Some((k, write_key)) = sa_key {
            if write_key {
                files.push(NewFile {
                    path: "sa.key".into(),
                    contents: Zeroizing::new(k.secret_pem()?.as_bytes().to_vec()),
                    secret: true,
                });
            }
            files.push(NewFile {
                path: "sa.pub".into(),
                contents: Zeroizing::new(k.public_key_pem()?.into_bytes()),
                // kubeadm writes sa.pub through WriteKey on the init node: 0600.
                secret: true,
            });
        }
        let (cluster_ca, cluster_ca_cert) = match cas.remove(&CertId::Ca) {
            Some(CaState::Reuse(ca)) => {
                let cert = ca.certificate().clone();
                (Some(ca), cert)
            }
            Some(CaState::External(cert)) => (None, cert),
            _ => {
                return Err(Error::Plan(vec![Problem {
                    file: "ca.crt".into(),
                    message: "the cluster CA was not produced".into(),
                }]));
            }
        };
        Ok(Executed {
            files,
            cluster_ca,
            cluster_ca_cert,
        })
    }
}

fn cert_file(def: &CertDef, cert: &Certificate) -> NewFile {
    NewFile {
        path: crt(def),
        contents: Zeroizing::new(cert.to_pem().into_bytes()),
        secret: false,
    }
}

fn key_file(def: &CertDef, k: &PrivateKey) -> Result<NewFile, Error> {
    Ok(NewFile {
        path: key(def),
        contents: Zeroizing::new(k.secret_pem()?.as_bytes().to_vec()),
        secret: true,
    })
}
