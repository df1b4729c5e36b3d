//! Splitting event JSON and XML documents into records: JSON lines; pretty-printed JSON objects
//! (`evtx_dump -o json`, with its `Record N` lines, or a JSON array); `<Event>` elements of an
//! XML stream (on one line, as `wevtutil` writes them, or inside `<Events>`). Records longer than
//! [`MAX_LINE`](crate::MAX_LINE) are given as too long, and splitting resumes at the next record.

use crate::MAX_LINE;
use memchr::{memchr, memmem};
use std::io::{self, Read};

/// Which document is being split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Event JSON (lines or objects, decided on the first record).
    Json,
    /// Event XML.
    Xml,
}

/// The state of a split: the shape, the line reached, and whether an over-long record is being
/// skipped.
#[derive(Clone, Debug)]
pub struct Splitter {
    shape: Shape,
    /// For JSON: `Some(true)` one record per line, `Some(false)` objects spanning lines.
    json_lines: Option<bool>,
    /// 1-based line number of the next unconsumed byte.
    line: u64,
    skipping: bool,
}

/// End of a JSON object starting at `buf[0] == b'{'`: the index after its `}`.
fn object_end(buf: &[u8]) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0u32, false, false);
    for (i, &b) in buf.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The start of the next `<Event` element (not `<EventData`, `<EventID`, …).
fn event_start(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memmem::find(&buf[from..], b"<Event") {
        let at = from + i;
        match buf.get(at + 6) {
            Some(b' ' | b'>' | b'\t' | b'\r' | b'\n' | b'/') => return Some(at),
            None => return Some(at),
            _ => from = at + 6,
        }
    }
    None
}

fn lines_in(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

impl Splitter {
    /// A splitter at the start of a document.
    pub fn new(shape: Shape) -> Self {
        Splitter {
            shape,
            json_lines: None,
            line: 1,
            skipping: false,
        }
    }

    /// Calls `f(line, record, too_long)` for every complete record at the start of `buf` and
    /// returns how many bytes it used; the rest must be given again with more data. With `eof`,
    /// `buf` is the end of the document. A too-long record is given as its first bytes.
    pub fn split(&mut self, buf: &[u8], eof: bool, mut f: impl FnMut(u64, &[u8], bool)) -> usize {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            let Some(step) = self.step(rest, eof, &mut f) else {
                return pos;
            };
            self.line += lines_in(&rest[..step]);
            pos += step;
        }
    }

    /// One record (or skipped stretch) at the start of `rest`: the bytes it used, or `None` when
    /// more data is needed (or none is left).
    fn step(
        &mut self,
        rest: &[u8],
        eof: bool,
        f: &mut impl FnMut(u64, &[u8], bool),
    ) -> Option<usize> {
        if rest.is_empty() {
            return None;
        }
        if self.skipping {
            let next = match self.shape {
                Shape::Json if self.json_lines == Some(true) => memchr(b'\n', rest).map(|i| i + 1),
                Shape::Json => memmem::find(rest, b"\n{").map(|i| i + 1),
                Shape::Xml => event_start(&rest[1..]).map(|i| i + 1),
            };
            return match next {
                Some(n) => {
                    self.skipping = false;
                    Some(n)
                }
                None if eof => Some(rest.len()),
                None => Some(rest.len().saturating_sub(8)).filter(|n| *n > 0),
            };
        }
        match self.shape {
            Shape::Json => self.json(rest, eof, f),
            Shape::Xml => self.xml(rest, eof, f),
        }
    }

    fn too_long(&mut self, rest: &[u8], f: &mut impl FnMut(u64, &[u8], bool)) -> usize {
        f(self.line, &rest[..MAX_LINE + 1], true);
        self.skipping = true;
        // Keep the line count right: what was given is consumed.
        MAX_LINE + 1
    }

    fn json(
        &mut self,
        rest: &[u8],
        eof: bool,
        f: &mut impl FnMut(u64, &[u8], bool),
    ) -> Option<usize> {
        let lines = match self.json_lines {
            Some(l) => l,
            None => {
                // Decide on the first non-blank line: a whole object on it means JSON lines.
                let start = rest.iter().position(|b| !b.is_ascii_whitespace());
                let Some(start) = start else {
                    return eof.then_some(rest.len());
                };
                let line_end = memchr(b'\n', &rest[start..]).map(|i| start + i);
                let Some(line_end) = line_end.or(eof.then_some(rest.len())) else {
                    return (rest.len() > MAX_LINE).then(|| self.too_long(rest, f));
                };
                let line = rest[start..line_end].trim_ascii_end();
                let whole = line.first() == Some(&b'{') && object_end(line) == Some(line.len());
                self.json_lines = Some(whole);
                whole
            }
        };
        if lines {
            let (end, next) = match memchr(b'\n', rest) {
                Some(i) => (i, i + 1),
                None if eof => (rest.len(), rest.len()),
                None if rest.len() > MAX_LINE => return Some(self.too_long(rest, f)),
                None => return None,
            };
            let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
            if line.len() > MAX_LINE {
                f(self.line, &line[..MAX_LINE + 1], true);
            } else if !line.iter().all(u8::is_ascii_whitespace) {
                f(self.line, line, false);
            }
            return Some(next);
        }
        // Objects: skip to the next `{`, then to its matching `}`. A `{` at the start of a line
        // inside begins the next record (pretty printers indent nested objects): the one before
        // it was cut short.
        let Some(start) = memchr(b'{', rest) else {
            return Some(rest.len());
        };
        if start > 0 {
            return Some(start);
        }
        let end = object_end(rest);
        if let Some(next) = memmem::find(&rest[..end.unwrap_or(rest.len())], b"\n{") {
            if next < MAX_LINE {
                f(self.line, &rest[..next + 1], false);
                return Some(next + 1);
            }
        }
        match end {
            Some(end) if end > MAX_LINE => {
                f(self.line, &rest[..MAX_LINE + 1], true);
                Some(end)
            }
            Some(end) => {
                f(self.line, &rest[..end], false);
                Some(end)
            }
            None if rest.len() > MAX_LINE => Some(self.too_long(rest, f)),
            None if eof => {
                f(self.line, rest, false);
                Some(rest.len())
            }
            None => None,
        }
    }

    fn xml(
        &mut self,
        rest: &[u8],
        eof: bool,
        f: &mut impl FnMut(u64, &[u8], bool),
    ) -> Option<usize> {
        let Some(start) = event_start(rest) else {
            // Nothing but prolog, whitespace or `</Events>`: keep a possible `<Even` tail.
            let keep = if eof { 0 } else { 6.min(rest.len()) };
            return Some(rest.len() - keep).filter(|n| *n > 0);
        };
        if start > 0 {
            return Some(start);
        }
        let end = memmem::find(rest, b"</Event>");
        // Another `<Event` before this one's end: this one was cut short.
        let limit = end.unwrap_or(rest.len().saturating_sub(7)).max(6);
        if let Some(next) = event_start(&rest[6..limit]) {
            if next + 6 <= MAX_LINE {
                f(self.line, &rest[..next + 6], false);
                return Some(next + 6);
            }
        }
        match end {
            Some(i) if i + 8 > MAX_LINE + 1 => {
                f(self.line, &rest[..MAX_LINE + 1], true);
                Some(i + 8)
            }
            Some(i) => {
                f(self.line, &rest[..i + 8], false);
                Some(i + 8)
            }
            None if rest.len() > MAX_LINE => Some(self.too_long(rest, f)),
            None if eof => {
                f(self.line, rest, false);
                Some(rest.len())
            }
            None => None,
        }
    }
}

const READ: usize = 1 << 20;

/// Reads a document through a [`Splitter`], a block at a time.
pub struct Blocks<R> {
    inner: R,
    splitter: Splitter,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Blocks<R> {
    /// Splits `inner` as `shape`.
    pub fn new(inner: R, shape: Shape) -> Self {
        Blocks {
            inner,
            splitter: Splitter::new(shape),
            buf: Vec::with_capacity(READ),
            eof: false,
        }
    }

    /// Reads the next block and calls `f` for its records; `Ok(false)` once the document is done.
    pub fn next_block(&mut self, mut f: impl FnMut(u64, &[u8], bool)) -> io::Result<bool> {
        if self.eof && self.buf.is_empty() {
            return Ok(false);
        }
        if !self.eof {
            let len = self.buf.len();
            self.buf.resize(len + READ, 0);
            let n = loop {
                match self.inner.read(&mut self.buf[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(len);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(len + n);
            self.eof = n == 0;
        }
        let used = self.splitter.split(&self.buf, self.eof, &mut f);
        self.buf.drain(..used);
        if self.eof {
            // Whatever is left cannot become a record.
            self.buf.clear();
        }
        Ok(true)
    }
}

/// A reader that gives a document's records one per line (line breaks inside a record become
/// spaces), for the line decoders. A dead letter's line is then the record's ordinal.
pub struct RecordLines<R> {
    blocks: Blocks<R>,
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> RecordLines<R> {
    /// Event JSON, one record per output line.
    pub fn json(inner: R) -> Self {
        Self::new(inner, Shape::Json)
    }

    /// Event XML, one `<Event>` per output line.
    pub fn xml(inner: R) -> Self {
        Self::new(inner, Shape::Xml)
    }

    fn new(inner: R, shape: Shape) -> Self {
        RecordLines {
            blocks: Blocks::new(inner, shape),
            out: vec![],
            pos: 0,
        }
    }
}

impl<R: Read> Read for RecordLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            let out = &mut self.out;
            let more = self.blocks.next_block(|_, record, _| {
                out.extend(
                    record
                        .iter()
                        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
                );
                out.push(b'\n');
            })?;
            if !more {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(shape: Shape, doc: &str) -> Vec<(u64, String, bool)> {
        let mut out = vec![];
        let mut b = Blocks::new(doc.as_bytes(), shape);
        while b
            .next_block(|l, r, long| out.push((l, String::from_utf8_lossy(r).into_owned(), long)))
            .unwrap()
        {}
        out
    }

    #[test]
    fn splits_json_lines_objects_and_xml() {
        let jl = "{\"a\":1}\n\n{\"b\":\"}\"}\r\nnot json\n";
        assert_eq!(
            records(Shape::Json, jl),
            vec![
                (1, "{\"a\":1}".into(), false),
                (3, "{\"b\":\"}\"}".into(), false),
                (4, "not json".into(), false)
            ]
        );
        let pretty = "Record 1\n{\n  \"a\": {\"x\": \"{\"}\n}\nRecord 2\n{\n  \"b\": 2\n}\n";
        let r = records(Shape::Json, pretty);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].0, r[1].0), (2, 6));
        assert!(r[1].1.contains("\"b\": 2"));
        let xml = "<?xml version=\"1.0\"?>\n<Events>\n<Event xmlns='x'><System><EventID>1</EventID></System></Event><Event><EventData/></Event>\n</Events>";
        let r = records(Shape::Xml, xml);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, 3);
        assert!(r[0].1.starts_with("<Event xmlns") && r[0].1.ends_with("</Event>"));
        assert_eq!(r[1].1, "<Event><EventData/></Event>");
        // A record cut short does not take the next one with it.
        let r = records(Shape::Xml, "<Event><System>\n<Event><A/></Event>");
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].1.as_str(), r[1].1.as_str(), r[1].0),
            ("<Event><System>\n", "<Event><A/></Event>", 2)
        );
        let r = records(Shape::Json, "Record 1\n{\n  \"a\": {\n{\n  \"b\": 2\n}\n");
        assert_eq!(r.len(), 2);
        assert_eq!((r[1].0, r[1].1.as_str()), (4, "{\n  \"b\": 2\n}"));
    }

    #[test]
    fn over_long_records_are_cut_and_splitting_resumes() {
        let big = "x".repeat(MAX_LINE + 10);
        let doc = format!("<Event><Data>{big}</Data></Event>\n<Event>ok</Event>");
        let r = records(Shape::Xml, &doc);
        assert_eq!(r.len(), 2);
        assert!(r[0].2 && r[0].1.len() == MAX_LINE + 1);
        assert_eq!((r[1].1.as_str(), r[1].2), ("<Event>ok</Event>", false));
        let doc = format!("{{\"a\":\"{big}\"}}\n{{\"b\":1}}\n");
        let r = records(Shape::Json, &doc);
        assert_eq!(
            r.len(),
            2,
            "{:?}",
            r.iter().map(|x| (x.0, x.2)).collect::<Vec<_>>()
        );
        assert!(r[0].2);
        assert_eq!((r[1].0, r[1].1.as_str()), (2, "{\"b\":1}"));
        let mut s = String::new();
        RecordLines::xml("<Events><Event>\n<A/>\n</Event></Events>".as_bytes())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "<Event> <A/> </Event>\n");
    }
}
