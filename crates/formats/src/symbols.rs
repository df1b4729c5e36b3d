//! The sending side of the symbol hand-over between threads: a decoding thread interns names in
//! its own table and hands over, with each batch, the names it saw first since the previous one.
//! The receiving side (in the runner) interns them in the engine's table and rewrites the events.

use reachwatch_model::{Interner, Sym};

/// Names a decoding table holds before it starts afresh.
pub const MAX_LOCAL_NAMES: usize = 1 << 17;

/// A decoding thread's symbol table and its hand-over: each batch carries the names first seen
/// since the previous one. Once the table holds [`MAX_LOCAL_NAMES`], it starts afresh after a
/// batch is sealed and the next batch says so ([`crate::lines::Batch::names_reset`]), so that
/// minted names cannot grow it without bound.
#[derive(Debug)]
pub struct NameTable {
    syms: Interner,
    sent: usize,
    reset: bool,
    max: usize,
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable::with_max(MAX_LOCAL_NAMES)
    }
}

impl NameTable {
    /// An empty table that starts afresh once it holds `max` names.
    pub fn with_max(max: usize) -> NameTable {
        NameTable {
            syms: Interner::exact_only(),
            sent: 0,
            reset: false,
            max,
        }
    }

    /// The table to intern decoded names in.
    pub fn syms_mut(&mut self) -> &mut Interner {
        &mut self.syms
    }

    /// The table.
    pub fn syms(&self) -> &Interner {
        &self.syms
    }

    /// Whether the table started afresh since the previous batch, and the names first seen
    /// since then (in symbol order), for the batch being sealed.
    pub fn take(&mut self) -> (bool, Vec<Box<str>>) {
        let names = take_new_names(&self.syms, &mut self.sent);
        let reset = std::mem::take(&mut self.reset);
        if self.syms.len() >= self.max {
            self.syms = Interner::exact_only();
            self.sent = 0;
            self.reset = true;
        }
        (reset, names)
    }

    /// Seals `batch`: its new names and whether the table started afresh before it.
    pub fn seal(&mut self, batch: &mut crate::lines::Batch) {
        (batch.names_reset, batch.new_names) = self.take();
    }
}

/// The names of `syms` interned since `*sent` (in symbol order); moves `*sent` to the end.
pub fn take_new_names(syms: &Interner, sent: &mut usize) -> Vec<Box<str>> {
    let names = (*sent..syms.len())
        .map(|i| syms.resolve(Sym::from_index(i)).into())
        .collect();
    *sent = syms.len();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_taken_once_in_symbol_order() {
        let mut syms = Interner::exact_only();
        let mut sent = 0;
        syms.intern(b"C17");
        syms.intern(b"10.0.0.5");
        assert_eq!(
            take_new_names(&syms, &mut sent),
            vec![Box::from("C17"), Box::from("10.0.0.5")]
        );
        assert!(take_new_names(&syms, &mut sent).is_empty());
        syms.intern(b"C17");
        syms.intern(b"C9");
        assert_eq!(take_new_names(&syms, &mut sent), vec![Box::from("C9")]);
    }

    #[test]
    fn a_full_table_starts_afresh_and_the_next_batch_says_so() {
        let mut t = NameTable::with_max(2);
        let a = t.syms_mut().intern(b"a");
        assert_eq!(t.take(), (false, vec![Box::from("a")]));
        t.syms_mut().intern(b"b");
        assert_eq!(
            t.take(),
            (false, vec![Box::from("b")]),
            "full after this batch"
        );
        assert_eq!(t.syms().len(), 0);
        let again = t.syms_mut().intern(b"a");
        assert_eq!(again, a, "numbering starts again");
        assert_eq!(t.take(), (true, vec![Box::from("a")]));
        assert_eq!(t.take(), (false, vec![]));
    }
}
