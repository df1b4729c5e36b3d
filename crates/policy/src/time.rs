//! Times in evidence: seconds on the input's clock, relative (LANL-style, from time 0) or Unix
//! epoch seconds.

/// Inputs with times at or after this (2001-09-09) are on the Unix epoch; earlier ones count
/// from time 0.
const EPOCH_FROM: i64 = 1_000_000_000;

/// Seconds per day.
pub const DAY_SECONDS: i64 = 86_400;

/// A time for people: RFC 3339 for epoch times, `day D +HH:MM:SS` for relative ones.
pub fn describe(secs: i64) -> String {
    if secs >= EPOCH_FROM {
        return reachwatch_formats::native::format_rfc3339(secs.saturating_mul(1000));
    }
    let day = secs.div_euclid(DAY_SECONDS);
    let s = secs.rem_euclid(DAY_SECONDS);
    format!(
        "day {day} +{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A day index (event time divided by 24 h) for people: a date for epoch times.
pub fn describe_day(day: i64) -> String {
    let secs = day.saturating_mul(DAY_SECONDS);
    if secs >= EPOCH_FROM {
        return describe(secs)[..10].to_string();
    }
    format!("day {day}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_epoch_times() {
        assert_eq!(describe(86_400 * 3 + 3661), "day 3 +01:01:01");
        assert_eq!(describe(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(describe_day(2), "day 2");
        assert_eq!(describe_day(19_675), "2023-11-14");
    }
}
