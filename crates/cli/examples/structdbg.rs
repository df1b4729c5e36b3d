//! Local debugging aid (not committed): replays a LANL scenario up to a time and dumps the learned
//! structure around an identity and a destination.
use reachwatch_engine::Engine;
use reachwatch_formats::{decoder, Format, Stream};
use std::sync::Arc;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&a[1]);
    let until: i64 = a[2].parse::<i64>().unwrap() * 1000;
    let rules = Arc::new(reachwatch_rules::load_dir(std::path::Path::new(&a[3])).unwrap());
    let mut engine = Engine::with_rules(rules);
    let mut all = vec![];
    for (file, stream) in [("auth.txt", Stream::Auth), ("flows.txt", Stream::Flows)] {
        let text = std::fs::read(dir.join(file)).unwrap();
        let mut dec = decoder(Format::Lanl, stream);
        for line in text.split(|b| *b == b'\n') {
            if let Ok(Some(ev)) = dec.decode(line, engine.symbols_mut()) {
                if ev.time() < until {
                    all.push((ev.time(), stream == Stream::Flows, all.len(), ev));
                }
            }
        }
    }
    all.sort_by_key(|&(t, flow, i, _)| (t, flow, i));
    let mut out = vec![];
    for (_, _, _, ev) in all {
        let _ = engine.push(ev, &mut out);
    }
    let syms = engine.symbols();
    let g = engine.graph();
    let st = &g.structure;
    let name = |s| syms.resolve(s).to_string();
    println!("computed_at {:?} stems_informative {}", st.computed_at, st.host_stems_informative);
    let mut comms: Vec<(u32, Vec<String>)> = vec![];
    for (c, info) in st.community_list.iter().enumerate() {
        let mut hosts: Vec<String> = st.communities.iter().filter(|(_, &cc)| cc as usize == c).map(|(&h, _)| name(h)).collect();
        hosts.sort();
        comms.push((info.size, hosts));
    }
    for (i, (n, h)) in comms.iter().enumerate() { println!("community {i} ({n}): {}", h.join(" ")); }
    let mut roles: Vec<(String, String)> = st.roles.iter().map(|(&h, r)| (format!("{r:?}"), name(h))).collect();
    roles.sort();
    let mut last = String::new();
    for (r, h) in &roles { if *r != last { print!("\n{r}:"); last = r.clone(); } print!(" {h}"); }
    println!();
    for (i, p) in st.peers.iter().enumerate() { if p.len() > 1 { println!("peers {i}: {}", p.iter().map(|&s| name(s)).collect::<Vec<_>>().join(" ")); } }
    for q in a.iter().skip(4) {
        let mut parts = q.split("->");
        let id = parts.next().unwrap();
        let ids = engine.symbols().get(id.as_bytes());
        let Some(ids) = ids else { println!("no {id}"); continue };
        let p = &g.identities[&ids];
        println!("{id}: kind {:?} places {:?} src_roles {} novelty {:?} prior {:.3} peer {:?}", p.kind, p.places, p.src_roles, p.novelty, st.prior(ids, p.kind), st.peer_of.get(&ids));
        println!("  reach {:?}", st.reach.get(&ids).map(|r| r.iter().map(|&s| name(s)).collect::<Vec<_>>()));
        if let Some(d) = parts.next() {
            let ds = engine.symbols().get(d.as_bytes()).unwrap();
            println!("  {d}: place {:?} role {:?} reachers {:?} resemblance {:?}", st.place(ds), st.role(ds), st.reachers.get(&ds).map(|r| r.iter().map(|&s| name(s)).collect::<Vec<_>>()), st.resemblance(ids, ds).map(|(x, h)| (x, name(h))));
        }
    }
}
