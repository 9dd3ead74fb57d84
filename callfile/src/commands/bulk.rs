//! `callfile bulk NUMBERS --template CAMPAIGN.call`: one call file per number, the template checked once,
//! every generated file checked before it is placed, due times spread over `--spread` (counting only the
//! open hours of the campaign the files join, with a warning for the times that had to move), a
//! manifest (CSV: number, file, due time, why refused), a progress bar (indicatif) on a terminal and a
//! summary with the first and last due time in the campaign's zone and in UTC.
//!
//! Writes into the spool only through [`Spool::place`](crate::spool::Spool::place); besides that it
//! writes the manifest and nothing else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::tz::TimeZone;
use pbx_spool_core::bookkeeping::Millis;
use pbx_spool_core::config::SpoolConfig;
use pbx_spool_core::hours::Hours;

use super::{open_spool, Start};
use crate::conf::Settings;
use crate::error::{Error, Exit};
use crate::examine::{absolute, examine, print_examination, read_for_check};
use crate::render::{check_number, has_placeholder, read_numbers, substitute, NUMBER_PLACEHOLDER};
use crate::spool::{number_for_name, prefix_from};
use crate::time::{
    format_rfc3339, format_time, named_zone, parse_duration, spread_due, system_zone, warn_if_past, When,
};

/// How many refused numbers the summary shows before "and N more" (the manifest lists them all).
const SHOWN_ERRORS: usize = 5;
/// The bar as before indicatif: `[#####-----] 40/100 (2 refused)`.
const BAR_TEMPLATE: &str = "[{bar:30}] {pos}/{len} ({msg})";
/// The manifest's first line.
const MANIFEST_HEADER: &str = "number,file,due,refused";
/// Mode of the manifest: it lists phone numbers, like the numbers file it came from.
const MANIFEST_MODE: u32 = 0o640;
/// How many numbered names (`.manifest-2.csv` ...) are tried before giving up.
const MANIFEST_CANDIDATES: usize = 1000;

/// Where `bulk` writes its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// Beside NUMBERS.txt as `<stem>.manifest.csv`, or `<stem>.manifest-<n>.csv` when that exists: an
    /// earlier manifest is never replaced.
    BesideNumbers,
    /// `--manifest PATH`, replaced if it exists.
    At(PathBuf),
    /// `--no-manifest`.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRequest {
    pub numbers: PathBuf,
    pub template: PathBuf,
    pub when: When,
    /// `--spread`: due times spread evenly over this duration, starting at `when`.
    pub spread: Option<String>,
    /// `--name`; otherwise the template's name.
    pub prefix: Option<String>,
    /// `--name-with-number`: `<prefix>-<number>-...call`.
    pub name_with_number: bool,
    pub manifest: Manifest,
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

/// The campaign the generated files join, as far as its calling hours and zone matter here.
struct CampaignWindow {
    name: String,
    hours: Hours,
    zone: TimeZone,
    /// `timezone =`, or "system zone", for messages.
    zone_name: String,
}

impl CampaignWindow {
    fn describe(&self) -> String {
        format!("campaign [{}] ({}, {})", self.name, self.hours, self.zone_name)
    }
}

/// The campaign a file named `file_name` with contents `content` joins, as the spool decides it (by
/// name, and by `Channel:` for campaigns with `channel` patterns), if that campaign has calling hours.
fn campaign_window(rules: &SpoolConfig, file_name: &str, content: &[u8]) -> Result<Option<CampaignWindow>, Error> {
    use pbx_spool_core::campaign;
    let name = file_name.as_bytes();
    let index = if campaign::needs_channel(&rules.campaigns, name) {
        let call = pbx_spool_core::callfile::parse(content).call;
        campaign::find_with_channel(&rules.campaigns, name, &call.tech, &call.dest)
    } else {
        campaign::find(&rules.campaigns, name)
    };
    let Some(campaign) = index.map(|index| &rules.campaigns[index]) else { return Ok(None) };
    let Some(hours) = campaign.hours.clone() else { return Ok(None) };
    let zone = match &campaign.timezone {
        Some(zone) => named_zone(zone)
            .map_err(|why| Error::usage(format!("timezone {zone:?} of campaign [{}]: {why}", campaign.name)))?,
        None => system_zone()?,
    };
    let zone_name = campaign.timezone.clone().unwrap_or_else(|| "system zone".to_string());
    Ok(Some(CampaignWindow { name: campaign.name.clone(), hours, zone, zone_name }))
}

/// The manifest being written: one row per number, in the order of NUMBERS.txt.
struct ManifestFile {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl ManifestFile {
    /// Creates the manifest `choice` names for `numbers` and writes its header; `None` for `--no-manifest`.
    fn create(choice: &Manifest, numbers: &Path) -> Result<Option<ManifestFile>, Error> {
        let mut options = OpenOptions::new();
        options.write(true).mode(MANIFEST_MODE);
        let (path, file) = match choice {
            Manifest::None => return Ok(None),
            Manifest::At(path) => {
                let file = options.create(true).truncate(true).open(path);
                (path.clone(), file.map_err(|err| manifest_error(path, &err))?)
            }
            Manifest::BesideNumbers => {
                options.create_new(true);
                let stem = numbers.file_stem().map_or_else(|| "numbers".into(), |stem| stem.to_string_lossy());
                let mut found = None;
                for n in 1..=MANIFEST_CANDIDATES {
                    let name = if n == 1 { format!("{stem}.manifest.csv") } else { format!("{stem}.manifest-{n}.csv") };
                    let path = numbers.with_file_name(name);
                    match options.open(&path) {
                        Ok(file) => {
                            found = Some((path, file));
                            break;
                        }
                        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(err) => return Err(manifest_error(&path, &err)),
                    }
                }
                found.ok_or_else(|| {
                    Error::usage(format!(
                        "{MANIFEST_CANDIDATES} manifests beside {} already: give --manifest PATH or --no-manifest",
                        numbers.display()
                    ))
                })?
            }
        };
        let mut manifest = ManifestFile { path, writer: BufWriter::new(file) };
        manifest.line(&[MANIFEST_HEADER])?;
        Ok(Some(manifest))
    }

    /// A placed number: its file's name and due time.
    fn placed(&mut self, number: &str, file: &Path, due: &str) -> Result<(), Error> {
        let name = file.file_name().map_or_else(|| file.to_string_lossy(), |name| name.to_string_lossy());
        self.line(&[&csv_field(number), &csv_field(&name), &csv_field(due), ""])
    }

    /// A refused number, and why.
    fn refused(&mut self, number: &str, why: &str) -> Result<(), Error> {
        self.line(&[&csv_field(number), "", "", &csv_field(why)])
    }

    fn line(&mut self, fields: &[&str]) -> Result<(), Error> {
        let path = &self.path;
        writeln!(self.writer, "{}", fields.join(",")).map_err(|err| manifest_error(path, &err))
    }

    /// Everything written and on disk; the path, for the summary.
    fn finish(self) -> Result<PathBuf, Error> {
        let path = self.path;
        let file = self.writer.into_inner().map_err(|err| manifest_error(&path, err.error()))?;
        file.sync_all().map_err(|err| manifest_error(&path, &err))?;
        Ok(path)
    }
}

fn manifest_error(path: &Path, err: &io::Error) -> Error {
    Error::io(format!("Cannot write the manifest {} (--manifest PATH or --no-manifest)", path.display()), err)
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// What happened to the due times in a campaign's calling hours.
#[derive(Debug, Default)]
struct WindowCount {
    /// Due times that --at/--in and --spread put outside the hours.
    outside: usize,
    /// Due times that were moved (the ones outside, and the ones after them pushed on by the closed time).
    moved: usize,
    /// Due times that could not be moved (no window opens within two weeks): kept as given.
    kept: usize,
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
    let Start { rules, config_path, now, due: base } =
        Start::new(settings, request.prefix.as_deref(), &request.when, err)?;
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
    let sample_content = substitute(&template, sample);
    let examination = examine(&sample_content, &sample_shown, &rules, Some(&absolute(&request.template)));
    print_examination(&examination, err);
    if !examination.placeable() {
        return Err(Error::refused(format!("{sample_shown} would be refused by the spool; nothing submitted")));
    }

    let spool = open_spool(settings, &rules, err)?;
    let prefix = request.prefix.clone().unwrap_or_else(|| prefix_from(&request.template));
    let file_prefix = |number: &str| {
        if request.name_with_number {
            format!("{prefix}-{}", number_for_name(number))
        } else {
            prefix.clone()
        }
    };
    let window = campaign_window(&rules, &format!("{}-0-0-0.call", file_prefix(sample)), &sample_content)?;
    let zone = match &window {
        Some(window) => window.zone.clone(),
        None => request.when.display_zone()?,
    };
    warn_if_past(base, now, &zone, err);
    if let Some(window) = &window {
        let source = config_path.as_ref().map_or_else(String::new, |path| format!(" of {}", path.display()));
        let _ = writeln!(
            err,
            "Note: the files join {}{source}: due times are spread over its calling hours only",
            window.describe()
        );
    }
    let mut manifest = ManifestFile::create(&request.manifest, &request.numbers)?;
    let numbers_shown = request.numbers.display().to_string();
    let bar = progress_bar(progress, numbers.len());
    let mut submitted = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut stopped: Option<Error> = None;
    let mut span: Option<(Millis, Millis)> = None;
    let mut count = WindowCount::default();
    for (index, (line, number)) in numbers.iter().enumerate() {
        bar.set_position(index as u64);
        let shown = format!("{template_shown} (with number {number})");
        let content = check_number(number).map(|()| substitute(&template, number));
        let refusal = match &content {
            Ok(content) => examine(content, &shown, &rules, None).problems.first().map(ToString::to_string),
            Err(why) => Some(why.to_string()),
        };
        if let Some(why) = refusal {
            errors.push(format!("{numbers_shown} line {line}: {why}"));
            bar.set_message(refused_message(errors.len()));
            if let Some(Err(error)) = manifest.as_mut().map(|manifest| manifest.refused(number, &why)) {
                stopped = Some(error);
                break;
            }
            continue;
        }
        let Ok(content) = content else { continue };
        let given = spread_due(base, spread, index, numbers.len());
        // Inside the campaign's calling hours: the spread counts open time only.
        let due = match &window {
            None => given,
            Some(window) => {
                if !window.hours.is_open(&window.zone, given) {
                    count.outside += 1;
                }
                match window.hours.after_open_time(&window.zone, base, given - base) {
                    Some(due) => due,
                    None => {
                        count.kept += 1;
                        given
                    }
                }
            }
        };
        if due != given {
            count.moved += 1;
        }
        let placed = spool.place(&content, due, &file_prefix(number)).and_then(|path| match manifest.as_mut() {
            Some(manifest) => manifest.placed(number, &path, &format_rfc3339(due, &zone)),
            None => Ok(()),
        });
        match placed {
            Ok(()) => {
                submitted += 1;
                span = Some(span.map_or((due, due), |(first, last)| (first.min(due), last.max(due))));
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

    if let Some(window) = &window {
        warn_about_window(window, &count, submitted, err);
    }
    let pattern =
        if request.name_with_number { format!("{prefix}-<number>-*.call") } else { format!("{prefix}-*.call") };
    let _ =
        writeln!(out, "{submitted} submitted to {} as {pattern}; {} refused", spool.outgoing().display(), errors.len());
    // In the campaign's (or --at's, or the system's) zone, and in UTC unless that is the same text.
    let both = |ms: Millis| {
        let (local, utc) = (format_time(ms, &zone), format_time(ms, &TimeZone::UTC));
        if local == utc {
            local
        } else {
            format!("{local} ({utc})")
        }
    };
    match span {
        Some((first, last)) if first == last => {
            let _ = writeln!(out, "Due {}", both(first));
        }
        Some((first, last)) => {
            let _ = writeln!(out, "First call due {}", both(first));
            let _ = writeln!(out, "Last call due  {}", both(last));
        }
        None => {}
    }
    let manifest_result = manifest.map(ManifestFile::finish).transpose();
    match &manifest_result {
        Ok(Some(path)) => {
            let _ = writeln!(out, "Manifest: {}", path.display());
        }
        Ok(None) => {}
        Err(error) => stopped = stopped.or_else(|| Some(error.clone())),
    }
    for error in errors.iter().take(SHOWN_ERRORS) {
        let _ = writeln!(err, "{error}");
    }
    if errors.len() > SHOWN_ERRORS {
        let _ = writeln!(err, "... and {} more refused (all of them in the manifest)", errors.len() - SHOWN_ERRORS);
    }
    if let Some(error) = stopped {
        let remaining = numbers.len() - submitted - errors.len();
        return Err(Error::usage(format!("{error}; stopped with {remaining} numbers not submitted")));
    }
    Ok(if errors.is_empty() { Exit::Success } else { Exit::Refused })
}

/// The warning on stderr when due times fell outside the campaign's calling hours: how many, and what
/// was done with them.
fn warn_about_window(window: &CampaignWindow, count: &WindowCount, submitted: usize, err: &mut dyn Write) {
    if count.outside > 0 {
        let _ = writeln!(
            err,
            "callfile: warning: {} of {submitted} due times from --at/--in and --spread fall outside the calling \
             hours of {}; moved into the open hours, keeping their spacing ({} due times shifted in all: the \
             spread counts open time only); the first and last due time are below",
            count.outside,
            window.describe(),
            count.moved
        );
    }
    if count.kept > 0 {
        let _ = writeln!(
            err,
            "callfile: warning: {} due times could not be moved into the calling hours of {} (no window opens \
             within two weeks): kept as given; the spool holds those files until a window opens",
            count.kept,
            window.describe()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;
    use pbx_spool_core::bookkeeping;
    use pbx_spool_core::bookkeeping::Millis;
    use pbx_spool_core::callfile;

    use super::*;
    use crate::conf::ConfigChoice;
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

    fn request(numbers: PathBuf, template: PathBuf, when: When, spread: Option<&str>) -> BulkRequest {
        BulkRequest {
            numbers,
            template,
            when,
            spread: spread.map(str::to_string),
            prefix: None,
            name_with_number: false,
            manifest: Manifest::BesideNumbers,
        }
    }

    fn run(settings: &Settings, request: &BulkRequest) -> (Result<Exit, Error>, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = bulk_command(settings, request, &mut out, &mut err, ProgressDrawTarget::hidden());
        (result, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    /// The due times (mtimes) of the files in `outgoing/`, sorted.
    fn dues(dir: &TempDir) -> Vec<Millis> {
        let mut dues: Vec<Millis> = dir
            .names("outgoing")
            .iter()
            .map(|name| bookkeeping::mtime_ms(&fs::metadata(dir.0.join("outgoing").join(name)).unwrap()))
            .collect();
        dues.sort();
        dues
    }

    fn berlin(local: &str) -> Millis {
        local.parse::<jiff::civil::DateTime>().unwrap().in_tz("Europe/Berlin").unwrap().timestamp().as_millisecond()
    }

    const SALES_TEMPLATE: &str = "Channel: PJSIP/{number}\nApplication: Playback\nData: promo\n";
    const BERLIN_OFFICE_HOURS: &str =
        "[general]\n[sales]\nmatch = sales-*\nhours = mon-fri 09:00-18:00\ntimezone = Europe/Berlin\n";

    #[test]
    fn bulk_submits_one_file_per_number_spread_over_time() {
        let dir = TempDir::spool("bulk");
        let template =
            dir.file("campaign.call", "Channel: PJSIP/{number}\nApplication: Playback\nData: promo\nSet: N={number}\n");
        let numbers = dir.file("numbers.txt", "# list\n100\n101\n1 02\n103\n\n104\n");
        let request = request(numbers, template, When::In("1h".into()), Some("40s"));
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
    fn bulk_spreads_over_the_installed_campaigns_calling_hours_and_warns() {
        let dir = TempDir::spool("bulkwindow");
        let template = dir.file("sales.call", SALES_TEMPLATE);
        let numbers = dir.file("numbers.txt", "100\n101\n102\n103\n");
        // No --config: the installed pbx_spool_rs.conf (astetcdir from asterisk.conf) has the hours.
        let settings = dir.installed(Some(BERLIN_OFFICE_HOURS));
        // Friday 2026-12-04 17:00 in Berlin, four calls over two hours: two that Friday (17:00, 17:30),
        // two on Monday from 09:00 (the second hour of open time).
        let at = When::At { time: "2026-12-04 17:00".into(), zone: Some("Europe/Berlin".into()) };
        let (result, out, err) = run(&settings, &request(numbers, template, at, Some("2h")));
        assert_eq!(result, Ok(Exit::Success), "{err}");
        let installed = dir.0.join("etc/pbx_spool_rs.conf");
        assert!(
            err.contains(&format!(
                "join campaign [sales] (mon,tue,wed,thu,fri 09:00-18:00, Europe/Berlin) of {}",
                installed.display()
            )),
            "{err}"
        );
        assert!(
            err.contains("warning: 2 of 4 due times from --at/--in and --spread fall outside the calling hours of campaign [sales]")
                && err.contains("moved into the open hours"),
            "{err}"
        );
        assert_eq!(
            dues(&dir),
            [
                berlin("2026-12-04T17:00"),
                berlin("2026-12-04T17:30"),
                berlin("2026-12-07T09:00"),
                berlin("2026-12-07T09:30")
            ]
        );
        assert!(out.contains("First call due 2026-12-04 17:00:00 CET (2026-12-04 16:00:00 UTC)\n"), "{out}");
        assert!(out.contains("Last call due  2026-12-07 09:30:00 CET (2026-12-07 08:30:00 UTC)\n"), "{out}");
    }

    #[test]
    fn the_summary_shows_the_real_first_start_in_the_campaigns_zone_and_utc() {
        // Started in the closed evening (20:45 UTC = 21:45 in Berlin): the summary once showed that start,
        // "21:45 UTC", instead of the first due time, Monday 09:00 in Berlin = 08:00 UTC.
        let dir = TempDir::spool("bulkstart");
        let template = dir.file("sales.call", SALES_TEMPLATE);
        let numbers: String = (0..10).map(|n| format!("20{n}\n")).collect();
        let numbers = dir.file("numbers.txt", numbers);
        let settings = dir.installed(Some(BERLIN_OFFICE_HOURS));
        let at = When::At { time: "2026-12-04 20:45".into(), zone: Some("UTC".into()) };
        let (result, out, err) = run(&settings, &request(numbers, template, at, Some("2h")));
        assert_eq!(result, Ok(Exit::Success), "{err}");
        assert!(out.contains("First call due 2026-12-07 09:00:00 CET (2026-12-07 08:00:00 UTC)\n"), "{out}");
        // Ten calls over two hours of open time, 12 minutes apart: the last at 10:48.
        assert!(out.contains("Last call due  2026-12-07 10:48:00 CET (2026-12-07 09:48:00 UTC)\n"), "{out}");
        assert!(!out.contains("20:45") && !out.contains("21:45"), "{out}");
        assert!(err.contains("warning: 10 of 10 due times"), "{err}");
        let dues = dues(&dir);
        assert_eq!((dues[0], dues[9]), (berlin("2026-12-07T09:00"), berlin("2026-12-07T10:48")));
    }

    #[test]
    fn no_config_ignores_the_installed_hours_and_a_missing_file_is_a_note() {
        let dir = TempDir::spool("bulknoconf");
        let template = dir.file("sales.call", SALES_TEMPLATE);
        let numbers = dir.file("numbers.txt", "100\n101\n");
        let at = When::At { time: "2026-12-04 20:00".into(), zone: Some("Europe/Berlin".into()) };
        let request = request(numbers, template, at, Some("1h"));
        let mut settings = dir.installed(Some(BERLIN_OFFICE_HOURS));
        settings.config = ConfigChoice::BuiltIn;
        let (result, out, err) = run(&settings, &request);
        assert_eq!(result, Ok(Exit::Success), "{err}");
        assert!(!err.contains("campaign") && !err.contains("warning"), "{err}");
        assert!(out.contains("First call due 2026-12-04 20:00:00 CET (2026-12-04 19:00:00 UTC)"), "{out}");
        assert_eq!(dues(&dir), [berlin("2026-12-04T20:00"), berlin("2026-12-04T20:30")]);
        // No installed file at all: one note, the built-in defaults, times as given.
        let settings = dir.installed(None);
        let (result, _, err) = run(&settings, &request);
        assert_eq!(result, Ok(Exit::Success), "{err}");
        let note = format!(
            "callfile: note: no {}: pbx_spool_rs's built-in defaults apply\n",
            dir.0.join("etc/pbx_spool_rs.conf").display()
        );
        assert_eq!(err.lines().filter(|line| line.contains("pbx_spool_rs.conf")).count(), 1, "{err}");
        assert!(err.contains(&note), "{err}");
        assert_eq!(dues(&dir).len(), 4);
    }

    #[test]
    fn an_invalid_installed_config_or_an_unknown_zone_places_nothing() {
        let dir = TempDir::spool("bulkbadconf");
        let template = dir.file("sales.call", SALES_TEMPLATE);
        let numbers = dir.file("numbers.txt", "100\n");
        let in_an_hour = request(numbers.clone(), template.clone(), When::In("1h".into()), None);
        for config in [
            "[general]\nmax_file_size = lots\n",
            "[general]\n[sales]\nmatch = sales-*\nhours = mon-fri 09:00-18:00\ntimezone = Mars/Olympus\n",
        ] {
            let (result, _, err) = run(&dir.installed(Some(config)), &in_an_hour);
            let error = result.unwrap_err();
            assert_eq!(error.exit, Exit::Failure, "{config}: {err}");
            assert!(error.message.contains("--no-config"), "{}", error.message);
        }
        let on_mars = When::At { time: "2026-12-04 09:00".into(), zone: Some("Mars/Olympus".into()) };
        let (result, _, _) = run(&dir.installed(None), &request(numbers, template, on_mars, None));
        assert_eq!(result.unwrap_err().exit, Exit::Failure);
        assert!(dir.names("outgoing").is_empty());
        assert!(!dir.names(".").iter().any(|name| name.ends_with(".csv")), "no manifest: {:?}", dir.names("."));
    }

    #[test]
    fn the_manifest_lists_every_number_with_its_file_and_due_time() {
        let dir = TempDir::spool("manifest");
        let template = dir.file("sales.call", SALES_TEMPLATE);
        let numbers = dir.file("numbers.txt", "+49301\n1 02\n\"x\",y\n103\n");
        let settings = dir.installed(Some(BERLIN_OFFICE_HOURS));
        let at = When::At { time: "2026-12-07 09:00".into(), zone: Some("Europe/Berlin".into()) };
        let mut request = request(numbers, template, at, Some("4m"));
        request.name_with_number = true;
        let (result, out, err) = run(&settings, &request);
        assert_eq!(result, Ok(Exit::Refused), "{err}");
        let manifest = dir.0.join("numbers.manifest.csv");
        assert!(out.contains(&format!("Manifest: {}\n", manifest.display())), "{out}");
        assert!(out.contains("as sales-<number>-*.call"), "{out}");
        let text = fs::read_to_string(&manifest).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "number,file,due,refused");
        let names = dir.names("outgoing");
        assert_eq!(names.len(), 3, "{names:?}");
        for (line, number, due) in
            [(lines[1], "+49301", "2026-12-07T09:00:00+01:00"), (lines[4], "103", "2026-12-07T09:03:00+01:00")]
        {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!((fields[0], fields[2], fields[3]), (number, due, ""), "{line}");
            assert!(
                fields[1].starts_with(&format!("sales-{number}-")) && names.contains(&fields[1].to_string()),
                "{line} {names:?}"
            );
            let call = callfile::parse(&fs::read(dir.0.join("outgoing").join(fields[1])).unwrap()).call;
            assert_eq!(call.dest, number.as_bytes(), "{line}");
        }
        assert!(lines[2].starts_with("1 02,,,") && lines[2].len() > "1 02,,,".len(), "{text}");
        // A number with a quote and a comma: quoted as CSV, and '_' for both in its file's name.
        let quoted = "\"\"\"x\"\",y\",sales-_x__y-";
        assert!(lines[3].starts_with(quoted) && lines[3].ends_with(",2026-12-07T09:02:00+01:00,"), "{text}");
        // A second run never replaces the first manifest; --manifest PATH and --no-manifest.
        let (result, out, _) = run(&settings, &request);
        assert_eq!(result, Ok(Exit::Refused));
        assert!(out.contains("numbers.manifest-2.csv"), "{out}");
        assert_eq!(fs::read_to_string(&manifest).unwrap(), text);
        let chosen = dir.0.join("chosen.csv");
        fs::write(&chosen, "old\n").unwrap();
        let (result, _, _) = run(&settings, &BulkRequest { manifest: Manifest::At(chosen.clone()), ..request.clone() });
        assert_eq!(result, Ok(Exit::Refused));
        assert!(fs::read_to_string(&chosen).unwrap().starts_with("number,file,due,refused\n+49301,sales-+49301-"));
        let before = dir.names(".");
        let (result, out, _) = run(&settings, &BulkRequest { manifest: Manifest::None, ..request.clone() });
        assert_eq!(result, Ok(Exit::Refused));
        assert!(!out.contains("Manifest"), "{out}");
        assert_eq!(dir.names("."), before);
        // An unwritable manifest stops before any file is placed.
        let files = dir.names("outgoing").len();
        let nowhere = Manifest::At(dir.0.join("no/such/dir/m.csv"));
        let (result, _, _) = run(&settings, &BulkRequest { manifest: nowhere, ..request });
        let error = result.unwrap_err();
        assert_eq!(error.exit, Exit::Failure);
        assert!(error.message.contains("--no-manifest"), "{}", error.message);
        assert_eq!(dir.names("outgoing").len(), files);
    }

    #[test]
    fn a_campaign_by_channel_is_found_from_the_generated_file() {
        let dir = TempDir::spool("bulkchannel");
        let template = dir.file("promo.call", SALES_TEMPLATE);
        let numbers = dir.file("numbers.txt", "100\n101\n");
        let config = "[general]\n[sales]\nmatch = *\nchannel = PJSIP/*\nhours = 09:00-18:00\ntimezone = Asia/Tokyo\n";
        let at = When::At { time: "2026-12-04 20:00".into(), zone: Some("Asia/Tokyo".into()) };
        let (result, out, err) = run(&dir.installed(Some(config)), &request(numbers, template, at, Some("1h")));
        assert_eq!(result, Ok(Exit::Success), "{err}");
        assert!(err.contains("join campaign [sales]") && err.contains("2 of 2 due times"), "{err}");
        assert!(out.contains("First call due 2026-12-05 09:00:00 JST (2026-12-05 00:00:00 UTC)"), "{out}");
    }

    #[test]
    fn bulk_refuses_a_bad_template_before_writing_anything() {
        let dir = TempDir::spool("badtemplate");
        let numbers = dir.file("numbers.txt", "100\n");
        let refused = dir.file("refused.call", "Channel: PJSIP/{number}@trunk\nApplication: Echo\n");
        let no_placeholder = dir.file("fixed.call", VALID);
        for (template, exit) in [(refused, Exit::Refused), (no_placeholder, Exit::Failure)] {
            let request = request(numbers.clone(), template, When::Now, None);
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
