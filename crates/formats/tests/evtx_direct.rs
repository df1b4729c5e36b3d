//! EVTX records read from their typed values (without rendering) read exactly as their JSON
//! rendering by the `evtx` crate does: for every record of every EVTX fixture, the same
//! `System` header, the same `EventData` fields and the same mapping (event, skip or error).

use reachwatch_formats::windows::event_json;
use reachwatch_formats::windows::evtx::{EvtxFile, Item};
use reachwatch_formats::windows::evtx_direct::Direct;
use reachwatch_formats::windows::mapping::Mapping;
use reachwatch_model::Interner;
use std::path::PathBuf;

/// What one file gave: records, records read directly, events from those, events from the
/// JSON of all records.
#[derive(Debug, Default)]
struct Counts {
    records: usize,
    direct: usize,
    events: usize,
    json_events: usize,
}

fn compare(path: &std::path::Path) -> Counts {
    let name = path.display().to_string();
    let mut file = EvtxFile::open(path).unwrap();
    let mut syms = Interner::new();
    let mut counts = Counts::default();
    // The direct reading of the record about to be rendered.
    let mut pending: Option<(u64, Direct)> = None;
    loop {
        let more = file.next_chunk(|item| {
            match item {
                Item::Direct { id, record } => {
                    pending = Some((id, record.clone()));
                    // Rendered too, for the comparison.
                    return false;
                }
                Item::Record { id, json } => {
                    counts.records += 1;
                    let from_json = event_json::map_compact(json, &mut syms);
                    counts.json_events += matches!(from_json, Ok(Mapping::Event(_))) as usize;
                    let Some((direct_id, direct)) = pending.take() else {
                        return true;
                    };
                    assert_eq!(direct_id, id, "{name}");
                    counts.direct += 1;
                    let mapped = direct.map(&mut syms);
                    assert_eq!(mapped, from_json, "{name} record {id}: {direct:?}");
                    if let Direct::Event { header, fields } = &direct {
                        counts.events += matches!(mapped, Ok(Mapping::Event(_))) as usize;
                        let rendered = event_json::parse(json).unwrap();
                        let expected = rendered.header().unwrap().unwrap();
                        assert_eq!(header, &expected, "{name} record {id}");
                        assert_eq!(fields.as_ref(), &rendered.fields, "{name} record {id}");
                    }
                }
                Item::BadRecord { .. } | Item::BadChunk { .. } => {
                    panic!("{name}: {:?}", item.error())
                }
            }
            true
        });
        if !more {
            break;
        }
    }
    assert!(
        pending.is_none(),
        "{name}: a record read directly was not rendered"
    );
    counts
}

#[test]
fn records_read_directly_read_as_their_json() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut total = Counts::default();
    for f in &files {
        let c = compare(f);
        eprintln!("{}: {c:?}", f.display());
        assert!(c.records > 0, "{}", f.display());
        total.records += c.records;
        total.direct += c.direct;
        total.events += c.events;
        total.json_events += c.json_events;
    }
    // Nearly all records are read directly (the others hold BinXML outside `EventData`), and
    // every record that gives an event is.
    assert!(total.direct * 100 >= total.records * 95, "{total:?}");
    assert!(total.events > 200, "{total:?}");
    assert_eq!(total.events, total.json_events, "{total:?}");
}
