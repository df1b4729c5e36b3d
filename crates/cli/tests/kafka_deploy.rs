//! deploy/: the Kubernetes manifests and the compose file parse and fit together, and every
//! configuration they mount is accepted by `reachwatch run --check-config` (which connects to
//! nothing: the brokers named there do not exist here).

mod common;

use marked_yaml::types::MarkedMappingNode;
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn yaml(path: &str) -> MarkedMappingNode {
    let text = std::fs::read_to_string(deploy().join(path)).unwrap();
    let doc = marked_yaml::parse_yaml(0, &text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc.as_mapping().unwrap().clone()
}

fn scalar<'a>(m: &'a MarkedMappingNode, key: &str) -> &'a str {
    m.get_scalar(key)
        .unwrap_or_else(|| panic!("no `{key}`"))
        .as_str()
}

/// Runs `--check-config` on a configuration, with its rules directory pointed at the repository's
/// rules (what the rules ConfigMap is made from).
fn check_config(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rules = common::shipped_rules();
    let text = text.replace(
        "rules = \"/etc/reachwatch/rules\"",
        &format!("rules = \"{}\"", rules.display()),
    );
    let path = dir.path().join("reachwatch.toml");
    std::fs::write(&path, text).unwrap();
    let out = common::reachwatch()
        .args(["run", "--check-config", "--config"])
        .arg(&path)
        .env_remove("REACHWATCH_BROKERS")
        .output()
        .unwrap();
    common::assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("config ok"), "{said}");
    // The topic it would create to keep checkpoints, named after the group.
    assert!(
        said.contains("and in topic reachwatch-checkpoints (created if missing"),
        "{said}"
    );
}

#[test]
fn kafka_deploy_kubernetes_manifests_fit_together_and_their_config_is_valid() {
    let cm = yaml("kubernetes/configmap.yaml");
    assert_eq!(scalar(&cm, "kind"), "ConfigMap");
    let cm_name = scalar(cm.get_mapping("metadata").unwrap(), "name").to_string();
    let config = scalar(cm.get_mapping("data").unwrap(), "reachwatch.toml");
    check_config(config);

    let sts = yaml("kubernetes/statefulset.yaml");
    assert_eq!(scalar(&sts, "kind"), "StatefulSet");
    let spec = sts.get_mapping("spec").unwrap();
    assert_eq!(scalar(spec, "replicas"), "1", "one engine holds all state");
    let claim = spec.get_sequence("volumeClaimTemplates").unwrap();
    let claim_name = scalar(
        claim[0]
            .as_mapping()
            .unwrap()
            .get_mapping("metadata")
            .unwrap(),
        "name",
    );
    let pod = spec
        .get_mapping("template")
        .unwrap()
        .get_mapping("spec")
        .unwrap();
    let container = pod.get_sequence("containers").unwrap()[0]
        .as_mapping()
        .unwrap()
        .clone();
    let mounts: Vec<(String, String)> = container
        .get_sequence("volumeMounts")
        .unwrap()
        .iter()
        .map(|m| {
            let m = m.as_mapping().unwrap();
            (
                scalar(m, "name").to_string(),
                scalar(m, "mountPath").to_string(),
            )
        })
        .collect();
    // The checkpoint volume is where the config keeps checkpoints; config and rules are mounted
    // where the config and the image expect them.
    assert!(mounts.contains(&(claim_name.to_string(), "/var/lib/reachwatch".into())));
    assert!(config.contains("dir = \"/var/lib/reachwatch\""));
    assert!(mounts
        .iter()
        .any(|(_, p)| p == "/etc/reachwatch/reachwatch.toml"));
    assert!(mounts.iter().any(|(_, p)| p == "/etc/reachwatch/rules"));
    let volumes = pod.get_sequence("volumes").unwrap();
    let config_maps: Vec<String> = volumes
        .iter()
        .filter_map(|v| {
            v.as_mapping()
                .unwrap()
                .get_mapping("configMap")
                .map(|c| scalar(c, "name").to_string())
        })
        .collect();
    assert!(config_maps.contains(&cm_name));
    assert!(config_maps.contains(&"reachwatch-rules".to_string()));
    let sec = pod.get_mapping("securityContext").unwrap();
    assert_eq!(scalar(sec, "runAsNonRoot"), "true");

    let svc = yaml("kubernetes/service.yaml");
    assert_eq!(scalar(&svc, "kind"), "Service");
    let port = &svc
        .get_mapping("spec")
        .unwrap()
        .get_sequence("ports")
        .unwrap()[0];
    assert_eq!(scalar(port.as_mapping().unwrap(), "port"), "9187");
    assert!(config.contains("addr = \"0.0.0.0:9187\""));

    // The pod's metrics port listens on its interfaces; only Prometheus may connect.
    let np = yaml("kubernetes/networkpolicy.yaml");
    assert_eq!(scalar(&np, "kind"), "NetworkPolicy");
    let spec = np.get_mapping("spec").unwrap();
    let selected = spec
        .get_mapping("podSelector")
        .and_then(|s| s.get_mapping("matchLabels"))
        .unwrap();
    assert_eq!(scalar(selected, "app.kubernetes.io/name"), "reachwatch");
    let rules = spec.get_sequence("ingress").unwrap();
    assert_eq!(rules.len(), 1, "one inbound rule");
    let rule = rules[0].as_mapping().unwrap();
    let ports = rule.get_sequence("ports").unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(scalar(ports[0].as_mapping().unwrap(), "port"), "9187");
    let from = rule.get_sequence("from").unwrap()[0].as_mapping().unwrap();
    let who = from
        .get_mapping("podSelector")
        .and_then(|s| s.get_mapping("matchLabels"))
        .unwrap();
    assert_eq!(scalar(who, "app.kubernetes.io/name"), "prometheus");
}

#[test]
fn kafka_deploy_compose_image_and_unit_configs_are_valid() {
    let compose = yaml("compose/compose.yaml");
    let services = compose.get_mapping("services").unwrap();
    assert!(services.get_mapping("tansu").is_some());
    let rw = services.get_mapping("reachwatch").unwrap();
    assert_eq!(scalar(rw, "stop_signal"), "SIGTERM");
    check_config(&std::fs::read_to_string(deploy().join("compose/reachwatch.toml")).unwrap());
    let host_config = std::fs::read_to_string(deploy().join("reachwatch.toml")).unwrap();
    check_config(&host_config);
    assert!(
        host_config.contains("addr = \"127.0.0.1:9187\""),
        "metrics on loopback by default"
    );
    let ports = rw.get_sequence("ports").unwrap();
    assert!(
        ports
            .iter()
            .all(|p| p.as_scalar().unwrap().as_str().starts_with("127.0.0.1:")),
        "compose publishes ports on the host's loopback only"
    );
    let docker = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert!(
        docker.contains("\nUSER 10001"),
        "the image runs as non-root"
    );
    assert!(docker.contains("COPY deploy/reachwatch.toml /etc/reachwatch/reachwatch.toml"));
    let unit = std::fs::read_to_string(deploy().join("systemd/reachwatch.service")).unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/local/bin/reachwatch run --config /etc/reachwatch/reachwatch.toml"
    ));
    assert!(unit.contains("KillSignal=SIGTERM"));
}

#[test]
fn kafka_check_config_refuses_a_bad_config_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(deploy().join("reachwatch.toml"))
        .unwrap()
        .replace("interval = \"30s\"", "interval = \"30s\"\nevry_events = 5");
    std::fs::write(&path, text).unwrap();
    let out = common::reachwatch()
        .args(["run", "--check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `evry_events`"), "{err}");
}
