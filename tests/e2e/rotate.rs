//! A whole cluster CA rotation over real TLS: the fake API server presents `apiserver.crt` and
//! trusts `ca.crt` as its client CA, and is restarted (TLS reloaded, objects kept) after each
//! step, as kube-apiserver would be. Clients are rustls with the old admin certificate, the new
//! one, an old tenant certificate and a renewed one, each with the trust its kubeconfig carries.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    sync::Arc,
    time::Duration,
};

use kubeconfig::{ClusterCa, Credentials, Kubeconfig};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _},
};
use serde_json::Value;
use workspace_tests::{
    Cluster,
    fake_apiserver::{FakeApiServer, set_kubeconfig_server},
    read, tenantctl,
};

/// What a kubeconfig hands a client: the CAs it trusts, and its certificate and key or token.
#[derive(Clone)]
struct Client {
    trust: String,
    cert: Option<(String, String)>,
    token: Option<String>,
}

impl Client {
    fn from_kubeconfig(text: &str) -> Self {
        let kc = Kubeconfig::from_yaml(text).unwrap();
        let current = kc.current().unwrap();
        let ClusterCa::Embedded(trust) = current.ca else {
            panic!("no embedded CA")
        };
        match current.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => Self {
                trust,
                cert: Some((cert_pem, key_pem.expose_secret().to_owned())),
                token: None,
            },
            Credentials::Token(token) => Self {
                trust,
                cert: None,
                token: Some(token.expose_secret().to_owned()),
            },
            _ => panic!("neither a client certificate nor a token"),
        }
    }

    /// The same certificate, trusting `trust` (to tell "the server refuses my certificate" from
    /// "I do not trust the server").
    fn trusting(&self, trust: &str) -> Self {
        Self {
            trust: trust.to_owned(),
            ..self.clone()
        }
    }

    /// Who the server says we are (a SelfSubjectReview over mutual TLS), or why it failed.
    fn whoami(&self, server: &FakeApiServer) -> Result<String, String> {
        let mut roots = RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(self.trust.as_bytes()) {
            roots
                .add(der.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let config = match &self.cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<_, _>>()
                        .map_err(|e| e.to_string())?,
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?,
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(("127.0.0.1", server.port())).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, tcp);
        let body = b"{}";
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        tls.write_all(body).map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        let read = tls.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Err(format!("no response ({read:?})"));
        };
        if !head.starts_with("HTTP/1.1 201") {
            return Err(head.lines().next().unwrap_or_default().to_owned());
        }
        let review: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Ok(review["status"]["userInfo"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

/// A loopback PKI, the fake server on it, and admin.conf pointing at the server.
struct Setup {
    cluster: Cluster,
    server: FakeApiServer,
    admin_path: std::path::PathBuf,
    admin: String,
    pki: String,
}

fn start() -> Setup {
    let cluster = Cluster::init_loopback(&["--encryption-algorithm", "ECDSA-P256"]);
    let server = FakeApiServer::start(&cluster.pki, Duration::ZERO);
    let admin_path = cluster.etc.join("admin.conf");
    set_kubeconfig_server(&admin_path, &server.url());
    Setup {
        admin: admin_path.display().to_string(),
        pki: cluster.pki.display().to_string(),
        cluster,
        server,
        admin_path,
    }
}

/// `tenantctl create USER ARGS… --kubeconfig-out OUT` through admin.conf.
fn create(admin: &str, pki: &str, user: &str, args: &[&str], out: &std::path::Path) {
    let out = out.display().to_string();
    let mut argv = vec!["create", user];
    argv.extend_from_slice(args);
    argv.extend([
        "--kubeconfig",
        admin,
        "--cert-dir",
        pki,
        "--kubeconfig-out",
        &out,
    ]);
    tenantctl(&argv).unwrap();
}

/// `tenantctl renew --all --out-dir DIR ARGS…` through admin.conf; its stdout.
fn renew_all(admin: &str, pki: &str, dir: &std::path::Path, args: &[&str]) -> String {
    let dir = dir.display().to_string();
    let mut argv = vec![
        "renew",
        "--all",
        "--out-dir",
        &dir,
        "--kubeconfig",
        admin,
        "--cert-dir",
        pki,
    ];
    argv.extend_from_slice(args);
    tenantctl(&argv).unwrap()
}

fn rotate(
    cluster: &Cluster,
    admin: &str,
    step: &str,
    extra: &[&str],
) -> Result<String, tenantctl::Error> {
    let pki = cluster.pki.display().to_string();
    let etc = cluster.etc.display().to_string();
    let mut argv = vec![
        "pki",
        "rotate-ca",
        step,
        "--cert-dir",
        &pki,
        "--kubeconfig-dir",
        &etc,
        "--kubeconfig",
        admin,
        "-o",
        "json",
    ];
    argv.extend_from_slice(extra);
    tenantctl(&argv)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
#[allow(clippy::too_many_lines)]
fn a_cluster_ca_rotation_keeps_every_client_working_until_finish_ends_the_old_ones() {
    let Setup {
        cluster,
        server,
        admin_path,
        admin,
        pki,
    } = start();
    let alice_old_path = cluster.etc.join("alice-old.kubeconfig");
    create(&admin, &pki, "alice", &["--role", "view"], &alice_old_path);
    // Outside --kubeconfig-dir: only the ledger knows of it.
    std::fs::create_dir(cluster.dir.path().join("handed-out")).unwrap();
    let bot_old_path = cluster.dir.path().join("handed-out/bot-old.kubeconfig");
    create(
        &admin,
        &pki,
        "bot",
        &[
            "--auth",
            "token",
            "--role",
            "view",
            "-n",
            "team-a",
            "--create-namespace",
        ],
        &bot_old_path,
    );
    let bot_old = Client::from_kubeconfig(&read(&bot_old_path));
    assert_eq!(
        bot_old.whoami(&server).as_deref(),
        Ok("system:serviceaccount:team-a:bot")
    );
    let old_admin = Client::from_kubeconfig(&read(&admin_path));
    let alice_old = Client::from_kubeconfig(&read(&alice_old_path));
    let old_ca = read(&cluster.pki.join("ca.crt"));
    assert_eq!(old_admin.whoami(&server).as_deref(), Ok("kubernetes-admin"));
    assert_eq!(alice_old.whoami(&server).as_deref(), Ok("alice"));

    // begin: both CAs trusted, the old key still signs; everything old keeps working.
    let begun = json(&rotate(&cluster, &admin, "begin", &[]).unwrap());
    assert_eq!(begun["steps"][0]["phase"], "begun", "{begun}");
    server.restart();
    let bundle = read(&cluster.pki.join("ca.crt"));
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(
        bundle.starts_with(old_ca.trim()),
        "the old CA first while its key signs"
    );
    let begun_admin = Client::from_kubeconfig(&read(&admin_path));
    assert_eq!(begun_admin.trust, bundle, "admin.conf trusts both");
    assert_eq!(old_admin.whoami(&server).as_deref(), Ok("kubernetes-admin"));
    assert_eq!(alice_old.whoami(&server).as_deref(), Ok("alice"));
    assert_eq!(
        begun_admin.whoami(&server).as_deref(),
        Ok("kubernetes-admin")
    );
    // A second begin changes nothing.
    let again = json(&rotate(&cluster, &admin, "begin", &[]).unwrap());
    assert_eq!(
        again["steps"][0]["written"],
        serde_json::json!([]),
        "{again}"
    );
    assert_eq!(read(&cluster.pki.join("ca.crt")), bundle);

    // reissue is refused while alice's kubeconfig trusts only the old CA (exit 3, named).
    let refused = rotate(&cluster, &admin, "reissue", &[]).unwrap_err();
    assert_eq!(refused.exit_code(), 3, "{refused}");
    assert!(refused.to_string().contains("tenant alice"), "{refused}");
    assert!(
        refused.to_string().contains("tenant bot: token"),
        "{refused}"
    );
    // status names what still depends on the old CA, tenants included.
    let status = json(&rotate(&cluster, &admin, "status", &[]).unwrap());
    let on_old = status["cas"][0]["tenantsOnOldCa"].to_string();
    assert!(
        on_old.contains("tenant alice") && on_old.contains("tenant bot"),
        "{status}"
    );
    assert!(
        status["cas"][0]["stillOnOldCa"]
            .to_string()
            .contains("apiserver"),
        "{status}"
    );
    assert!(
        refused.to_string().contains("alice-old.kubeconfig"),
        "a kubeconfig in --kubeconfig-dir that trusts only the old CA: {refused}"
    );
    assert_eq!(read(&cluster.pki.join("ca.crt")), bundle, "nothing written");
    std::fs::remove_file(&alice_old_path).unwrap();

    // renew --all: alice from the new CA, her kubeconfig trusting both.
    let out_dir = cluster.dir.path().join("renewed");
    let renewed = json(&renew_all(&admin, &pki, &out_dir, &["-o", "json"]));
    let new_key_id =
        json(&rotate(&cluster, &admin, "status", &[]).unwrap())["cas"][0]["state"]["newKeyId"]
            .as_str()
            .unwrap()
            .to_owned();
    let credential = &renewed["renewed"][0]["credential"];
    assert_eq!(renewed["renewed"][0]["user"], "alice", "{renewed}");
    assert_eq!(credential["issuerKeyId"], new_key_id.as_str(), "{renewed}");
    assert_eq!(
        credential["trustedCaKeyIds"].as_array().map(Vec::len),
        Some(2),
        "{renewed}"
    );
    let alice_new = Client::from_kubeconfig(&read(&out_dir.join("alice.kubeconfig")));
    assert_eq!(alice_new.trust, bundle);
    assert_eq!(alice_new.whoami(&server).as_deref(), Ok("alice"));
    let bot_new = Client::from_kubeconfig(&read(&out_dir.join("bot.kubeconfig")));
    assert_eq!(bot_new.trust, bundle);
    let status = json(&rotate(&cluster, &admin, "status", &[]).unwrap());
    assert_eq!(
        status["cas"][0]["tenantsOnOldCa"],
        serde_json::json!([]),
        "{status}"
    );

    // reissue: the new key signs, the server presents a certificate of the new CA.
    let reissued = json(&rotate(&cluster, &admin, "reissue", &[]).unwrap());
    assert_eq!(reissued["steps"][0]["phase"], "reissued", "{reissued}");
    server.restart();
    let reissued_bundle = read(&cluster.pki.join("ca.crt"));
    assert!(
        !reissued_bundle.starts_with(old_ca.trim()),
        "the new CA first"
    );
    let new_admin = Client::from_kubeconfig(&read(&admin_path));
    assert_ne!(new_admin.cert, old_admin.cert, "admin.conf re-issued");
    assert_eq!(new_admin.whoami(&server).as_deref(), Ok("kubernetes-admin"));
    assert_eq!(alice_new.whoami(&server).as_deref(), Ok("alice"));
    assert_eq!(
        bot_new.whoami(&server).as_deref(),
        Ok("system:serviceaccount:team-a:bot")
    );
    // Old kubeconfigs no longer trust the server…
    assert!(alice_old.whoami(&server).is_err(), "alice's old kubeconfig");
    assert!(bot_old.whoami(&server).is_err(), "bot's old kubeconfig");
    assert!(old_admin.whoami(&server).is_err(), "the old admin.conf");
    // …but their certificates still authenticate (the server trusts both CAs).
    assert_eq!(
        alice_old
            .trusting(&reissued_bundle)
            .whoami(&server)
            .as_deref(),
        Ok("alice")
    );
    assert_eq!(
        old_admin
            .trusting(&reissued_bundle)
            .whoami(&server)
            .as_deref(),
        Ok("kubernetes-admin")
    );
    let again = json(&rotate(&cluster, &admin, "reissue", &[]).unwrap());
    assert_eq!(
        again["steps"][0]["written"],
        serde_json::json!([]),
        "{again}"
    );

    // finish: the old CA is gone; old client certificates are rejected, new ones work, and
    // alice's superseded certificate is listed as ended.
    let finished = json(&rotate(&cluster, &admin, "finish", &[]).unwrap());
    server.restart();
    let step = &finished["steps"][0];
    assert_eq!(step["phase"], "finished", "{finished}");
    let ended = step["ended"].to_string();
    assert!(
        ended.contains("tenant alice") && ended.contains("superseded"),
        "{finished}"
    );
    assert_eq!(
        step["shredded"].as_array().map(Vec::len),
        Some(4),
        "{finished}"
    );
    let final_ca = read(&cluster.pki.join("ca.crt"));
    assert_eq!(final_ca.matches("BEGIN CERTIFICATE").count(), 1);
    assert!(alice_old.trusting(&final_ca).whoami(&server).is_err());
    assert!(old_admin.trusting(&final_ca).whoami(&server).is_err());
    let final_admin = Client::from_kubeconfig(&read(&admin_path));
    assert_eq!(final_admin.trust, final_ca);
    assert_eq!(
        final_admin.whoami(&server).as_deref(),
        Ok("kubernetes-admin")
    );
    // alice's kubeconfig still trusts the bundle, which holds the new CA: it keeps working.
    assert_eq!(alice_new.whoami(&server).as_deref(), Ok("alice"));
    for name in ["old.key", "old.crt", "new.key", "new.crt"] {
        assert!(
            !cluster.pki.join("rotation/cluster").join(name).exists(),
            "{name}"
        );
    }
    let again = json(&rotate(&cluster, &admin, "finish", &[]).unwrap());
    assert_eq!(
        again["steps"][0]["written"],
        serde_json::json!([]),
        "{again}"
    );
}

/// Abort after reissue, over real TLS: the old CA alone again; what was on the new CA (the
/// control-plane kubeconfigs, re-issued; alice's renewed certificate, named) stops working until
/// renewed, and what was never moved works again.
#[test]
fn abort_after_reissue_puts_every_client_back_on_the_old_ca() {
    let Setup {
        cluster,
        server,
        admin_path,
        admin,
        pki,
    } = start();
    let out = cluster.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let alice_old_path = out.join("alice-old.kubeconfig");
    create(&admin, &pki, "alice", &["--role", "view"], &alice_old_path);
    let alice_old = Client::from_kubeconfig(&read(&alice_old_path));
    let old_ca = read(&cluster.pki.join("ca.crt"));
    rotate(&cluster, &admin, "begin", &[]).unwrap();
    server.restart();
    renew_all(&admin, &pki, &out, &[]);
    let alice_new = Client::from_kubeconfig(&read(&out.join("alice.kubeconfig")));
    rotate(&cluster, &admin, "reissue", &[]).unwrap();
    server.restart();
    assert_eq!(alice_new.whoami(&server).as_deref(), Ok("alice"));

    let aborted = json(&rotate(&cluster, &admin, "abort", &[]).unwrap());
    server.restart();
    let step = &aborted["steps"][0];
    assert_eq!(step["phase"], "aborted", "{aborted}");
    assert!(step["warnings"].to_string().contains("alice"), "{aborted}");
    assert_eq!(
        read(&cluster.pki.join("ca.crt")),
        old_ca,
        "the old CA alone"
    );
    // Never moved: works again. Moved to the new CA: rejected until renewed.
    assert_eq!(alice_old.whoami(&server).as_deref(), Ok("alice"));
    assert!(
        alice_new.whoami(&server).is_err(),
        "a certificate of the aborted CA"
    );
    let admin_now = Client::from_kubeconfig(&read(&admin_path));
    assert_eq!(admin_now.trust, old_ca);
    assert_eq!(admin_now.whoami(&server).as_deref(), Ok("kubernetes-admin"));
    let again = cluster.dir.path().join("again");
    renew_all(&admin, &pki, &again, &[]);
    let alice_again = Client::from_kubeconfig(&read(&again.join("alice.kubeconfig")));
    assert_eq!(alice_again.whoami(&server).as_deref(), Ok("alice"));
    assert_eq!(alice_again.trust, old_ca);
}

/// `reissue --force` over a tenant that trusts only the old CA goes on with a warning; `finish`
/// is then refused while that tenant's current certificate is from the old CA (exit 3, named),
/// and goes through once `renew --all` moved it.
#[test]
fn finish_is_refused_while_a_tenant_is_still_on_the_old_ca() {
    let Setup {
        cluster,
        server,
        admin,
        pki,
        ..
    } = start();
    let out = cluster.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    create(
        &admin,
        &pki,
        "erin",
        &["--role", "view"],
        &out.join("erin-old.kubeconfig"),
    );
    rotate(&cluster, &admin, "begin", &[]).unwrap();
    server.restart();
    assert_eq!(
        rotate(&cluster, &admin, "reissue", &[])
            .unwrap_err()
            .exit_code(),
        3
    );
    let forced = json(&rotate(&cluster, &admin, "reissue", &["--force"]).unwrap());
    let warnings = forced["steps"][0]["warnings"].to_string();
    assert!(
        warnings.contains("--force") && warnings.contains("tenant erin"),
        "{forced}"
    );
    server.restart();
    let refused = rotate(&cluster, &admin, "finish", &[]).unwrap_err();
    assert_eq!(refused.exit_code(), 3, "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("finish refused") && text.contains("tenant erin: certificate serial"),
        "{text}"
    );
    assert_eq!(
        read(&cluster.pki.join("ca.crt"))
            .matches("BEGIN CERTIFICATE")
            .count(),
        2,
        "nothing written"
    );
    renew_all(&admin, &pki, &out, &[]);
    let finished = json(&rotate(&cluster, &admin, "finish", &[]).unwrap());
    assert!(
        finished["steps"][0]["ended"]
            .to_string()
            .contains("tenant erin"),
        "{finished}"
    );
    server.restart();
    let erin = Client::from_kubeconfig(&read(&out.join("erin.kubeconfig")));
    assert_eq!(erin.whoami(&server).as_deref(), Ok("erin"));
}
