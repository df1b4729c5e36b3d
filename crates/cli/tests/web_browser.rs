//! The web view in a real browser: `reachwatch serve` over the small scenario's replay, pages
//! loaded by headless Chromium (the rendered DOM and screenshots). What is expected comes from
//! the alert file itself and from the raw auth.txt lines, not from the pages' code.

mod web_support;

use std::collections::{BTreeMap, BTreeSet};
use web_support::*;

/// The alert's new edges as its JSON states them: the distinct (source, destination) pairs
/// of its observations, and ("", destination) for destinations no observation names.
fn expected_new_edges(a: &serde_json::Value) -> BTreeSet<(String, String)> {
    let ev = &a["evidence"];
    let mut out = BTreeSet::new();
    let mut named = BTreeSet::new();
    for o in ev["observations"].as_array().unwrap() {
        let dst = o["dst"].as_str().unwrap().to_string();
        named.insert(dst.clone());
        out.insert((o["src"].as_str().unwrap_or("").to_string(), dst));
    }
    for d in ev["destinations"].as_array().unwrap() {
        let d = d.as_str().unwrap();
        if !named.contains(d) {
            out.insert((String::new(), d.to_string()));
        }
    }
    out
}

/// Destinations an identity logged on to successfully, from auth.txt.
fn logon_destinations(identity: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(small_scenario().join("auth.txt")).unwrap();
    text.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() == 9 && f[1] == identity && f[7] == "LogOn" && f[8] == "Success")
        .map(|f| f[4].to_string())
        .collect()
}

/// Checks an alert page's picture against the alert.
fn check_alert_page(url: &str, a: &serde_json::Value) {
    let id = a["id"].as_str().unwrap();
    let dom = dump_dom(&format!("{url}/alerts/{}", segment(id)));
    assert!(
        !dom.contains("<script"),
        "{id}: a script element in the page"
    );
    let g = elements(&dom, "g");
    let identity = a["identity"].as_str().unwrap();
    let me = with_classes(&g, &["node", "identity"]);
    assert_eq!(me.len(), 1, "{id}: one identity box");
    assert_eq!(me[0]["data-identity"], identity, "{id}");
    let dst_boxes: BTreeSet<&str> = with_classes(&g, &["node", "host", "dst"])
        .iter()
        .map(|e| e["data-host"].as_str())
        .collect();
    for d in a["evidence"]["destinations"].as_array().unwrap() {
        assert!(
            dst_boxes.contains(d.as_str().unwrap()),
            "{id}: no box for destination {d}"
        );
    }
    let paths = elements(&dom, "path");
    let red: BTreeSet<(String, String)> = with_classes(&paths, &["edge", "new"])
        .iter()
        .map(|e| (e["data-src"].clone(), e["data-dst"].clone()))
        .collect();
    assert_eq!(red, expected_new_edges(a), "{id}: red edges");
    assert_eq!(
        with_classes(&paths, &["edge", "new"]).len(),
        red.len(),
        "{id}: one red path per new edge"
    );
    let path = a["evidence"]["path"].as_array();
    if let Some(hops) = path.filter(|p| p.len() >= 2) {
        let hop_in = with_classes(&paths, &["edge", "hop-in"]);
        assert_eq!(hop_in.len(), 1, "{id}: the chain's hop in");
        assert_eq!(
            hop_in[0]["data-identity"],
            hops[0]["identity"].as_str().unwrap()
        );
        assert_eq!(hop_in[0]["data-src"], hops[0]["src"].as_str().unwrap());
        assert_eq!(hop_in[0]["data-dst"], hops[0]["dst"].as_str().unwrap());
        let out = with_classes(&paths, &["edge", "new", "hop-out"]);
        assert_eq!(out.len(), 1, "{id}: the chain's hop out");
        assert_eq!(out[0]["data-dst"], hops[1]["dst"].as_str().unwrap());
    }
    // Every feature of the evidence is listed with its weight.
    for f in a["evidence"]["features"].as_array().unwrap() {
        assert!(
            dom.contains(&format!(">{}</td>", f["name"].as_str().unwrap())),
            "{id}: feature {}",
            f["name"]
        );
    }
    // Every observation is a row of the observations table.
    let rows = dom.matches("<tr>").count();
    assert!(rows >= a["evidence"]["observations"].as_array().unwrap().len());
}

/// A copy of an alert whose names try to break out of the markup.
fn hostile(a: &serde_json::Value) -> serde_json::Value {
    let mut h = a.clone();
    let evil = "<script>alert(\"pwned\")</script>'svc\"x";
    h["id"] = "rw-<b>\"quoted'</b>".into();
    h["identity"] = evil.into();
    h["summary"] = format!("{evil}: <img src=x onerror=alert(1)>").into();
    h["evidence"]["observations"][0]["identity"] = evil.into();
    h["evidence"]["observations"][0]["dst"] = "<i>DST</i>\"".into();
    h["evidence"]["destinations"] = serde_json::json!(["<i>DST</i>\""]);
    h["dst"] = "<i>DST</i>\"".into();
    h
}

#[test]
fn pages_in_a_real_browser_show_every_alert_and_its_neighbourhood() {
    let tmp = tempfile::tempdir().unwrap();
    let (alerts_file, graph) = replay(tmp.path());
    let alerts = read_alerts(&alerts_file);
    assert!(alerts.len() >= 8, "the small scenario alerts");
    let evil = hostile(&alerts[0]);
    let mut text = std::fs::read_to_string(&alerts_file).unwrap();
    text.push_str(&format!("{evil}\n"));
    std::fs::write(&alerts_file, text).unwrap();
    let served = serve(&alerts_file, &graph);
    let url = served.url.clone();

    // The list names every alert of the replay, newest first.
    let dom = dump_dom(&format!("{url}/"));
    let rows: Vec<String> = elements(&dom, "tr")
        .into_iter()
        .filter_map(|e| e.get("data-alert").cloned())
        .collect();
    for a in &alerts {
        assert!(
            rows.iter().any(|r| r == a["id"].as_str().unwrap()),
            "alert {} not listed",
            a["id"]
        );
    }
    assert_eq!(rows.len(), alerts.len() + 1);
    let times: BTreeMap<&str, f64> = alerts
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["time"].as_f64().unwrap()))
        .collect();
    let listed: Vec<f64> = rows
        .iter()
        .filter_map(|r| times.get(r.as_str()).copied())
        .collect();
    assert!(
        listed.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {listed:?}"
    );
    assert!(
        !dom.contains("<script"),
        "the hostile identity became markup"
    );
    assert!(!dom.contains("<img"), "the hostile summary became markup");
    assert!(rows.iter().any(|r| r == evil["id"].as_str().unwrap()));

    // A filter by rule lists that rule's alerts only.
    let rule = alerts[0]["rule"].as_str().unwrap();
    let dom = dump_dom(&format!("{url}/?rule={}", segment(rule)));
    let filtered: BTreeSet<String> = elements(&dom, "tr")
        .into_iter()
        .filter_map(|e| e.get("data-alert").cloned())
        .collect();
    let want: BTreeSet<String> = alerts
        .iter()
        .chain([&evil])
        .filter(|a| a["rule"] == rule)
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(filtered, want);

    // An alert page per detection kind.
    let mut kinds = BTreeSet::new();
    for a in &alerts {
        if kinds.insert(a["rule"].as_str().unwrap()) {
            check_alert_page(&url, a);
        }
    }
    assert!(kinds.len() >= 8, "{kinds:?}");
    assert!(kinds.contains("credential-switch-chain"), "{kinds:?}");
    check_alert_page(&url, &evil);

    // The map groups identities and hosts and links them.
    let dom = dump_dom(&format!("{url}/map"));
    let g = elements(&dom, "g");
    let left = with_classes(&g, &["node", "group", "left"]);
    let right = with_classes(&g, &["node", "group", "right"]);
    assert!(
        left.len() >= 3 && !right.is_empty(),
        "{} {}",
        left.len(),
        right.len()
    );
    assert!(right.iter().any(|n| n["data-key"] == "production"));
    let links = with_classes(&elements(&dom, "path"), &["edge", "use"]).len();
    assert!(links >= left.len(), "every group reaches something");
    // The identity groups of the alerted identities are marked.
    let alerted: BTreeSet<&str> = with_classes(&g, &["node", "group", "left", "alerted"])
        .iter()
        .map(|n| n["data-key"].as_str())
        .collect();
    assert!(alerted.contains("svc_batch"), "{alerted:?}");

    // An identity's page has a dot for every host it logged on to.
    let who = "svc_batch@DOM1";
    let dom = dump_dom(&format!("{url}/identities/{}", segment(who)));
    let dots: BTreeSet<String> = elements(&dom, "circle")
        .into_iter()
        .filter_map(|e| e.get("data-host").cloned())
        .collect();
    let logons = logon_destinations(who);
    assert!(!logons.is_empty());
    assert!(logons.is_subset(&dots), "{logons:?} ⊄ {dots:?}");
    let theirs: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a["identity"] == who)
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let marked: BTreeSet<String> = elements(&dom, "rect")
        .into_iter()
        .filter_map(|e| e.get("data-alert").cloned())
        .collect();
    assert_eq!(marked, theirs, "the identity's alerts on its timeline");
    assert!(dom.contains("Blast radius"));

    // Screenshots: the right size, and not blank.
    let chain = alerts
        .iter()
        .find(|a| a["rule"] == "credential-switch-chain")
        .unwrap();
    let shots = [
        ("list", format!("{url}/")),
        (
            "alert",
            format!("{url}/alerts/{}", segment(chain["id"].as_str().unwrap())),
        ),
        ("identity", format!("{url}/identities/{}", segment(who))),
        ("map", format!("{url}/map")),
    ];
    for (name, page) in shots {
        let file = tmp.path().join(format!("{name}.png"));
        screenshot(&page, &file, 1280, 900);
        let s = picture_stats(&file);
        assert_eq!((s.width, s.height), (1280, 900), "{name}");
        assert!(s.inked > 0.03, "{name}: {:.3} of the pixels drawn", s.inked);
        assert!(s.colours > 50, "{name}: only {} colours", s.colours);
        if name == "alert" {
            assert!(
                s.red > 0.0005,
                "{name}: no red new edge to be seen ({})",
                s.red
            );
        }
    }
}
