//! Reading line-oriented inputs fast: big reads, `memchr` line splitting, a guard against
//! over-long lines, and a background decoding thread that hands batches to the engine's thread.

use crate::{decoder, DeadLetter, DecodeError, Format, Reason, Skipped, Stream, MAX_LINE};
use memchr::memchr;
use reachwatch_model::{Event, Interner};
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};

const READ_SIZE: usize = 4 << 20;

/// Calls `f(line_number, line, too_long)` for every line of `reader` (1-based, without the
/// newline). For a line longer than [`MAX_LINE`], `too_long` is true and `line` is a prefix.
pub fn for_each_line(
    mut reader: impl Read,
    mut f: impl FnMut(u64, &[u8], bool),
) -> io::Result<u64> {
    let mut buf = vec![0u8; READ_SIZE + MAX_LINE];
    let mut len = 0;
    let mut line_no = 0u64;
    let mut skipping = false;
    loop {
        let n = match reader.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let eof = n == 0;
        len += n;
        let mut start = 0;
        while let Some(nl) = memchr(b'\n', &buf[start..len]) {
            let line = &buf[start..start + nl];
            if skipping {
                skipping = false;
            } else {
                line_no += 1;
                f(line_no, line, line.len() > MAX_LINE);
            }
            start += nl + 1;
        }
        let rest = len - start;
        if eof {
            if rest > 0 && !skipping {
                line_no += 1;
                let line = &buf[start..len];
                f(line_no, line, line.len() > MAX_LINE);
            }
            return Ok(line_no);
        }
        if rest > MAX_LINE && !skipping {
            line_no += 1;
            f(line_no, &buf[start..len], true);
            skipping = true;
        }
        if skipping {
            len = 0;
        } else {
            buf.copy_within(start..len, 0);
            len = rest;
        }
    }
}

/// Decoded events of one input, in input order, with what is needed to move them to another
/// thread's interner.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events with their 1-based line numbers. Symbols are local to the reading thread.
    pub events: Vec<(Event, u64)>,
    /// Names first interned by the reading thread since the previous batch, in symbol order.
    pub new_names: Vec<Box<str>>,
    /// Lines that could not be decoded.
    pub dead: Vec<DeadLetter>,
    /// Lines read so far, in total.
    pub lines: u64,
    /// Bytes read in this batch.
    pub bytes: u64,
    /// Records of this batch that gave no event, by what they were.
    pub skipped: Skipped,
}

/// Events per batch handed between threads.
pub const BATCH: usize = 8192;

/// Decodes `reader` on a background thread. Batches arrive in order on the returned channel, which
/// holds at most a few batches (back-pressure); the last message is the final result.
pub fn spawn_decoder(
    reader: Box<dyn Read + Send>,
    format: Format,
    stream: Stream,
    source: String,
) -> Receiver<io::Result<Batch>> {
    let (tx, rx) = sync_channel(4);
    let reader = crate::reader_for(format, reader);
    std::thread::Builder::new()
        .name(format!("decode-{}", stream.name()))
        .spawn(move || {
            let mut dec = decoder(format, stream);
            let mut syms = Interner::exact_only();
            let mut sent_names = 0usize;
            let mut batch = Batch::default();
            let mut failed = false;
            let flush = |batch: &mut Batch,
                         syms: &Interner,
                         sent: &mut usize,
                         dec: &mut Box<dyn crate::LineDecoder>| {
                let mut out = std::mem::take(batch);
                out.new_names = crate::symbols::take_new_names(syms, sent);
                out.skipped = dec.take_skipped();
                out
            };
            let res = for_each_line(reader, |no, line, too_long| {
                if failed {
                    return;
                }
                batch.bytes += line.len() as u64 + 1;
                batch.lines = no;
                if too_long {
                    let err = DecodeError::new(
                        Reason::TooLong,
                        format!("line is longer than {MAX_LINE} bytes"),
                    );
                    batch.dead.push(DeadLetter::new(&source, no, err, line));
                    return;
                }
                match dec.decode(line, &mut syms) {
                    Ok(Some(ev)) => batch.events.push((ev, no)),
                    Ok(None) => {}
                    Err(e) => batch.dead.push(DeadLetter::new(&source, no, e, line)),
                }
                if batch.events.len() >= BATCH {
                    let out = flush(&mut batch, &syms, &mut sent_names, &mut dec);
                    failed = tx.send(Ok(out)).is_err();
                }
            });
            match res {
                Ok(lines) => {
                    batch.lines = lines;
                    let out = flush(&mut batch, &syms, &mut sent_names, &mut dec);
                    let _ = tx.send(Ok(out));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .expect("spawn decoder thread");
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_guards_long_ones() {
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!("a\nbb\n{long}\nccc\nlast");
        let mut seen = vec![];
        let mut long_seen = vec![];
        let n = for_each_line(text.as_bytes(), |no, l, long| {
            if long {
                long_seen.push((no, l.len()))
            } else {
                seen.push((no, String::from_utf8(l.to_vec()).unwrap()))
            }
        })
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(
            seen,
            vec![
                (1, "a".into()),
                (2, "bb".into()),
                (4, "ccc".into()),
                (5, "last".into())
            ]
        );
        assert_eq!(long_seen.len(), 1);
        assert_eq!(long_seen[0].0, 3);
    }

    #[test]
    fn a_line_longer_than_the_read_buffer_is_skipped_whole() {
        let huge = "y".repeat(READ_SIZE * 2 + 5);
        let text = format!("a\n{huge}\nb\n");
        let mut seen = vec![];
        let mut long_lines = vec![];
        for_each_line(text.as_bytes(), |no, l, long| {
            if long {
                long_lines.push(no)
            } else {
                seen.push((no, l.to_vec()))
            }
        })
        .unwrap();
        assert_eq!(seen, vec![(1, b"a".to_vec()), (3, b"b".to_vec())]);
        assert_eq!(long_lines, vec![2]);
    }

    #[test]
    fn decoder_thread_sends_names_and_dead_letters() {
        let text = "1,A$@D,A$@D,A,B,Kerberos,Network,LogOn,Success\nbad\n2,A$@D,A$@D,A,C,Kerberos,Network,LogOn,Success\n";
        let rx = spawn_decoder(
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
            Format::Lanl,
            Stream::Auth,
            "auth.txt".into(),
        );
        let batch = rx.recv().unwrap().unwrap();
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[1].1, 3);
        assert_eq!(
            &*batch.new_names,
            &["A$@D".into(), "B".into(), "A".into(), "C".into()] as &[Box<str>]
        );
        assert_eq!(batch.dead.len(), 1);
        assert_eq!(batch.dead[0].line, 2);
        assert_eq!(batch.dead[0].reason, Reason::Malformed);
        assert_eq!(batch.lines, 3);
    }
}
