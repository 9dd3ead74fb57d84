//! `callfile bulk NUMBERS --template CAMPAIGN.call`: one call file per number, the template checked once,
//! every generated file checked before it is placed, due times spread over `--spread`; a progress bar
//! (indicatif) on a terminal and a summary at the end.
//!
//! Writes into the spool only through [`Spool::place`](crate::spool::Spool::place).

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{open_spool, Start};
use crate::conf::Settings;
use crate::error::{Error, Exit};
use crate::examine::{absolute, examine, print_examination, read_for_check};
use crate::render::{check_number, has_placeholder, read_numbers, substitute, NUMBER_PLACEHOLDER};
use crate::spool::prefix_from;
use crate::time::{format_time, parse_duration, spread_due, warn_if_past, When};

/// How many refused numbers the summary shows before "and N more".
const SHOWN_ERRORS: usize = 5;
/// The bar as before indicatif: `[#####-----] 40/100 (2 refused)`.
const BAR_TEMPLATE: &str = "[{bar:30}] {pos}/{len} ({msg})";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRequest {
    pub numbers: PathBuf,
    pub template: PathBuf,
    pub when: When,
    /// `--spread`: due times spread evenly over this duration, starting at `when`.
    pub spread: Option<String>,
    /// `--name`; otherwise the template's name.
    pub prefix: Option<String>,
}

/// A bar of `total` steps drawn on `target` (indicatif limits how often it is redrawn).
fn progress_bar(target: ProgressDrawTarget, total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    // The template is a constant, so it always parses; the default style is a fine fallback anyway.
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        bar.set_style(style.progress_chars("#-"));
    }
    bar.set_message(refused_message(0));
    bar
}

fn refused_message(refused: usize) -> String {
    format!("{refused} refused")
}

/// The calling hours of the campaign the generated files (`<prefix>-...call`) join, with its zone, if it
/// has hours; a note says the spread follows them.
fn campaign_window(
    rules: &pbx_spool_core::config::SpoolConfig,
    prefix: &str,
    err: &mut dyn Write,
) -> Option<(pbx_spool_core::hours::Hours, jiff::tz::TimeZone)> {
    let sample = format!("{prefix}-0-0-0.call");
    let index = pbx_spool_core::campaign::find(&rules.campaigns, sample.as_bytes())?;
    let campaign = &rules.campaigns[index];
    let hours = campaign.hours.clone()?;
    let zone = match &campaign.timezone {
        Some(name) => jiff::tz::TimeZone::get(name).ok()?,
        None => jiff::tz::TimeZone::system(),
    };
    let _ = writeln!(
        err,
        "Note: the files join campaign [{}]: due times are spread over its calling hours ({hours}, {}) only",
        campaign.name,
        campaign.timezone.as_deref().unwrap_or("system zone")
    );
    Some((hours, zone))
}

/// `callfile bulk`: one call file per number. A progress bar goes to `progress` (stderr on a terminal,
/// else hidden), the summary to `out`, problems to `err`.
pub fn bulk_command(
    settings: &Settings,
    request: &BulkRequest,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: ProgressDrawTarget,
) -> Result<Exit, Error> {
    let Start { rules, now, due: base } = Start::new(settings, request.prefix.as_deref(), &request.when, err)?;
    let spread = match &request.spread {
        Some(text) => parse_duration(text).map_err(|why| Error::usage(format!("--spread {text:?}: {why}")))?,
        None => 0,
    };
    let template_shown = request.template.display().to_string();
    let template = match read_for_check(&request.template, &rules)? {
        Ok(bytes) => bytes,
        Err(problem) => return Err(Error::refused(problem)),
    };
    if !has_placeholder(&template) {
        return Err(Error::usage(format!("{template_shown} does not contain {NUMBER_PLACEHOLDER}")));
    }
    let numbers_text = fs::read(&request.numbers)
        .map_err(|error| Error::io(format!("Cannot read {}", request.numbers.display()), &error))?;
    let numbers = read_numbers(&String::from_utf8_lossy(&numbers_text));
    if numbers.is_empty() {
        return Err(Error::usage(format!("{} contains no numbers", request.numbers.display())));
    }
    let Some((_, sample)) = numbers.iter().find(|(_, number)| check_number(number).is_ok()) else {
        return Err(Error::refused(format!("{} contains no usable number", request.numbers.display())));
    };

    // The template once, with the first usable number: its warnings and notes are shown once, not per number.
    let sample_shown = format!("{template_shown} (with number {sample})");
    let examination =
        examine(&substitute(&template, sample), &sample_shown, &rules, Some(&absolute(&request.template)));
    print_examination(&examination, err);
    if !examination.placeable() {
        return Err(Error::refused(format!("{sample_shown} would be refused by the spool; nothing submitted")));
    }

    let spool = open_spool(settings, &rules, err)?;
    let zone = request.when.display_zone();
    warn_if_past(base, now, &zone, err);
    let prefix = request.prefix.clone().unwrap_or_else(|| prefix_from(&request.template));
    let window = campaign_window(&rules, &prefix, err);
    let numbers_shown = request.numbers.display().to_string();
    let bar = progress_bar(progress, numbers.len());
    let mut submitted = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut stopped: Option<Error> = None;
    let mut last_due = base;
    for (index, (line, number)) in numbers.iter().enumerate() {
        bar.set_position(index as u64);
        let shown = format!("{template_shown} (with number {number})");
        let content = check_number(number).map(|()| substitute(&template, number));
        let content = match content {
            Ok(content) => content,
            Err(why) => {
                errors.push(format!("{numbers_shown} line {line}: {why}"));
                bar.set_message(refused_message(errors.len()));
                continue;
            }
        };
        let examination = examine(&content, &shown, &rules, None);
        if let Some(problem) = examination.problems.first() {
            errors.push(format!("{numbers_shown} line {line}: {problem}"));
            bar.set_message(refused_message(errors.len()));
            continue;
        }
        let due = spread_due(base, spread, index, numbers.len());
        // Inside the campaign's calling hours: the spread counts open time only.
        let due =
            window.as_ref().and_then(|(hours, zone)| hours.after_open_time(zone, base, due - base)).unwrap_or(due);
        match spool.place(&content, due, &prefix) {
            Ok(_) => {
                submitted += 1;
                last_due = due;
            }
            Err(error) => {
                stopped = Some(error);
                break;
            }
        }
    }
    // The final count is drawn once (not rate-limited), then the line is cleared for the summary.
    bar.set_position(numbers.len() as u64);
    bar.finish();
    bar.finish_and_clear();

    let due_text = if submitted == 0 {
        String::new()
    } else if last_due == base {
        format!(", due {}", format_time(base, &zone))
    } else {
        format!(", due {} to {}", format_time(base, &zone), format_time(last_due, &zone))
    };
    let _ = writeln!(
        out,
        "{submitted} submitted to {} as {prefix}-*.call{due_text}; {} refused",
        spool.outgoing().display(),
        errors.len()
    );
    for error in errors.iter().take(SHOWN_ERRORS) {
        let _ = writeln!(err, "{error}");
    }
    if errors.len() > SHOWN_ERRORS {
        let _ = writeln!(err, "... and {} more refused", errors.len() - SHOWN_ERRORS);
    }
    if let Some(error) = stopped {
        let remaining = numbers.len() - submitted - errors.len();
        return Err(Error::usage(format!("{error}; stopped with {remaining} numbers not submitted")));
    }
    Ok(if errors.is_empty() { Exit::Success } else { Exit::Refused })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;
    use pbx_spool_core::bookkeeping;
    use pbx_spool_core::bookkeeping::Millis;
    use pbx_spool_core::callfile;

    use super::*;
    use crate::test_support::{TempDir, VALID};

    /// A terminal that records what the progress bar draws: each finished line, and whether it was
    /// cleared last.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<(Vec<String>, bool)>>);

    impl Screen {
        fn target(&self) -> ProgressDrawTarget {
            ProgressDrawTarget::term_like(Box::new(self.clone()))
        }

        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().0.clone()
        }

        fn cleared(&self) -> bool {
            self.0.lock().unwrap().1
        }

        fn draw(&self, text: &str) {
            let mut screen = self.0.lock().unwrap();
            if !text.is_empty() {
                screen.0.push(text.to_string());
                screen.1 = false;
            }
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, text: &str) -> std::io::Result<()> {
            self.draw(text);
            Ok(())
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.draw(text);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.0.lock().unwrap().1 = true;
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bulk_submits_one_file_per_number_spread_over_time() {
        let dir = TempDir::spool("bulk");
        let template =
            dir.file("campaign.call", "Channel: PJSIP/{number}\nApplication: Playback\nData: promo\nSet: N={number}\n");
        let numbers = dir.file("numbers.txt", "# list\n100\n101\n1 02\n103\n\n104\n");
        let request =
            BulkRequest { numbers, template, when: When::In("1h".into()), spread: Some("40s".into()), prefix: None };
        let (mut out, mut err, screen) = (Vec::new(), Vec::new(), Screen::default());
        let exit = bulk_command(&dir.settings(), &request, &mut out, &mut err, screen.target()).unwrap();
        assert_eq!(exit, Exit::Refused);
        let summary = String::from_utf8(out).unwrap();
        assert!(summary.starts_with("4 submitted to ") && summary.contains("; 1 refused"), "{summary}");
        assert!(String::from_utf8(err).unwrap().contains("line 4"));
        let drawn = screen.lines();
        assert!(drawn.iter().any(|line| line.contains("0/5") && line.contains("(0 refused)")), "{drawn:?}");
        assert!(drawn.iter().any(|line| line.contains("5/5") && line.contains("(1 refused)")), "{drawn:?}");
        assert!(screen.cleared(), "the bar is cleared before the summary");
        let names = dir.names("outgoing");
        assert_eq!(names.len(), 4);
        assert!(names.iter().all(|name| name.starts_with("campaign-")));
        let mut dues: Vec<(Millis, Vec<u8>)> = names
            .iter()
            .map(|name| {
                let path = dir.0.join("outgoing").join(name);
                let call = callfile::parse(&fs::read(&path).unwrap()).call;
                (bookkeeping::mtime_ms(&fs::metadata(&path).unwrap()), call.dest)
            })
            .collect();
        dues.sort();
        let dests: Vec<&[u8]> = dues.iter().map(|(_, dest)| dest.as_slice()).collect();
        assert_eq!(dests, vec![&b"100"[..], b"101", b"103", b"104"]);
        // Five numbers over 40s: 8s apart, the refused third one leaving a gap.
        let offsets: Vec<Millis> = dues.iter().map(|(due, _)| due - dues[0].0).collect();
        assert_eq!(offsets, vec![0, 8000, 24_000, 32_000]);
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn bulk_spreads_over_the_campaigns_calling_hours_only() {
        let dir = TempDir::spool("bulkwindow");
        let template = dir.file("sales.call", "Channel: PJSIP/{number}\nApplication: Playback\nData: promo\n");
        let numbers = dir.file("numbers.txt", "100\n101\n102\n103\n");
        let config = dir.file(
            "pbx_spool_rs.conf",
            "[general]\n[sales]\nmatch = sales-*\nhours = mon-fri 09:00-18:00\ntimezone = Europe/Berlin\n",
        );
        // Friday 2026-12-04 17:00 in Berlin, four calls over two hours: two that Friday (17:00, 17:30),
        // two on Monday from 09:00 (the second hour of open time).
        let request = BulkRequest {
            numbers,
            template,
            when: When::At { time: "2026-12-04 17:00".into(), zone: Some("Europe/Berlin".into()) },
            spread: Some("2h".into()),
            prefix: None,
        };
        let settings = Settings { config: Some(config), ..dir.settings() };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = bulk_command(&settings, &request, &mut out, &mut err, ProgressDrawTarget::hidden()).unwrap();
        assert_eq!(exit, Exit::Success, "{}", String::from_utf8_lossy(&err));
        assert!(String::from_utf8(err).unwrap().contains("join campaign [sales]"));
        let mut dues: Vec<Millis> = dir
            .names("outgoing")
            .iter()
            .map(|name| bookkeeping::mtime_ms(&fs::metadata(dir.0.join("outgoing").join(name)).unwrap()))
            .collect();
        dues.sort();
        let berlin = |local: &str| {
            local.parse::<jiff::civil::DateTime>().unwrap().in_tz("Europe/Berlin").unwrap().timestamp().as_millisecond()
        };
        assert_eq!(
            dues,
            [
                berlin("2026-12-04T17:00"),
                berlin("2026-12-04T17:30"),
                berlin("2026-12-07T09:00"),
                berlin("2026-12-07T09:30")
            ]
        );
    }

    #[test]
    fn bulk_refuses_a_bad_template_before_writing_anything() {
        let dir = TempDir::spool("badtemplate");
        let numbers = dir.file("numbers.txt", "100\n");
        let refused = dir.file("refused.call", "Channel: PJSIP/{number}@trunk\nApplication: Echo\n");
        let no_placeholder = dir.file("fixed.call", VALID);
        for (template, exit) in [(refused, Exit::Refused), (no_placeholder, Exit::Failure)] {
            let request =
                BulkRequest { numbers: numbers.clone(), template, when: When::Now, spread: None, prefix: None };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            assert_eq!(
                bulk_command(&dir.settings(), &request, &mut out, &mut err, ProgressDrawTarget::hidden())
                    .unwrap_err()
                    .exit,
                exit
            );
        }
        assert!(dir.names("outgoing").is_empty());
    }
}
