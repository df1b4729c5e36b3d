//! Event time. Every time inside reachwatch is event time in milliseconds; the wall clock is never read.

/// Event time in milliseconds since the input's epoch (the Unix epoch for absolute formats, the start
/// of the data set for LANL's relative seconds).
pub type Ts = i64;

/// Milliseconds in one second.
pub const SECOND: Ts = 1_000;
/// Milliseconds in one minute.
pub const MINUTE: Ts = 60 * SECOND;
/// Milliseconds in one hour.
pub const HOUR: Ts = 60 * MINUTE;
/// Milliseconds in one day.
pub const DAY: Ts = 24 * HOUR;

/// Whole seconds of an event time (rounded towards negative infinity).
pub fn secs(ts: Ts) -> i64 {
    ts.div_euclid(SECOND)
}
