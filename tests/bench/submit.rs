//! (g) `SpoolSubmit` against AMI `Originate`: 20,000 of each sent as fast as the socket takes them to
//! the same Asterisk and the same failing Local channel, once straight through and once with
//! `core restart now` halfway. What a dialer gets back, how soon every call is attempted, and which
//! calls Asterisk accepted but never attempted because it restarted.

use std::time::{Duration, Instant};

use harness::bulk::ami_only;
use harness::Spooler;

use crate::ami_burst::{burst, Action, Burst};
use crate::{instance, load_average, machine_note, met, render_with, thousands, wait_quiet, Better, Cell, Row};

const CALLS: usize = 20_000;
/// Each burst's bound: the issue measured AMI Originate answering about half of 20,000 in this time.
const BURST_LIMIT: Duration = Duration::from_secs(300);

fn seconds(value: Option<f64>, b: &Burst, what: &str) -> Cell {
    match value {
        Some(s) => Cell::num(s, format!("{s:.2} s")),
        None if b.died => Cell::text("never: Asterisk died"),
        None if b.cut_short => Cell::at_least(BURST_LIMIT.as_secs_f64(), format!("not in {} s", BURST_LIMIT.as_secs())),
        None => Cell::text(format!("never: {what}")),
    }
}

fn count(v: usize) -> Cell {
    Cell::num(v as f64, thousands(v))
}

fn cpu_per_call(b: &Burst) -> Cell {
    if b.attempted == 0 {
        return Cell::text("n/a (none attempted)");
    }
    let v = b.cpu * 1000.0 / b.attempted as f64;
    Cell::num(v, format!("{v:.2} ms"))
}

#[test]
#[ignore = "benchmark; run with `make bench`"]
fn g_submit_vs_originate() {
    let load_before = load_average();
    let mut ast = instance(Spooler::Rust, None);
    ami_only(&ast, &[]);
    let mut bursts = Vec::new();
    for (action, id, restart) in [
        (Action::Originate, "g1", false),
        (Action::SpoolSubmit, "g2", false),
        (Action::Originate, "g3", true),
        (Action::SpoolSubmit, "g4", true),
    ] {
        wait_quiet(ast.pid(), Instant::now() + Duration::from_secs(60));
        eprintln!("bench g: {} {}{}", thousands(CALLS), action.label(), if restart { ", restart halfway" } else { "" });
        let b = burst(&ast, action, id, CALLS, restart, BURST_LIMIT);
        eprintln!(
            "bench g: {}: sent {}, answered {} ({} accepted, all by {:?} s), attempted {} (all by {:?} s), before \
             restart {:?}, reboot {:?} s, died {}, cut short {}",
            action.label(),
            b.sent,
            b.responses,
            b.accepted,
            b.all_responses_at,
            b.attempted,
            b.all_attempted_at,
            b.before_restart,
            b.reboot_seconds,
            b.died,
            b.cut_short
        );
        if b.died {
            // Reported in the table; the next burst gets an Asterisk of its own.
            ast.accept_death();
            ast = instance(Spooler::Rust, None);
            ami_only(&ast, &[]);
        }
        bursts.push(b);
    }
    ast.assert_alive();
    let Ok([originate, submit, originate_restart, submit_restart]) = <[Burst; 4]>::try_from(bursts) else {
        unreachable!("four bursts were run")
    };

    let mut rows = Vec::new();
    let mut row = |workload: &str, metric, o: Cell, s: Cell, better| {
        rows.push(Row { workload: workload.to_owned(), metric, stock: o, ours: s, better })
    };
    let straight = format!("{} sent at once", thousands(CALLS));
    row(
        &straight,
        "first action → all answered",
        seconds(originate.all_responses_at, &originate, "some never answered"),
        seconds(submit.all_responses_at, &submit, "some never answered"),
        Better::Lower,
    );
    row(&straight, "responses", count(originate.responses), count(submit.responses), Better::Neither);
    row(&straight, "accepted", count(originate.accepted), count(submit.accepted), Better::Neither);
    row(
        &straight,
        "first action → all attempted",
        seconds(originate.all_attempted_at, &originate, "some never attempted"),
        seconds(submit.all_attempted_at, &submit, "some never attempted"),
        Better::Lower,
    );
    row(&straight, "calls attempted", count(originate.attempted), count(submit.attempted), Better::Neither);
    row(&straight, "peak Asterisk threads", count(originate.peak_threads), count(submit.peak_threads), Better::Lower);
    row(&straight, "Asterisk CPU per call attempted", cpu_per_call(&originate), cpu_per_call(&submit), Better::Lower);

    let restarted = format!("{}, `core restart now` halfway", thousands(CALLS));
    let before = |b: &Burst| b.before_restart.unwrap_or(0);
    row(&restarted, "accepted", count(originate_restart.accepted), count(submit_restart.accepted), Better::Neither);
    row(
        &restarted,
        "attempted before the restart",
        count(before(&originate_restart)),
        count(before(&submit_restart)),
        Better::Neither,
    );
    row(
        &restarted,
        "attempted after the restart",
        count(originate_restart.attempted.saturating_sub(before(&originate_restart))),
        count(submit_restart.attempted.saturating_sub(before(&submit_restart))),
        Better::Higher,
    );
    row(
        &restarted,
        "accepted, not attempted by the end",
        count(originate_restart.accepted_not_attempted()),
        count(submit_restart.accepted_not_attempted()),
        Better::Lower,
    );
    row(
        &restarted,
        "of those, still queued (known)",
        count(originate_restart.still_queued),
        count(submit_restart.still_queued),
        Better::Higher,
    );
    row(&restarted, "accepted and lost", count(originate_restart.lost()), count(submit_restart.lost()), Better::Lower);
    let reboot = |b: &Burst| b.reboot_seconds.map_or(Cell::text("n/a"), |s| Cell::num(s, format!("{s:.1} s")));
    row(&restarted, "restart → fully booted", reboot(&originate_restart), reboot(&submit_restart), Better::Neither);

    let mut notes = vec![
        format!(
            "Both actions on one AMI connection each, written as fast as the socket takes them, to the same \
             Asterisk (pbx_spool_rs loaded) and the same failing call (`Local/s@fail`, `Application: NoOp`); \
             SpoolSubmit with `MaxRetries: 0`, `Archive: no` and a `SubmitID` per call. Attempted: an \
             `OriginateResponse` event, or the submitted file gone from `outgoing/`. Each burst is bounded at \
             {} s.",
            BURST_LIMIT.as_secs()
        ),
        "Restart: `core restart now` once half the calls were attempted, then followed into the new Asterisk \
         until nothing more was attempted for 5 s. Accepted means the action's response said Success; \
         actions the old Asterisk never answered are not counted as accepted (a dialer resends those; a \
         SubmitID makes that safe)."
            .to_owned(),
        format!(
            "Target: no call SpoolSubmit accepted is lost across `core restart now`: {} ({} lost; {} still \
             queued: an attempt the restart interrupted keeps its file, dated `RetryTime` ahead by its \
             `StartRetry` line as pbx_spool dates it, and is answered with `AbortRetry` then)",
            met(submit_restart.lost() == 0 && submit_restart.accepted > 0),
            thousands(submit_restart.lost()),
            thousands(submit_restart.still_queued)
        ),
    ];
    for (b, what) in [
        (&originate, "AMI Originate"),
        (&submit, "SpoolSubmit"),
        (&originate_restart, "AMI Originate across the restart"),
        (&submit_restart, "SpoolSubmit across the restart"),
    ] {
        if !b.refused.is_empty() {
            let reasons: Vec<String> =
                b.refused.iter().map(|(why, n)| format!("{} × \"{why}\"", thousands(*n))).collect();
            notes.push(format!("{what}: not accepted: {}", reasons.join(", ")));
        }
    }
    notes.push(machine_note(&load_before));
    println!(
        "{}",
        render_with(
            "(g) SpoolSubmit against AMI Originate, 20,000 each on one connection",
            ("AMI Originate", "SpoolSubmit"),
            &rows,
            None,
            &notes
        )
    );
}
