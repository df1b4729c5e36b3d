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
use std::fmt::Write;

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
    /// True for values the crate renders as empty (its `is_optional_empty` for scalars): null,
    /// and strings, binary and BinXML without a UTF-16 unit (a string: before its first NUL).
    fn empty(&self) -> bool {
        match self.ty {
            ty::NULL => true,
            ty::STRING => matches!(self.bytes, [] | [_] | [0, 0, ..]),
            ty::ANSI_STRING | ty::BINARY | ty::BIN_XML => self.bytes.len() < 2,
            _ => false,
        }
    }
}

/// Buffers kept from record to record, so that reading a record allocates nothing once the
/// first records have been read: the last record read, and the text of the ones before it.
#[derive(Debug, Default)]
pub struct Reuse {
    /// The record read last.
    direct: Option<Direct>,
    /// `EventData` values to fill, emptied.
    fields: Option<Box<FieldValues<'static>>>,
    /// Text of earlier records, emptied.
    spare: Vec<String>,
    /// The record's provider name, when it is no literal text of its template.
    provider: String,
    /// Its channel, likewise.
    channel: String,
}

impl Reuse {
    /// Takes back the text and fields of the record read last.
    fn reclaim(&mut self) {
        if let Some(Direct::Event { header, mut fields }) = self.direct.take() {
            if let Cow::Owned(mut s) = header.computer {
                s.clear();
                self.spare.push(s);
            }
            fields.clear_into(&mut self.spare);
            self.fields = Some(fields);
        }
    }
}

/// An emptied string of `spare`, or a new one.
fn spare_string(spare: &mut Vec<String>) -> String {
    spare.pop().unwrap_or_default()
}

/// The substitution values of a record and of its nested `EventData` instance, in buffers kept
/// for the records of a chunk.
#[derive(Debug, Default)]
pub struct Values<'c> {
    outer: Vec<Raw<'c>>,
    inner: Vec<Raw<'c>>,
}

/// Reads `record`, or `None` when it has to be rendered. The record read is kept in `reuse`
/// until the next one is read.
pub fn decode<'r, 'c>(
    record: &EvtxRecord<'c>,
    layouts: &mut Layouts,
    values: &mut Values<'c>,
    reuse: &'r mut Reuse,
) -> Option<&'r Direct> {
    reuse.reclaim();
    let chunk = record.chunk.data;
    let start = usize::try_from(record.binxml_offset).ok()?;
    let end = start.checked_add(record.binxml_size as usize)?;
    let def_offset = single_instance(chunk, start, end, &mut values.outer)?;
    let layout = layouts.get(chunk, def_offset)?;
    let mut fields = reuse.fields.take().unwrap_or_default();
    let header = read(&layout, chunk, layouts, values, reuse, &mut fields);
    let direct = match header {
        Some(Ok(header)) => Direct::Event { header, fields },
        Some(Err(key)) => {
            reuse.fields = Some(fields);
            Direct::Skip(key)
        }
        None => {
            fields.clear_into(&mut reuse.spare);
            reuse.fields = Some(fields);
            return None;
        }
    };
    Some(reuse.direct.insert(direct))
}

/// Reads the values of an instance of `layout` (in `values.outer`): the header with the
/// `EventData` values set in `fields`, or why the record is skipped.
fn read<'c>(
    layout: &Layout,
    chunk: &'c [u8],
    layouts: &mut Layouts,
    values: &mut Values<'c>,
    reuse: &mut Reuse,
    fields: &mut FieldValues<'static>,
) -> Option<Result<Header<'static>, SkipKey>> {
    let outer = values.outer.as_slice();
    // Any other BinXML would be rendered in place: the direct reading does not know its shape.
    let nested = layout.nested.map(usize::from);
    for (i, v) in outer.iter().enumerate() {
        if v.ty == ty::BIN_XML && !v.bytes.is_empty() && Some(i) != nested {
            return None;
        }
    }
    let id = match system(&layout.event_id, outer)? {
        Value::Text(t) => t.trim().parse::<u32>().ok()?,
        Value::Raw(v) => integer(v)?,
    };
    let provider = quoted_text(system(&layout.provider, outer)?, &mut reuse.provider)?;
    let channel = quoted_text(system(&layout.channel, outer)?, &mut reuse.channel)?;
    let provider = Provider::from_names(Some(provider), Some(channel));
    if let Some(key) = mapping::skipped(provider, id) {
        return Some(Err(key));
    }
    let time = match system(layout.time.as_ref()?, outer)? {
        Value::Raw(v) if v.ty == ty::FILETIME => filetime_ms(u64::from_le_bytes(fixed(v)?))?,
        _ => return None,
    };
    let mut computer = spare_string(&mut reuse.spare);
    if text(system(layout.computer.as_ref()?, outer)?, &mut computer).is_none() {
        reuse.spare.push(computer);
        return None;
    }
    match (nested, &layout.data) {
        (None, Some(data)) => set_fields(fields, data, outer, &mut reuse.spare)?,
        (Some(slot), None) => {
            let v = outer.get(slot)?;
            if v.ty != ty::BIN_XML || v.bytes.is_empty() {
                return None;
            }
            let inner = &mut values.inner;
            let def_offset = single_instance(chunk, v.at, v.at + v.bytes.len(), inner)?;
            if inner
                .iter()
                .any(|v| v.ty == ty::BIN_XML && !v.bytes.is_empty())
            {
                return None;
            }
            let data = layouts.data(chunk, def_offset)?;
            set_fields(fields, &data, inner, &mut reuse.spare)?;
        }
        _ => return None,
    }
    Some(Ok(Header {
        id,
        provider,
        time,
        computer: Cow::Owned(computer),
    }))
}

/// Sets the `EventData` fields of `data` from `values`, in strings of `spare`; `None` when one
/// cannot be read.
fn set_fields(
    fields: &mut FieldValues<'static>,
    data: &DataLayout,
    values: &[Raw<'_>],
    spare: &mut Vec<String>,
) -> Option<()> {
    for (field, spot) in data {
        let value = match resolve(spot, values)? {
            None => Cow::Borrowed(""),
            Some(v) => {
                let mut s = spare_string(spare);
                if text(v, &mut s).is_none() {
                    spare.push(s);
                    return None;
                }
                Cow::Owned(s)
            }
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

/// Writes a value's text as the crate's JSON holds it, once unescaped, to `out` (emptied);
/// `None` for types not read here and for text with control characters (`out` then holds
/// anything).
fn text(v: Value<'_, '_>, out: &mut String) -> Option<()> {
    out.clear();
    let written = match v {
        Value::Text(t) => {
            out.push_str(t);
            Ok(())
        }
        Value::Raw(v) => match v.ty {
            ty::STRING => {
                let units = v
                    .bytes
                    .chunks_exact(2)
                    .map(|u| u16::from_le_bytes([u[0], u[1]]))
                    .take_while(|u| *u != 0);
                for c in char::decode_utf16(units) {
                    out.push(c.ok()?);
                }
                Ok(())
            }
            ty::INT8 => write!(out, "{}", fixed::<1>(v)?[0] as i8),
            ty::UINT8 => write!(out, "{}", fixed::<1>(v)?[0]),
            ty::INT16 => write!(out, "{}", i16::from_le_bytes(fixed(v)?)),
            ty::UINT16 => write!(out, "{}", u16::from_le_bytes(fixed(v)?)),
            ty::INT32 => write!(out, "{}", i32::from_le_bytes(fixed(v)?)),
            ty::UINT32 => write!(out, "{}", u32::from_le_bytes(fixed(v)?)),
            ty::INT64 => write!(out, "{}", i64::from_le_bytes(fixed(v)?)),
            ty::UINT64 => write!(out, "{}", u64::from_le_bytes(fixed(v)?)),
            ty::BOOL => match i32::from_le_bytes(fixed(v)?) {
                0 => write!(out, "false"),
                1 => write!(out, "true"),
                n => write!(out, "{n}"),
            },
            ty::HEX_INT32 => write!(out, "{:#x}", u32::from_le_bytes(fixed(v)?)),
            ty::HEX_INT64 => write!(out, "{:#x}", u64::from_le_bytes(fixed(v)?)),
            ty::GUID => guid(&fixed(v)?, out),
            _ => return None,
        },
    };
    (written.is_ok() && !out.chars().any(char::is_control)).then_some(())
}

/// Text that a quick look at the JSON reads as written (no quotes or backslashes to escape):
/// literal text of the template as it is, a substitution's text written to `buf`.
fn quoted_text<'a>(v: Value<'a, '_>, buf: &'a mut String) -> Option<&'a str> {
    let s: &str = match v {
        Value::Text(t) => {
            if t.chars().any(char::is_control) {
                return None;
            }
            t
        }
        raw => {
            text(raw, buf)?;
            buf
        }
    };
    (!s.contains(['"', '\\'])).then_some(s)
}

/// Writes a GUID as the crate writes it: `{e40b3c90-7415-9168-1f61-8f1fff8e4227}`.
fn guid(b: &[u8; 16], out: &mut String) -> std::fmt::Result {
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    write!(out, "{{{d1:08x}-{d2:04x}-{d3:04x}-")?;
    for (i, x) in b[8..].iter().enumerate() {
        if i == 2 {
            out.push('-');
        }
        write!(out, "{x:02x}")?;
    }
    out.push('}');
    Ok(())
}

/// A FILETIME in epoch milliseconds, when it is a time from 1970 to 9999 (others are read, and
/// refused, from their text).
fn filetime_ms(ticks: u64) -> Option<i64> {
    let ms = i64::try_from((ticks / 10_000).checked_sub(UNIX_EPOCH_FILETIME_MS)?).ok()?;
    (ms <= MAX_TIME_MS).then_some(ms)
}

/// The definition offset of the template instance of a BinXML stream (`chunk[start..end]`)
/// that is one instance (after an optional fragment header) and nothing else, with values of
/// the types read here, which are put in `values`.
fn single_instance<'c>(
    chunk: &'c [u8],
    start: usize,
    end: usize,
    values: &mut Vec<Raw<'c>>,
) -> Option<u32> {
    values.clear();
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
        Some([] | [EOF, ..]) => Some(def_offset),
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
        let t = |v: Raw<'_>| {
            let mut s = String::new();
            text(Value::Raw(&v), &mut s).map(|()| s)
        };
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
        assert_eq!(text(Value::Text("a\u{1}b"), &mut String::new()), None);
        assert!(!well_sized(ty::GUID, &[0; 8]) && !well_sized(0x81, &[]));
    }
}
