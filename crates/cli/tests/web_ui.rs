//! The web view beside the metrics, as `reachwatch run` serves it with `metrics.ui = true`:
//! under `/ui/` on the metrics address, over the alert sink's file and the checkpoint
//! directory, reloaded as they change; `/metrics`, `/healthz`, `/readyz` answer as before.
//! Also `reachwatch alert render`.

mod scrape;
mod web_support;

use reachwatch_telemetry::{serve_with, Health, Telemetry};
use scrape::get;
use std::path::Path;
use std::sync::Arc;
use web_support::*;

/// Replays the small scenario and writes a checkpoint of the engine as it ends; returns the
/// alert lines.
fn checkpoint_and_alerts(ckpt: &Path) -> Vec<String> {
    std::fs::create_dir_all(ckpt).unwrap();
    let s = small_scenario();
    let mut rules = reachwatch_rules::builtin();
    rules.settings.learn = 5 * reachwatch_model::time::DAY;
    let opts = reachwatch::replay::ReplayOptions {
        format: reachwatch_formats::Format::Lanl,
        auth: Some(s.join("auth.txt")),
        flows: Some(s.join("flows.txt")),
        alerts: None,
        dead_letter: None,
        base_time: None,
        rules: Arc::new(rules),
        progress: None,
    };
    let mut lines = vec![];
    reachwatch::replay::replay_with_end(
        &opts,
        &reachwatch::replay::ReplayFormats::default(),
        |a| lines.push(serde_json::to_string(a).unwrap()),
        |engine| {
            reachwatch_checkpoint::Checkpoint {
                sequence: 1,
                created_unix_ms: 0,
                engine: engine.snapshot(),
                inputs: vec![],
                alerts: vec![],
            }
            .write(ckpt)?;
            Ok(())
        },
    )
    .unwrap();
    lines
}

#[test]
fn the_web_view_is_served_under_ui_beside_the_metrics_and_follows_its_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let alerts = tmp.path().join("alerts.jsonl");
    // Before the pipeline wrote anything: no alert file, no checkpoint.
    let ui = reachwatch::serve_cmd::live_ui(&alerts, &ckpt).unwrap();
    let health = Arc::new(Health::default());
    let server = serve_with(
        "127.0.0.1:0",
        Arc::new(Telemetry::new()),
        health.clone(),
        ui,
    )
    .unwrap();
    let addr = server.addr().to_string();
    let (code, body) = get(&addr, "/ui/");
    assert_eq!(code, 200);
    assert!(body.contains("0 alerts match"), "{body}");
    let (code, body) = get(&addr, "/ui/map");
    assert_eq!(code, 200);
    assert!(body.contains("No reach graph loaded"), "{body}");

    // The metrics endpoints answer as they always did.
    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("reachwatch_build_info"), "{body}");
    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".to_string()));
    assert_eq!(get(&addr, "/readyz"), (503, "not ready\n".to_string()));
    health.set_ready(true);
    assert_eq!(get(&addr, "/readyz"), (200, "ready\n".to_string()));
    assert_eq!(
        get(&addr, "/nope"),
        (
            404,
            "not found: try /metrics, /healthz or /readyz\n".to_string()
        )
    );
    assert_eq!(get(&addr, "/ui").0, 308, "/ui sends to /ui/");

    // The pipeline writes alerts (the last one still being written) and a checkpoint.
    let lines = checkpoint_and_alerts(&ckpt);
    let (last, rest) = lines.split_last().unwrap();
    let mut text: String = rest.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(&last[..last.len() / 2]);
    std::fs::write(&alerts, &text).unwrap();
    eventually(30, "alerts and graph reloaded", || {
        let body = get(&addr, "/ui/").1;
        body.contains(&format!("{} alerts match", rest.len())) && {
            let map = get(&addr, "/ui/map").1;
            map.contains("node group left")
        }
    });
    let body = get(&addr, "/ui/").1;
    assert!(
        !body.contains("could not be read"),
        "a partial last line is no problem"
    );
    for l in rest {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let id = v["id"].as_str().unwrap();
        assert!(body.contains(&format!("data-alert=\"{id}\"")), "{id}");
        assert!(
            body.contains(&format!("href=\"/ui/alerts/{id}\"")),
            "links stay under /ui/"
        );
    }
    // The last line completed.
    std::fs::write(&alerts, format!("{text}{}\n", &last[last.len() / 2..])).unwrap();
    eventually(30, "the completed line", || {
        get(&addr, "/ui/")
            .1
            .contains(&format!("{} alerts match", lines.len()))
    });
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    let (code, page) = get(&addr, &format!("/ui/alerts/{}", v["id"].as_str().unwrap()));
    assert_eq!(code, 200);
    assert!(page.contains("class=\"node identity\""));
    assert_eq!(get(&addr, "/ui/alerts/rw-none").0, 404);
}

#[test]
fn alert_render_writes_the_picture_or_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let (alerts, graph) = replay(tmp.path());
    let a = read_alerts(&alerts)
        .into_iter()
        .find(|a| a["rule"] == "fan-out")
        .unwrap();
    let id = a["id"].as_str().unwrap();
    let render = |out: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_reachwatch"))
            .args(["alert", "render", id, "--alerts"])
            .arg(&alerts)
            .arg("--graph")
            .arg(&graph)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let svg = tmp.path().join("a.svg");
    assert!(render(&svg).status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let red = with_classes(&elements(&text, "path"), &["edge", "new"]).len();
    assert_eq!(red, a["evidence"]["destinations"].as_array().unwrap().len());
    // The same alert gives the same picture.
    let again = tmp.path().join("b.svg");
    assert!(render(&again).status.success());
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());

    let html = tmp.path().join("a.html");
    assert!(render(&html).status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<style>"));
    assert!(page.contains(&text[..200]), "the page holds the picture");

    let out = render(&tmp.path().join("a.png"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".svg"));
}
