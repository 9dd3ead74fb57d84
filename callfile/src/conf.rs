//! Reading configuration offline: where the spool is (`--spool`, else `astspooldir` from asterisk.conf,
//! else `/var/spool/asterisk`) and which rules it applies (pbx_spool_rs.conf: `--config`, the installed
//! `<astetcdir>/pbx_spool_rs.conf` for `bulk`, or the built-in defaults; read through the core's own
//! [`config::from_entries`], so the tool and the module agree on every key and default).
//!
//! Only reads files and turns them into values; it never touches the spool and never prints, except the
//! configuration's warnings and the note on an absent installed file in [`load_config`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pbx_spool_core::config::{self, ConfigEntry, SpoolConfig};

use crate::error::Error;

pub const DEFAULT_ASTERISK_CONF: &str = "/etc/asterisk/asterisk.conf";
pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/asterisk";
/// Asterisk's configuration directory when asterisk.conf names no `astetcdir`.
pub const DEFAULT_ETC_DIR: &str = "/etc/asterisk";
/// The module's configuration file, in Asterisk's configuration directory.
pub const CONFIG_FILE_NAME: &str = "pbx_spool_rs.conf";

/// Which pbx_spool_rs.conf a command applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigChoice {
    /// pbx_spool_rs's built-in defaults (`check` and `submit` without `--config`, `bulk --no-config`).
    #[default]
    BuiltIn,
    /// `--config PATH`: it must be readable and valid.
    File(PathBuf),
    /// The one the module reads (`bulk` without `--config`): `<astetcdir>/pbx_spool_rs.conf`, astetcdir
    /// from asterisk.conf, else /etc/asterisk. Absent, the built-in defaults apply (with a note);
    /// unreadable or invalid, it is an error.
    Installed,
}

/// The rules a command applies, and the file they came from (`None`: the built-in defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    pub rules: SpoolConfig,
    pub path: Option<PathBuf>,
}

/// Options every command accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `--spool DIR`: the spool directory (the parent of `outgoing/`).
    pub spool: Option<PathBuf>,
    /// `--asterisk-conf PATH`, where `astspooldir` is looked up when `--spool` is not given, and
    /// `astetcdir` for [`ConfigChoice::Installed`].
    pub asterisk_conf: Option<PathBuf>,
    /// Which pbx_spool_rs.conf applies.
    pub config: ConfigChoice,
}

/// The settings in pbx_spool_rs.conf at `path`, with the warnings it produced, each naming file and line.
pub fn config_from_file(path: &Path) -> Result<(SpoolConfig, Vec<String>), Error> {
    let text = fs::read(path).map_err(|err| Error::io(format!("Cannot read {}", path.display()), &err))?;
    let shown = path.display().to_string();
    let entries = config_entries(&String::from_utf8_lossy(&text), &shown)?;
    match config::from_entries(&entries) {
        Ok((config, warnings)) => {
            let warnings =
                warnings.into_iter().map(|problem| format!("{shown} line {}: {}", problem.line, problem.message));
            Ok((config, warnings.collect()))
        }
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Err(Error::usage(format!("{shown} has errors: {}", lines.join("; "))))
        }
    }
}

/// The rules `settings` choose (see [`ConfigChoice`]); warnings from the file, and a note when the
/// installed file is absent, go to `err`.
pub fn load_config(settings: &Settings, err: &mut dyn Write) -> Result<LoadedConfig, Error> {
    let (path, installed) = match &settings.config {
        ConfigChoice::BuiltIn => return Ok(LoadedConfig { rules: SpoolConfig::default(), path: None }),
        ConfigChoice::File(path) => (path.clone(), false),
        ConfigChoice::Installed => {
            let path = installed_config_path(settings)?;
            if let Err(error) = fs::symlink_metadata(&path) {
                if error.kind() == std::io::ErrorKind::NotFound {
                    let _ =
                        writeln!(err, "callfile: note: no {}: pbx_spool_rs's built-in defaults apply", path.display());
                    return Ok(LoadedConfig { rules: SpoolConfig::default(), path: None });
                }
            }
            (path, true)
        }
    };
    let (rules, warnings) = config_from_file(&path).map_err(|mut error| {
        if installed {
            error
                .message
                .push_str(" (the installed configuration, read by default: give --config PATH or --no-config)");
        }
        error
    })?;
    for warning in warnings {
        let _ = writeln!(err, "callfile: warning: {warning}");
    }
    Ok(LoadedConfig { rules, path: Some(path) })
}

/// The pbx_spool_rs.conf the module reads: in `astetcdir` from asterisk.conf, else in /etc/asterisk.
pub fn installed_config_path(settings: &Settings) -> Result<PathBuf, Error> {
    let etc = asterisk_directory(settings, "astetcdir")?.unwrap_or_else(|| PathBuf::from(DEFAULT_ETC_DIR));
    Ok(etc.join(CONFIG_FILE_NAME))
}

/// One `key = value` (or `key => value`) line of an Asterisk-style configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IniEntry {
    line: u32,
    category: String,
    /// Whatever follows `]` on the category line, such as `(!)` for a template.
    category_options: String,
    key: String,
    value: String,
}

/// A minimal reader for Asterisk's configuration syntax: `[category]`, `key = value`, `key => value`,
/// `;` comments (`\;` is a literal `;`) and `;-- ... --;` block comments. No `#include`, `#exec` or
/// templates: those need Asterisk's own loader.
fn read_ini(text: &str, shown: &str) -> Result<Vec<IniEntry>, Error> {
    let mut entries = Vec::new();
    let mut category: Option<(String, String)> = None;
    let mut in_block_comment = false;
    for (index, raw_line) in text.lines().enumerate() {
        let line_number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let mut line = raw_line.to_string();
        if in_block_comment {
            let Some(end) = line.find("--;") else {
                continue;
            };
            line.replace_range(..end + 3, "");
        }
        let (content, opens_block) = strip_comment(&line);
        in_block_comment = opens_block;
        let content = content.trim();
        if content.is_empty() {
            continue;
        }
        if content.starts_with('#') {
            return Err(Error::usage(format!(
                "{shown} line {line_number}: '{content}' cannot be followed offline (#include and #exec need \
                 Asterisk: use `asterisk -rx 'spool check FILE'`)"
            )));
        }
        if let Some(rest) = content.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(Error::usage(format!("{shown} line {line_number}: unterminated category name")));
            };
            category = Some((rest[..close].trim().to_string(), rest[close + 1..].trim().to_string()));
            continue;
        }
        let Some((category_name, category_options)) = &category else {
            return Err(Error::usage(format!("{shown} line {line_number}: a setting before any [category]")));
        };
        let Some((key, value)) = content.split_once('=') else {
            return Err(Error::usage(format!("{shown} line {line_number}: expected 'key = value'")));
        };
        let value = value.strip_prefix('>').unwrap_or(value);
        entries.push(IniEntry {
            line: line_number,
            category: category_name.clone(),
            category_options: category_options.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(entries)
}

/// Cuts a line at its first unescaped `;`, turning `\;` into `;`. Also says whether the comment opens a
/// `;--` block comment that does not end on this line.
fn strip_comment(line: &str) -> (String, bool) {
    let mut content = String::with_capacity(line.len());
    let mut chars = line.char_indices().peekable();
    while let Some((at, character)) = chars.next() {
        match character {
            '\\' if chars.peek().map(|&(_, next)| next) == Some(';') => {
                content.push(';');
                chars.next();
            }
            ';' => {
                let comment = &line[at..];
                let opens_block = comment.starts_with(";--") && !comment[3..].contains("--;");
                return (content, opens_block);
            }
            other => content.push(other),
        }
    }
    (content, false)
}

/// pbx_spool_rs.conf's entries, in file order. Templates (`[name](!)`, `[name](template)`) are refused:
/// only Asterisk's loader resolves them.
pub fn config_entries(text: &str, shown: &str) -> Result<Vec<ConfigEntry>, Error> {
    read_ini(text, shown)?
        .into_iter()
        .map(|entry| {
            if !entry.category_options.is_empty() {
                return Err(Error::usage(format!(
                    "{shown} line {}: category options '{}' (templates) cannot be followed offline",
                    entry.line, entry.category_options
                )));
            }
            Ok(ConfigEntry { category: entry.category, key: entry.key, value: entry.value, line: entry.line })
        })
        .collect()
}

/// The directory `key` (`astspooldir`, `astetcdir`...) names in the `[directories]` section of
/// asterisk.conf's text; the last one wins, as in Asterisk.
pub fn directory_from_asterisk_conf(text: &str, wanted: &str) -> Option<PathBuf> {
    // Lenient on purpose: asterisk.conf is Asterisk's, and whatever else it holds is not our business.
    let mut category = String::new();
    let mut found = None;
    for raw_line in text.lines() {
        let (content, _) = strip_comment(raw_line);
        let content = content.trim();
        if let Some(rest) = content.strip_prefix('[') {
            category = rest.split(']').next().unwrap_or_default().trim().to_string();
            continue;
        }
        if !category.eq_ignore_ascii_case("directories") {
            continue;
        }
        if let Some((key, value)) = content.split_once('=') {
            let value = value.strip_prefix('>').unwrap_or(value).trim();
            if key.trim().eq_ignore_ascii_case(wanted) && !value.is_empty() {
                found = Some(PathBuf::from(value));
            }
        }
    }
    found
}

/// The spool directory: `--spool`, else `astspooldir` from asterisk.conf, else `/var/spool/asterisk`.
pub fn resolve_spool_dir(settings: &Settings) -> Result<PathBuf, Error> {
    if let Some(spool) = &settings.spool {
        return Ok(spool.clone());
    }
    Ok(asterisk_directory(settings, "astspooldir")?.unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR)))
}

/// The directory `key` names in asterisk.conf (`--asterisk-conf`, else /etc/asterisk/asterisk.conf), if
/// it names one. An asterisk.conf named with `--asterisk-conf` must be readable; the default one may be
/// absent.
fn asterisk_directory(settings: &Settings, key: &str) -> Result<Option<PathBuf>, Error> {
    let (conf, explicit) = match &settings.asterisk_conf {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_ASTERISK_CONF), false),
    };
    match fs::read(&conf) {
        Ok(text) => Ok(directory_from_asterisk_conf(&String::from_utf8_lossy(&text), key)),
        Err(err) if explicit => Err(Error::io(format!("Cannot read {}", conf.display()), &err)),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
    use crate::test_support::TempDir;

    #[test]
    fn config_entries_read_asterisk_syntax() {
        let text = "; comment\n[general]\nfirst_leg = strict ; trailing\ndeny => PJSIP/*@*\n\
                    ;-- block\nignored = 1\n--;\nvalue = a\\;b\n[other]\nkey=v\n";
        let entries = config_entries(text, "x.conf").unwrap();
        let got: Vec<(&str, &str, &str, u32)> =
            entries.iter().map(|e| (e.category.as_str(), e.key.as_str(), e.value.as_str(), e.line)).collect();
        assert_eq!(
            got,
            vec![
                ("general", "first_leg", "strict", 3),
                ("general", "deny", "PJSIP/*@*", 4),
                ("general", "value", "a;b", 8),
                ("other", "key", "v", 10),
            ]
        );
        for bad in ["key = 1\n", "[general]\nno equals\n", "[general]\n#exec x\n", "[t](!)\nk=v\n", "[open\n"] {
            assert_eq!(config_entries(bad, "x.conf").unwrap_err().exit, Exit::Failure, "{bad:?}");
        }
    }

    #[test]
    fn directories_from_asterisk_conf_text() {
        let text = "[options]\nastspooldir => /wrong\n[directories](!)\nastetcdir => /etc/pbx\n\
                    astspooldir => /srv/spool ; comment\n";
        let spool_dir = |text: &str| directory_from_asterisk_conf(text, "astspooldir");
        assert_eq!(spool_dir(text), Some(PathBuf::from("/srv/spool")));
        assert_eq!(directory_from_asterisk_conf(text, "astetcdir"), Some(PathBuf::from("/etc/pbx")));
        assert_eq!(spool_dir("[directories]\nastspooldir=/x\n"), Some(PathBuf::from("/x")));
        assert_eq!(spool_dir("[directories]\n"), None);
    }

    #[test]
    fn spool_dir_resolution_order() {
        let dir = TempDir::new("astconf");
        let conf = dir.file("asterisk.conf", "[directories]\nastspooldir => /from/conf\n");
        let explicit =
            Settings { spool: Some("/given".into()), asterisk_conf: Some(conf.clone()), config: ConfigChoice::BuiltIn };
        assert_eq!(resolve_spool_dir(&explicit), Ok(PathBuf::from("/given")));
        let from_conf = Settings { asterisk_conf: Some(conf), ..Settings::default() };
        assert_eq!(resolve_spool_dir(&from_conf), Ok(PathBuf::from("/from/conf")));
        let missing = Settings { asterisk_conf: Some(dir.0.join("nope.conf")), ..Settings::default() };
        assert_eq!(resolve_spool_dir(&missing).unwrap_err().exit, Exit::Failure);
    }

    #[test]
    fn config_file_settings_warnings_and_errors() {
        let dir = TempDir::new("conffile");
        let conf = dir.file("pbx_spool_rs.conf", "[general]\nfirst_leg = any\nmax_file_size = 4096\nno_such_key = 1\n");
        let (config, warnings) = config_from_file(&conf).unwrap();
        assert_eq!(config.max_file_size, 4096);
        assert_eq!(config.policy.first_leg, pbx_spool_core::policy::FirstLegMode::Any);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with(&format!("{} line 4: ", conf.display())), "{warnings:?}");
        let mut err = Vec::new();
        let settings = Settings { config: ConfigChoice::File(conf.clone()), ..Settings::default() };
        let loaded = load_config(&settings, &mut err).unwrap();
        assert_eq!((loaded.rules.max_file_size, loaded.path), (4096, Some(conf.clone())));
        assert!(String::from_utf8(err).unwrap().starts_with("callfile: warning: "));
        fs::write(&conf, "[general]\nmax_file_size = lots\n").unwrap();
        let error = config_from_file(&conf).unwrap_err();
        assert_eq!(error.exit, Exit::Failure);
        assert!(error.message.contains("has errors: line 2: "), "{}", error.message);
        let defaults = LoadedConfig { rules: SpoolConfig::default(), path: None };
        assert_eq!(load_config(&Settings::default(), &mut Vec::new()), Ok(defaults));
    }

    /// asterisk.conf naming `astetcdir` (and `astspooldir`) in `dir`, as an installed Asterisk would.
    fn fake_asterisk_conf(dir: &TempDir) -> Settings {
        fs::create_dir_all(dir.0.join("etc")).unwrap();
        let text = format!(
            "[directories](!)\nastetcdir => {}/etc\nastspooldir => {}/spool\n",
            dir.0.display(),
            dir.0.display()
        );
        let asterisk_conf = dir.file("asterisk.conf", text);
        Settings { asterisk_conf: Some(asterisk_conf), config: ConfigChoice::Installed, ..Settings::default() }
    }

    #[test]
    fn the_installed_config_is_found_through_astetcdir() {
        let dir = TempDir::new("installed");
        let settings = fake_asterisk_conf(&dir);
        let installed = dir.0.join("etc/pbx_spool_rs.conf");
        assert_eq!(installed_config_path(&settings), Ok(installed.clone()));
        assert_eq!(resolve_spool_dir(&settings), Ok(dir.0.join("spool")));
        fs::write(&installed, "[general]\nmax_file_size = 2048\n").unwrap();
        let mut err = Vec::new();
        let loaded = load_config(&settings, &mut err).unwrap();
        assert_eq!((loaded.rules.max_file_size, loaded.path), (2048, Some(installed.clone())));
        assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
        // --config wins over the installed file; --no-config (BuiltIn) ignores it.
        let other = dir.file("other.conf", "[general]\nmax_file_size = 4096\n");
        let chosen = Settings { config: ConfigChoice::File(other), ..settings.clone() };
        assert_eq!(load_config(&chosen, &mut err).unwrap().rules.max_file_size, 4096);
        let built_in = Settings { config: ConfigChoice::BuiltIn, ..settings.clone() };
        assert_eq!(load_config(&built_in, &mut err).unwrap().path, None);
        // Without astetcdir: /etc/asterisk.
        let bare = Settings { asterisk_conf: Some(dir.file("bare.conf", "[options]\n")), ..settings };
        assert_eq!(installed_config_path(&bare), Ok(PathBuf::from("/etc/asterisk/pbx_spool_rs.conf")));
    }

    #[test]
    fn an_absent_installed_config_is_a_note_and_an_invalid_one_an_error() {
        let dir = TempDir::new("installed-bad");
        let settings = fake_asterisk_conf(&dir);
        let installed = dir.0.join("etc/pbx_spool_rs.conf");
        let mut err = Vec::new();
        let loaded = load_config(&settings, &mut err).unwrap();
        assert_eq!(loaded, LoadedConfig { rules: SpoolConfig::default(), path: None });
        let note = String::from_utf8(err).unwrap();
        assert_eq!(
            note,
            format!("callfile: note: no {}: pbx_spool_rs's built-in defaults apply\n", installed.display())
        );
        fs::write(&installed, "[general]\nmax_file_size = lots\n").unwrap();
        let error = load_config(&settings, &mut Vec::new()).unwrap_err();
        assert_eq!(error.exit, Exit::Failure);
        assert!(error.message.contains("line 2") && error.message.contains("--no-config"), "{}", error.message);
        // Unreadable: a directory in its place reads as an I/O error, whoever runs the test (root too).
        fs::remove_file(&installed).unwrap();
        fs::create_dir(&installed).unwrap();
        let error = load_config(&settings, &mut Vec::new()).unwrap_err();
        assert_eq!(error.exit, Exit::Failure);
        assert!(error.message.starts_with(&format!("Cannot read {}", installed.display())), "{}", error.message);
        // An asterisk.conf named with --asterisk-conf must exist.
        let missing = Settings { asterisk_conf: Some(dir.0.join("nope.conf")), ..settings };
        assert_eq!(load_config(&missing, &mut Vec::new()).unwrap_err().exit, Exit::Failure);
    }
}
