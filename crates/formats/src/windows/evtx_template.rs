//! Where the values the mapping reads sit in an EVTX template definition: which substitution (or
//! literal text) fills `System/Provider/@Name`, `EventID`, `Channel`, `TimeCreated/@SystemTime`,
//! `Computer` and each `EventData/Data[@Name]`. A template is read once per chunk
//! ([`Layouts`]); its records then give their values without being rendered
//! ([`super::evtx_direct`]).
//!
//! Only shapes whose JSON rendering by the `evtx` crate is certain are recognised: anything else
//! gives no layout, or a layout without `EventData`, and the record is rendered instead.

use super::fields::Field;
use std::collections::HashMap;
use std::sync::Arc;

/// What fills a value in a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Nothing: an empty element or attribute.
    Empty,
    /// Literal text of the template.
    Text(String),
    /// Substitution `n` of the record's template instance.
    Slot(u16),
}

/// One value the mapping reads, as the template gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spot {
    /// What fills it.
    pub part: Part,
    /// Substitutions its element (or an ancestor) depends on (`DependencyId`): the element is
    /// left out of the rendering when one of them is null.
    pub deps: Vec<u16>,
}

/// The values of a template the mapping reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `System/Provider/@Name`.
    pub provider: Spot,
    /// `System/EventID`.
    pub event_id: Spot,
    /// `System/Channel`.
    pub channel: Spot,
    /// `System/TimeCreated/@SystemTime`.
    pub time: Option<Spot>,
    /// `System/Computer`.
    pub computer: Option<Spot>,
    /// The `EventData/Data` fields the mapping reads; `None` when `EventData` has a shape other
    /// than `<Data Name="…">value</Data>` elements (the first of a repeated name counts), or
    /// comes from
    /// [`Layout::nested`].
    pub data: Option<Vec<(Field, Spot)>>,
    /// The substitution that holds `EventData` as a BinXML fragment of its own (a template
    /// instance, read with [`Layouts::data`]), when the template has one after `System`.
    pub nested: Option<u16>,
}

/// The `EventData` fields of a nested template.
pub type DataLayout = Vec<(Field, Spot)>;

/// A map by template offset.
type ByOffset<T> = HashMap<u32, Option<Arc<T>>, rustc_hash::FxBuildHasher>;

/// The layouts of one chunk's templates, by their offset in the chunk.
#[derive(Debug, Default)]
pub struct Layouts {
    by_offset: ByOffset<Layout>,
    data_by_offset: ByOffset<DataLayout>,
}

impl Layouts {
    /// Forgets the templates (a new chunk starts).
    pub fn clear(&mut self) {
        self.by_offset.clear();
        self.data_by_offset.clear();
    }

    /// The layout of the template defined at `offset` of `chunk`, read on first use; `None` when
    /// it is not recognised.
    pub fn get(&mut self, chunk: &[u8], offset: u32) -> Option<Arc<Layout>> {
        self.by_offset
            .entry(offset)
            .or_insert_with(|| read(chunk, offset).map(Arc::new))
            .clone()
    }

    /// The `EventData` fields of the nested template defined at `offset` of `chunk` (its root
    /// `EventData`, or `UserData` which gives none), read on first use.
    pub fn data(&mut self, chunk: &[u8], offset: u32) -> Option<Arc<DataLayout>> {
        self.data_by_offset
            .entry(offset)
            .or_insert_with(|| read_nested(chunk, offset).map(Arc::new))
            .clone()
    }
}

/// Bytes of a template definition's header: next offset, GUID, data size.
const TEMPLATE_HEADER: usize = 24;

/// A bounds-checked reader of chunk bytes.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.data.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        b.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_le_bytes)
    }
    /// `n` UTF-16 code units as text; `None` when they are not valid UTF-16.
    fn utf16(&mut self, n: usize) -> Option<String> {
        let b = self
            .data
            .get(self.pos..self.pos.checked_add(n.checked_mul(2)?)?)?;
        self.pos += 2 * n;
        let units = b.chunks_exact(2).map(|u| u16::from_le_bytes([u[0], u[1]]));
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .ok()
    }
    /// A name reference: the name at its offset in the chunk, skipped over when it is stored
    /// right here.
    fn name(&mut self) -> Option<String> {
        let offset = self.u32()? as usize;
        let mut at = Cursor {
            data: self.data,
            pos: offset.checked_add(6)?,
        };
        let len = at.u16()? as usize;
        let name = at.utf16(len)?;
        if offset == self.pos {
            self.pos = at.pos + 2;
        }
        Some(name)
    }
}

/// A value being collected from the template.
#[derive(Debug, Default)]
struct Acc {
    /// Times its element (or attribute) occurs.
    seen: u32,
    parts: Vec<Part>,
    deps: Vec<u16>,
    /// Its element holds elements.
    nested: bool,
}

impl Acc {
    fn spot(self) -> Option<Spot> {
        if self.seen != 1 || self.nested || self.parts.len() > 1 {
            return None;
        }
        Some(Spot {
            part: self.parts.into_iter().next().unwrap_or(Part::Empty),
            deps: self.deps,
        })
    }
}

/// The `System` values read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sys {
    Provider,
    EventId,
    Channel,
    Time,
    Computer,
}

/// One element open in the walk.
struct Frame {
    name: String,
    dep: Option<u16>,
    attrs: u32,
}

/// The walk over a template definition's tokens.
#[derive(Default)]
struct Walk {
    stack: Vec<Frame>,
    attr: Option<String>,
    sys: [Acc; 5],
    data: Vec<(Option<String>, Acc)>,
    data_ok: bool,
    event_data_seen: bool,
    roots: u32,
    /// The elements under `Event`.
    top: Vec<String>,
    /// Substitutions right under `Event`.
    nested: Vec<u16>,
    /// A key the `evtx` crate's JSON would show before the `System` one of the same name.
    ambiguous: bool,
}

impl Walk {
    fn path_is(&self, names: &[&str]) -> bool {
        self.stack.len() == names.len() && self.stack.iter().zip(names).all(|(f, n)| f.name == *n)
    }

    fn acc(&mut self, s: Sys) -> &mut Acc {
        &mut self.sys[s as usize]
    }

    /// A JSON key `name` appears: the `System` keys a quick look reads must come first.
    fn key(&mut self, name: &str) {
        let s = match name {
            "Name" => Sys::Provider,
            "EventID" => Sys::EventId,
            "Channel" => Sys::Channel,
            _ => return,
        };
        if self.sys[s as usize].seen == 0 {
            self.ambiguous = true;
        }
    }

    fn deps(&self) -> Vec<u16> {
        self.stack.iter().filter_map(|f| f.dep).collect()
    }

    fn open(&mut self, name: String, dep: Option<u16>) {
        let depth = self.stack.len();
        if depth == 0 {
            self.roots += 1;
            self.ambiguous |= name != "Event";
        }
        let in_system =
            depth >= 2 && self.stack[1].name == "System" && self.stack[0].name == "Event";
        let in_data =
            depth >= 2 && self.stack[1].name == "EventData" && self.stack[0].name == "Event";
        if in_system && depth >= 3 {
            if let Some(s) = system_value(&self.stack[2].name) {
                self.acc(s).nested = true;
            }
        }
        if in_data {
            if depth == 2 && name == "Data" {
                self.data.push((None, Acc::default()));
            } else {
                self.data_ok = false;
            }
        }
        if depth == 1 {
            self.top.push(name.clone());
        }
        if depth == 1 && self.stack[0].name == "Event" && name == "EventData" {
            self.data_ok = !self.event_data_seen;
            self.event_data_seen = true;
        }
        self.stack.push(Frame {
            name,
            dep,
            attrs: 0,
        });
        if in_data && depth == 2 && self.stack[2].name == "Data" {
            let deps = self.deps();
            if let Some((_, acc)) = self.data.last_mut() {
                acc.seen = 1;
                acc.deps = deps;
            }
        }
        if in_system && depth == 2 {
            let s = match self.stack[2].name.as_str() {
                "EventID" => Some(Sys::EventId),
                "Channel" => Some(Sys::Channel),
                "Computer" => Some(Sys::Computer),
                _ => None,
            };
            if let Some(s) = s {
                let deps = self.deps();
                let acc = self.acc(s);
                acc.seen += 1;
                acc.deps = deps;
            }
        }
        let name = self.stack[depth].name.clone();
        self.key(&name);
    }

    fn attribute(&mut self, name: String) {
        let deps = self.deps();
        let Some(top) = self.stack.last_mut() else {
            self.ambiguous = true;
            return;
        };
        top.attrs += 1;
        let s = if self.path_is(&["Event", "System", "Provider"]) && name == "Name" {
            Some(Sys::Provider)
        } else if self.path_is(&["Event", "System", "TimeCreated"]) && name == "SystemTime" {
            Some(Sys::Time)
        } else {
            None
        };
        if let Some(s) = s {
            let acc = self.acc(s);
            acc.seen += 1;
            acc.deps = deps;
        }
        if self.path_is(&["Event", "EventData"])
            || (self.path_is(&["Event", "EventData", "Data"]) && name != "Name")
        {
            self.data_ok = false;
        }
        self.key(&name);
        self.attr = Some(name);
    }

    fn close(&mut self) {
        self.attr = None;
        let Some(frame) = self.stack.pop() else {
            self.ambiguous = true;
            return;
        };
        if self.path_is(&["Event", "EventData"]) && frame.name == "Data" {
            let named = self.data.last().is_some_and(|(n, _)| n.is_some());
            if !named || frame.attrs != 1 {
                self.data_ok = false;
            }
        }
    }

    fn part(&mut self, part: Part) {
        let attr = self.attr.clone();
        let target = match attr.as_deref() {
            Some("Name") if self.path_is(&["Event", "System", "Provider"]) => Some(Sys::Provider),
            Some("SystemTime") if self.path_is(&["Event", "System", "TimeCreated"]) => {
                Some(Sys::Time)
            }
            Some("Name") if self.path_is(&["Event", "EventData", "Data"]) => {
                let unnamed = matches!(self.data.last(), Some((None, _)));
                match part {
                    Part::Text(name) if unnamed => {
                        self.key(&name);
                        if let Some((slot, _)) = self.data.last_mut() {
                            *slot = Some(name);
                        }
                    }
                    _ => self.data_ok = false,
                }
                return;
            }
            Some(_) => None,
            None if self.stack.len() == 3 && self.stack[1].name == "System" => {
                system_value(&self.stack[2].name)
                    .filter(|s| matches!(s, Sys::EventId | Sys::Channel | Sys::Computer))
            }
            None if self.path_is(&["Event", "EventData", "Data"]) => {
                if let Some((_, acc)) = self.data.last_mut() {
                    acc.parts.push(part);
                }
                return;
            }
            None if self.path_is(&["Event"]) => {
                match part {
                    Part::Slot(n) => {
                        self.key("Name");
                        self.key("EventID");
                        self.key("Channel");
                        self.nested.push(n);
                    }
                    Part::Text(_) => self.ambiguous = true,
                    Part::Empty => {}
                }
                return;
            }
            None => {
                if self.stack.len() == 2 && self.stack[1].name == "EventData" {
                    self.data_ok = false;
                }
                if self.stack.len() > 3 && self.stack[1].name == "System" {
                    if let Some(s) = system_value(&self.stack[2].name) {
                        self.acc(s).nested = true;
                    }
                }
                None
            }
        };
        if let Some(s) = target {
            self.acc(s).parts.push(part);
        }
    }

    fn finish(mut self) -> Option<Layout> {
        if self.ambiguous || self.roots != 1 || !self.stack.is_empty() {
            return None;
        }
        let nested = match self.nested.as_slice() {
            [] => None,
            [n] if !self.event_data_seen => Some(*n),
            _ => {
                self.data_ok = false;
                None
            }
        };
        let data = self.data();
        let [provider, event_id, channel, time, computer] = self.sys;
        Some(Layout {
            provider: provider.spot()?,
            event_id: event_id.spot()?,
            channel: channel.spot()?,
            time: time.spot(),
            computer: computer.spot(),
            data: data.filter(|_| nested.is_none()),
            nested,
        })
    }

    /// The `EventData` fields, when their shape is known (none without `EventData`).
    fn data(&mut self) -> Option<DataLayout> {
        if !self.event_data_seen {
            Some(vec![])
        } else if self.data_ok {
            let mut fields: Vec<(Field, Spot)> = vec![];
            let mut ok = true;
            for (name, acc) in std::mem::take(&mut self.data) {
                let Some(field) = name.as_deref().and_then(Field::from_name) else {
                    continue;
                };
                // A repeated name is numbered (`LogonGuid_1`) in the JSON: the first one counts.
                if fields.iter().any(|(f, _)| *f == field) {
                    continue;
                }
                match acc.spot() {
                    Some(spot) => fields.push((field, spot)),
                    _ => ok = false,
                }
            }
            ok.then_some(fields)
        } else {
            None
        }
    }
}

/// The `System` child elements (or their attributes) the mapping reads.
fn system_value(name: &str) -> Option<Sys> {
    Some(match name {
        "Provider" => Sys::Provider,
        "EventID" => Sys::EventId,
        "Channel" => Sys::Channel,
        "TimeCreated" => Sys::Time,
        "Computer" => Sys::Computer,
        _ => return None,
    })
}

/// BinXML value type of a UTF-16 string.
const STRING_TYPE: u8 = 0x01;

/// Reads the template defined at `offset` of `chunk` (MS-EVEN6 BinXML with dependency ids).
pub fn read(chunk: &[u8], offset: u32) -> Option<Layout> {
    walk(chunk, offset, Walk::default())?.finish()
}

/// Reads a template nested in an event's substitution, as if under its `Event` element after
/// `System`: its root is `EventData` (or `UserData`).
pub fn read_nested(chunk: &[u8], offset: u32) -> Option<DataLayout> {
    let mut walk = Walk {
        stack: vec![Frame {
            name: "Event".into(),
            dep: None,
            attrs: 0,
        }],
        roots: 1,
        ..Walk::default()
    };
    for acc in &mut walk.sys {
        acc.seen = 1;
    }
    let mut walk = self::walk(chunk, offset, walk)?;
    if walk.ambiguous || walk.stack.len() != 1 || !walk.nested.is_empty() {
        return None;
    }
    match walk.top.as_slice() {
        [root] if root == "EventData" => walk.data(),
        [root] if root == "UserData" => Some(vec![]),
        _ => None,
    }
}

/// Walks the tokens of the template defined at `offset` of `chunk`.
fn walk(chunk: &[u8], offset: u32, mut walk: Walk) -> Option<Walk> {
    let mut c = Cursor {
        data: chunk,
        pos: offset as usize,
    };
    let header = c.bytes::<TEMPLATE_HEADER>()?;
    let size = u32::from_le_bytes(header[20..24].try_into().ok()?) as usize;
    let end = c.pos.checked_add(size)?;
    while c.pos < end {
        match c.u8()? {
            0x00 => break,
            0x0f => {
                c.bytes::<3>()?;
            }
            token @ (0x01 | 0x41) => {
                let dep = c.u16()?;
                c.u32()?;
                let name = c.name()?;
                if token == 0x41 {
                    c.u32()?;
                }
                walk.open(name, (dep != 0xffff).then_some(dep));
            }
            0x02 => walk.attr = None,
            0x03 | 0x04 => walk.close(),
            0x05 | 0x45 => {
                if c.u8()? != STRING_TYPE {
                    return None;
                }
                let n = c.u16()? as usize;
                let text = c.utf16(n)?;
                walk.part(if text.is_empty() {
                    Part::Empty
                } else {
                    Part::Text(text)
                });
            }
            0x06 | 0x46 => {
                let name = c.name()?;
                walk.attribute(name);
            }
            0x0d | 0x0e => {
                let slot = c.u16()?;
                c.u8()?;
                walk.part(Part::Slot(slot));
            }
            _ => return None,
        }
    }
    Some(walk)
}
