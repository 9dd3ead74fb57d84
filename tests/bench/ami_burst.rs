//! Bursts of AMI actions sent the way a dialer sends them, each action written as soon as the socket
//! takes it: `Originate` (Async, what dialers use instead of a spool) and pbx_spool_rs's `SpoolSubmit`,
//! both for (b)'s failing Local channel. Counts the responses and the calls Asterisk attempted, if asked
//! across a `core restart now` halfway through. Used by (b)'s AMI Originate column and by (g).
//!
//! A call counts as attempted when Asterisk says it is over: an `OriginateResponse` event for an
//! Originate, the call file gone from `outgoing/` for a submission (`MaxRetries: 0`, `Archive: no`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::bulk::{cpu_seconds, threads};
use harness::{Ami, Asterisk, Message};

use crate::{CpuWindow, RemovalCounter, SAMPLE};

/// After the last call attempted, a burst ends once nothing more has been attempted for this long with
/// Asterisk idle: what was not attempted by then never will be.
const SETTLED: Duration = Duration::from_secs(5);
/// How long Asterisk may take to be back after `core restart now`.
const REBOOT_LIMIT: Duration = Duration::from_secs(120);
const AMI_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Action {
    Originate,
    SpoolSubmit,
}

impl Action {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Action::Originate => "AMI Originate",
            Action::SpoolSubmit => "SpoolSubmit",
        }
    }

    /// The action's name and headers for call `i` of burst `run`: the failing Local channel, tried once.
    fn request(self, run: &str, i: usize) -> (&'static str, Vec<(&'static str, String)>) {
        let call = [("Channel", "Local/s@fail".to_owned()), ("Application", "NoOp".to_owned())];
        match self {
            Action::Originate => ("Originate", [&call[..], &[("Async", "true".to_owned())]].concat()),
            Action::SpoolSubmit => (
                "SpoolSubmit",
                [
                    &call[..],
                    &[("MaxRetries", "0".to_owned()), ("Archive", "no".to_owned()), ("SubmitID", submit_id(run, i))],
                ]
                .concat(),
            ),
        }
    }
}

fn submit_id(run: &str, i: usize) -> String {
    format!("{run}-{i}")
}

/// The call number in a submitted file's name, `submit-<run>-<i>.call`.
fn submitted_number(name: &str) -> Option<usize> {
    name.strip_prefix("submit-")?.strip_suffix(".call")?.rsplit('-').next()?.parse().ok()
}

/// What one burst did; seconds count from the first action written.
pub(crate) struct Burst {
    /// Actions the socket took before the run ended or the connection closed.
    pub sent: usize,
    /// Responses received, how many said Success, and when the n-th came.
    pub responses: usize,
    pub accepted: usize,
    /// The other responses, counted by their `Message`.
    pub refused: BTreeMap<String, usize>,
    pub all_responses_at: Option<f64>,
    /// Calls attempted, when the last one ended and when the n-th did.
    pub attempted: usize,
    pub last_attempted: f64,
    pub all_attempted_at: Option<f64>,
    /// Submitted files still in `outgoing/` at the end: known, due later (an attempt a restart interrupted
    /// waits for its `RetryTime`, as in pbx_spool).
    pub still_queued: usize,
    /// With a restart: calls attempted when the old Asterisk's AMI closed, and seconds from
    /// `core restart now` until the new one was fully booted.
    pub before_restart: Option<usize>,
    pub reboot_seconds: Option<f64>,
    pub peak_threads: usize,
    /// Asterisk CPU seconds over the burst (a restart re-executes the same process: its times go on).
    pub cpu: f64,
    pub died: bool,
    /// The run hit its time limit with calls still being attempted.
    pub cut_short: bool,
}

impl Burst {
    /// Asterisk said yes but never attempted the call.
    pub(crate) fn accepted_not_attempted(&self) -> usize {
        self.accepted.saturating_sub(self.attempted)
    }

    /// Accepted, never attempted and no longer known: lost.
    pub(crate) fn lost(&self) -> usize {
        self.accepted_not_attempted().saturating_sub(self.still_queued)
    }
}

fn count_responses(result: &mut Burst, responses: &[Message]) {
    result.responses += responses.len();
    for response in responses {
        if response.has("Response", "Success") {
            result.accepted += 1;
        } else {
            *result.refused.entry(response.get("Message").unwrap_or("(no Message)").to_owned()).or_default() += 1;
        }
    }
}

/// A logged-in connection of the bench's own, receiving only what `action`'s count needs.
fn connect(ast: &Asterisk, action: Action) -> Option<Ami> {
    let (user, secret) = ast.ami_login();
    let ami = Ami::connect(ast.ami_port(), AMI_TIMEOUT).ok()?;
    ami.login(user, &secret, AMI_TIMEOUT).ok()?;
    let reply = match action {
        Action::Originate => {
            ami.try_action("Filter", &[("Operation", "Add"), ("Filter", "Event: OriginateResponse")], AMI_TIMEOUT)?
        }
        Action::SpoolSubmit => ami.try_action("Events", &[("EventMask", "off")], AMI_TIMEOUT)?,
    };
    reply.has("Response", "Success").then_some(ami)
}

/// Waits for Asterisk to answer on its AMI again and be fully booted; None if it did not within
/// [`REBOOT_LIMIT`] or died.
fn reconnect(ast: &Asterisk, action: Action) -> Option<Ami> {
    let deadline = Instant::now() + REBOOT_LIMIT;
    let ami = loop {
        if !ast.is_alive() {
            return None;
        }
        if let Some(ami) = connect(ast, action) {
            break ami;
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(SAMPLE);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    ast.try_cli("core waitfullybooted", left)?;
    Some(ami)
}

/// Sends `n` `action`s as fast as the socket takes them and follows them until every call was
/// attempted, nothing more happens, or `limit` passes. With `restart_halfway`, `core restart now` is
/// given once half the calls were attempted, and the burst is followed on into the new Asterisk.
/// `run` names the burst's IDs (submission IDs must differ between bursts on one spool).
pub(crate) fn burst(
    ast: &Asterisk,
    action: Action,
    run: &str,
    n: usize,
    restart_halfway: bool,
    limit: Duration,
) -> Burst {
    let pid = ast.pid();
    let prefix = format!("{run}-");
    let ours = |m: &Message| m.get("ActionID").is_some_and(|id| id.starts_with(&prefix));
    let originate_ended = |e: &Message| e.is_event("OriginateResponse") && ours(e);
    let first = connect(ast, action).unwrap_or_else(|| panic!("{}: no AMI connection for the burst", ast.name()));
    let mut removals = RemovalCounter::of_names(&ast.outgoing_dir(), submitted_number);
    let sent = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    let mut result = Burst {
        sent: 0,
        responses: 0,
        accepted: 0,
        refused: BTreeMap::new(),
        all_responses_at: None,
        attempted: 0,
        last_attempted: 0.0,
        all_attempted_at: None,
        still_queued: 0,
        before_restart: None,
        reboot_seconds: None,
        peak_threads: threads(pid),
        cpu: 0.0,
        died: false,
        cut_short: false,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..n {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (name, headers) = action.request(run, i);
                let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                if !first.send(name, &format!("{prefix}{i}"), &headers) {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });

        let mut after: Option<Ami> = None;
        let (mut seen_events, mut seen_responses) = (0, 0);
        let mut originated = 0;
        let mut last_change = Instant::now();
        let mut cpu_window = CpuWindow::new();
        loop {
            std::thread::sleep(SAMPLE);
            let now = started.elapsed().as_secs_f64();
            let current = after.as_ref().unwrap_or(&first);
            count_responses(&mut result, &current.new_responses(&mut seen_responses, ours));
            let attempted = match action {
                Action::Originate => {
                    originated += current.new_events(&mut seen_events, originate_ended).len();
                    originated
                }
                Action::SpoolSubmit => removals.poll(),
            };
            if attempted != result.attempted {
                result.attempted = attempted;
                result.last_attempted = now;
                last_change = Instant::now();
            }
            if result.all_responses_at.is_none() && result.responses >= n {
                result.all_responses_at = Some(now);
            }
            if result.all_attempted_at.is_none() && result.attempted >= n {
                result.all_attempted_at = Some(now);
            }
            if !harness::process::is_alive(pid) {
                result.died = true;
                break;
            }
            result.peak_threads = result.peak_threads.max(threads(pid));
            let idle = cpu_window.push(Instant::now(), cpu_seconds(pid));
            let answered = result.responses >= n || result.before_restart.is_some();
            if result.attempted >= n && answered {
                break;
            }
            if restart_halfway && result.before_restart.is_none() && result.attempted >= n / 2 {
                let asked = Instant::now();
                // The CLI's connection goes with the old Asterisk: its answer is not awaited.
                let _ = ast.try_cli("core restart now", AMI_TIMEOUT);
                harness::wait_until(REBOOT_LIMIT, || first.closed().is_some());
                // What the old connection heard before it closed.
                count_responses(&mut result, &first.new_responses(&mut seen_responses, ours));
                if action == Action::Originate {
                    originated += first.new_events(&mut seen_events, originate_ended).len();
                    result.attempted = originated;
                }
                result.before_restart = Some(match action {
                    Action::Originate => originated,
                    Action::SpoolSubmit => removals.poll(),
                });
                after = reconnect(ast, action);
                if after.is_none() {
                    result.died = !ast.is_alive();
                    break;
                }
                result.reboot_seconds = Some(asked.elapsed().as_secs_f64());
                (seen_events, seen_responses) = (0, 0);
                last_change = Instant::now();
                continue;
            }
            let sender_done = sent.load(Ordering::Relaxed) >= n || first.closed().is_some();
            if sender_done && idle && last_change.elapsed() >= SETTLED {
                break;
            }
            if started.elapsed() >= limit {
                result.cut_short = true;
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        // A sender blocked on a full socket returns once the connection is shut.
        first.close();
    });
    result.sent = sent.load(Ordering::Relaxed);
    if action == Action::SpoolSubmit {
        let ours = |name: &str| name.starts_with(&format!("submit-{prefix}")) && submitted_number(name).is_some();
        result.still_queued = std::fs::read_dir(ast.outgoing_dir())
            .map(|dir| dir.flatten().filter(|e| ours(&e.file_name().to_string_lossy())).count())
            .unwrap_or(0);
    }
    result.cpu = cpu_seconds(pid) - cpu0;
    result
}
