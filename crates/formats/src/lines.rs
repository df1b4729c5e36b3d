//! Reading line-oriented inputs fast: big reads, `memchr` line splitting, a guard against
//! over-long lines, and a background decoding thread that hands batches to the engine's thread.
//! Every decoder call is guarded ([`decode_guarded`]): a panic on one record is a dead letter
//! (`internal`), and the thread goes on with the next line.

use crate::norm::excerpt;
use crate::{
    decoder, DeadLetter, DecodeError, Format, LineDecoder, Reason, Skipped, Stream, MAX_LINE,
};
use memchr::memchr;
use reachwatch_model::{Event, Interner};
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
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

/// Decodes one line with `dec`, turning a panic inside the decoder into an `internal` error, so
/// that one record can never stop the reading of the records after it. The decoder and the
/// interner stay usable: decoders change their own state only by whole assignments of checked
/// values ([`LineDecoder`]), and the interner only grows (a name interned before the panic is kept
/// but no event refers to it).
pub fn decode_guarded(
    dec: &mut dyn LineDecoder,
    line: &[u8],
    syms: &mut Interner,
) -> Result<Option<Event>, DecodeError> {
    match panic::catch_unwind(AssertUnwindSafe(|| dec.decode(line, syms))) {
        Ok(decoded) => decoded,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            Err(DecodeError::new(
                Reason::Internal,
                format!("the decoder panicked: {}", excerpt(what, 200)),
            ))
        }
    }
}

/// Decoded events of one input, in input order, with what is needed to move them to another
/// thread's interner.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events with their 1-based line numbers (files) or offsets (Kafka). Symbols are local to
    /// the reading thread.
    pub events: Vec<(Event, u64)>,
    /// Per event, when its record was produced (Unix ms), for sources that know it; else empty.
    pub created: Vec<i64>,
    /// The events' original records end to end, so that one refused later (late, clock skew)
    /// reaches the dead-letter output as it arrived.
    pub raw: Vec<u8>,
    /// Per event, where its record ends in `raw` (empty when the source keeps no bytes).
    pub raw_ends: Vec<u32>,
    /// Names first interned by the reading thread since the previous batch, in symbol order.
    pub new_names: Vec<Box<str>>,
    /// Lines that could not be decoded.
    pub dead: Vec<DeadLetter>,
    /// Lines read so far, in total (files); the offset after the batch's last record (Kafka).
    pub lines: u64,
    /// Bytes read in this batch.
    pub bytes: u64,
    /// True on the last batch of an input read to its end.
    pub end: bool,
    /// Records of this batch that gave no event, by what they were.
    pub skipped: Skipped,
}

/// Events per batch handed between threads.
pub const BATCH: usize = 8192;
/// Dead letters per batch at most (each holds up to 4 KiB of its record), so that an input of
/// bad lines is handed over in bounded batches too.
const DEAD_BATCH: usize = 1024;
/// Bytes of original records per batch at most, so that long records keep batches bounded.
pub const RAW_BATCH: usize = 4 << 20;

impl Batch {
    /// Adds a decoded event with its position and original record.
    pub fn push_event(&mut self, event: Event, position: u64, record: &[u8]) {
        self.events.push((event, position));
        self.raw.extend_from_slice(record);
        self.raw_ends.push(self.raw.len() as u32);
    }

    /// True when the batch should be handed over.
    pub fn is_full(&self) -> bool {
        self.events.len() >= BATCH || self.dead.len() >= DEAD_BATCH || self.raw.len() >= RAW_BATCH
    }
}

/// The receiving end of a decoding thread ([`spawn_decoder`]): its batches in input order, ending
/// with the batch marked [`Batch::end`]. When the thread stopped before that (a read error, or the
/// thread died), the last item is an error, so that a dead thread never looks like the end of the
/// input.
pub struct Batches {
    rx: Receiver<io::Result<Batch>>,
    ended: bool,
}

impl Batches {
    /// The batches a decoding thread sends on `rx`; the thread marks its last batch
    /// [`Batch::end`].
    pub(crate) fn new(rx: Receiver<io::Result<Batch>>) -> Batches {
        Batches { rx, ended: false }
    }
}

impl Iterator for Batches {
    type Item = io::Result<Batch>;

    fn next(&mut self) -> Option<io::Result<Batch>> {
        if self.ended {
            return None;
        }
        let item = match self.rx.recv() {
            Ok(Ok(batch)) => {
                self.ended = batch.end;
                Ok(batch)
            }
            Ok(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            Err(_) => {
                self.ended = true;
                Err(io::Error::other(
                    "decoding stopped before the end of the input (the decoding thread died)",
                ))
            }
        };
        Some(item)
    }
}

/// Decodes `reader` on a background thread. Batches arrive in order on the returned [`Batches`],
/// which holds at most a few of them (back-pressure).
pub fn spawn_decoder(
    reader: Box<dyn Read + Send>,
    format: Format,
    stream: Stream,
    source: String,
) -> Batches {
    spawn(
        crate::reader_for(format, reader),
        decoder(format, stream),
        stream,
        source,
    )
}

/// [`spawn_decoder`] with a given reader (already wrapped) and decoder.
fn spawn(
    reader: Box<dyn Read + Send>,
    mut dec: Box<dyn LineDecoder>,
    stream: Stream,
    source: String,
) -> Batches {
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name(format!("decode-{}", stream.name()))
        .spawn(move || {
            let mut syms = Interner::exact_only();
            let mut sent_names = 0usize;
            let mut batch = Batch::default();
            let mut failed = false;
            let flush = |batch: &mut Batch,
                         syms: &Interner,
                         sent: &mut usize,
                         dec: &mut Box<dyn LineDecoder>| {
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
                } else {
                    match decode_guarded(dec.as_mut(), line, &mut syms) {
                        Ok(Some(ev)) => batch.push_event(ev, no, line),
                        Ok(None) => {}
                        Err(e) => batch.dead.push(DeadLetter::new(&source, no, e, line)),
                    }
                }
                if batch.is_full() {
                    let out = flush(&mut batch, &syms, &mut sent_names, &mut dec);
                    failed = tx.send(Ok(out)).is_err();
                }
            });
            match res {
                Ok(lines) => {
                    batch.lines = lines;
                    let mut out = flush(&mut batch, &syms, &mut sent_names, &mut dec);
                    out.end = true;
                    let _ = tx.send(Ok(out));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .expect("spawn decoder thread");
    Batches { rx, ended: false }
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
        let mut rx = spawn_decoder(
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
            Format::Lanl,
            Stream::Auth,
            "auth.txt".into(),
        );
        let batch = rx.next().unwrap().unwrap();
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
        assert!(batch.end, "the last batch is marked");
        assert!(rx.next().is_none());
    }

    /// Decodes LANL auth lines, but panics as a decoder with a bad string cut would on a line
    /// holding `€` (a byte-offset slice inside the character).
    struct Fragile;

    impl LineDecoder for Fragile {
        fn decode(
            &mut self,
            line: &[u8],
            syms: &mut Interner,
        ) -> Result<Option<Event>, DecodeError> {
            let text = String::from_utf8_lossy(line);
            if let Some(at) = text.find('€') {
                let _ = syms.intern(b"interned before the panic");
                let _cut = &text[..at + 1];
            }
            crate::lanl::AuthDecoder.decode(line, syms)
        }
    }

    fn lines_of(text: &str) -> Box<dyn Read + Send> {
        Box::new(io::Cursor::new(text.as_bytes().to_vec()))
    }

    #[test]
    fn a_panicking_decoder_is_a_dead_letter_and_decoding_goes_on() {
        let text = "1,A$@D,A$@D,A,B,Kerberos,Network,LogOn,Success\n\
                    2,A€$@D,A$@D,A,B,Kerberos,Network,LogOn,Success\n\
                    3,A$@D,A$@D,A,C,Kerberos,Network,LogOn,Success\n";
        let batches: Vec<Batch> =
            spawn(lines_of(text), Box::new(Fragile), Stream::Auth, "a".into())
                .collect::<io::Result<_>>()
                .unwrap();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        let lines: Vec<u64> = b.events.iter().map(|(_, no)| *no).collect();
        assert_eq!(lines, [1, 3]);
        assert_eq!(b.dead.len(), 1);
        assert_eq!((b.dead[0].line, b.dead[0].reason), (2, Reason::Internal));
        assert!(
            b.dead[0].detail.contains("is not a char boundary"),
            "{}",
            b.dead[0].detail
        );
        assert!(b.dead[0].raw.contains("A€$@D"));
        assert!(b.end);
        // The name interned before the panic was handed over too (the tables stay aligned).
        assert!(b
            .new_names
            .iter()
            .any(|n| &**n == "interned before the panic"));
    }

    #[test]
    fn a_guarded_decoder_keeps_its_header_state_after_a_panic() {
        struct Exploding(crate::zeek::Decoder);
        impl LineDecoder for Exploding {
            fn decode(
                &mut self,
                line: &[u8],
                syms: &mut Interner,
            ) -> Result<Option<Event>, DecodeError> {
                let out = self.0.decode(line, syms);
                assert!(!line.starts_with(b"boom"), "exploded");
                out
            }
        }
        let mut dec = Exploding(crate::zeek::Decoder::default());
        let mut syms = Interner::new();
        let header = b"#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p";
        assert_eq!(decode_guarded(&mut dec, header, &mut syms), Ok(None));
        let err = decode_guarded(&mut dec, b"boom", &mut syms).unwrap_err();
        assert_eq!(err.reason, Reason::Internal);
        assert!(err.detail.ends_with("exploded"), "{}", err.detail);
        let ok = decode_guarded(&mut dec, b"1\t10.0.0.1\t5000\t10.0.0.2\t445", &mut syms);
        assert!(matches!(ok, Ok(Some(Event::Flow(_)))), "{ok:?}");
    }

    /// A reader that fails the way a bug would: it panics on its second read.
    struct DiesOnSecondRead(u32);

    impl Read for DiesOnSecondRead {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0 += 1;
            assert!(self.0 < 2, "reader died");
            let line = b"1,A$@D,A$@D,A,B,Kerberos,Network,LogOn,Success\n";
            buf[..line.len()].copy_from_slice(line);
            Ok(line.len())
        }
    }

    #[test]
    fn a_dead_decoding_thread_is_an_error_not_the_end_of_input() {
        let mut rx = spawn(
            Box::new(DiesOnSecondRead(0)),
            Box::new(crate::lanl::AuthDecoder),
            Stream::Auth,
            "a".into(),
        );
        let err = rx.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("decoding thread died"), "{err}");
        assert!(rx.next().is_none());
    }

    #[test]
    fn bad_lines_are_handed_over_in_bounded_batches() {
        let text = "garbage\n".repeat(2500);
        let batches: Vec<Batch> =
            spawn_decoder(lines_of(&text), Format::Lanl, Stream::Auth, "a".into())
                .collect::<io::Result<_>>()
                .unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.dead.len()).collect();
        assert_eq!(sizes, [DEAD_BATCH, DEAD_BATCH, 2500 - 2 * DEAD_BATCH]);
        let ends: Vec<bool> = batches.iter().map(|b| b.end).collect();
        assert_eq!(ends, [false, false, true]);
    }
}
