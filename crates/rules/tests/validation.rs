//! Every class of rule-file problem is reported with its exact file:line:column, and the default
//! rules plus a local file compile, merge and override as documented.

use reachwatch_rules::{compile, default_sources, Feature, Source};

/// Compiles the default rules plus one local file; returns the problems as text lines.
fn problems(local: &str) -> Vec<String> {
    let mut sources = default_sources();
    sources.push(Source {
        name: "90-local.yaml".into(),
        text: local.into(),
    });
    match compile(&sources) {
        Ok(_) => vec![],
        Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_problem(local: &str, expected: &str) {
    let got = problems(local);
    assert!(
        got.iter().any(|g| g.starts_with(expected)),
        "expected a problem starting with\n  {expected}\ngot\n  {}",
        got.join("\n  ")
    );
}

#[test]
fn unknown_fields_are_errors() {
    assert_problem(
        "detections:\n  - id: my-rule\n    conditon: new_edge\n",
        "90-local.yaml:3:5: unknown field `conditon` in a detection (expected one of: id, description, condition",
    );
    assert_problem(
        "setings:\n  learn: 1d\n",
        "90-local.yaml:1:1: unknown field `setings` in a rule file",
    );
    assert_problem(
        "settings:\n  learn_period: 1d\n",
        "90-local.yaml:2:3: unknown field `learn_period` in `settings`",
    );
    assert_problem(
        "weights:\n  new_edges: 10\n",
        "90-local.yaml:2:3: unknown field `new_edges` in `weights`",
    );
}

#[test]
fn wrong_types_are_errors() {
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: new_edge\n    weight: high\n",
        "90-local.yaml:4:13: `weight` must be an integer, found `high`",
    );
    assert_problem("settings:\n  fanout_window: soon\n", "90-local.yaml:2:18: setting `fanout_window` must be a duration like 90s, 10m, 36h or 7d, found `soon`");
    assert_problem(
        "settings:\n  alert_score: 250\n",
        "90-local.yaml:2:16: setting `alert_score` must be between 0 and 100, found 250",
    );
    assert_problem(
        "detections:\n  id: x\n",
        "90-local.yaml:2:3: `detections` must be a list, found a mapping",
    );
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: new_edge\n    enabled: maybe\n",
        "90-local.yaml:4:14: `enabled` must be true or false, found `maybe`",
    );
}

#[test]
fn unknown_features_and_macros_in_conditions() {
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: new_edge and bogus_feature\n",
        "90-local.yaml:3:29: in detection `my-rule`: unknown feature, field or macro `bogus_feature`",
    );
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: \"new_edge and dst in no_such_list\"\n",
        "90-local.yaml:3:37: in detection `my-rule`: unknown list `no_such_list`",
    );
    assert_problem(
        "macros:\n  loop_a: loop_b\n  loop_b: loop_a\n",
        "90-local.yaml:2:3: macro `loop_a` refers to itself",
    );
}

#[test]
fn condition_syntax_errors_point_at_the_token() {
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: new_edge and (fan_out or\n",
        "90-local.yaml:3:40: in detection `my-rule`: condition ends where a feature",
    );
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: 'score >> 3'\n",
        "90-local.yaml:3:24: in detection `my-rule`: `score` is compared with a number",
    );
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: |\n      new_edge and\n      not not\n",
        "90-local.yaml:5:14: in detection `my-rule`: condition ends where a feature",
    );
}

#[test]
fn bad_regex_and_cidr() {
    assert_problem(
        "inventory:\n  hosts:\n    - {regex: \"PROD-[0-9\", environment: production}\n",
        "90-local.yaml:3:15: bad regex `PROD-[0-9`",
    );
    assert_problem(
        "inventory:\n  hosts:\n    - cidr: 10.0.0.0/33\n      zone: dc\n",
        "90-local.yaml:3:13: bad CIDR `10.0.0.0/33`",
    );
    assert_problem(
        "inventory:\n  hosts:\n    - {match: \"a*\", name: b, zone: z}\n",
        "90-local.yaml:3:7: an inventory entry needs exactly one of `name`, `match`, `regex`, `cidr` (found 2)",
    );
}

#[test]
fn duplicate_ids_and_keys() {
    assert_problem(
        "detections:\n  - id: novel-reach\n    condition: new_edge\n",
        "90-local.yaml:2:9: duplicate detection id `novel-reach` (first defined at rules/30-detections.yaml:",
    );
    assert_problem(
        "lists:\n  db_ports: [\"1\"]\n",
        "90-local.yaml:2:3: duplicate list `db_ports` (first defined at rules/30-detections.yaml:",
    );
    assert_problem(
        "settings:\n  learn: 1d\n  learn: 2d\n",
        "90-local.yaml:3:3: duplicate key `learn` (first at line 2)",
    );
    assert_problem(
        "exceptions:\n  - {name: a, identity: x}\n  - {name: a, identity: y}\n",
        "90-local.yaml:3:5: duplicate exception `a` (first defined at 90-local.yaml:2:5)",
    );
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let got = problems("detections: [\n  - id: x\n");
    assert!(
        got.iter()
            .any(|g| g.starts_with("90-local.yaml:") && g.contains("YAML syntax error")),
        "{got:?}"
    );
    assert_problem(
        "- just\n- a list\n",
        "90-local.yaml:1:1: a rule file must be a mapping of sections",
    );
}

#[test]
fn other_references_are_checked() {
    assert_problem(
        "exceptions:\n  - name: quiet\n    rules: [no-such-rule]\n    identity: svc_x*\n",
        "90-local.yaml:3:12: exception `quiet` names unknown detection `no-such-rule`",
    );
    assert_problem(
        "detections:\n  - id: my-rule\n    condition: new_edge\n    attack: [T10]\n",
        "90-local.yaml:4:13: `T10` is not an ATT&CK technique id",
    );
    assert_problem(
        "exceptions:\n  - name: everything\n    reason: too noisy\n",
        "90-local.yaml:2:5: exception `everything` needs at least one of",
    );
}

#[test]
fn missing_settings_are_reported_for_the_whole_set() {
    let only = vec![Source {
        name: "rules/only.yaml".into(),
        text: "weights:\n  new_edge: 1\n".into(),
    }];
    let err = compile(&only).unwrap_err().to_string();
    assert!(
        err.contains("rules/only.yaml: setting `learn` is not set in any rule file"),
        "{err}"
    );
    assert!(err.contains("weight `fan_out` is not set"), "{err}");
}

#[test]
fn later_files_override_and_append() {
    let mut sources = default_sources();
    sources.push(Source {
        name: "90-local.yaml".into(),
        text: r#"
settings:
  fanout_min: 8
weights:
  new_edge: 15
lists:
  db_ports: {append: ["9042"]}
macros:
  novel_reach: {replace: "new_edge"}
detections:
  - id: novel-reach
    condition: "and not dst glob 'lab-*'"
    enabled: false
    override: {condition: append, enabled: replace}
  - id: auth-downgrade
    severity: high
    override: {severity: replace}
"#
        .into(),
    });
    let rs = compile(&sources).unwrap();
    assert_eq!(rs.settings.fanout_min, 8);
    assert_eq!(rs.weight(Feature::NewEdge), 15);
    let nr = rs
        .detections
        .iter()
        .find(|d| d.id == "novel-reach")
        .unwrap();
    assert!(!nr.enabled);
    assert_eq!(nr.condition_text, "(new_edge) and not dst glob 'lab-*'");
    let pos = rs
        .detections
        .iter()
        .position(|d| d.id == "novel-reach")
        .unwrap();
    assert!(
        pos > rs
            .detections
            .iter()
            .position(|d| d.id == "new-source")
            .unwrap(),
        "an override keeps the priority"
    );
    assert_eq!(rs.files.len(), 5);
    assert_ne!(rs.hash, reachwatch_rules::builtin().hash);

    // Overriding a field not named in `override`, or a detection that does not exist, is an error.
    assert_problem(
        "detections:\n  - id: novel-reach\n    enabled: false\n    severity: low\n    override: {enabled: replace}\n",
        "90-local.yaml:4:5: `severity` is set but not named in `override`",
    );
    assert_problem(
        "detections:\n  - id: brand-new\n    condition: new_edge\n    override: {condition: append}\n",
        "90-local.yaml:4:15: detection `brand-new` is not defined in an earlier file",
    );
}

#[test]
fn the_shipped_rules_directory_compiles_and_equals_the_embedded_copy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let from_disk = reachwatch_rules::load_dir(&dir).unwrap();
    let embedded = reachwatch_rules::builtin();
    assert_eq!(from_disk.detections, embedded.detections);
    assert_eq!(from_disk.settings, embedded.settings);
    assert_eq!(from_disk.weights, embedded.weights);
    assert_eq!(from_disk.inventory, embedded.inventory);
}

#[test]
fn multi_byte_attack_ids_are_problems_at_their_position() {
    for id in ["Tab€x", "T102€", "T10€", "T1021€1", "T€123", "€1021"] {
        assert_problem(
            &format!("detections:\n  - id: mine\n    condition: new_edge\n    attack: [T1021, \"{id}\"]\n"),
            &format!("90-local.yaml:4:13: `{id}` is not an ATT&CK technique id like T1021 or T1021.002"),
        );
    }
    let valid =
        "detections:\n  - id: mine\n    condition: new_edge\n    attack: [T1021, T1021.002]\n";
    assert_eq!(problems(valid), Vec::<String>::new());
}
