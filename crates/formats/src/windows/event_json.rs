//! Windows events as `evtx_dump` (the `evtx` crate's tool), Hayabusa and Chainsaw write them:
//! `{"Event":{"System":{…},"EventData":{…}}}`. Attributes come as `#attributes` objects
//! (`"TimeCreated":{"#attributes":{"SystemTime":…}}`, `"EventID":{"#attributes":…,"#text":4624}`)
//! or as `X_attributes` siblings (`--separate-json-attributes`, Chainsaw); `EventData` as named
//! fields, or as a `Data` list of `{"@Name"|"#attributes":{"Name"},"#text"}` objects (xmltodict
//! exports). Only what the mapping reads is kept, borrowed from the input where it can be.

use super::fields::FieldValues;
use super::rendered::{Rendered, System};
use crate::{DecodeError, Reason};
use memchr::memmem::Finder;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

/// Reads one JSON event.
pub fn parse(bytes: &[u8]) -> Result<Rendered<'_>, DecodeError> {
    let mut out = Rendered::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let res = Top(&mut out).deserialize(&mut de).and_then(|()| de.end());
    res.map_err(|e| {
        let reason = if e.is_data() {
            Reason::WrongType
        } else {
            Reason::BadJson
        };
        DecodeError::new(reason, e.to_string())
    })?;
    Ok(out)
}

/// Searchers for the keys [`quick_skip`] looks for, built once.
struct Keys {
    event_id: Finder<'static>,
    text: Finder<'static>,
    name: Finder<'static>,
    channel: Finder<'static>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    event_id: Finder::new(b"\"EventID\":"),
    text: Finder::new(b"\"#text\":"),
    name: Finder::new(b"\"Name\":"),
    channel: Finder::new(b"\"Channel\":"),
});

/// The text after the first `key` (a quoted key with its colon) up to the next `"`, without
/// escapes.
fn raw_string<'a>(bytes: &'a [u8], key: &Finder<'_>) -> Option<&'a str> {
    let at = key.find(bytes)? + key.needle().len();
    let rest = bytes.get(at..)?.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// For the `evtx` crate's compact JSON: why a record gives nothing, read from its `EventID`,
/// `Provider` name and `Channel` without parsing the rest; `None` when it is read (or when the
/// record does not look as expected, to be parsed in full).
pub fn quick_skip(bytes: &[u8]) -> Option<crate::SkipKey> {
    let keys = &*KEYS;
    let at = keys.event_id.find(bytes)? + 10;
    let mut rest = bytes.get(at..)?;
    if rest.first() == Some(&b'{') {
        let text = keys.text.find(rest)? + 8;
        rest = rest.get(text..)?;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !matches!(rest.get(digits), Some(b',' | b'}')) {
        return None;
    }
    let id: u32 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let provider = raw_string(bytes, &keys.name);
    let channel = raw_string(bytes, &keys.channel);
    let provider = super::fields::Provider::from_names(provider, channel);
    super::mapping::skipped(provider, id)
}

/// Maps one record of the `evtx` crate's compact JSON, with a quick look at its id first: most
/// records of a log are skipped.
pub fn map_compact(
    bytes: &[u8],
    syms: &mut reachwatch_model::Interner,
) -> Result<super::mapping::Mapping, DecodeError> {
    match quick_skip(bytes) {
        Some(key) => Ok(super::mapping::Mapping::Skip(key)),
        None => parse(bytes).and_then(|r| r.map(syms)),
    }
}

/// A key or string, borrowed when the input has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A value as text: strings, numbers and booleans as written, an element with attributes by its
/// `#text`; `null`, lists and other objects are no value.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut text = None;
        while let Some(k) = map.next_key::<Str<'de>>()? {
            if k.0 == "#text" && text.is_none() {
                text = map.next_value_seed(Text)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(text)
    }
}

/// An attribute of an element: `{"#attributes":{"Name":…}}`, `{"@Name":…}`, or the attributes
/// object itself (`Provider_attributes`); a plain value is taken as the attribute's value.
struct Attr(&'static str);

impl<'de> DeserializeSeed<'de> for Attr {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Attr {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an element with the attribute {}", self.0)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        TextVisitor.visit_borrowed_str(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        TextVisitor.visit_str(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        TextVisitor.visit_u64(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(k) = map.next_key::<Str<'de>>()? {
            let key = k.0.strip_prefix('@').unwrap_or(&k.0);
            if out.is_none() && key == self.0 {
                out = map.next_value_seed(Text)?;
            } else if out.is_none() && key == "#attributes" {
                out = map.next_value_seed(Attr(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// The whole record: `{"Event":{…}}`, or the event object itself.
struct Top<'r, 'de>(&'r mut Rendered<'de>);

impl<'de> DeserializeSeed<'de> for Top<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match k.0.as_ref() {
                "Event" => map.next_value_seed(Top(&mut *self.0))?,
                "System" => map.next_value_seed(SystemSeed(&mut self.0.system))?,
                "EventData" => map.next_value_seed(DataSeed(&mut self.0.fields))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct SystemSeed<'r, 'de>(&'r mut System<'de>);

impl<'de> DeserializeSeed<'de> for SystemSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SystemSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a System object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let s = self.0;
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match k.0.as_ref() {
                "EventID" => s.id = map.next_value_seed(Text)?,
                "Provider" | "Provider_attributes" => {
                    s.provider = map.next_value_seed(Attr("Name"))?
                }
                "TimeCreated" | "TimeCreated_attributes" => {
                    s.time = map.next_value_seed(Attr("SystemTime"))?
                }
                "Computer" => s.computer = map.next_value_seed(Text)?,
                "Channel" => s.channel = map.next_value_seed(Text)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct DataSeed<'r, 'de>(&'r mut FieldValues<'de>);

impl<'de> DeserializeSeed<'de> for DataSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EventData object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NamedData(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<Str<'de>>()? {
            if k.0 == "Data" {
                map.next_value_seed(DataSeed(&mut *self.0))?;
            } else if let Some(f) = super::fields::Field::from_name(&k.0) {
                if let Some(v) = map.next_value_seed(Text)? {
                    self.0.set(f, v);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// One `{"@Name":…,"#text":…}` (or `{"#attributes":{"Name":…},"#text":…}`) of a `Data` list.
struct NamedData<'r, 'de>(&'r mut FieldValues<'de>);

impl<'de> DeserializeSeed<'de> for NamedData<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NamedData<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a named Data element")
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut name, mut text) = (None, None);
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match k.0.as_ref() {
                "@Name" | "Name" => name = map.next_value_seed(Text)?,
                "#attributes" => name = map.next_value_seed(Attr("Name"))?,
                "#text" => text = map.next_value_seed(Text)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let (Some(n), Some(t)) = (name, text) {
            self.0.set_named(&n, t);
        }
        Ok(())
    }
}

/// True when `v` is an event in this shape (for format detection).
pub(crate) fn looks_like(v: &serde_json::Value) -> bool {
    crate::json::get(v, "Event.System").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::fields::{Field, Provider};
    use crate::SkipKey;

    #[test]
    fn reads_both_attribute_styles_and_data_lists() {
        let a = br##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{5}"}},"EventID":{"#attributes":{"Qualifiers":0},"#text":4624},"TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:27.171834Z"}},"Computer":"WS01.corp.local","Security":null},"EventData":{"TargetUserName":"svc","LogonType":3,"IpAddress":"10.0.0.5","Other":[1,2]}}}"##;
        let r = parse(a).unwrap();
        assert_eq!(r.system.id.as_deref(), Some("4624"));
        assert_eq!(
            r.system.provider.as_deref(),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(
            r.system.time.as_deref(),
            Some("2019-03-19T23:34:27.171834Z")
        );
        assert_eq!(r.fields.get(Field::LogonType), Some("3"));
        let b = br##"{"Event":{"System":{"Provider_attributes":{"Name":"Microsoft-Windows-Sysmon"},"EventID":3,"TimeCreated_attributes":{"SystemTime":"2020-01-01 00:00:00.5Z"},"Computer":"A"},"EventData":{"Data":[{"@Name":"SourceIp","#text":"10.0.0.1"},{"#attributes":{"Name":"Initiated"},"#text":"true"}]}}}"##;
        let r = parse(b).unwrap();
        assert_eq!(
            r.system.provider.as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(r.fields.get(Field::SourceIp), Some("10.0.0.1"));
        assert_eq!(r.fields.get(Field::Initiated), Some("true"));
        let h = r.header().unwrap().unwrap();
        assert_eq!(
            (h.id, h.provider, h.time),
            (3, Provider::Sysmon, 1_577_836_800_500)
        );
        assert_eq!(parse(b"{\"Event\":").unwrap_err().reason, Reason::BadJson);
        assert_eq!(parse(b"[1]").unwrap_err().reason, Reason::WrongType);
        // A skipped id needs nothing else.
        let c = br##"{"Event":{"System":{"EventID":4672}}}"##;
        assert_eq!(
            parse(c).unwrap().header().unwrap().unwrap_err(),
            SkipKey::Event(4672)
        );
        // The quick look agrees, and passes on what it cannot tell.
        assert_eq!(quick_skip(a), None);
        assert_eq!(quick_skip(b), None);
        assert_eq!(quick_skip(c), Some(SkipKey::Event(4672)));
        let d = br##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":{"#attributes":{"Qualifiers":0},"#text":1}}}}"##;
        assert_eq!(quick_skip(d), Some(SkipKey::Sysmon(1)));
        assert_eq!(quick_skip(b"{\"EventID\":\"4672\"}"), None);
    }
}
