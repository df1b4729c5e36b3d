//! Rendered Windows event XML, as Windows Event Forwarding delivers it and `wevtutil qe /f:xml`
//! or Event Viewer's "Save as XML" write it: `<Event xmlns=…><System><Provider Name=…/>
//! <EventID>4624</EventID><TimeCreated SystemTime=…/>…<Computer>…</Computer></System>
//! <EventData><Data Name='TargetUserName'>…</Data>…</EventData></Event>`. `RenderingInfo`
//! (the forwarded message text) and `UserData` are ignored.

use super::fields::FieldValues;
use super::rendered::{Rendered, System};
use crate::{DecodeError, Reason};
use quick_xml::events::{BytesStart, Event as Xml};
use quick_xml::Reader;
use std::borrow::Cow;

/// Where a text value being read goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Id,
    Computer,
    Channel,
}

fn malformed(pos: u64, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::new(
        Reason::Malformed,
        format!("XML at byte {pos} of the record: {e}"),
    )
}

/// The value of attribute `name` of an element.
fn attribute<'a>(
    e: &BytesStart<'a>,
    name: &[u8],
    reader: &Reader<&'a [u8]>,
) -> Result<Option<Cow<'a, str>>, DecodeError> {
    for a in e.attributes() {
        let a = a.map_err(|err| malformed(reader.buffer_position(), err))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .decode_and_unescape_value(reader.decoder())
                .map_err(|err| malformed(reader.buffer_position(), err))?;
            // The value borrows the element, which borrows the input: copy only when unescaped.
            return Ok(Some(Cow::Owned(v.into_owned())));
        }
    }
    Ok(None)
}

/// Text accumulated over text, entity and CDATA pieces.
fn push<'a>(acc: &mut Option<Cow<'a, str>>, piece: Cow<'a, str>) {
    match acc {
        None => *acc = Some(piece),
        Some(s) => s.to_mut().push_str(&piece),
    }
}

/// Reads one `<Event>` element.
pub fn parse(bytes: &[u8]) -> Result<Rendered<'_>, DecodeError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DecodeError::new(Reason::Malformed, format!("not UTF-8: {e}")))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Rendered::default();
    let mut stack: Vec<Vec<u8>> = Vec::with_capacity(4);
    // The text being read: for a System element, or for a named Data element.
    let mut reading: Option<(Result<Target, Cow<'_, str>>, usize)> = None;
    let mut value: Option<Cow<'_, str>> = None;
    let mut seen_root = false;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| malformed(pos, e))?;
        match ev {
            Xml::Start(ref e) | Xml::Empty(ref e) => {
                let empty = matches!(ev, Xml::Empty(_));
                let local = e.local_name().as_ref().to_vec();
                let parent = stack.last().map(Vec::as_slice);
                if stack.is_empty() {
                    seen_root = true;
                }
                match (parent, local.as_slice()) {
                    (Some(b"System"), b"Provider") => {
                        out.system.provider = attribute(e, b"Name", &reader)?;
                    }
                    (Some(b"System"), b"TimeCreated") => {
                        out.system.time = attribute(e, b"SystemTime", &reader)?;
                    }
                    (Some(b"System"), n @ (b"EventID" | b"Computer" | b"Channel")) => {
                        let t = match n {
                            b"EventID" => Target::Id,
                            b"Computer" => Target::Computer,
                            _ => Target::Channel,
                        };
                        reading = Some((Ok(t), stack.len() + 1));
                    }
                    (Some(b"EventData"), b"Data") => {
                        if let Some(name) = attribute(e, b"Name", &reader)? {
                            reading = Some((Err(name), stack.len() + 1));
                        }
                    }
                    _ => {}
                }
                if empty {
                    finish(
                        &mut out.system,
                        &mut out.fields,
                        &mut reading,
                        &mut value,
                        stack.len() + 1,
                    );
                } else {
                    stack.push(local);
                }
            }
            Xml::End(_) => {
                finish(
                    &mut out.system,
                    &mut out.fields,
                    &mut reading,
                    &mut value,
                    stack.len(),
                );
                stack.pop();
                if stack.is_empty() && seen_root {
                    break;
                }
            }
            Xml::Text(t) if reading.is_some() => {
                let piece = t.decode().map_err(|e| malformed(pos, e))?;
                push(&mut value, piece);
            }
            Xml::CData(t) if reading.is_some() => {
                let piece = t.decode().map_err(|e| malformed(pos, e))?;
                push(&mut value, piece);
            }
            Xml::GeneralRef(r) if reading.is_some() => {
                let piece = match r.resolve_char_ref().map_err(|e| malformed(pos, e))? {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => {
                        let name = r.decode().map_err(|e| malformed(pos, e))?;
                        let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(pos, format!("unknown entity &{name};")))?;
                        Cow::Borrowed(resolved)
                    }
                };
                push(&mut value, piece);
            }
            Xml::Eof => {
                if !seen_root || !stack.is_empty() {
                    return Err(malformed(pos, "the record ends before its </Event>"));
                }
                break;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Stores the text read for the element ending at `depth`, if it is the one being read.
fn finish<'a>(
    system: &mut System<'a>,
    fields: &mut FieldValues<'a>,
    reading: &mut Option<(Result<Target, Cow<'a, str>>, usize)>,
    value: &mut Option<Cow<'a, str>>,
    depth: usize,
) {
    let Some((_, d)) = reading else { return };
    if *d != depth {
        return;
    }
    let (target, _) = reading.take().expect("checked above");
    let v = value.take().unwrap_or(Cow::Borrowed(""));
    match target {
        Ok(Target::Id) => system.id = Some(v),
        Ok(Target::Computer) => system.computer = Some(v),
        Ok(Target::Channel) => system.channel = Some(v),
        Err(name) => fields.set_named(&name, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::fields::Field;

    #[test]
    fn reads_system_and_named_data() {
        let x = br#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID><TimeCreated SystemTime='2015-08-24T06:51:38.4375000Z'/><Computer>WS01</Computer></System><EventData><Data Name='TargetUserName'>a&amp;b&#x41;</Data><Data Name='WorkstationName'/><Data Name='IpAddress'>-</Data></EventData><RenderingInfo Culture='en-US'><Message>An account was &lt;logged&gt; on</Message></RenderingInfo></Event>"#;
        let r = parse(x).unwrap();
        assert_eq!(r.system.id.as_deref(), Some("4624"));
        assert_eq!(r.system.computer.as_deref(), Some("WS01"));
        assert_eq!(
            r.system.time.as_deref(),
            Some("2015-08-24T06:51:38.4375000Z")
        );
        assert_eq!(r.fields.get(Field::TargetUserName), Some("a&bA"));
        assert_eq!(r.fields.get(Field::WorkstationName), Some(""));
        assert_eq!(r.fields.get(Field::IpAddress), Some("-"));
        assert_eq!(
            parse(b"<Event><System><EventID>1</EventID>")
                .unwrap_err()
                .reason,
            Reason::Malformed
        );
        assert_eq!(
            parse(b"<Event><System></Sys></Event>").unwrap_err().reason,
            Reason::Malformed
        );
    }
}
