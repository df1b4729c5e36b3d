//! Learned structure on small hand-built graphs with known answers.
