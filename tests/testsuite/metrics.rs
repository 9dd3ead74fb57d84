//! The spool's metrics in res_prometheus against the real Asterisk: scraped over HTTP (`/metrics`, a
//! plain HTTP/1.0 GET) after a known run of call files, the numbers match it; without res_prometheus the
//! module loads and dials, and res_prometheus loaded later serves the metrics; `module unload` and
//! `module load` (and `module refresh`) of res_prometheus with pbx_spool_rs loaded crash nothing and the
//! metrics come back, as they do after `module unload` and `module load` of pbx_spool_rs itself.
//! pbx_spool has no metrics, so these run against pbx_spool_rs alone.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use harness::env::has_stock_module;
use harness::events::{placed, spool_event};
use harness::{Asterisk, Builder, Spooler, SOON};

const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG})
 same => n,Hangup()

[busy]
exten => s,1,Busy()
"#;

/// res_prometheus needs res_pjsip where Asterisk was built with PJSIP (Debian's): loaded before it,
/// with what res_pjsip requires, where those modules exist.
const PROMETHEUS_NEEDS: &[&str] =
    &["res_sorcery_config.so", "res_sorcery_memory.so", "res_sorcery_astdb.so", "res_pjproject.so", "res_pjsip.so"];
const PROMETHEUS: &str = "res_prometheus.so";

/// The registration the module logs each time it hands its callback to res_prometheus.
const REGISTERED: &str = "Spool metrics (asterisk_spool_*) registered with res_prometheus";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local_addr").port()
}

/// An instance with Asterisk's HTTP server on `port` and res_prometheus serving `/metrics`, loaded at
/// boot or (`loaded` false) only installed for the test to load.
fn builder(port: u16, loaded: bool) -> Builder {
    let mut builder = Asterisk::builder(Spooler::Rust)
        .extensions(DIALPLAN)
        .file("pbx_spool_rs.conf", "[general]\n\n[sales]\nmatch = sales-*\n")
        .file("http.conf", &format!("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = {port}\n"))
        .file("prometheus.conf", "[general]\nenabled = yes\nuri = metrics\ncore_metrics_enabled = yes\n");
    for module in PROMETHEUS_NEEDS.iter().filter(|module| has_stock_module(module)) {
        builder = builder.module(module);
    }
    if loaded {
        builder.module(PROMETHEUS)
    } else {
        builder.installed_not_loaded(PROMETHEUS)
    }
}

/// One scrape: the HTTP status and the body.
fn scrape(port: u16) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    // Read up to the end of the body its Content-Length announces (the server may keep the connection).
    let mut response = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|length| body.len() >= length) {
                let status = head.split_whitespace().nth(1)?.parse().ok()?;
                return Some((status, body.to_owned()));
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                let (head, body) = text.split_once("\r\n\r\n")?;
                return Some((head.split_whitespace().nth(1)?.parse().ok()?, body.to_owned()));
            }
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

/// The samples of a scrape's body: the series (name and labels, as written) and its value.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The spool's samples from a successful scrape, or `None` (no answer, not 200, or no spool metrics).
fn spool_samples(port: u16) -> Option<BTreeMap<String, f64>> {
    let (status, body) = scrape(port)?;
    let samples = samples(&body);
    (status == 200 && samples.contains_key("asterisk_spool_scheduler_up")).then_some(samples)
}

/// Waits for a scrape in which `series` has `value`; returns that scrape's samples.
fn expect_sample(ast: &Asterisk, port: u16, series: &str, value: f64) -> BTreeMap<String, f64> {
    let mut last = None;
    let found = harness::wait_for(SOON, || {
        last = scrape(port);
        let (status, body) = last.as_ref()?;
        let samples = samples(body);
        (*status == 200 && samples.get(series) == Some(&value)).then_some(samples)
    });
    found.unwrap_or_else(|| panic!("no scrape with {series} = {value}; the last: {last:#?}\n{}", ast.diagnostics()))
}

fn call(tag: &str) -> String {
    format!("Channel: Local/s@answer\nContext: report\nExtension: s\nSet: TAG={tag}\n")
}

/// Moves a call file dated `at` into outgoing/ (dated before it is moved in, so it is queued, not dialled).
fn drop_dated(ast: &Asterisk, name: &str, contents: &str, at: SystemTime) {
    let tmp = ast.spool_dir().join(format!("dated-{name}"));
    fs::write(&tmp, contents).unwrap();
    harness::set_mtime(&tmp, at);
    fs::rename(&tmp, ast.outgoing_dir().join(name)).unwrap();
}

#[test]
fn a_scrape_counts_a_known_run_by_campaign_outcome_and_rule() {
    let port = free_port();
    let ast = builder(port, true).start();
    ast.expect_log(REGISTERED, SOON);
    let answered = ["done-1.call", "done-2.call", "done-3.call"];
    for (i, name) in answered.iter().enumerate() {
        ast.drop_call_file(name, &call(&format!("done{i}")));
    }
    let unanswered = ["busy-1.call", "busy-2.call"];
    for name in unanswered {
        ast.drop_call_file(name, "Channel: Local/s@busy\nContext: report\nExtension: s\nMaxRetries: 0\n");
    }
    ast.drop_call_file("system.call", "Channel: Local/s@answer\nApplication: System\nData: true\n");
    let later = SystemTime::now() + Duration::from_secs(3600);
    for i in 1..=4 {
        drop_dated(&ast, &format!("sales-{i}.call"), &call(&format!("sales{i}")), later);
    }
    for name in answered.iter().chain(&unanswered).chain(&["system.call"]) {
        ast.expect_event(&format!("{name} finished"), SOON, spool_event(&ast, "SpoolFinished", name));
    }
    let samples = expect_sample(&ast, port, "asterisk_spool_files_queued{campaign=\"sales\"}", 4.0);
    let expected = [
        ("asterisk_spool_scheduler_up", 1.0),
        ("asterisk_spool_files_queued{campaign=\"\"}", 0.0),
        ("asterisk_spool_calls_in_flight{campaign=\"sales\"}", 0.0),
        ("asterisk_spool_calls_in_flight{campaign=\"\"}", 0.0),
        ("asterisk_spool_files_due{campaign=\"sales\"}", 0.0),
        ("asterisk_spool_files_paused{campaign=\"sales\"}", 0.0),
        ("asterisk_spool_files_waiting_window{campaign=\"sales\"}", 0.0),
        ("asterisk_spool_campaign_paused{campaign=\"sales\"}", 0.0),
        ("asterisk_spool_files_parked", 0.0),
        ("asterisk_spool_attempts_total{campaign=\"\"}", 5.0),
        ("asterisk_spool_finished_total{campaign=\"\",outcome=\"completed\"}", 3.0),
        ("asterisk_spool_finished_total{campaign=\"\",outcome=\"expired\"}", 2.0),
        ("asterisk_spool_finished_total{campaign=\"\",outcome=\"rejected\"}", 1.0),
        ("asterisk_spool_refusals_total{rule=\"application\"}", 1.0),
        ("asterisk_spool_claims_lost_total", 0.0),
        ("asterisk_spool_inotify_overflows_total", 0.0),
        ("asterisk_spool_dial_latency_seconds_count", 5.0),
        ("asterisk_spool_dial_latency_seconds_bucket{le=\"+Inf\"}", 5.0),
    ];
    for (series, value) in expected {
        assert_eq!(samples.get(series), Some(&value), "{series} in {samples:#?}");
    }
    // Nothing of the sales campaign was attempted or finished; the start-up scan was counted and timed.
    assert!(!samples.keys().any(|series| series.contains("campaign=\"sales\"") && series.contains("_total")));
    let rescans: f64 =
        samples.iter().filter(|(s, _)| s.starts_with("asterisk_spool_rescans_total{")).map(|(_, v)| v).sum();
    assert!(rescans >= 1.0, "{samples:#?}");
    assert!(samples.get("asterisk_spool_scan_duration_seconds_count").is_some_and(|&n| n >= 1.0), "{samples:#?}");
    let latency = samples["asterisk_spool_dial_latency_seconds_sum"];
    assert!((0.0..30.0).contains(&latency), "dial latency sum {latency}");
    // Each family is declared once, with its type, as the exposition format wants.
    let (_, body) = scrape(port).unwrap();
    for family in ["asterisk_spool_files_queued gauge", "asterisk_spool_finished_total counter"] {
        assert_eq!(body.matches(&format!("# TYPE {family}\n")).count(), 1, "{body}");
    }
    assert_eq!(body.matches("# TYPE asterisk_spool_dial_latency_seconds histogram\n").count(), 1);
}

#[test]
fn without_res_prometheus_the_spool_dials_and_res_prometheus_loaded_later_serves_the_metrics() {
    let port = free_port();
    let ast = builder(port, false).start();
    assert!(ast.module_running("pbx_spool_rs.so"), "{}", ast.diagnostics());
    assert!(!ast.module_loaded(PROMETHEUS));
    ast.drop_call_file("before.call", &call("before"));
    ast.expect_event("the call placed without res_prometheus", SOON, placed("before"));
    ast.expect_event("before.call finished", SOON, spool_event(&ast, "SpoolFinished", "before.call"));
    assert!(spool_samples(port).is_none(), "metrics served without res_prometheus");
    assert!(!ast.log_text().contains(REGISTERED));

    ast.cli(&format!("module load {PROMETHEUS}"));
    assert!(ast.module_running(PROMETHEUS), "{}", ast.diagnostics());
    ast.expect_log(REGISTERED, SOON);
    expect_sample(&ast, port, "asterisk_spool_finished_total{campaign=\"\",outcome=\"completed\"}", 1.0);
    ast.drop_call_file("after.call", &call("after"));
    ast.expect_event("after.call finished", SOON, spool_event(&ast, "SpoolFinished", "after.call"));
    expect_sample(&ast, port, "asterisk_spool_attempts_total{campaign=\"\"}", 2.0);
}

#[test]
fn res_prometheus_unloaded_and_loaded_again_and_the_spool_itself_reloaded_lose_nothing() {
    let port = free_port();
    let ast = builder(port, true).start();
    ast.expect_log(REGISTERED, SOON);
    ast.drop_call_file("one.call", &call("one"));
    ast.expect_event("one.call finished", SOON, spool_event(&ast, "SpoolFinished", "one.call"));
    expect_sample(&ast, port, "asterisk_spool_attempts_total{campaign=\"\"}", 1.0);

    // Unloaded while pbx_spool_rs runs: nothing holds it, nothing crashes, the spool dials on.
    let out = ast.cli(&format!("module unload {PROMETHEUS}"));
    assert!(!ast.module_loaded(PROMETHEUS), "unload refused: {out}\n{}", ast.diagnostics());
    assert!(spool_samples(port).is_none());
    ast.drop_call_file("two.call", &call("two"));
    ast.expect_event("two.call finished", SOON, spool_event(&ast, "SpoolFinished", "two.call"));
    ast.assert_alive();

    // Loaded again: the metrics come back, counted all along.
    let mark = ast.log_mark();
    ast.cli(&format!("module load {PROMETHEUS}"));
    assert!(ast.module_running(PROMETHEUS), "{}", ast.diagnostics());
    expect_sample(&ast, port, "asterisk_spool_attempts_total{campaign=\"\"}", 2.0);
    ast.expect_log_since(mark, &[REGISTERED]);

    // Unloaded and loaded in one command: at most a scrape goes without them.
    ast.cli(&format!("module refresh {PROMETHEUS}"));
    assert!(ast.module_running(PROMETHEUS), "{}", ast.diagnostics());
    ast.drop_call_file("three.call", &call("three"));
    ast.expect_event("three.call finished", SOON, spool_event(&ast, "SpoolFinished", "three.call"));
    expect_sample(&ast, port, "asterisk_spool_attempts_total{campaign=\"\"}", 3.0);

    // pbx_spool_rs unloaded under a loaded res_prometheus: its metrics leave the scrape, which goes on.
    ast.cli("module unload pbx_spool_rs.so");
    assert!(!ast.module_loaded("pbx_spool_rs.so"), "{}", ast.diagnostics());
    let (status, body) = scrape(port).expect("res_prometheus answers");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("asterisk_spool_"), "{body}");
    ast.cli("module load pbx_spool_rs.so");
    assert!(ast.module_running("pbx_spool_rs.so"), "{}", ast.diagnostics());
    expect_sample(&ast, port, "asterisk_spool_scheduler_up", 1.0);
    ast.assert_alive();
}

/// The value of the row labelled `label` in a `spool show campaign` section (`Since load`, ...).
fn campaign_row(text: &str, section: &str, label: &str) -> String {
    let body = text.split_once(section).map_or("", |(_, rest)| rest);
    let body = body.split("\nSince ").next().unwrap_or(body);
    let line = body.lines().find(|line| line.trim_start().starts_with(label));
    line.map(|line| line.trim_start()[label.len()..].trim().to_string())
        .unwrap_or_else(|| panic!("no {label} under {section} in:\n{text}"))
}

#[test]
fn spool_show_campaign_counts_since_load_across_reload_and_since_a_reset() {
    let ast = Asterisk::builder(Spooler::Rust)
        .extensions(DIALPLAN)
        .file("pbx_spool_rs.conf", "[general]\n\n[sales]\nmatch = sales-*\n")
        .start();
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.drop_call_file("sales-2.call", "Channel: Local/s@busy\nContext: report\nExtension: s\nMaxRetries: 0\n");
    ast.drop_call_file("sales-3.call", "Channel: Local/s@answer\nApplication: System\nData: true\n");
    ast.drop_call_file("other.call", &call("other"));
    for name in ["sales-1.call", "sales-2.call", "sales-3.call", "other.call"] {
        ast.expect_event(&format!("{name} finished"), SOON, spool_event(&ast, "SpoolFinished", name));
    }
    let check_since_load = |text: &str| {
        assert_eq!(campaign_row(text, "Since load", "Attempts"), "2");
        assert_eq!(campaign_row(text, "Since load", "Answered"), "1");
        assert_eq!(campaign_row(text, "Since load", "Answer rate (answered per attempt)"), "50.0%");
        assert_eq!(campaign_row(text, "Since load", "Refused before an attempt"), "1");
        assert_eq!(campaign_row(text, "Since load", "Finished: expired"), "1");
        assert_eq!(campaign_row(text, "Since load", "Finished: rejected"), "1");
    };
    let text = ast.cli("spool show campaign sales");
    assert!(text.starts_with("Campaign sales (active)"), "{text}");
    check_since_load(&text);
    assert_eq!(campaign_row(&text, "Since spool reset stats", "Attempts"), "2");
    assert!(ast.cli("spool show campaign nosuch").contains("No campaign named 'nosuch'"));

    ast.cli("module reload pbx_spool_rs.so");
    check_since_load(&ast.cli("spool show campaign SALES"));

    assert!(ast.cli("spool reset stats").contains("Campaign statistics reset"));
    ast.drop_call_file("sales-4.call", &call("sales4"));
    ast.expect_event("sales-4.call finished", SOON, spool_event(&ast, "SpoolFinished", "sales-4.call"));
    let text = ast.cli("spool show campaign sales");
    assert_eq!(campaign_row(&text, "Since load", "Attempts"), "3");
    assert_eq!(campaign_row(&text, "Since spool reset stats", "Attempts"), "1");
    assert_eq!(campaign_row(&text, "Since spool reset stats", "Answer rate (answered per attempt)"), "100.0%");

    let answer = ast.ami().action("SpoolCampaign", &[("Campaign", "sales")], SOON);
    assert!(answer.has("Response", "Success"), "{answer}");
    for (key, value) in [
        ("Campaign", "sales"),
        ("Attempts", "3"),
        ("Answered", "2"),
        ("Refused", "1"),
        ("Outcomes", "completed=2,expired=1,rejected=1"),
        ("AttemptsSinceReset", "1"),
        ("AnswerRateSinceReset", "100.0"),
        ("InProgress", "0"),
    ] {
        assert!(answer.has(key, value), "{key}: {value} in {answer}");
    }
    assert!(ast.ami().action("SpoolCampaign", &[("Campaign", "nosuch")], SOON).has("Response", "Error"));
}
