//! Streams `{"Records":[{…},{…}]}` documents (CloudTrail's S3 delivery, possibly pretty-printed
//! and concatenated) as one record per line, so that the line decoders and dead-letter line numbers
//! work unchanged: for such documents a dead letter's `line` is the record's ordinal in the output.
//! Input that is not a `Records` document passes through untouched.

use std::io::{self, Read};

const PROBE: &[u8] = b"\"Records\"";
const MAX_PROBE: usize = 4096;

enum State {
    /// Copying bytes; `line_start` when the next byte begins a line.
    Pass { line_start: bool },
    /// Saw `{` at a line start (`probe` holds the bytes so far): is it a `Records` document?
    Probe,
    /// Inside the `Records` array: `depth` of the current element (0 between elements).
    Array {
        depth: u32,
        in_str: bool,
        esc: bool,
        any: bool,
    },
    /// After the array: skip to the end of the enclosing document.
    Tail { depth: u32, in_str: bool, esc: bool },
}

/// A reader adapter that turns `Records` documents into JSON lines.
pub struct RecordsReader<R> {
    inner: R,
    state: State,
    probe: Vec<u8>,
    input: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<R: Read> RecordsReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        RecordsReader {
            inner,
            state: State::Pass { line_start: true },
            probe: vec![],
            input: vec![0; 1 << 16],
            out: Vec::with_capacity(1 << 16),
            pos: 0,
            eof: false,
        }
    }

    /// What the probe says: `Some(true)` a Records document, `Some(false)` not one, `None` unsure.
    fn probe_verdict(&self) -> Option<bool> {
        // `{` whitespace `"Records"` whitespace `:` whitespace `[`
        let p = &self.probe[1..];
        let p = trim_start(p);
        let n = p.len().min(PROBE.len());
        if p[..n] != PROBE[..n] {
            return Some(false);
        }
        if p.len() < PROBE.len() {
            return None;
        }
        let p = trim_start(&p[PROBE.len()..]);
        match p.first() {
            None => None,
            Some(b':') => trim_start(&p[1..]).first().map(|b| *b == b'['),
            Some(_) => Some(false),
        }
    }

    fn feed(&mut self, b: u8) {
        match &mut self.state {
            State::Pass { line_start } => {
                if *line_start && b == b'{' {
                    self.probe.clear();
                    self.probe.push(b);
                    self.state = State::Probe;
                    return;
                }
                *line_start = b == b'\n' || (*line_start && (b == b' ' || b == b'\t'));
                self.out.push(b);
            }
            State::Probe => {
                self.probe.push(b);
                match self.probe_verdict() {
                    Some(true) => {
                        self.probe.clear();
                        self.state = State::Array {
                            depth: 0,
                            in_str: false,
                            esc: false,
                            any: false,
                        };
                    }
                    Some(false) => self.flush_probe(),
                    None if self.probe.len() > MAX_PROBE => self.flush_probe(),
                    None => {}
                }
            }
            State::Array {
                depth,
                in_str,
                esc,
                any,
            } => {
                if *depth == 0 && !*in_str {
                    match b {
                        b',' | b' ' | b'\t' | b'\r' | b'\n' => {
                            if *any && b == b',' {
                                self.out.push(b'\n');
                                *any = false;
                            }
                            return;
                        }
                        b']' => {
                            if *any {
                                self.out.push(b'\n');
                            }
                            self.state = State::Tail {
                                depth: 1,
                                in_str: false,
                                esc: false,
                            };
                            return;
                        }
                        _ => {}
                    }
                }
                *any = true;
                let mut byte = b;
                if *in_str {
                    if *esc {
                        *esc = false;
                    } else if b == b'\\' {
                        *esc = true;
                    } else if b == b'"' {
                        *in_str = false;
                    }
                } else {
                    match b {
                        b'"' => *in_str = true,
                        b'{' | b'[' => *depth += 1,
                        b'}' | b']' => *depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                if b == b'\n' || b == b'\r' {
                    byte = b' ';
                }
                self.out.push(byte);
                if *depth == 0 && !*in_str && matches!(b, b'}' | b']') {
                    self.out.push(b'\n');
                    *any = false;
                }
            }
            State::Tail { depth, in_str, esc } => {
                if *in_str {
                    if *esc {
                        *esc = false;
                    } else if b == b'\\' {
                        *esc = true;
                    } else if b == b'"' {
                        *in_str = false;
                    }
                    return;
                }
                match b {
                    b'"' => *in_str = true,
                    b'{' | b'[' => *depth += 1,
                    b'}' | b']' => {
                        *depth = depth.saturating_sub(1);
                        if *depth == 0 {
                            // Another document may follow at once.
                            self.state = State::Pass { line_start: true };
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn flush_probe(&mut self) {
        let probe = std::mem::take(&mut self.probe);
        self.state = State::Pass { line_start: false };
        self.out.extend_from_slice(&probe);
        if let Some(nl) = probe.iter().rposition(|&b| b == b'\n') {
            let rest = &probe[nl + 1..];
            self.state = State::Pass {
                line_start: rest.iter().all(|b| *b == b' ' || *b == b'\t'),
            };
        }
        self.probe = probe;
        self.probe.clear();
    }
}

fn trim_start(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &p[n..]
}

impl<R: Read> Read for RecordsReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            if self.eof {
                return Ok(0);
            }
            let n = match self.inner.read(&mut self.input) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                if matches!(self.state, State::Probe) {
                    self.flush_probe();
                }
                continue;
            }
            let input = std::mem::take(&mut self.input);
            for &b in &input[..n] {
                self.feed(b);
            }
            self.input = input;
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

    fn lines(input: &str) -> String {
        let mut s = String::new();
        RecordsReader::new(input.as_bytes())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn splits_records_documents_and_passes_lines_through() {
        let doc = "{\n  \"Records\" : [\n  {\"a\": \"x}\\\"]\",\n \"b\": [1,2]},\n {\"c\":{}}\n ]\n}\n{\"eventName\":\"X\"}\n";
        assert_eq!(
            lines(doc),
            "{\"a\": \"x}\\\"]\",  \"b\": [1,2]}\n{\"c\":{}}\n\n{\"eventName\":\"X\"}\n"
        );
        assert_eq!(lines("{\"Records\":[]}{\"Records\":[{}]}"), "{}\n");
        assert_eq!(lines("not json\n{\"Rec"), "not json\n{\"Rec");
    }
}
