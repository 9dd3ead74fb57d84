//! The spool's metrics for Prometheus (`asterisk_spool_...`), as res_prometheus serves them: the
//! counters and histograms the workers and the scheduler add to ([`Tallies`], kept in
//! [`Stats`](crate::attempt::Stats)), and the text exposition format rendered from them and from a
//! scheduler [`Snapshot`] ([`render`]). Pure logic: no FFI, no I/O, no clock. How the module hands the
//! text to res_prometheus is `src/asterisk/prometheus.rs`'s business.
//!
//! Names and labels follow Prometheus's conventions and res_prometheus's own metrics: counters end in
//! `_total`, durations are histograms in seconds, `campaign` names the campaign (empty for files in
//! none), `node` this server on a shared spool (`shared = yes`; absent otherwise).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::scheduler::Snapshot;

/// The upper bounds (seconds) of the dial-latency histogram's buckets: from a file being due to its call
/// starting, normally milliseconds, seconds behind `maxcalls`/`maxrate`.
pub const DIAL_LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The upper bounds (seconds) of the scan-duration histogram's buckets: reading outgoing/ whole.
pub const SCAN_DURATION_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// A histogram's counts: one per bucket (not cumulative; [`render`] adds them up), the sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(slot) = self.bounds.iter().position(|&bound| seconds <= bound) {
            self.counts[slot] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// What is counted for the metrics, by label values.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// Attempts (calls started) by campaign ("" for none).
    pub attempts: BTreeMap<String, u64>,
    /// Finished files by (campaign, outcome): the outcome in lower case, as the finish names it.
    pub finished: BTreeMap<(String, String), u64>,
    /// Files refused before any attempt, by the rule that refused them.
    pub refusals: BTreeMap<String, u64>,
    /// The same refusals by campaign ("" for none), for `spool show campaign`.
    pub refusals_by_campaign: BTreeMap<String, u64>,
    /// Scans of outgoing/ begun, by reason ("inotify overflow", "periodic", ...).
    pub rescans: BTreeMap<String, u64>,
    pub inotify_overflows: u64,
    /// From a file being due (its arrival, for a file already due when it comes) to its call starting.
    pub dial_latency: Histogram,
    /// Scans of outgoing/ read to the end.
    pub scan_duration: Histogram,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            attempts: BTreeMap::new(),
            finished: BTreeMap::new(),
            refusals: BTreeMap::new(),
            refusals_by_campaign: BTreeMap::new(),
            rescans: BTreeMap::new(),
            inotify_overflows: 0,
            dial_latency: Histogram::new(DIAL_LATENCY_BUCKETS),
            scan_duration: Histogram::new(SCAN_DURATION_BUCKETS),
        }
    }
}

/// [`Counts`] shared by the workers, the scheduler and the scrape: each update holds the lock for a map
/// insert, never across I/O.
#[derive(Debug, Default)]
pub struct Tallies {
    counts: Mutex<Counts>,
    /// The counts at the last `spool reset stats`, and when (ms on the wall clock).
    baseline: Mutex<Option<(Counts, crate::bookkeeping::Millis)>>,
}

impl Tallies {
    fn update(&self, change: impl FnOnce(&mut Counts)) {
        change(&mut self.counts.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn attempt(&self, campaign: Option<&str>) {
        self.update(|c| *c.attempts.entry(campaign.unwrap_or_default().to_string()).or_default() += 1);
    }

    /// A finished file; `outcome` is the finish's own word for it (any case).
    pub fn finished(&self, campaign: Option<&str>, outcome: &str) {
        let key = (campaign.unwrap_or_default().to_string(), outcome.to_ascii_lowercase());
        self.update(|c| *c.finished.entry(key).or_default() += 1);
    }

    pub fn refused(&self, campaign: Option<&str>, rule: &str) {
        self.update(|c| {
            *c.refusals.entry(rule.to_string()).or_default() += 1;
            *c.refusals_by_campaign.entry(campaign.unwrap_or_default().to_string()).or_default() += 1;
        });
    }

    pub fn rescan(&self, reason: &str) {
        self.update(|c| *c.rescans.entry(reason.to_string()).or_default() += 1);
    }

    pub fn inotify_overflow(&self) {
        self.update(|c| c.inotify_overflows += 1);
    }

    pub fn dial_latency(&self, latency: Duration) {
        self.update(|c| c.dial_latency.observe(latency));
    }

    pub fn scan_duration(&self, duration: Duration) {
        self.update(|c| c.scan_duration.observe(duration));
    }

    /// A copy of the counts, for one scrape.
    pub fn counts(&self) -> Counts {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `spool reset stats`: remembers the counts now, from which "since reset" figures count. The
    /// metrics (counters since load) are not touched.
    pub fn reset(&self, now: crate::bookkeeping::Millis) {
        let counts = self.counts();
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = Some((counts, now));
    }

    /// The counts at the last reset, and when it was.
    pub fn baseline(&self) -> Option<(Counts, crate::bookkeeping::Millis)> {
        self.baseline.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One campaign's counts (`spool show campaign`, `SpoolCampaign`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignCounts {
    pub attempts: u64,
    /// Finished files by outcome (lower case, as the finish names it).
    pub outcomes: BTreeMap<String, u64>,
    pub refusals: u64,
}

impl CampaignCounts {
    /// Campaign `name`'s counts in `counts` (names compare without case, as campaigns do).
    pub fn of(counts: &Counts, name: &str) -> Self {
        let same = |campaign: &str| campaign.eq_ignore_ascii_case(name);
        let mut outcomes = BTreeMap::new();
        for ((campaign, outcome), value) in &counts.finished {
            if same(campaign) {
                *outcomes.entry(outcome.clone()).or_default() += value;
            }
        }
        CampaignCounts {
            attempts: counts.attempts.iter().filter(|(c, _)| same(c)).map(|(_, v)| v).sum(),
            outcomes,
            refusals: counts.refusals_by_campaign.iter().filter(|(c, _)| same(c)).map(|(_, v)| v).sum(),
        }
    }

    /// What was counted after `earlier` (the counts at a reset).
    pub fn since(&self, earlier: &CampaignCounts) -> Self {
        let outcomes = self
            .outcomes
            .iter()
            .map(|(outcome, value)| {
                (outcome.clone(), value.saturating_sub(earlier.outcomes.get(outcome).copied().unwrap_or(0)))
            })
            .filter(|(_, value)| *value > 0)
            .collect();
        CampaignCounts {
            attempts: self.attempts.saturating_sub(earlier.attempts),
            outcomes,
            refusals: self.refusals.saturating_sub(earlier.refusals),
        }
    }

    /// Files finished as answered (`completed`).
    pub fn answered(&self) -> u64 {
        self.outcomes.get("completed").copied().unwrap_or(0)
    }

    /// Answered calls per attempt, in percent; `None` before any attempt.
    pub fn answer_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.answered() as f64 * 100.0 / self.attempts as f64)
    }
}

/// Everything one scrape renders.
pub struct Scrape<'a> {
    /// The scheduler's state, or `None` if it did not answer in time (the gauges are left out then).
    pub snapshot: Option<&'a Snapshot>,
    pub counts: &'a Counts,
    /// Due files another server had claimed first (shared spool).
    pub claims_lost: u64,
    /// This server's node name on a shared spool.
    pub node: Option<&'a str>,
}

/// A label value or a HELP text escaped as the exposition format wants: backslash, newline and (in
/// label values) the double quote.
fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// The exposition text, one metric family after another.
struct Exposition {
    out: String,
    /// Labels every sample carries (`node` on a shared spool).
    common: Vec<(&'static str, String)>,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let all: Vec<String> = labels
            .iter()
            .map(|(key, value)| (*key, *value))
            .chain(self.common.iter().map(|(key, value)| (*key, value.as_str())))
            .map(|(key, value)| format!("{key}=\"{}\"", escape(value, true)))
            .collect();
        if all.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", all.join(","));
        }
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, "histogram", help);
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count;
            self.sample(&format!("{name}_bucket"), &[("le", &bound.to_string())], cumulative);
        }
        self.sample(&format!("{name}_bucket"), &[("le", "+Inf")], histogram.count);
        self.sample(&format!("{name}_sum"), &[], histogram.sum);
        self.sample(&format!("{name}_count"), &[], histogram.count);
    }
}

/// The gauges per campaign: name, HELP, the campaign's figure, and the total (all files) from the snapshot.
type CampaignGauge =
    (&'static str, &'static str, fn(&crate::scheduler::CampaignFigures) -> usize, fn(&Snapshot) -> usize);

const CAMPAIGN_GAUGES: &[CampaignGauge] = &[
    (
        "asterisk_spool_files_queued",
        "Call files waiting for their time (first attempt or a retry).",
        |c| c.queued,
        |s| s.queued + s.waiting_retry,
    ),
    (
        "asterisk_spool_files_due",
        "Call files due and held back by maxcalls/maxrate, or while pbx_spool.so is loaded.",
        |c| c.held,
        |s| s.held + s.due_suspended,
    ),
    (
        "asterisk_spool_calls_in_flight",
        "Calls placed from the spool and still in progress.",
        |c| c.in_progress,
        |s| s.in_progress,
    ),
    (
        "asterisk_spool_files_waiting_window",
        "Call files due and waiting for their campaign's calling window to open.",
        |c| c.waiting_window,
        |s| s.waiting_window,
    ),
    (
        "asterisk_spool_files_paused",
        "Call files due and waiting for their campaign to be resumed.",
        |c| c.waiting_paused,
        |s| s.waiting_paused,
    ),
];

/// A gauge with no campaign figure: name, HELP, the value.
type SpoolGauge = (&'static str, &'static str, fn(&Snapshot) -> usize);

const SPOOL_GAUGES: &[SpoolGauge] = &[
    (
        "asterisk_spool_files_parked",
        "Call files left for the admin (unreadable, not writable, not a regular file).",
        |s| s.parked,
    ),
    ("asterisk_spool_files_kept", "Finished call files kept in outgoing/ by AlwaysDelete: no until their date.", |s| {
        s.kept
    }),
    ("asterisk_spool_files_being_written", "Call files created in place and still being written.", |s| s.being_written),
    ("asterisk_spool_worker_threads", "Threads in the spool's worker pool.", |s| s.workers),
];

/// The Prometheus text exposition of one scrape.
pub fn render(scrape: &Scrape<'_>) -> String {
    let mut out = Exposition {
        out: String::new(),
        common: scrape.node.map(|node| ("node", node.to_string())).into_iter().collect(),
    };
    out.family(
        "asterisk_spool_scheduler_up",
        "gauge",
        "1 if the spool scheduler answered this scrape, 0 if not (the gauges of files are then left out).",
    );
    out.sample("asterisk_spool_scheduler_up", &[], u8::from(scrape.snapshot.is_some()));
    if let Some(snapshot) = scrape.snapshot {
        for (name, help, of_campaign, total) in CAMPAIGN_GAUGES {
            out.family(name, "gauge", help);
            let mut in_campaigns = 0;
            for campaign in &snapshot.campaigns {
                in_campaigns += of_campaign(campaign);
                out.sample(name, &[("campaign", &campaign.name)], of_campaign(campaign));
            }
            out.sample(name, &[("campaign", "")], total(snapshot).saturating_sub(in_campaigns));
        }
        out.family("asterisk_spool_campaign_paused", "gauge", "1 if the campaign is paused (spool pause), 0 if not.");
        for campaign in &snapshot.campaigns {
            out.sample("asterisk_spool_campaign_paused", &[("campaign", &campaign.name)], u8::from(campaign.paused));
        }
        for (name, help, value) in SPOOL_GAUGES {
            out.family(name, "gauge", help);
            out.sample(name, &[], value(snapshot));
        }
    }
    let counts = scrape.counts;
    out.family("asterisk_spool_attempts_total", "counter", "Call attempts started from the spool, since load.");
    for (campaign, value) in &counts.attempts {
        out.sample("asterisk_spool_attempts_total", &[("campaign", campaign)], value);
    }
    out.family("asterisk_spool_finished_total", "counter", "Call files finished, by campaign and outcome, since load.");
    for ((campaign, outcome), value) in &counts.finished {
        out.sample("asterisk_spool_finished_total", &[("campaign", campaign), ("outcome", outcome)], value);
    }
    out.family(
        "asterisk_spool_refusals_total",
        "counter",
        "Call files refused before any attempt, by the rule that refused them, since load.",
    );
    for (rule, value) in &counts.refusals {
        out.sample("asterisk_spool_refusals_total", &[("rule", rule)], value);
    }
    out.family(
        "asterisk_spool_claims_lost_total",
        "counter",
        "Due call files another server of a shared spool had claimed first, since load.",
    );
    out.sample("asterisk_spool_claims_lost_total", &[], scrape.claims_lost);
    out.family("asterisk_spool_inotify_overflows_total", "counter", "inotify queue overflows (each starts a rescan).");
    out.sample("asterisk_spool_inotify_overflows_total", &[], counts.inotify_overflows);
    out.family("asterisk_spool_rescans_total", "counter", "Scans of outgoing/ begun, by reason, since load.");
    for (reason, value) in &counts.rescans {
        out.sample("asterisk_spool_rescans_total", &[("reason", reason)], value);
    }
    out.histogram(
        "asterisk_spool_dial_latency_seconds",
        "Seconds from a call file being due (its arrival, when it comes already due) to the start of its call.",
        &counts.dial_latency,
    );
    out.histogram(
        "asterisk_spool_scan_duration_seconds",
        "Seconds to read outgoing/ whole in a scan.",
        &counts.scan_duration,
    );
    out.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::CampaignFigures;

    fn lines_of(text: &str, name: &str) -> Vec<String> {
        text.lines().filter(|line| line.starts_with(name)).map(str::to_owned).collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape("a\\b\"c\nd", true), "a\\\\b\\\"c\\nd");
        assert_eq!(escape("say \"hi\"\n", false), "say \"hi\"\\n");
    }

    #[test]
    fn every_family_has_help_and_type_once_before_its_samples() {
        let counts = Counts::default();
        let snapshot = Snapshot::default();
        let text = render(&Scrape { snapshot: Some(&snapshot), counts: &counts, claims_lost: 0, node: None });
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(name.clone()), "{name} declared twice");
                current = name;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split(' ');
                assert_eq!(words.next(), Some(current.as_str()), "TYPE follows its HELP");
                assert!(matches!(words.next(), Some("gauge" | "counter" | "histogram")));
            } else {
                let sample = line.split(['{', ' ']).next().unwrap();
                assert!(sample.starts_with(current.as_str()), "{line} outside its family {current}");
                assert!(sample.starts_with("asterisk_spool_"), "{line}");
            }
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
        let tallies = Tallies::default();
        for ms in [3, 7, 7, 200, 90_000] {
            tallies.dial_latency(Duration::from_millis(ms));
        }
        let counts = tallies.counts();
        let text = render(&Scrape { snapshot: None, counts: &counts, claims_lost: 0, node: None });
        let buckets = lines_of(&text, "asterisk_spool_dial_latency_seconds_bucket");
        assert_eq!(buckets[0], "asterisk_spool_dial_latency_seconds_bucket{le=\"0.005\"} 1");
        assert_eq!(buckets[1], "asterisk_spool_dial_latency_seconds_bucket{le=\"0.01\"} 3");
        assert!(buckets.contains(&"asterisk_spool_dial_latency_seconds_bucket{le=\"0.25\"} 4".to_string()));
        assert_eq!(buckets.last().unwrap(), "asterisk_spool_dial_latency_seconds_bucket{le=\"+Inf\"} 5");
        assert_eq!(buckets.len(), DIAL_LATENCY_BUCKETS.len() + 1);
        assert_eq!(
            lines_of(&text, "asterisk_spool_dial_latency_seconds_count"),
            ["asterisk_spool_dial_latency_seconds_count 5"]
        );
        let sum = lines_of(&text, "asterisk_spool_dial_latency_seconds_sum");
        let sum: f64 = sum[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((sum - 90.217).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn counters_carry_campaign_outcome_rule_and_the_node() {
        let tallies = Tallies::default();
        tallies.attempt(Some("sales"));
        tallies.attempt(None);
        tallies.finished(Some("sales"), "Completed");
        tallies.finished(Some("sales"), "Completed");
        tallies.finished(None, "Rejected");
        tallies.refused(None, "application");
        tallies.rescan("inotify overflow");
        tallies.inotify_overflow();
        let counts = tallies.counts();
        let text = render(&Scrape { snapshot: None, counts: &counts, claims_lost: 4, node: Some("pbx\"1") });
        assert_eq!(
            lines_of(&text, "asterisk_spool_finished_total{"),
            [
                "asterisk_spool_finished_total{campaign=\"\",outcome=\"rejected\",node=\"pbx\\\"1\"} 1",
                "asterisk_spool_finished_total{campaign=\"sales\",outcome=\"completed\",node=\"pbx\\\"1\"} 2",
            ]
        );
        assert!(text.contains("asterisk_spool_attempts_total{campaign=\"sales\",node=\"pbx\\\"1\"} 1\n"));
        assert!(text.contains("asterisk_spool_refusals_total{rule=\"application\",node=\"pbx\\\"1\"} 1\n"));
        assert!(text.contains("asterisk_spool_claims_lost_total{node=\"pbx\\\"1\"} 4\n"));
        assert!(text.contains("asterisk_spool_inotify_overflows_total{node=\"pbx\\\"1\"} 1\n"));
        assert!(text.contains("asterisk_spool_rescans_total{reason=\"inotify overflow\",node=\"pbx\\\"1\"} 1\n"));
        assert!(text.contains("asterisk_spool_scheduler_up{node=\"pbx\\\"1\"} 0\n"));
        assert!(!text.contains("asterisk_spool_files_queued"), "no gauges without a snapshot");
    }

    #[test]
    fn campaign_counts_are_taken_by_name_and_counted_again_from_a_reset() {
        let tallies = Tallies::default();
        for outcome in ["Completed", "Completed", "Expired"] {
            tallies.attempt(Some("Sales"));
            tallies.finished(Some("Sales"), outcome);
        }
        tallies.refused(Some("sales"), "application");
        tallies.attempt(None);
        let before = CampaignCounts::of(&tallies.counts(), "sales");
        assert_eq!((before.attempts, before.answered(), before.refusals), (3, 2, 1));
        assert_eq!(before.outcomes.get("expired"), Some(&1));
        assert!((before.answer_rate().unwrap() - 66.666).abs() < 0.01);
        tallies.reset(1_000);
        tallies.attempt(Some("sales"));
        tallies.finished(Some("sales"), "Expired");
        let (baseline, at) = tallies.baseline().unwrap();
        assert_eq!(at, 1_000);
        let now = CampaignCounts::of(&tallies.counts(), "sales");
        let since = now.since(&CampaignCounts::of(&baseline, "sales"));
        assert_eq!((since.attempts, since.answered(), since.refusals), (1, 0, 0));
        assert_eq!(since.outcomes.into_iter().collect::<Vec<_>>(), [("expired".to_string(), 1)]);
        assert_eq!(CampaignCounts::default().answer_rate(), None);
    }

    #[test]
    fn gauges_split_by_campaign_with_the_rest_under_an_empty_campaign() {
        let campaign = CampaignFigures { name: "sales".into(), queued: 4, held: 1, paused: true, ..Default::default() };
        let snapshot = Snapshot {
            queued: 5,
            waiting_retry: 2,
            held: 1,
            due_suspended: 0,
            parked: 3,
            campaigns: vec![campaign],
            ..Snapshot::default()
        };
        let counts = Counts::default();
        let text = render(&Scrape { snapshot: Some(&snapshot), counts: &counts, claims_lost: 0, node: None });
        assert_eq!(
            lines_of(&text, "asterisk_spool_files_queued{"),
            ["asterisk_spool_files_queued{campaign=\"sales\"} 4", "asterisk_spool_files_queued{campaign=\"\"} 3"]
        );
        assert!(text.contains("asterisk_spool_files_due{campaign=\"\"} 0\n"));
        assert!(text.contains("asterisk_spool_campaign_paused{campaign=\"sales\"} 1\n"));
        assert!(text.contains("asterisk_spool_files_parked 3\n"));
        assert!(text.contains("asterisk_spool_scheduler_up 1\n"));
    }
}
