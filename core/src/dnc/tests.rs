//! Unit tests of the do-not-call lists: the number as written, the set, the files read again when they
//! change, and the last good copy kept when one cannot be read. Files live in a temporary directory.

use super::*;
use crate::testing::{temp_spool, FakeHost};
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn digits(text: &str) -> Vec<u8> {
    normalise(text.as_bytes()).unwrap()
}

#[test]
fn a_number_is_its_digits_without_the_separators_an_admin_writes() {
    assert_eq!(digits("+49 (30) 123-4.5"), b"493012345");
    assert_eq!(digits("0301234"), b"0301234");
    assert_eq!(digits("00 49 30"), b"004930", "00 is kept: it is not the same number as +49");
    assert_eq!(normalise(b"030abc"), Err(NotANumber::Unexpected(b'a')));
    assert_eq!(normalise(b"*67"), Err(NotANumber::Unexpected(b'*')));
    assert_eq!(normalise(b"+-"), Err(NotANumber::NoDigits));
    assert_eq!(normalise(b""), Err(NotANumber::NoDigits));
}

#[test]
fn leading_zeros_count_and_long_numbers_are_kept_too() {
    let long = "1234567890123456789012".to_string();
    let set = NumberSet::from_entries(vec![
        (digits("0301234"), 1),
        (digits("301234"), 2),
        (digits(&long), 3),
        (digits("0301234"), 4),
        (digits("999999999999999999"), 5),
    ]);
    assert_eq!(set.len(), 4, "the number written twice counts once");
    assert_eq!(set.line_of(b"0301234"), Some(1), "its first line");
    assert_eq!(set.line_of(b"301234"), Some(2));
    assert_eq!(set.line_of(b"00301234"), None);
    assert_eq!(set.line_of(long.as_bytes()), Some(3));
    assert_eq!(set.line_of(b"12345678901234567890"), None);
    assert_eq!(set.line_of(b"999999999999999999"), Some(5), "18 digits fit the compact form");
    assert_eq!(set.line_of(b"0"), None);
}

#[test]
fn a_list_skips_comments_blank_lines_and_reports_lines_that_are_not_numbers() {
    let parsed = parse_list(b"; header\n\n0301234 ; Mrs Smith\n# a note\r\n+49 30 555\r\n030 call me\n  \t\nabc\n");
    assert_eq!(parsed.numbers.len(), 2);
    assert_eq!(parsed.numbers.line_of(b"0301234"), Some(3));
    assert_eq!(parsed.numbers.line_of(b"4930555"), Some(5));
    assert_eq!(parsed.skipped, 2);
    assert_eq!(parsed.skipped_shown[0].0, 6);
    assert!(parsed.skipped_shown[0].1.contains("'c' is not a digit"), "{:?}", parsed.skipped_shown);
    assert_eq!(parsed.skipped_shown[1].0, 8);
}

#[test]
fn only_the_first_skipped_lines_are_shown_but_all_are_counted() {
    let text = "x\n".repeat(SKIPPED_SHOWN + 5);
    let parsed = parse_list(text.as_bytes());
    assert_eq!(parsed.skipped, SKIPPED_SHOWN + 5);
    assert_eq!(parsed.skipped_shown.len(), SKIPPED_SHOWN);
}

#[test]
fn a_million_numbers_take_about_twelve_bytes_each() {
    let entries = (0..1_000_000u64).map(|n| (format!("0{:09}", n * 7).into_bytes(), 1)).collect();
    let set = NumberSet::from_entries(entries);
    assert_eq!(set.len(), 1_000_000);
    assert!(set.heap_bytes() <= 12 * 1_000_000 + 64, "{}", set.heap_bytes());
    assert_eq!(set.line_of(b"0000000007"), Some(1));
    assert_eq!(set.line_of(b"000000008"), None);
}

fn general_list(path: &std::path::Path) -> DncLists {
    DncLists::new(&[path.display().to_string()], &[])
}

#[test]
fn a_changed_list_is_read_again_before_the_next_check() {
    let dir = temp_spool("dnc-reload").outgoing;
    let path = dir.join("dnc.txt");
    fs::write(&path, "0301234\n").unwrap();
    let host = FakeHost::new(|_, _| crate::testing::answered());
    let lists = general_list(&path);
    let applicable = lists.applicable(None);
    assert_eq!(applicable.check(&*host, b"0301234"), Verdict::Listed { path: path.clone(), line: 1 });
    assert_eq!(applicable.check(&*host, b"0305555"), Verdict::Clear);
    assert!(host.logged("Loaded do-not-call list"), "{:?}", host.with(|r| r.logs.clone()));
    let loads = || host.with(|r| r.logs.iter().filter(|(_, line)| line.starts_with("Loaded do-not-call")).count());
    assert_eq!(loads(), 1, "an unchanged file is not read again");

    // Written aside and renamed over, as an admin's script would: a new inode.
    let aside = dir.join("dnc.txt.new");
    fs::write(&aside, "# new\n0305555\n").unwrap();
    fs::rename(&aside, &path).unwrap();
    assert_eq!(applicable.check(&*host, b"0305555"), Verdict::Listed { path: path.clone(), line: 2 });
    assert_eq!(applicable.check(&*host, b"0301234"), Verdict::Clear, "removed from the list");
    assert_eq!(loads(), 2);
}

#[test]
fn an_unreadable_list_keeps_its_last_good_copy_and_says_so_once() {
    let dir = temp_spool("dnc-unreadable").outgoing;
    let path = dir.join("dnc.txt");
    fs::write(&path, "0301234\n").unwrap();
    let host = FakeHost::new(|_, _| crate::testing::answered());
    let lists = general_list(&path);
    let applicable = lists.applicable(None);
    assert_eq!(applicable.check(&*host, b"0301234"), Verdict::Listed { path: path.clone(), line: 1 });
    fs::remove_file(&path).unwrap();
    assert_eq!(applicable.check(&*host, b"0301234"), Verdict::Listed { path: path.clone(), line: 1 });
    assert_eq!(applicable.check(&*host, b"0301234"), Verdict::Listed { path: path.clone(), line: 1 });
    let errors = host.with(|r| {
        r.logs
            .iter()
            .filter(|(level, _)| *level == crate::host::Level::Error)
            .map(|(_, l)| l.clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with(&format!("Unable to read do-not-call list {}: ", path.display())), "{errors:?}");
    assert!(errors[0].contains("keeping its last good copy (1 numbers"), "{errors:?}");
    assert!(lists.describe()[0].1.starts_with("UNREADABLE since "), "{:?}", lists.describe());
    assert!(lists.describe()[0].1.contains("last good copy is in force: 1 numbers"), "{:?}", lists.describe());

    fs::write(&path, "0305555\n").unwrap();
    assert_eq!(applicable.check(&*host, b"0301234"), Verdict::Clear, "readable again: the new copy");
    assert!(lists.describe()[0].1.starts_with("1 numbers, loaded "), "{:?}", lists.describe());
}

#[test]
fn a_list_never_read_refuses_to_clear_any_number() {
    let dir = temp_spool("dnc-never").outgoing;
    let path = dir.join("dnc.txt");
    let host = FakeHost::new(|_, _| crate::testing::answered());
    let lists = general_list(&path);
    assert_eq!(lists.describe()[0].1, "not read yet");
    let verdict = lists.applicable(None).check(&*host, b"0305555");
    assert!(matches!(&verdict, Verdict::Unreadable { reason, .. } if reason.contains("No such file")), "{verdict:?}");
    assert!(host.logged("no good copy was ever read, so the call files it applies to are not dialled"));
    if running_as_root() {
        return; // root reads a mode-000 file: the permission case cannot be shown
    }
    fs::write(&path, "0301234\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    let verdict = lists.applicable(None).check(&*host, b"0305555");
    assert!(
        matches!(&verdict, Verdict::Unreadable { reason, .. } if reason.contains("Permission denied")),
        "{verdict:?}"
    );
}

fn running_as_root() -> bool {
    crate::os::Identity::current().uid == 0
}

#[test]
fn a_campaigns_lists_add_to_generals() {
    let lists = DncLists::new(
        &["/g.txt".to_string()],
        &[&["/a.txt".to_string(), "/g.txt".to_string()], &[], &["/a.txt".to_string(), "/a.txt".to_string()]],
    );
    assert_eq!(lists.applicable(None).paths(), "/g.txt");
    assert_eq!(lists.applicable(Some(0)).paths(), "/g.txt, /a.txt");
    assert_eq!(lists.applicable(Some(1)).paths(), "/g.txt");
    assert_eq!(lists.applicable(Some(2)).paths(), "/g.txt, /a.txt");
    assert_eq!(lists.describe().len(), 2, "each file once");
    assert!(DncLists::new(&[], &[]).applicable(Some(0)).is_empty());
}

#[test]
fn a_reloaded_configuration_keeps_the_copies_already_read() {
    let dir = temp_spool("dnc-adopt").outgoing;
    let path = dir.join("dnc.txt");
    fs::write(&path, "0301234\n").unwrap();
    let host = FakeHost::new(|_, _| crate::testing::answered());
    let before = general_list(&path);
    before.refresh(&*host);
    let after = general_list(&path);
    after.adopt(&before);
    assert!(after.describe()[0].1.starts_with("1 numbers"), "{:?}", after.describe());
    assert_eq!(after.applicable(None).check(&*host, b"0301234"), Verdict::Listed { path: path.clone(), line: 1 });
    assert_eq!(host.with(|r| r.logs.iter().filter(|(_, l)| l.starts_with("Loaded")).count()), 1);
}
