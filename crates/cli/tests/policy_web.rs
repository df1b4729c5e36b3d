//! The web view with a least-reach policy (`serve --policy`): an identity's page shows its grant
//! beside what it reaches and marks each destination allowed or outside; the map lists the paths
//! the policy would remove. What is allowed is computed here from the policy file's grants and the
//! log lines, not by the policy crate's judge; pages are fetched over a real socket.

mod common;
mod policy_support;
mod scrape;
mod web_support;

use policy_support::{logons, run, scenario};
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;

/// The value of every `attr="…"` in a page, unescaped.
fn attribute_values(body: &str, attr: &str) -> Vec<String> {
    let marker = format!("{attr}=\"");
    body.split(&marker)
        .skip(1)
        .map(|rest| web_support::unescape(&rest[..rest.find('"').unwrap()]))
        .collect()
}

#[test]
fn the_identity_page_and_the_map_show_the_policy_beside_the_reach() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), 21, "anonymized");
    // The graph of the whole period: reach after learning that the policy does not allow.
    let graph = tmp.path().join("graph-all");
    let alerts = tmp.path().join("alerts-all.jsonl");
    run(&[
        &"replay",
        &"-q",
        &"--auth",
        &s.dir.join("auth.txt"),
        &"--flows",
        &s.dir.join("flows.txt"),
        &"--alerts",
        &alerts,
        &"--graph-out",
        &graph,
    ]);
    // The grants as plain sets: identity → allowed destinations (lowercase).
    let mut allowed: HashMap<String, BTreeSet<String>> = HashMap::new();
    for g in &s.policy.grants {
        for m in &g.members {
            let dsts = g.allow.iter().map(|a| a.dst.to_lowercase()).collect();
            allowed.insert(m.identity.to_lowercase(), dsts);
        }
    }
    let is_allowed = |id: &str, dst: &str| {
        allowed
            .get(&id.to_lowercase())
            .is_some_and(|d| d.contains(&dst.to_lowercase()))
    };
    let served = web_support::serve_with(
        &alerts,
        &graph,
        &[OsStr::new("--policy"), s.policy_file.as_os_str()],
    );
    let addr = served.url.trim_start_matches("http://").to_string();

    // Paths the log shows an identity with a grant taking outside it: each is listed on the map.
    let outside: BTreeSet<(String, String)> = logons(&s.dir.join("auth.txt"))
        .into_iter()
        .filter(|(_, id, _, dst)| allowed.contains_key(&id.to_lowercase()) && !is_allowed(id, dst))
        .map(|(_, id, _, dst)| (id.to_lowercase(), dst.to_lowercase()))
        .collect();
    assert!(
        outside.len() >= 5,
        "{} logons leave the policy",
        outside.len()
    );
    let (code, map) = scrape::get(&addr, "/map");
    assert_eq!(code, 200);
    assert!(map.contains("Paths the policy would remove"), "{map}");
    let removed: BTreeSet<(String, String)> = attribute_values(&map, "data-removed")
        .iter()
        .map(|r| {
            let (id, dst) = r.split_once('|').unwrap();
            (id.to_lowercase(), dst.to_lowercase())
        })
        .collect();
    for (id, dst) in &removed {
        assert!(
            !is_allowed(id, dst),
            "{id} → {dst} is allowed, yet listed as removed"
        );
    }
    for pair in &outside {
        assert!(
            removed.contains(pair),
            "{pair:?} leaves the policy but is not listed"
        );
    }

    // An identity with a grant that also left it: its page lists the grant and marks each
    // destination as the grant says.
    let (id, _) = outside.iter().next().unwrap();
    let (code, page) = scrape::get(&addr, &format!("/identities/{id}"));
    assert_eq!(code, 200);
    assert!(page.contains(">Policy</h2>"), "{page}");
    let listed: BTreeSet<String> = attribute_values(&page, "data-allow")
        .iter()
        .map(|d| d.to_lowercase())
        .collect();
    assert_eq!(&listed, &allowed[id], "the grant's destinations");
    let rows = page.split("<tr data-dst=\"").skip(1);
    let mut seen = (0, 0);
    for row in rows {
        let dst = web_support::unescape(&row[..row.find('"').unwrap()]);
        let row = &row[..row.find("</tr>").unwrap()];
        if is_allowed(id, &dst) {
            assert!(row.contains("class=\"allowed\""), "{dst}: {row}");
            seen.0 += 1;
        } else {
            assert!(row.contains("class=\"outside\""), "{dst}: {row}");
            seen.1 += 1;
        }
    }
    assert!(
        seen.0 > 0 && seen.1 > 0,
        "allowed and outside rows: {seen:?}"
    );
    eprintln!(
        "{} paths leave the policy in the log, {} listed as removed; {id}: {} destinations allowed, {} outside",
        outside.len(),
        removed.len(),
        seen.0,
        seen.1
    );
}
