//! `callfile generate-man DIR`: the manual pages, rendered from the clap definition in `cli` by
//! clap_mangen, so `man callfile` says exactly what `callfile --help` says. `make deb` runs it when it
//! builds the Debian package; it is hidden from the help and from the pages.
//!
//! Writes only into DIR (which must exist); reads nothing.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Exit};

/// Writes `callfile.1` and `callfile-<command>.1` for each visible command into `dir`, and names each page
/// written on `out`.
pub fn write_man_pages(dir: &Path, out: &mut dyn Write) -> Result<Exit, Error> {
    clap_mangen::generate_to(Cli::command(), dir)
        .map_err(|e| Error::io(format_args!("cannot write the manual pages into {}", dir.display()), &e))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format_args!("cannot list {}", dir.display()), &e))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("callfile") && name.ends_with(".1"))
        .collect();
    pages.sort();
    for page in pages {
        let _ = writeln!(out, "{}", dir.join(page).display());
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_has_a_page_and_the_hidden_one_none() {
        let dir = std::env::temp_dir().join(format!("callfile-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut out = Vec::new();
        let exit = write_man_pages(&dir, &mut out);
        let listed = String::from_utf8(out).unwrap();
        let main_page = std::fs::read_to_string(dir.join("callfile.1"));
        let hidden_page = dir.join("callfile-generate-man.1").exists();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(exit.unwrap(), Exit::Success);
        for page in ["callfile.1", "callfile-check.1", "callfile-submit.1", "callfile-bulk.1"] {
            assert!(listed.contains(page), "{page} not written: {listed}");
        }
        assert!(!hidden_page, "the hidden generate-man command got a page");
        let main_page = main_page.unwrap();
        assert!(main_page.contains("\n.TH callfile 1 "), "no title line for callfile(1): {main_page}");
        assert!(main_page.contains("callfile\\-check(1)"), "no reference to the check page: {main_page}");
        assert!(!main_page.contains("generate"), "the hidden command is named: {main_page}");
    }
}
