//! The original bytes of queued records, so that a record refused after it was decoded (late,
//! clock skew) reaches the dead-letter output as it arrived. A source hands each batch's records
//! over end to end in one buffer; the runner keeps the buffers of an input while any record of
//! them may still be refused, and frees them in order as the records leave.

use std::collections::VecDeque;

/// Where a record's bytes are: its batch's buffer and its range there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawRef {
    chunk: u64,
    start: u32,
    end: u32,
}

/// One input's buffers, oldest first.
#[derive(Debug, Default)]
pub struct Raws {
    next: u64,
    chunks: VecDeque<(u64, Vec<u8>)>,
}

impl Raws {
    /// Keeps a batch's buffer; `ends` are the end offsets of its records in it. Returns each
    /// record's place.
    pub fn add(&mut self, bytes: Vec<u8>, ends: &[u32]) -> Vec<RawRef> {
        let chunk = self.next;
        self.next += 1;
        if !bytes.is_empty() {
            self.chunks.push_back((chunk, bytes));
        }
        let starts = std::iter::once(0).chain(ends.iter().copied());
        starts
            .zip(ends.iter().copied())
            .map(|(start, end)| RawRef { chunk, start, end })
            .collect()
    }

    /// A record's bytes, while its buffer is kept.
    pub fn get(&self, r: RawRef) -> Option<&[u8]> {
        let (_, bytes) = self.chunks.iter().find(|(c, _)| *c == r.chunk)?;
        bytes.get(r.start as usize..r.end as usize)
    }

    /// Frees the buffers older than `r`'s (no record of them is held any more).
    pub fn release_before(&mut self, r: RawRef) {
        while self.chunks.front().is_some_and(|(c, _)| *c < r.chunk) {
            self.chunks.pop_front();
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|(_, b)| b.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_until_their_buffer_is_released() {
        let mut raws = Raws::default();
        let first = raws.add(b"aaabbbb".to_vec(), &[3, 7]);
        let second = raws.add(b"cc".to_vec(), &[2]);
        assert_eq!(raws.get(first[0]), Some(&b"aaa"[..]));
        assert_eq!(raws.get(first[1]), Some(&b"bbbb"[..]));
        assert_eq!(raws.get(second[0]), Some(&b"cc"[..]));
        raws.release_before(first[1]);
        assert_eq!(raws.get(first[1]), Some(&b"bbbb"[..]), "same buffer: kept");
        raws.release_before(second[0]);
        assert_eq!(raws.get(first[0]), None);
        assert_eq!(raws.bytes(), 2);
    }
}
