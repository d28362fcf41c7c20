//! Summaries of timed rounds, as every side-by-side measurement here reports them: the median
//! and the slowest round.

use std::time::Duration;

/// The median of `times` (the upper one of an even count); zero when there are none.
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// The slowest of `times`; zero when there are none.
pub fn max(times: &[Duration]) -> Duration {
    times.iter().copied().max().unwrap_or_default()
}

/// The median and the slowest of `times`.
pub fn median_max(times: &[Duration]) -> (Duration, Duration) {
    (median(times), max(times))
}
