use super::*;

const V1BETA3: &str = include_str!("../../../tests/fixtures/kubeadm/v1beta3.yaml");
const V1BETA3_FULL: &str = include_str!("../../../tests/fixtures/kubeadm/v1beta3-full.yaml");
const V1BETA4: &str = include_str!("../../../tests/fixtures/kubeadm/v1beta4.yaml");
const V1BETA4_FULL: &str = include_str!("../../../tests/fixtures/kubeadm/v1beta4-full.yaml");
const V1BETA4_EXTERNAL_ETCD: &str =
    include_str!("../../../tests/fixtures/kubeadm/v1beta4-external-etcd.yaml");
const KUBELET_ONLY: &str = include_str!("../../../tests/fixtures/kubeadm/kubelet-only.yaml");

fn sans(list: &[&str]) -> Vec<San> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

/// The error message for `text`, which must fail.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// A v1beta4 (or v1beta3) ClusterConfiguration with `body` as its fields.
fn cluster(version: &str, body: &str) -> String {
    format!("apiVersion: kubeadm.k8s.io/{version}\nkind: ClusterConfiguration\n{body}")
}

fn init(body: &str) -> String {
    format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n{body}")
}

#[test]
fn v1beta3_init_defaults() {
    let config = parse(V1BETA3).unwrap();
    assert_eq!(
        config,
        KubeadmConfig {
            cluster_name: Some("kubernetes".into()),
            control_plane_endpoint: None,
            service_subnets: Some(cidrs(&["10.96.0.0/12"])),
            dns_domain: Some("cluster.local".into()),
            cert_sans: None,
            etcd: Some(EtcdConfig::Local {
                server_cert_sans: vec![],
                peer_cert_sans: vec![],
            }),
            cert_dir: Some("/etc/kubernetes/pki".into()),
            encryption_algorithm: None,
            cert_validity: None,
            ca_validity: None,
            advertise_address: Some("1.2.3.4".parse().unwrap()),
            bind_port: Some(6443),
            node_name: Some("node".into()),
        }
    );
}

#[test]
fn v1beta4_init_defaults() {
    let config = parse(V1BETA4).unwrap();
    assert_eq!(
        config,
        KubeadmConfig {
            cluster_name: Some("kubernetes".into()),
            control_plane_endpoint: None,
            service_subnets: Some(cidrs(&["10.96.0.0/12"])),
            dns_domain: Some("cluster.local".into()),
            cert_sans: None,
            etcd: Some(EtcdConfig::Local {
                server_cert_sans: vec![],
                peer_cert_sans: vec![],
            }),
            cert_dir: Some("/etc/kubernetes/pki".into()),
            encryption_algorithm: Some(KeyAlgorithm::Rsa2048),
            cert_validity: Some(hours(8760)),
            ca_validity: Some(hours(87600)),
            advertise_address: Some("1.2.3.4".parse().unwrap()),
            bind_port: Some(6443),
            node_name: Some("node".into()),
        }
    );
}

#[test]
fn v1beta3_documented_example_with_ecdsa_gate() {
    let config = parse(V1BETA3_FULL).unwrap();
    assert_eq!(
        config,
        KubeadmConfig {
            cluster_name: Some("example-cluster".into()),
            control_plane_endpoint: Some("10.100.0.1:6443".parse().unwrap()),
            service_subnets: Some(cidrs(&["10.96.0.0/16"])),
            dns_domain: Some("cluster.local".into()),
            cert_sans: Some(sans(&[
                "10.100.1.1",
                "ec2-10-100-0-1.compute-1.amazonaws.com"
            ])),
            etcd: Some(EtcdConfig::Local {
                server_cert_sans: sans(&["ec2-10-100-0-1.compute-1.amazonaws.com"]),
                peer_cert_sans: sans(&["10.100.0.1"]),
            }),
            cert_dir: Some("/etc/kubernetes/pki".into()),
            encryption_algorithm: Some(KeyAlgorithm::EcdsaP256),
            cert_validity: None,
            ca_validity: None,
            advertise_address: Some("10.100.0.1".parse().unwrap()),
            bind_port: Some(6443),
            node_name: Some("ec2-10-100-0-1".into()),
        }
    );
}

#[test]
fn v1beta4_every_field_dual_stack_ipv6() {
    let config = parse(V1BETA4_FULL).unwrap();
    let endpoint = config.control_plane_endpoint.clone().unwrap();
    assert_eq!(endpoint.host, San::Ip("fd00:10:100::100".parse().unwrap()));
    assert_eq!(endpoint.port, Some(6443));
    assert_eq!(
        config,
        KubeadmConfig {
            cluster_name: Some("example-cluster".into()),
            control_plane_endpoint: Some(endpoint),
            service_subnets: Some(cidrs(&["10.96.0.0/16", "fd00:10:96::/112"])),
            dns_domain: Some("cluster.example".into()),
            cert_sans: Some(sans(&[
                "10.100.1.1",
                "api.example.com",
                "*.api.example.com",
                "fd00:10:100::100",
            ])),
            etcd: Some(EtcdConfig::Local {
                server_cert_sans: sans(&["etcd.example.internal", "fd00:10:100::1"]),
                peer_cert_sans: sans(&["10.100.0.1", "etcd-peer.example.internal"]),
            }),
            cert_dir: Some("/srv/kubernetes/pki".into()),
            encryption_algorithm: Some(KeyAlgorithm::EcdsaP384),
            cert_validity: Some(hours(2160)),
            ca_validity: Some(hours(175_200)),
            advertise_address: Some("fd00:10:100::1".parse().unwrap()),
            bind_port: Some(8443),
            node_name: Some("cp-1.example.internal".into()),
        }
    );
}

#[test]
fn v1beta4_external_etcd() {
    let config = parse(V1BETA4_EXTERNAL_ETCD).unwrap();
    assert_eq!(config.etcd, Some(EtcdConfig::External));
    assert_eq!(
        pki_core::Etcd::from(config.etcd.clone().unwrap()),
        pki_core::Etcd::External
    );
    assert_eq!(
        config.control_plane_endpoint,
        Some("lb.example.internal:6443".parse().unwrap())
    );
    // Nothing else is set: no InitConfiguration, no networking.serviceSubnet.
    assert_eq!(
        config,
        KubeadmConfig {
            etcd: Some(EtcdConfig::External),
            control_plane_endpoint: config.control_plane_endpoint.clone(),
            ..KubeadmConfig::default()
        }
    );
}

#[test]
fn empty_and_foreign_only_files_set_nothing() {
    for text in [
        "",
        "\n",
        "# just a comment\n",
        "---\n",
        "---\n...\n---\n",
        KUBELET_ONLY,
    ] {
        assert_eq!(parse(text).unwrap(), KubeadmConfig::default(), "{text:?}");
    }
}

#[test]
fn join_reset_upgrade_documents_are_ignored() {
    let text = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: worker-1
discovery:
  bootstrapToken:
apiServerEndpoint: 10.0.0.1:6443
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ResetConfiguration
certificatesDir: relative/is/not/read/here
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: UpgradeConfiguration
apply:
  certificateRenewal: true
";
    assert_eq!(parse(text).unwrap(), KubeadmConfig::default());
}

#[test]
fn unknown_fields_are_ignored() {
    let text = cluster(
        "v1beta4",
        "someFutureField: {a: [1, 2]}\nnetworking:\n  podSubnet: 10.244.0.0/16\n  future: 1\n",
    );
    assert_eq!(parse(&text).unwrap(), KubeadmConfig::default());
}

#[test]
fn empty_strings_and_zero_port_are_unset() {
    let text = format!(
        "{}---\n{}",
        cluster(
            "v1beta4",
            "clusterName: \"\"\ncontrolPlaneEndpoint: \"\"\ncertificatesDir: \"\"\n\
             encryptionAlgorithm: \"\"\nnetworking:\n  serviceSubnet: \"\"\n  dnsDomain:\n\
             apiServer: null\netcd: {}\n"
        ),
        init(
            "localAPIEndpoint:\n  advertiseAddress: 0.0.0.0\n  bindPort: 0\nnodeRegistration:\n  name: \"\"\n"
        )
    );
    assert_eq!(parse(&text).unwrap(), KubeadmConfig::default());
    let text = init("localAPIEndpoint:\n  advertiseAddress: \"::\"\n");
    assert_eq!(parse(&text).unwrap().advertise_address, None);
}

#[test]
fn endpoint_forms() {
    for (value, host, port) in [
        ("10.0.0.1", "10.0.0.1", None),
        ("lb.example.com", "lb.example.com", None),
        ("lb.example.com:443", "lb.example.com", Some(443)),
        ("\"[fd00::1]:6443\"", "fd00::1", Some(6443)),
        ("\"fd00::1\"", "fd00::1", None),
    ] {
        let text = cluster("v1beta3", &format!("controlPlaneEndpoint: {value}\n"));
        let endpoint = parse(&text).unwrap().control_plane_endpoint.unwrap();
        assert_eq!(endpoint.host, host.parse::<San>().unwrap(), "{value}");
        assert_eq!(endpoint.port, port, "{value}");
    }
}

#[test]
fn feature_gate_and_encryption_algorithm() {
    let gate = |on: bool| format!("featureGates:\n  PublicKeysECDSA: {on}\n  Other: true\n");
    let algo = |a: &str| format!("encryptionAlgorithm: {a}\n");
    let parsed =
        |version: &str, body: &str| parse(&cluster(version, body)).unwrap().encryption_algorithm;
    assert_eq!(
        parsed("v1beta3", &gate(true)),
        Some(KeyAlgorithm::EcdsaP256)
    );
    assert_eq!(parsed("v1beta3", &gate(false)), Some(KeyAlgorithm::Rsa2048));
    assert_eq!(parsed("v1beta3", "featureGates: {Other: true}\n"), None);
    assert_eq!(
        parsed("v1beta4", &gate(true)),
        Some(KeyAlgorithm::EcdsaP256)
    );
    for a in KeyAlgorithm::ALL {
        assert_eq!(parsed("v1beta4", &algo(a.as_str())), Some(a));
    }
    // Agreeing settings are fine.
    let both = format!("{}{}", algo("ECDSA-P256"), gate(true));
    assert_eq!(parsed("v1beta4", &both), Some(KeyAlgorithm::EcdsaP256));
    // kubeadm would let the gate override encryptionAlgorithm; refuse instead.
    let message = error(&cluster(
        "v1beta4",
        &format!("{}{}", algo("ECDSA-P384"), gate(false)),
    ));
    assert_eq!(
        message,
        "ClusterConfiguration.featureGates.PublicKeysECDSA: false contradicts \
         encryptionAlgorithm: ECDSA-P384 (kubeadm lets the deprecated gate win); remove the \
         gate (line 5)"
    );
}

#[test]
fn bad_encryption_algorithm_names_the_field() {
    let message = error(&cluster("v1beta4", "encryptionAlgorithm: rsa-2048\n"));
    assert_eq!(
        message,
        "ClusterConfiguration.encryptionAlgorithm: \"rsa-2048\" is not one of RSA-2048, \
         RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (kubeadm wants the exact spelling: \
         RSA-2048) (line 3)"
    );
    let message = error(&cluster("v1beta4", "encryptionAlgorithm: Ed25519\n"));
    assert!(
        message.starts_with(
            "ClusterConfiguration.encryptionAlgorithm: \"Ed25519\" is not one of RSA-2048"
        ),
        "{message}"
    );
    let message = error(&cluster(
        "v1beta4",
        "featureGates:\n  PublicKeysECDSA: \"yes\"\n",
    ));
    assert_eq!(
        message,
        "ClusterConfiguration.featureGates.PublicKeysECDSA: expected true or false, found the \
         string \"yes\" (line 4)"
    );
}

#[test]
fn v1beta4_fields_in_v1beta3_are_refused() {
    for (field, value) in [
        ("encryptionAlgorithm", "ECDSA-P256"),
        ("certificateValidityPeriod", "8760h0m0s"),
        ("caCertificateValidityPeriod", "87600h0m0s"),
    ] {
        let message = error(&cluster("v1beta3", &format!("{field}: {value}\n")));
        assert_eq!(
            message,
            format!(
                "ClusterConfiguration.{field}: not a field of kubeadm.k8s.io/v1beta3 \
                 (kubeadm would ignore it); use apiVersion kubeadm.k8s.io/v1beta4, or \
                 remove it (line 3)"
            )
        );
    }
    // A null value sets nothing either way.
    assert_eq!(
        parse(&cluster("v1beta3", "encryptionAlgorithm: null\n")).unwrap(),
        KubeadmConfig::default()
    );
}

#[test]
fn misplaced_and_miscased_fields_are_refused() {
    let message = error(&init("certificatesDir: /etc/kubernetes/pki\n"));
    assert_eq!(
        message,
        "InitConfiguration.certificatesDir: belongs in ClusterConfiguration, not \
         InitConfiguration (kubeadm would ignore it here) (line 3)"
    );
    let message = error(&cluster("v1beta4", "localAPIEndpoint:\n  bindPort: 6443\n"));
    assert!(
        message.starts_with("ClusterConfiguration.localAPIEndpoint: belongs in InitConfiguration"),
        "{message}"
    );
    let message = error(&cluster("v1beta4", "apiServer:\n  certSans: [a.example]\n"));
    assert_eq!(
        message,
        "ClusterConfiguration.apiServer.certSans: unknown field; did you mean certSANs? \
         (kubeadm's field names are case-sensitive and it would ignore this one) (line 4)"
    );
}

#[test]
fn bad_values_name_the_field() {
    let cases = [
        (
            cluster("v1beta4", "networking:\n  serviceSubnet: 10.96.0.0/33\n"),
            "ClusterConfiguration.networking.serviceSubnet: \"10.96.0.0/33\" is not a CIDR: \
             the prefix length is above 32 (line 4)",
        ),
        (
            cluster(
                "v1beta4",
                "networking:\n  serviceSubnet: 10.96.0.0/12,fd00::/200\n",
            ),
            "ClusterConfiguration.networking.serviceSubnet: \"fd00::/200\" (in \
             \"10.96.0.0/12,fd00::/200\") is not a CIDR: the prefix length is above 128 \
             (line 4)",
        ),
        (
            cluster(
                "v1beta4",
                "networking:\n  serviceSubnet: 10.96.0.0/12,10.97.0.0/16\n",
            ),
            "ClusterConfiguration.networking.serviceSubnet: \"10.96.0.0/12,10.97.0.0/16\" \
             has two CIDRs of the same IP family; dual-stack needs one IPv4 and one IPv6 \
             (line 4)",
        ),
        (
            cluster(
                "v1beta4",
                "networking:\n  serviceSubnet: 10.96.0.0/12,fd00::/112,10.97.0.0/16\n",
            ),
            "ClusterConfiguration.networking.serviceSubnet: \
             \"10.96.0.0/12,fd00::/112,10.97.0.0/16\" has 3 CIDRs; at most two (one IPv4, \
             one IPv6) are allowed (line 4)",
        ),
        (
            cluster("v1beta4", "networking:\n  dnsDomain: Cluster.Local\n"),
            "ClusterConfiguration.networking.dnsDomain: \"Cluster.Local\" is not a lowercase \
             RFC 1123 DNS name: uppercase letters are not allowed (line 4)",
        ),
        (
            cluster("v1beta4", "controlPlaneEndpoint: lb.example.com:99999\n"),
            "ClusterConfiguration.controlPlaneEndpoint: \"lb.example.com:99999\" is not \
             HOST or HOST:PORT: the port is not a number from 1 to 65535 (line 3)",
        ),
        (
            cluster(
                "v1beta4",
                "apiServer:\n  certSANs:\n  - ok.example\n  - bad_name\n",
            ),
            "ClusterConfiguration.apiServer.certSANs[1]: \"bad_name\" is not an IP address \
             or DNS name: not an IP address or RFC 1123 DNS name (letters, digits, '-' and \
             '.' only) (line 6)",
        ),
        (
            cluster("v1beta4", "apiServer:\n  certSANs: 10.0.0.1\n"),
            "ClusterConfiguration.apiServer.certSANs: expected a list, found the string \
             \"10.0.0.1\" (line 4)",
        ),
        (
            cluster(
                "v1beta4",
                "etcd:\n  local:\n    serverCertSANs: [\"-bad\"]\n",
            ),
            "ClusterConfiguration.etcd.local.serverCertSANs[0]: \"-bad\" is not an IP \
             address or DNS name: a DNS label starts or ends with '-' (line 5)",
        ),
        (
            cluster("v1beta4", "etcd:\n  local:\n    peerCertSANs: [10]\n"),
            "ClusterConfiguration.etcd.local.peerCertSANs[0]: expected a string, found the \
             number 10 (line 5)",
        ),
        (
            cluster(
                "v1beta4",
                "etcd:\n  local: {}\n  external:\n    endpoints: [https://e:2379]\n",
            ),
            "ClusterConfiguration.etcd: local and external are mutually exclusive (line 4)",
        ),
        (
            cluster("v1beta4", "etcd:\n  external:\n    caFile: /ca.crt\n"),
            "ClusterConfiguration.etcd.external: external etcd needs at least one entry in \
             endpoints (line 5)",
        ),
        (
            cluster("v1beta4", "certificatesDir: pki\n"),
            "ClusterConfiguration.certificatesDir: \"pki\" is not an absolute path (line 3)",
        ),
        (
            cluster("v1beta4", "clusterName: 42\n"),
            "ClusterConfiguration.clusterName: expected a string, found the number 42 \
             (line 3)",
        ),
        (
            cluster("v1beta4", "clusterName: \"a\\nb\"\n"),
            "ClusterConfiguration.clusterName: \"a\\nb\" contains a control character \
             (line 3)",
        ),
        (
            cluster("v1beta4", "certificateValidityPeriod: 1y\n"),
            "ClusterConfiguration.certificateValidityPeriod: \"1y\" is not a duration \
             (examples: 8760h, 365d, 1h30m) (line 3)",
        ),
        (
            cluster("v1beta4", "caCertificateValidityPeriod: 87600\n"),
            "ClusterConfiguration.caCertificateValidityPeriod: expected a duration string \
             such as 8760h0m0s, found the number 87600 (line 3)",
        ),
        (
            cluster("v1beta4", "networking: [a]\n"),
            "ClusterConfiguration.networking: expected a mapping, found a list (line 3)",
        ),
        (
            init("localAPIEndpoint:\n  advertiseAddress: 1.2.3\n"),
            "InitConfiguration.localAPIEndpoint.advertiseAddress: \"1.2.3\" is not an IP \
             address (line 4)",
        ),
        (
            init("localAPIEndpoint:\n  bindPort: 70000\n"),
            "InitConfiguration.localAPIEndpoint.bindPort: 70000 is not a port (1-65535) \
             (line 4)",
        ),
        (
            init("localAPIEndpoint:\n  bindPort: -1\n"),
            "InitConfiguration.localAPIEndpoint.bindPort: -1 is not a port (1-65535) \
             (line 4)",
        ),
        (
            init("localAPIEndpoint:\n  bindPort: \"6443\"\n"),
            "InitConfiguration.localAPIEndpoint.bindPort: expected a port number (1-65535), \
             found the string \"6443\" (line 4)",
        ),
        (
            init("nodeRegistration:\n  name: Node_1\n"),
            "InitConfiguration.nodeRegistration.name: \"Node_1\" is not a lowercase RFC 1123 \
             DNS name: uppercase letters are not allowed (line 4)",
        ),
        (
            init("nodeRegistration:\n  name: \"*.nodes\"\n"),
            "InitConfiguration.nodeRegistration.name: \"*.nodes\" is not a lowercase RFC \
             1123 DNS name: only letters, digits, '-' and '.' are allowed (line 4)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(&text), expected, "{text}");
    }
}

#[test]
fn unsupported_api_versions_and_bad_documents() {
    let cases = [
        (
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n---\n\
             apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n",
            "document 2 (line 4): apiVersion kubeadm.k8s.io/v1beta2 is not supported \
             (v1beta3, v1beta4)",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta5\nkind: JoinConfiguration\n",
            "document 1 (line 1): apiVersion kubeadm.k8s.io/v1beta5 is not supported \
             (v1beta3, v1beta4)",
        ),
        (
            "apiVersion: v1\nkind: InitConfiguration\n",
            "document 1 (line 1): kind InitConfiguration needs apiVersion \
             kubeadm.k8s.io/v1beta3 or kubeadm.k8s.io/v1beta4, not v1",
        ),
        (
            "kind: ClusterConfiguration\nclusterName: x\n",
            "document 1 (line 1): no apiVersion; every document of a kubeadm config file \
             needs apiVersion and kind",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nclusterName: x\n",
            "document 1 (line 1): no kind; every document of a kubeadm config file needs \
             apiVersion and kind",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: [ClusterConfiguration]\n",
            "document 1 (line 1): kind must be a string, found a list",
        ),
        (
            "- apiVersion: kubeadm.k8s.io/v1beta4\n  kind: ClusterConfiguration\n",
            "document 1 (line 1): expected a mapping with apiVersion and kind, found a list",
        ),
        (
            "just some text\n",
            "document 1 (line 1): expected a mapping with apiVersion and kind, found the \
             string \"just some text\"",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n---\n\
             apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n",
            "document 2 (line 4): kind ClusterConfiguration is given twice (also in \
             document 1)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), expected, "{text}");
    }
}

#[test]
fn garbage_yaml_names_the_yaml_error() {
    for text in [
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n  clusterName: x\n",
        "key: [unclosed\n",
        "a: 1\na: 2\n",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: a\nclusterName: b\n",
        "{{{{",
        "key: \"unterminated\n",
        "*undefined_alias\n",
    ] {
        let err = parse(text).unwrap_err();
        assert!(
            matches!(err, KubeadmConfigError::Yaml { .. }),
            "{text:?}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.starts_with("malformed YAML: "), "{message}");
        assert!(message.len() > "malformed YAML: ".len() + 5, "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
    let err = parse("a: 1\nb: [\n").unwrap_err();
    assert!(err.line().is_some(), "{err:?}");
}

#[test]
fn anchors_and_merge_keys_work() {
    let text = cluster(
        "v1beta4",
        "x-sans: &sans\n  - a.example\n  - 10.0.0.1\napiServer:\n  certSANs: *sans\netcd:\n  \
         local:\n    serverCertSANs: *sans\n",
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.cert_sans, Some(sans(&["a.example", "10.0.0.1"])));
    assert_eq!(
        config.etcd,
        Some(EtcdConfig::Local {
            server_cert_sans: sans(&["a.example", "10.0.0.1"]),
            peer_cert_sans: vec![],
        })
    );
}

#[test]
fn mixed_versions_across_kinds() {
    let text = format!(
        "{}---\n{}",
        init("nodeRegistration:\n  name: cp-0\n"),
        cluster("v1beta3", "clusterName: c\n")
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.node_name.as_deref(), Some("cp-0"));
    assert_eq!(config.cluster_name.as_deref(), Some("c"));
}

#[test]
fn never_panics_on_odd_input() {
    let inputs = [
        "\u{feff}apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
        "? [complex, key]\n: value\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 340282366920938463463374607431768211455\n",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 1e400\n",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: .nan\n",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: !!binary aGVsbG8=\n",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: !custom x\n",
        "apiVersion: kubeadm.k8s.io\nkind: ClusterConfiguration\n",
        "apiVersion: /\nkind: x\n",
        "a: &a [*a]\n",
        "\0\0\0",
        "---\n- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -\n",
        &"[".repeat(10_000),
        &"- ".repeat(10_000),
        &format!("a: &x 1\n{}", "b: *x\n".repeat(100)),
    ];
    for text in inputs {
        let _ = parse(text);
    }
}
