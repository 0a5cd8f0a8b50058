//! `token create`, `token list` and `token delete`: kubeadm's bootstrap token Secrets.

use super::*;

use tenantctl::{Output, cli::Format, cluster::Cluster};

/// `token create`: one POST of the Secret exactly as kubeadm writes it; the token alone on
/// stdout.
#[tokio::test(start_paused = true)]
async fn token_create_posts_kubeadms_secret() {
    use tenantctl::join::token::{BootstrapToken, create_online};
    let now = SystemTime::now();
    let token = BootstrapToken::generate(
        Some(Duration::from_secs(86_400)),
        Some("node-3".into()),
        &["signing".into(), "authentication".into()],
        &["system:bootstrappers:kubeadm:default-node-token".into()],
        now,
    )
    .unwrap();
    let (id, secret) = (token.id.clone(), token.secret().to_owned());
    let expiration = tenantctl::time::rfc3339(now + Duration::from_secs(86_400));
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = vec![step(
        "POST",
        "/api/v1/namespaces/kube-system/secrets?",
        move |b| {
            assert_eq!(b["metadata"]["name"], format!("bootstrap-token-{id}"));
            assert_eq!(b["metadata"]["namespace"], "kube-system");
            assert_eq!(b["type"], "bootstrap.kubernetes.io/token");
            let data: std::collections::BTreeMap<String, String> = b["data"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let bytes = B64.decode(v.as_str().unwrap()).unwrap();
                    (k.clone(), String::from_utf8(bytes).unwrap())
                })
                .collect();
            let want: std::collections::BTreeMap<String, String> = [
                (
                    "auth-extra-groups",
                    "system:bootstrappers:kubeadm:default-node-token",
                ),
                ("description", "node-3"),
                ("expiration", expiration.as_str()),
                ("token-id", id.as_str()),
                ("token-secret", secret.as_str()),
                ("usage-bootstrap-authentication", "true"),
                ("usage-bootstrap-signing", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            assert_eq!(data, want);
            Some((201, b.clone()))
        },
    )];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = create_online(
            &cluster,
            &token,
            None,
            Format::Table,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, admin));
    r.unwrap();
    let out = Streams::of(out, err);
    assert_eq!(out.stdout, format!("{}\n", token.token()));
    assert!(!out.stderr.contains(token.secret()), "{out}");
}

/// `token list` reads kubeadm's Secrets (by field selector, as kubeadm lists them) and warns
/// about a damaged one; `token delete` by token and by id.
#[tokio::test(start_paused = true)]
async fn token_list_and_delete() {
    use tenantctl::join::token::{delete_online, list_online};
    let secret = |name: &str, data: Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
               "metadata": {"name": name, "namespace": "kube-system"}, "data": data})
    };
    let b = |s: &str| json!(B64.encode(s));
    let list = json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [
        secret("bootstrap-token-abcdef", json!({"token-id": b("abcdef"), "token-secret": b("0123456789abcdef"),
            "expiration": b("2099-01-01T00:00:00Z"), "usage-bootstrap-signing": b("true"),
            "usage-bootstrap-authentication": b("true"),
            "auth-extra-groups": b("system:bootstrappers:kubeadm:default-node-token")})),
        secret("bootstrap-token-broken", json!({"token-id": b("abcdeg")})),
    ]});
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = vec![
        reply(
            "GET",
            "/api/v1/namespaces/kube-system/secrets?&fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken",
            200,
            list,
        ),
        reply(
            "DELETE",
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef?",
            200,
            deleted(),
        ),
        reply(
            "DELETE",
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-zzzzzz?",
            404,
            not_found(),
        ),
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let mut o = Output::new(&mut out, &mut err);
        let listed = list_online(&cluster, Format::Table, SystemTime::now(), &mut o).await;
        let deleted = delete_online(&cluster, &["abcdef".into(), "zzzzzz".into()], &mut o).await;
        drop(cluster);
        (listed, deleted)
    };
    let ((listed, deleted), ()) = tokio::join!(run, serve(handle, admin));
    listed.unwrap();
    let err_text = deleted.unwrap_err().to_string();
    let out = Streams::of(out, err);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("TOKEN                     TTL"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("abcdef.0123456789abcdef")
            && lines[1].contains("2099-01-01T00:00:00Z   authentication,signing   <none>")
            && lines[1].ends_with("system:bootstrappers:kubeadm:default-node-token"),
        "{out}"
    );
    assert_eq!(lines[2], "bootstrap token \"abcdef\" deleted");
    assert!(
        out.stderr
            .contains("warning: bootstrap token Secret bootstrap-token-broken"),
        "{out}"
    );
    assert!(err_text.contains("no bootstrap token zzzzzz"), "{err_text}");
}
