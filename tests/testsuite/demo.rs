//! `make demo`: pbx_spool_rs for real, narrated. Starts Asterisk 22 (the project's chroot) with
//! pbx_spool_rs, drops real call files into its spool and shows what happens: the call placed and
//! answered, the archived file, and a call that is never answered being retried and expiring.
//! Marked #[ignore] so the test run skips it; `make demo` runs it with --ignored --nocapture.

use std::time::Duration;

use harness::{Asterisk, Spooler};

const DIALPLAN: &str = "\
[customers]
; stands in for a phone: answers, \"talks\", hangs up
exten => 100,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()
; a phone that never answers
exten => 200,1,Busy(1)

[reminders]
exten => s,1,NoOp(Reminder for ${CALLERID(num)}, attempt ${AST_OUTGOING_ATTEMPT}, ref ${APPOINTMENT})
 same => n,UserEvent(DemoReminder,Appointment: ${APPOINTMENT},Attempt: ${AST_OUTGOING_ATTEMPT})
 same => n,Hangup()
exten => failed,1,UserEvent(DemoFailed,Reason: ${REASON})
";

fn show(title: &str, body: &str) {
    println!("\n=== {title}\n{}", body.trim_end());
}

fn module_lines(ast: &Asterisk, since: usize) -> String {
    ast.log_since(since)
        .lines()
        .filter(|l| l.contains("src/attempt/") || l.contains("Attempting call") || l.contains("UserEvent"))
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "the narrated demo; run with `make demo`"]
fn demo() {
    let ast = Asterisk::builder(Spooler::Rust).name("demo").verbose(3).extensions(DIALPLAN).start();
    show("Asterisk", &ast.cli("core show version"));
    show("Module", &ast.cli("module show like pbx_spool"));

    let answered = "\
Channel: Local/100@customers
CallerID: \"Clinic\" <5550100>
Context: reminders
Extension: s
Set: APPOINTMENT=2026-12-01 09:30
Archive: yes
";
    show("Dropping reminder.call into outgoing/ (written elsewhere, renamed in)", answered);
    let mark = ast.log_mark();
    let file = ast.drop_call_file("reminder.call", answered);
    let event =
        ast.expect_event("the reminder call to run", Duration::from_secs(10), |e| e.is_user_event("DemoReminder"));
    ast.expect_until("reminder.call to be archived", Duration::from_secs(10), || !file.exists());
    show("AMI UserEvent from the dialplan", &format!("{event:?}"));
    for name in ["SpoolAttempt", "SpoolFinished"] {
        let spool_event = ast.expect_event(name, Duration::from_secs(10), |e| e.is_event(name));
        show(&format!("AMI {name} event"), &format!("{spool_event:?}"));
    }
    let done = ast.outgoing_done_dir().join("reminder.call");
    ast.expect_until("the archived file", Duration::from_secs(5), || {
        std::fs::read_to_string(&done).is_ok_and(|t| t.contains("Status:"))
    });
    show("outgoing_done/reminder.call", &std::fs::read_to_string(&done).unwrap_or_default());
    show("Log", &module_lines(&ast, mark));
    assert!(std::fs::read_to_string(&done).unwrap_or_default().ends_with("Status: Completed\n"));

    let unanswered = "\
Channel: Local/200@customers
Context: reminders
Extension: s
MaxRetries: 1
RetryTime: 2
Archive: yes
";
    show("Dropping busy.call: the phone is busy; one retry two seconds later", unanswered);
    let mark = ast.log_mark();
    let file = ast.drop_call_file("busy.call", unanswered);
    ast.expect_until("busy.call to expire", Duration::from_secs(20), || !file.exists());
    let done = ast.outgoing_done_dir().join("busy.call");
    ast.expect_until("the archived file", Duration::from_secs(5), || {
        std::fs::read_to_string(&done).is_ok_and(|t| t.contains("Status:"))
    });
    show("outgoing_done/busy.call", &std::fs::read_to_string(&done).unwrap_or_default());
    show("Log", &module_lines(&ast, mark));
    assert!(std::fs::read_to_string(&done).unwrap_or_default().ends_with("Status: Expired\n"));

    let tomorrow = "\
Channel: Local/100@customers
Context: reminders
Extension: s
Set: APPOINTMENT=tomorrow
MaxRetries: 2
";
    show("Dropping later.call, due in ten minutes, and fraud.call, straight out of a trunk", tomorrow);
    let later = ast.outgoing_dir().parent().unwrap().join("later.staged");
    std::fs::write(&later, tomorrow).unwrap();
    ast.set_mtime(&later, std::time::SystemTime::now() + Duration::from_secs(600));
    std::fs::rename(&later, ast.outgoing_dir().join("later.call")).unwrap();
    let mark = ast.log_mark();
    let fraud =
        ast.drop_call_file("fraud.call", "Channel: PJSIP/0900123456@trunk\nApplication: Playback\nData: tt-monkeys\n");
    ast.expect_until("fraud.call to be refused", Duration::from_secs(10), || !fraud.exists());
    show(
        "Log",
        &ast.log_since(mark)
            .lines()
            .filter(|l| l.contains("Rejected"))
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    ast.expect_until("later.call to be queued", Duration::from_secs(10), || {
        ast.cli("spool show queue").contains("later.call")
    });
    show("asterisk -rx 'spool show queue'", &ast.cli("spool show queue"));
    show("asterisk -rx 'spool show status'", &ast.cli("spool show status"));
    let draft = ast.path("draft.call");
    std::fs::write(
        &draft,
        "Channel: SIP/trunk/18005551234\nContext: reminders\nExtension: s\nRetryTime: soon\nFrobnicate: yes\n",
    )
    .unwrap();
    show(
        &format!("asterisk -rx 'spool check {}'", ast.inside_path(&draft)),
        &ast.cli(&format!("spool check {}", ast.inside_path(&draft))),
    );
    println!("\nDemo finished: every call file was handled by pbx_spool_rs in a real Asterisk 22.");
}
