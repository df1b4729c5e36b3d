//! EVTX records read from their binary form without rendering them: the record's one template
//! instance gives typed substitution values (its `EventData` possibly a template instance of its
//! own, nested in a substitution), its template's [`Layout`] says which of them the mapping
//! reads. The text of each value is the text the `evtx` crate's JSON would hold, so
//! that a record reads the same either way; a record whose shape or values leave any doubt is
//! not read here (`None`), and is rendered as JSON instead.

use super::evtx_template::{DataLayout, Layout, Layouts, Part, Spot};
use super::fields::{FieldValues, Header, Provider};
use super::mapping::{self, Mapping};
use crate::norm::MAX_TIME_MS;
use crate::{DecodeError, SkipKey};
use evtx::EvtxRecord;
use reachwatch_model::Interner;
use std::borrow::Cow;

/// A record read without rendering it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Direct {
    /// A record the mapping skips, decided from its id, provider and channel.
    Skip(SkipKey),
    /// A record the mapping reads.
    Event {
        /// Its `System` values.
        header: Header<'static>,
        /// Its `EventData` values.
        fields: Box<FieldValues<'static>>,
    },
}

impl Direct {
    /// Maps the record ([`mapping::map`]).
    pub fn map(&self, syms: &mut Interner) -> Result<Mapping, DecodeError> {
        match self {
            Direct::Skip(key) => Ok(Mapping::Skip(*key)),
            Direct::Event { header, fields } => mapping::map(header, fields.as_ref(), syms),
        }
    }
}

/// BinXML tokens: end of stream, template instance, fragment header.
const EOF: u8 = 0x00;
const TEMPLATE_INSTANCE: u8 = 0x0c;
const FRAGMENT_HEADER: u8 = 0x0f;

/// BinXML value types (MS-EVEN6 2.2.18).
mod ty {
    pub const NULL: u8 = 0x00;
    pub const STRING: u8 = 0x01;
    pub const ANSI_STRING: u8 = 0x02;
    pub const INT8: u8 = 0x03;
    pub const UINT8: u8 = 0x04;
    pub const INT16: u8 = 0x05;
    pub const UINT16: u8 = 0x06;
    pub const INT32: u8 = 0x07;
    pub const UINT32: u8 = 0x08;
    pub const INT64: u8 = 0x09;
    pub const UINT64: u8 = 0x0a;
    pub const REAL32: u8 = 0x0b;
    pub const REAL64: u8 = 0x0c;
    pub const BOOL: u8 = 0x0d;
    pub const BINARY: u8 = 0x0e;
    pub const GUID: u8 = 0x0f;
    pub const SIZE_T: u8 = 0x10;
    pub const FILETIME: u8 = 0x11;
    pub const SYSTIME: u8 = 0x12;
    pub const SID: u8 = 0x13;
    pub const HEX_INT32: u8 = 0x14;
    pub const HEX_INT64: u8 = 0x15;
    pub const BIN_XML: u8 = 0x21;
}

/// FILETIME of 1970-01-01 in milliseconds (100 ns ticks / 10,000).
const UNIX_EPOCH_FILETIME_MS: u64 = 11_644_473_600_000;

/// One substitution value of an instance: its type and bytes.
#[derive(Clone, Copy, Debug)]
struct Raw<'c> {
    ty: u8,
    bytes: &'c [u8],
    /// Offset of `bytes` in the chunk.
    at: usize,
}

impl Raw<'_> {
    /// True for values the crate renders as empty (its `is_optional_empty` for scalars).
    fn empty(&self) -> bool {
        matches!(
            self.ty,
            ty::NULL | ty::STRING | ty::ANSI_STRING | ty::BINARY | ty::BIN_XML
        ) && (self.ty == ty::NULL || self.utf16_units().is_empty())
    }

    /// A string's UTF-16 units up to the first NUL (other types: their bytes in pairs).
    fn utf16_units(&self) -> Vec<u16> {
        self.bytes
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]))
            .take_while(|u| self.ty != ty::STRING || *u != 0)
            .collect()
    }
}

/// A template instance: its definition's offset and its values.
struct Instance<'c> {
    def_offset: u32,
    values: Vec<Raw<'c>>,
}

/// Reads `record`, or `None` when it has to be rendered.
pub fn decode(record: &EvtxRecord<'_>, layouts: &mut Layouts) -> Option<Direct> {
    let chunk = record.chunk.data;
    let start = usize::try_from(record.binxml_offset).ok()?;
    let end = start.checked_add(record.binxml_size as usize)?;
    let instance = single_instance(chunk, start, end)?;
    let layout = layouts.get(chunk, instance.def_offset)?;
    read(&layout, &instance.values, chunk, layouts)
}

/// Reads the values of an instance of `layout`.
fn read(
    layout: &Layout,
    values: &[Raw<'_>],
    chunk: &[u8],
    layouts: &mut Layouts,
) -> Option<Direct> {
    // Any other BinXML would be rendered in place: the direct reading does not know its shape.
    let nested = layout.nested.map(usize::from);
    for (i, v) in values.iter().enumerate() {
        if v.ty == ty::BIN_XML && !v.bytes.is_empty() && Some(i) != nested {
            return None;
        }
    }
    let id = match system(&layout.event_id, values)? {
        Value::Text(t) => t.trim().parse::<u32>().ok()?,
        Value::Raw(v) => integer(v)?,
    };
    let provider = quoted_text(system(&layout.provider, values)?)?;
    let channel = quoted_text(system(&layout.channel, values)?)?;
    let provider = Provider::from_names(Some(&provider), Some(&channel));
    if let Some(key) = mapping::skipped(provider, id) {
        return Some(Direct::Skip(key));
    }
    let time = match system(layout.time.as_ref()?, values)? {
        Value::Raw(v) if v.ty == ty::FILETIME => filetime_ms(u64::from_le_bytes(fixed(v)?))?,
        _ => return None,
    };
    let computer = text(system(layout.computer.as_ref()?, values)?)?;
    let mut fields = Box::<FieldValues<'static>>::default();
    match (nested, &layout.data) {
        (None, Some(data)) => set_fields(&mut fields, data, values)?,
        (Some(slot), None) => {
            let v = values.get(slot)?;
            if v.ty != ty::BIN_XML || v.bytes.is_empty() {
                return None;
            }
            let inner = single_instance(chunk, v.at, v.at + v.bytes.len())?;
            if inner
                .values
                .iter()
                .any(|v| v.ty == ty::BIN_XML && !v.bytes.is_empty())
            {
                return None;
            }
            let data = layouts.data(chunk, inner.def_offset)?;
            set_fields(&mut fields, &data, &inner.values)?;
        }
        _ => return None,
    }
    Some(Direct::Event {
        header: Header {
            id,
            provider,
            time,
            computer,
        },
        fields,
    })
}

/// Sets the `EventData` fields of `data` from `values`; `None` when one cannot be read.
fn set_fields(
    fields: &mut FieldValues<'static>,
    data: &DataLayout,
    values: &[Raw<'_>],
) -> Option<()> {
    for (field, spot) in data {
        let value = match resolve(spot, values)? {
            None => Cow::Borrowed(""),
            Some(v) => text(v)?,
        };
        fields.set(*field, value);
    }
    Some(())
}

/// A value of a record: literal text of its template, or a substitution.
enum Value<'t, 'c> {
    Text(&'t str),
    Raw(&'t Raw<'c>),
}

/// The value at `spot`: `Some(None)` when it is empty; `None` when its element may be left out
/// of the rendering (a dependency is null) or its substitution is missing.
fn resolve<'t, 'c>(spot: &'t Spot, values: &'t [Raw<'c>]) -> Option<Option<Value<'t, 'c>>> {
    for dep in &spot.deps {
        if values.get(usize::from(*dep))?.ty == ty::NULL {
            return None;
        }
    }
    Some(match &spot.part {
        Part::Empty => None,
        Part::Text(t) => Some(Value::Text(t)),
        Part::Slot(n) => {
            let v = values.get(usize::from(*n))?;
            (!v.empty()).then_some(Value::Raw(v))
        }
    })
}

/// A `System` value, which must not be empty (an empty one renders as `null` or not at all).
fn system<'t, 'c>(spot: &'t Spot, values: &'t [Raw<'c>]) -> Option<Value<'t, 'c>> {
    resolve(spot, values)?
}

/// The size of a value of type `t` as the crate reads it: `Some(None)` for types of any size,
/// `None` for types not read here (arrays, handles, unknown).
fn size_of(t: u8) -> Option<Option<usize>> {
    Some(match t {
        ty::NULL | ty::STRING | ty::ANSI_STRING | ty::BINARY | ty::SID | ty::BIN_XML => None,
        ty::SIZE_T => None,
        ty::INT8 | ty::UINT8 => Some(1),
        ty::INT16 | ty::UINT16 => Some(2),
        ty::INT32 | ty::UINT32 | ty::REAL32 | ty::BOOL | ty::HEX_INT32 => Some(4),
        ty::INT64 | ty::UINT64 | ty::REAL64 | ty::FILETIME | ty::HEX_INT64 => Some(8),
        ty::GUID | ty::SYSTIME => Some(16),
        _ => return None,
    })
}

/// True when the crate reads `bytes` as a value of type `t` exactly (so that the values after
/// it are where the descriptors put them).
fn well_sized(t: u8, bytes: &[u8]) -> bool {
    match size_of(t) {
        None => false,
        Some(Some(n)) => bytes.len() == n,
        Some(None) => match t {
            ty::STRING => bytes.len().is_multiple_of(2),
            ty::SIZE_T => matches!(bytes.len(), 4 | 8),
            ty::SID => bytes
                .get(1)
                .is_some_and(|&n| bytes.len() == 8 + 4 * usize::from(n)),
            _ => true,
        },
    }
}

/// A fixed-size value's bytes.
fn fixed<const N: usize>(v: &Raw<'_>) -> Option<[u8; N]> {
    v.bytes.try_into().ok()
}

/// An integer value as an event id.
fn integer(v: &Raw<'_>) -> Option<u32> {
    match v.ty {
        ty::UINT8 => Some(fixed::<1>(v)?[0].into()),
        ty::UINT16 => Some(u16::from_le_bytes(fixed(v)?).into()),
        ty::UINT32 => Some(u32::from_le_bytes(fixed(v)?)),
        ty::UINT64 => u64::from_le_bytes(fixed(v)?).try_into().ok(),
        ty::INT8 => (fixed::<1>(v)?[0] as i8).try_into().ok(),
        ty::INT16 => i16::from_le_bytes(fixed(v)?).try_into().ok(),
        ty::INT32 => i32::from_le_bytes(fixed(v)?).try_into().ok(),
        ty::INT64 => i64::from_le_bytes(fixed(v)?).try_into().ok(),
        _ => None,
    }
}

/// A value's text as the crate's JSON holds it, once unescaped; `None` for types not read here
/// and for text with control characters.
fn text(v: Value<'_, '_>) -> Option<Cow<'static, str>> {
    let s = match v {
        Value::Text(t) => t.to_string(),
        Value::Raw(v) => match v.ty {
            ty::STRING => String::from_utf16(&v.utf16_units()).ok()?,
            ty::INT8 => (fixed::<1>(v)?[0] as i8).to_string(),
            ty::UINT8 => fixed::<1>(v)?[0].to_string(),
            ty::INT16 => i16::from_le_bytes(fixed(v)?).to_string(),
            ty::UINT16 => u16::from_le_bytes(fixed(v)?).to_string(),
            ty::INT32 => i32::from_le_bytes(fixed(v)?).to_string(),
            ty::UINT32 => u32::from_le_bytes(fixed(v)?).to_string(),
            ty::INT64 => i64::from_le_bytes(fixed(v)?).to_string(),
            ty::UINT64 => u64::from_le_bytes(fixed(v)?).to_string(),
            ty::BOOL => match i32::from_le_bytes(fixed(v)?) {
                0 => return Some(Cow::Borrowed("false")),
                1 => return Some(Cow::Borrowed("true")),
                n => n.to_string(),
            },
            ty::HEX_INT32 => format!("{:#x}", u32::from_le_bytes(fixed(v)?)),
            ty::HEX_INT64 => format!("{:#x}", u64::from_le_bytes(fixed(v)?)),
            ty::GUID => guid(&fixed(v)?),
            _ => return None,
        },
    };
    (!s.chars().any(char::is_control)).then_some(Cow::Owned(s))
}

/// Text that a quick look at the JSON reads as written: no quotes or backslashes to escape.
fn quoted_text(v: Value<'_, '_>) -> Option<String> {
    let s = text(v)?;
    (!s.contains(['"', '\\'])).then(|| s.into_owned())
}

/// A GUID as the crate writes it: `{e40b3c90-7415-9168-1f61-8f1fff8e4227}`.
fn guid(b: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    let d4: String = b[8..10].iter().map(|x| format!("{x:02x}")).collect();
    let d5: String = b[10..].iter().map(|x| format!("{x:02x}")).collect();
    format!("{{{d1:08x}-{d2:04x}-{d3:04x}-{d4}-{d5}}}")
}

/// A FILETIME in epoch milliseconds, when it is a time from 1970 to 9999 (others are read, and
/// refused, from their text).
fn filetime_ms(ticks: u64) -> Option<i64> {
    let ms = i64::try_from((ticks / 10_000).checked_sub(UNIX_EPOCH_FILETIME_MS)?).ok()?;
    (ms <= MAX_TIME_MS).then_some(ms)
}

/// The template instance of a BinXML stream (`chunk[start..end]`) that is one instance (after
/// an optional fragment header) and nothing else, with values of the types read here.
fn single_instance(chunk: &[u8], start: usize, end: usize) -> Option<Instance<'_>> {
    let stream = chunk.get(start..end)?;
    let at = match stream {
        [FRAGMENT_HEADER, _, _, _, TEMPLATE_INSTANCE, ..] => start + 5,
        [TEMPLATE_INSTANCE, ..] => start + 1,
        _ => return None,
    };
    let u32_at = |p: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            chunk.get(p..p.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    // Unknown byte, template id, definition offset.
    let def_offset = u32_at(at + 5)?;
    let mut pos = at + 9;
    if def_offset as usize == pos {
        // The definition is stored here: its 24-byte header and its data.
        pos = pos.checked_add(24 + u32_at(pos + 20)? as usize)?;
    }
    let n = u32_at(pos)? as usize;
    pos += 4;
    let descriptors = chunk.get(pos..pos.checked_add(n.checked_mul(4)?)?)?;
    pos += 4 * n;
    let mut values = Vec::with_capacity(n);
    for d in descriptors.chunks_exact(4) {
        let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
        let bytes = chunk.get(pos..pos + size)?;
        if !well_sized(d[2], bytes) {
            return None;
        }
        values.push(Raw {
            ty: d[2],
            bytes,
            at: pos,
        });
        pos += size;
    }
    match chunk.get(pos..end) {
        Some([] | [EOF, ..]) => Some(Instance { def_offset, values }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ty: u8, bytes: &[u8]) -> Raw<'_> {
        Raw { ty, bytes, at: 0 }
    }

    #[test]
    fn values_read_as_the_crate_writes_them() {
        let g = [
            0x90, 0x3c, 0x0b, 0xe4, 0x15, 0x74, 0x68, 0x91, 0x1f, 0x61, 0x8f, 0x1f, 0xff, 0x8e,
            0x42, 0x27,
        ];
        let t = |v: Raw<'_>| text(Value::Raw(&v)).map(|s| s.into_owned());
        assert_eq!(
            t(raw(ty::GUID, &g)).as_deref(),
            Some("{e40b3c90-7415-9168-1f61-8f1fff8e4227}")
        );
        // 2019-03-19T23:34:27.1718340Z
        assert_eq!(
            filetime_ms(131_975_120_671_718_340),
            Some(1_553_038_467_171)
        );
        assert_eq!(filetime_ms(0), None);
        assert_eq!(
            integer(&raw(ty::UINT16, &4624u16.to_le_bytes())),
            Some(4624)
        );
        assert_eq!(integer(&raw(ty::INT16, &(-1i16).to_le_bytes())), None);
        let hex = t(raw(ty::HEX_INT32, &0xc000_006du32.to_le_bytes()));
        assert_eq!(hex.as_deref(), Some("0xc000006d"));
        assert_eq!(t(raw(ty::HEX_INT64, &[0; 8])).as_deref(), Some("0x0"));
        assert_eq!(
            t(raw(ty::BOOL, &1i32.to_le_bytes())).as_deref(),
            Some("true")
        );
        assert_eq!(t(raw(ty::BOOL, &7i32.to_le_bytes())).as_deref(), Some("7"));
        let s: Vec<u8> = "ab\0c".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(t(raw(ty::STRING, &s)).as_deref(), Some("ab"));
        assert!(raw(ty::STRING, &[0, 0]).empty() && raw(ty::NULL, &[]).empty());
        assert_eq!(text(Value::Text("a\u{1}b")), None);
        assert!(!well_sized(ty::GUID, &[0; 8]) && !well_sized(0x81, &[]));
    }
}
