//! `spool check args <file>`: the policy's reading of application data set beside Asterisk's own.
//! Each line of the file is `<Application>\t<data>`; the data is split into the application's
//! arguments by [`crate::app_data::standard_args`] and by the running Asterisk's
//! `__ast_app_separate_args`, and its options argument by [`crate::app_data::parse_options`] and by
//! `ast_app_parse_options`. Every difference is printed, then a summary: zero differences means the
//! policy judges exactly what the applications will see.
//!
//! Reads one file; asks the host for Asterisk's answers. Never panics.

use std::path::Path;

use crate::app_data::{self, Options};
use crate::arguments;
use crate::cli::Answer;
use crate::host::Host;
use crate::text::{escaped, printable};

/// Fields given to both parsers for applications that take any number of arguments.
const VARIADIC_FIELDS: usize = 128;
/// Larger files are refused: the command is for test batteries, not for bulk data.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Differences printed in full; the rest are counted.
const SHOWN_DIFFERENCES: usize = 50;

fn list(items: &[Vec<u8>]) -> String {
    let shown: Vec<String> = items.iter().map(|item| format!("'{}'", escaped(item, 200))).collect();
    format!("[{}]", shown.join(", "))
}

fn options_text(options: &Options) -> String {
    let letters: Vec<String> = options
        .letters
        .iter()
        .enumerate()
        .filter_map(|(letter, argument)| {
            argument.as_ref().map(|argument| format!("{}({})", escaped(&[letter as u8], 8), escaped(argument, 200)))
        })
        .collect();
    format!("{}{}", letters.join(""), if options.complete { "" } else { " [unclosed]" })
}

/// Runs the comparison over the file at `path`.
pub fn run<H: Host + ?Sized>(host: &H, path: &Path) -> Answer {
    let shown_path = printable(path.as_os_str().as_encoded_bytes());
    let bytes = match std::fs::metadata(path).and_then(|meta| {
        if meta.len() > MAX_FILE_BYTES {
            Err(std::io::Error::other(format!("larger than {MAX_FILE_BYTES} bytes")))
        } else {
            std::fs::read(path)
        }
    }) {
        Ok(bytes) => bytes,
        Err(err) => return Answer::failure(format!("{shown_path}: {err}\n")),
    };
    let mut text = String::new();
    let (mut lines, mut option_lists, mut differences) = (0usize, 0usize, 0usize);
    for (number, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let Some(tab) = line.iter().position(|&byte| byte == b'\t') else {
            text.push_str(&format!("line {}: no tab between application and data, skipped\n", number + 1));
            continue;
        };
        let (application, data) = (&line[..tab], &line[tab + 1..]);
        let spec = arguments::arguments_of(application);
        let fields = spec.map_or(VARIADIC_FIELDS, |spec| spec.field_count()).min(VARIADIC_FIELDS);
        let ours = app_data::standard_args(data, fields);
        let Some(theirs) = host.asterisk_separate_args(data, fields) else {
            return Answer::failure("No Asterisk parser to compare with\n".to_string());
        };
        lines += 1;
        let mut report = |what: String| {
            differences += 1;
            if differences <= SHOWN_DIFFERENCES {
                text.push_str(&format!("DIFF line {}: {what}\n", number + 1));
            }
        };
        if ours != theirs {
            report(format!("arguments: policy {} asterisk {}", list(&ours), list(&theirs)));
            continue;
        }
        let Some(options) = spec.and_then(|spec| spec.options_index()).and_then(|index| ours.get(index)) else {
            continue;
        };
        let Some(their_options) = host.asterisk_parse_options(options) else {
            return Answer::failure("No Asterisk parser to compare with\n".to_string());
        };
        option_lists += 1;
        let our_options = app_data::parse_options(options);
        if our_options != their_options {
            report(format!(
                "options '{}': policy {} asterisk {}",
                escaped(options, 200),
                options_text(&our_options),
                options_text(&their_options)
            ));
        }
    }
    if differences > SHOWN_DIFFERENCES {
        text.push_str(&format!("... {} more differences not shown\n", differences - SHOWN_DIFFERENCES));
    }
    text.push_str(&format!(
        "Compared {lines} argument lists and {option_lists} option lists with Asterisk's parser: {differences} \
         differences\n"
    ));
    Answer::success(text)
}
