//! `callfile check FILE...`: the spool's verdict on each file, offline, without placing anything.
//!
//! Reads the files and `--config`; never touches the spool.

use std::io::Write;
use std::path::PathBuf;

#[cfg(test)]
use crate::conf::ConfigChoice;
use crate::conf::{load_config, Settings};
use crate::error::{Error, Exit};
use crate::examine::{absolute, examine, print_examination, read_for_check};

/// `callfile check FILE...`: each file's diagnostics, problems and notes on `out`, `<file>: OK` for each
/// file the spool would place; I/O errors on `err`.
pub fn check_command(
    settings: &Settings,
    files: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, Error> {
    if files.is_empty() {
        return Err(Error::usage("check needs at least one call file"));
    }
    let rules = load_config(settings, err)?.rules;
    let mut exit = Exit::Success;
    for path in files {
        let shown = path.display().to_string();
        let bytes = match read_for_check(path, &rules) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(problem)) => {
                let _ = writeln!(out, "{problem}");
                exit = exit.max(Exit::Refused);
                continue;
            }
            Err(error) => {
                let _ = writeln!(err, "callfile: {error}");
                exit = exit.max(Exit::Failure);
                continue;
            }
        };
        let examination = examine(&bytes, &shown, &rules, Some(&absolute(path)));
        print_examination(&examination, out);
        if examination.placeable() {
            let _ = writeln!(out, "{shown}: OK");
        } else {
            exit = exit.max(Exit::Refused);
        }
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use pbx_spool_core::callfile;

    use super::*;
    use crate::test_support::{TempDir, VALID};

    #[test]
    fn check_command_output_and_exit_codes() {
        let dir = TempDir::new("check");
        let good = dir.0.join("good.call");
        let bad = dir.0.join("bad.call");
        fs::write(&good, VALID).unwrap();
        fs::write(&bad, "Channel: PJSIP/100\n").unwrap();
        let settings = Settings::default();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(check_command(&settings, std::slice::from_ref(&good), &mut out, &mut err), Ok(Exit::Success));
        let shown = good.display();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{shown}: note: PJSIP/100 is taken to be an endpoint this PBX knows: not checked offline: run \
                 `asterisk -rx 'spool check {shown}'`\n{shown}: OK\n"
            )
        );
        let mut out = Vec::new();
        let files = [good.clone(), bad.clone()];
        assert_eq!(check_command(&settings, &files, &mut out, &mut err), Ok(Exit::Refused));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&callfile::Invalid.message(&bad.display().to_string())), "{text}");
        let mut out = Vec::new();
        let files = [good, dir.0.join("missing.call")];
        assert_eq!(check_command(&settings, &files, &mut out, &mut err), Ok(Exit::Failure));
        assert!(String::from_utf8(err).unwrap().contains("missing.call: no such file"));
    }

    #[test]
    fn check_uses_the_policy_from_config() {
        let dir = TempDir::new("config");
        let conf = dir.file("pbx_spool_rs.conf", "[general]\nfirst_leg = any\n");
        let file = dir.file("trunk.call", "Channel: PJSIP/1@trunk\nApplication: Echo\n");
        let settings = Settings { config: ConfigChoice::File(conf.clone()), ..Settings::default() };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        // Whatever the configuration module decides, the file is read and checked without error.
        let exit = check_command(&settings, &[file], &mut out, &mut err).unwrap();
        assert_ne!(exit, Exit::Failure);
        fs::write(&conf, "[general]\n#include other.conf\n").unwrap();
        let error = check_command(&settings, std::slice::from_ref(&conf), &mut out, &mut err).unwrap_err();
        assert!(error.message.contains("#include"), "{}", error.message);
    }
}
