//! `maxrate`'s pacer: when the next call may start so that no one-second window holds more than the
//! rate. Pure arithmetic over monotonic instants; the scheduler asks it and records each start.

use std::collections::VecDeque;

/// `maxrate`: starts are spread evenly (at least 1/rate apart), and no window of one second (plus a margin
/// for the few milliseconds between our start and the channel's creation) ever holds more than `rate`
/// starts. Monotonic, full precision: whole milliseconds let a 51st start into a second at 50/s.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    recent: VecDeque<std::time::Instant>,
}

const PACER_WINDOW: std::time::Duration = std::time::Duration::from_millis(1010);

impl Pacer {
    /// How long to wait before the next start may happen, if at all.
    pub(super) fn wait(&self, rate: f64, now: std::time::Instant) -> Option<std::time::Duration> {
        let spacing = std::time::Duration::from_secs_f64(1.0 / rate);
        let mut ready_at = self.recent.back().map(|last| *last + spacing);
        let window_limit = rate.floor() as usize;
        if window_limit >= 1 && self.recent.len() >= window_limit {
            let oldest_in_window = self.recent[self.recent.len() - window_limit];
            let window_free = oldest_in_window + PACER_WINDOW;
            ready_at = Some(ready_at.map_or(window_free, |at| at.max(window_free)));
        }
        ready_at.filter(|at| *at > now).map(|at| at - now)
    }

    pub(super) fn started(&mut self, at: std::time::Instant) {
        self.recent.push_back(at);
        while self.recent.len() > 100_000 || self.recent.front().is_some_and(|first| at - *first > PACER_WINDOW * 2) {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pacer_never_lets_more_than_rate_starts_into_any_second() {
        let mut pacer = Pacer::default();
        let t0 = std::time::Instant::now();
        let mut now = t0;
        let mut starts = Vec::new();
        while now < t0 + Duration::from_secs(5) {
            match pacer.wait(50.0, now) {
                None => {
                    pacer.started(now);
                    starts.push(now);
                }
                Some(wait) => now += wait,
            }
        }
        for (i, start) in starts.iter().enumerate() {
            let in_window = starts[i..].iter().take_while(|s| **s - *start <= Duration::from_secs(1)).count();
            assert!(in_window <= 50, "{in_window} starts within one second");
        }
        assert!(starts.len() >= 240, "pacing much slower than 50/s: {}", starts.len());
    }
}
