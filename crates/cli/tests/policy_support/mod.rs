//! A generated enterprise, its learning period's files and graph, and the least-reach policy
//! written from them, for the policy tests.
#![allow(dead_code)]

use crate::common::{assert_ok, reachwatch};
use reachwatch_policy::{file, Policy};
use std::path::{Path, PathBuf};

pub const LEARN_DAYS: i64 = 7;
pub const DAY: i64 = 86_400;

pub fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = reachwatch().args(args).output().unwrap();
    assert_ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// A generated enterprise, its learning period's files and graph, and the policy from them.
pub struct Scenario {
    pub dir: PathBuf,
    pub learn: PathBuf,
    pub graph: PathBuf,
    pub policy_file: PathBuf,
    pub policy: Policy,
}

/// Lines of a LANL file with time before the end of the learning period.
pub fn learning_part(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| l.split(',').next().unwrap().parse::<i64>().unwrap() < LEARN_DAYS * DAY)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(to, kept).unwrap();
}

pub fn scenario(tmp: &Path, seed: u64, names: &str) -> Scenario {
    let dir = tmp.join(format!("scenario-{names}-{seed}"));
    run(&[
        &"generate",
        &"--out",
        &dir,
        &"--seed",
        &seed.to_string(),
        &"--size",
        &"0.3",
        &"--names",
        &names,
    ]);
    let learn = tmp.join(format!("learn-{names}-{seed}"));
    std::fs::create_dir_all(&learn).unwrap();
    for f in ["auth.txt", "flows.txt"] {
        learning_part(&dir.join(f), &learn.join(f));
    }
    let graph = tmp.join(format!("graph-{names}-{seed}"));
    run(&[
        &"replay",
        &"-q",
        &"--auth",
        &learn.join("auth.txt"),
        &"--flows",
        &learn.join("flows.txt"),
        &"--alerts",
        &tmp.join("learn-alerts.jsonl"),
        &"--graph-out",
        &graph,
    ]);
    let policy_file = tmp.join(format!("policy-{names}-{seed}.yaml"));
    run(&[
        &"policy",
        &"generate",
        &"--graph",
        &graph,
        &"--out",
        &policy_file,
    ]);
    let policy = file::load(&policy_file).unwrap();
    Scenario {
        dir,
        learn,
        graph,
        policy_file,
        policy,
    }
}

/// Successful logons of a LANL auth file: (time, identity, source, destination).
pub fn logons(path: &Path) -> Vec<(i64, String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[7] == "LogOn" && f[8] == "Success").then(|| {
                (
                    f[0].parse().unwrap(),
                    f[1].to_string(),
                    f[3].to_string(),
                    f[4].to_string(),
                )
            })
        })
        .collect()
}
