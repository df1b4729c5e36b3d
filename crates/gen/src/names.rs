//! Rendering names. The simulation works on host and identity indices only; names are written
//! at the end, so another [`NameStyle`] changes the names and nothing else.

use crate::options::NameStyle;
use crate::topo::{Topo, DOMAIN};
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Random stream of the name renderer (day streams are 1..=days), so that drawing names never
/// moves the simulation's random choices.
const NAMES_STREAM: u64 = u64::MAX;

/// `n` distinct numbers in `1..=max(10 n, 1000)`, in random order.
fn numbers(rng: &mut ChaCha8Rng, n: usize) -> Vec<usize> {
    let upper = (10 * n).max(1000);
    sample(rng, upper, n).into_iter().map(|i| i + 1).collect()
}

/// Renames the hosts and identities of `topo` in `style` (descriptive names are kept as built).
pub(crate) fn render(topo: &mut Topo, style: NameStyle, seed: u64) {
    if style == NameStyle::Descriptive {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(NAMES_STREAM);

    // Hosts: numbers unrelated to role or position.
    let hosts = numbers(&mut rng, topo.hosts.len());
    for (h, n) in topo.hosts.iter_mut().zip(hosts) {
        h.name = format!("C{n}");
    }
    for h in 0..topo.hosts.len() {
        let ident = topo.comp[h] as usize;
        topo.idents[ident] = format!("{}${DOMAIN}", topo.hosts[h].name);
    }

    // People and administrators' second accounts: `U<number>`, one pool, shuffled.
    let mut people: Vec<u32> = topo.humans.clone();
    people.extend(topo.admins.iter().map(|a| a.ident));
    people.shuffle(&mut rng);
    let numbers_people = numbers(&mut rng, people.len());
    for (&ident, n) in people.iter().zip(numbers_people) {
        topo.idents[ident as usize] = format!("U{n}{DOMAIN}");
    }

    if style != NameStyle::AnonymizedAll {
        return;
    }
    let services: Vec<u32> = [
        &topo.monitors,
        &topo.backups,
        &topo.deploys,
        &topo.deploy_devs,
        &topo.sqls,
        &topo.batches,
        &topo.k8s_sas,
    ]
    .into_iter()
    .flatten()
    .map(|s| s.ident)
    .collect();
    let numbers_services = numbers(&mut rng, 2 * services.len());
    for (k, &ident) in services.iter().enumerate() {
        let (a, b) = (numbers_services[2 * k], numbers_services[2 * k + 1]);
        let old = &topo.idents[ident as usize];
        let new = if old.starts_with("system:serviceaccount:") {
            format!("system:serviceaccount:n{a}:s{b}{DOMAIN}")
        } else if old.starts_with("sa-") {
            format!("sa-{a}{DOMAIN}")
        } else {
            format!("svc_{a}{DOMAIN}")
        };
        topo.idents[ident as usize] = new;
    }
}
