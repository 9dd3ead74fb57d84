use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::config::SpoolConfig;

/// Set to 1 to write the committed file from [`render`] instead of comparing (`make docs-xml`).
const BLESS_VARIABLE: &str = "PBX_SPOOL_RS_BLESS_DOCS";

fn committed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("documentation").join(FILE_NAME)
}

#[test]
fn the_committed_file_is_the_rendered_one() {
    let rendered = render();
    let path = committed_path();
    if std::env::var_os(BLESS_VARIABLE).is_some_and(|value| value == "1") {
        std::fs::write(&path, &rendered).expect("write the documentation file");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != rendered {
        let line = committed.lines().zip(rendered.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
        panic!(
            "{} differs from the declarations it is rendered from (first at line {line}); write it again with \
             `make docs-xml` ({BLESS_VARIABLE}=1 cargo test -p pbx_spool_core xmldoc) and commit it",
            path.display()
        );
    }
}

#[test]
fn every_action_header_event_and_key_is_documented() {
    let xml = render();
    for action in AMI_ACTIONS {
        let name = action.name.to_str().unwrap();
        assert!(
            xml.contains(&format!("<manager name=\"{name}\" language=\"en_US\" module=\"pbx_spool_rs\">")),
            "{name}"
        );
        for header in action.headers {
            assert!(xml.contains(&format!("<parameter name=\"{}\"", header.name)), "{name}: {}", header.name);
        }
    }
    for event in AMI_EVENTS {
        assert!(xml.contains(&format!("<managerEvent name=\"{}\" language=\"en_US\"", event.name)), "{}", event.name);
        for field in event.fields {
            assert!(xml.contains(&format!("<parameter name=\"{}\">", field.name)), "{}: {}", event.name, field.name);
        }
    }
    let mut names = Vec::new();
    for key in general_key_docs() {
        names.push(key.name);
        assert!(xml.contains(&format!("<configOption name=\"{}\" default=", key.name)), "{}", key.name);
    }
    assert_eq!(names.len(), 25, "every [general] key");
    for key in CAMPAIGN_KEYS {
        assert!(xml.contains(&format!("<configOption name=\"{}\" default=", key.name)), "{}", key.name);
    }
    assert!(xml.contains("<configObject name=\"general\">") && xml.contains("<configObject name=\"campaign\">"));
}

#[test]
fn defaults_are_the_values_in_force() {
    let xml = render();
    let defaults = SpoolConfig::default();
    for (key, value) in [
        ("maxrate", "0".to_string()),
        ("maxcalls", "0".to_string()),
        ("max_file_size", defaults.max_file_size.to_string()),
        ("max_set_lines", defaults.policy.max_set_lines.to_string()),
        ("max_value_len", defaults.policy.max_value_len.to_string()),
        ("scan_interval", defaults.scan_interval_ms.to_string()),
        ("first_leg", "local".to_string()),
        ("owner_check", "yes".to_string()),
        ("shared", "no".to_string()),
        ("watch", "inotify".to_string()),
    ] {
        assert!(xml.contains(&format!("<configOption name=\"{key}\" default=\"{value}\"")), "{key} = {value}");
    }
}

#[test]
fn escapes_what_xml_reserves() {
    assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    assert!(!render().contains("<name>"), "no unescaped placeholder");
}

/// Asterisk's DTD: in the test chroot (`$PBX_SPOOL_RS_ENV`, default /var/cache/pbx_spool_rs/sid) or on
/// this machine.
fn asterisk_dtd() -> Option<PathBuf> {
    let env_dir = std::env::var_os("PBX_SPOOL_RS_ENV")
        .map_or_else(|| PathBuf::from("/var/cache/pbx_spool_rs/sid"), PathBuf::from);
    [
        env_dir.join("usr/share/asterisk/documentation/appdocsxml.dtd"),
        "/usr/share/asterisk/documentation/appdocsxml.dtd".into(),
    ]
    .into_iter()
    .find(|path| path.is_file())
}

#[test]
fn the_file_is_valid_against_asterisks_dtd() {
    let required = std::env::var_os("PBX_SPOOL_RS_REQUIRE_ENV").is_some_and(|value| value == "1");
    let xmllint = Command::new("xmllint").arg("--version").output().is_ok_and(|output| output.status.success());
    let Some(dtd) = asterisk_dtd().filter(|_| xmllint) else {
        assert!(
            !required,
            "xmllint (libxml2-utils) or Asterisk's appdocsxml.dtd is missing (tests/scripts/host-deps.sh)"
        );
        eprintln!("skipped: xmllint or appdocsxml.dtd not found");
        return;
    };
    let dir = std::env::temp_dir().join(format!("pbx_spool_rs-xmldoc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, render()).unwrap();
    let output = Command::new("xmllint").arg("--noout").arg("--dtdvalid").arg(&dtd).arg(&file).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "xmllint --dtdvalid {}: {}",
        dtd.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}
