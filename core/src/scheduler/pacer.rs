//! `maxrate`'s pacer: when the next call may start so that no one-second window holds more than the
//! rate. Pure arithmetic over monotonic instants; the scheduler asks it and records each start.

use std::collections::VecDeque;

/// `maxrate`: starts are spread evenly, one slot every 1/rate, and no window of one second (plus a margin
/// for the few milliseconds between our start and the channel's creation) ever holds more than `rate`
/// starts. Monotonic, full precision: whole milliseconds let a 51st start into a second at 50/s.
///
/// The slots run on their own even timeline, not from the last actual start: the scheduler wakes a little
/// after a slot (its timer counts whole milliseconds), and spacing from the late start would lose that
/// lag at every start (at 1,000/s, 600 starts a second). A start that comes late lets the next ones follow
/// sooner until the timeline is caught up, by at most [`CATCH_UP`], so a pause never turns into a burst;
/// the one-second window still bounds every second.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    recent: VecDeque<std::time::Instant>,
    /// The next slot of the even timeline.
    next_slot: Option<std::time::Instant>,
}

const PACER_WINDOW: std::time::Duration = std::time::Duration::from_millis(1010);
/// How far behind its timeline the pacer lets starts catch up.
const CATCH_UP: std::time::Duration = std::time::Duration::from_millis(50);

impl Pacer {
    /// How long to wait before the next start may happen, if at all.
    pub(super) fn wait(&self, rate: f64, now: std::time::Instant) -> Option<std::time::Duration> {
        let mut ready_at = self.next_slot;
        let window_limit = rate.floor() as usize;
        if window_limit >= 1 && self.recent.len() >= window_limit {
            let oldest_in_window = self.recent[self.recent.len() - window_limit];
            let window_free = oldest_in_window + PACER_WINDOW;
            ready_at = Some(ready_at.map_or(window_free, |at| at.max(window_free)));
        }
        ready_at.filter(|at| *at > now).map(|at| at - now)
    }

    /// Records a start at `at` under `rate`: the next slot is one spacing after this start's slot (the
    /// timeline's, or `at` less [`CATCH_UP`] when it fell further behind).
    pub(super) fn started(&mut self, at: std::time::Instant, rate: f64) {
        let spacing = std::time::Duration::from_secs_f64(1.0 / rate);
        let earliest = at.checked_sub(CATCH_UP).unwrap_or(at);
        let slot = self.next_slot.map_or(at, |slot| slot.max(earliest));
        self.next_slot = Some(slot + spacing);
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
                    pacer.started(now, 50.0);
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

    /// The scheduler's timer wakes whole milliseconds late: at 1,000/s every wake-up is late, and the pacer
    /// must still reach its rate (it reached 600/s while it spaced starts from the last actual one), never
    /// with more than `rate` starts in a second, and without a burst after a pause.
    #[test]
    fn a_scheduler_that_wakes_late_still_starts_at_the_rate_and_never_above_it() {
        for rate in [1000.0, 50.0] {
            let mut pacer = Pacer::default();
            let t0 = std::time::Instant::now();
            let mut now = t0;
            let mut starts = Vec::new();
            while now < t0 + Duration::from_secs(5) {
                match pacer.wait(rate, now) {
                    None => {
                        pacer.started(now, rate);
                        starts.push(now);
                        // Each start costs the scheduler a little.
                        now += Duration::from_micros(50);
                    }
                    // A wait rounded up to whole milliseconds, plus the wake-up's own lateness.
                    Some(wait) => now += Duration::from_millis(wait.as_micros().div_ceil(1000) as u64 + 1),
                }
            }
            for (i, start) in starts.iter().enumerate() {
                let in_window = starts[i..].iter().take_while(|s| **s - *start <= Duration::from_secs(1)).count();
                assert!(in_window as f64 <= rate, "{rate}/s: {in_window} starts within one second");
            }
            let achieved = starts.len() as f64 / 5.0;
            assert!(achieved >= rate * 0.95, "{rate}/s: only {achieved}/s");
            // After a pause of a second, at most CATCH_UP's worth of starts come at once.
            let resumed = *starts.last().unwrap() + Duration::from_secs(1);
            let mut burst = 0;
            while pacer.wait(rate, resumed).is_none() && burst < 1_000 {
                pacer.started(resumed, rate);
                burst += 1;
            }
            assert!(
                burst as f64 <= 1.0 + CATCH_UP.as_secs_f64() * rate,
                "{rate}/s: {burst} starts at once after a pause"
            );
        }
    }
}
