//! The sending side of the symbol hand-over between threads: a decoding thread interns names in
//! its own table and hands over, with each batch, the names it saw first since the previous one.
//! The receiving side (in the runner) interns them in the engine's table and rewrites the events.

use reachwatch_model::{Interner, Sym};

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
}
