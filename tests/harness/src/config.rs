//! What an instance should look like (spooler, modules, options, dialplan, extra files) and the text of
//! the configuration files that say so. Pure text: nothing here touches the disk or starts anything.

use std::time::Duration;

/// File name of the stock spooler module.
pub const STOCK_SO: &str = "pbx_spool.so";
/// File name our module is installed under in the instance's module directory.
pub const RUST_SO: &str = "pbx_spool_rs.so";

/// Stock modules every instance loads: enough for dialplan tests. Local channels, CDR and the AMI are
/// built into the core in Asterisk 22 and need no module.
pub const BASE_MODULES: &[&str] = &[
    "pbx_config.so",
    "app_userevent.so",
    "app_verbose.so",
    "app_echo.so",
    "app_system.so",
    "func_cdr.so",
    "func_callerid.so",
    "func_channel.so",
    "func_strings.so",
    "func_logic.so",
];

/// Which spooler the instance loads. Normal tests pick exactly one; `Both` exists for the test that
/// checks pbx_spool_rs refuses to run beside pbx_spool, `Neither` for tests that load one by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spooler {
    Stock,
    Rust,
    Both,
    Neither,
}

impl Spooler {
    /// The module files to load, in load order.
    pub fn modules(self) -> &'static [&'static str] {
        match self {
            Spooler::Stock => &[STOCK_SO],
            Spooler::Rust => &[RUST_SO],
            Spooler::Both => &[STOCK_SO, RUST_SO],
            Spooler::Neither => &[],
        }
    }

    /// The single spooler module, for tests that run against one.
    pub fn module(self) -> &'static str {
        match self {
            Spooler::Stock => STOCK_SO,
            Spooler::Rust => RUST_SO,
            other => panic!("Spooler::{other:?} is not a single module"),
        }
    }
}

/// Settings for one instance; build with [`crate::Asterisk::builder`], then `.start()`.
#[derive(Clone, Debug)]
pub struct Builder {
    pub(super) name: Option<String>,
    pub(super) spooler: Spooler,
    pub(super) verbose: u32,
    pub(super) debug: u32,
    pub(super) options: Vec<(String, String)>,
    pub(super) modules: Vec<String>,
    /// Modules installed in modules/ but `noload`ed at boot, for a test to `module load` by hand: (the
    /// name in modules/, the stock module file it is).
    pub(super) installed_not_loaded: Vec<(String, String)>,
    pub(super) extensions: String,
    pub(super) files: Vec<(String, String)>,
    /// Modes given to files of etc/ once written (root stays their owner).
    pub(super) file_modes: Vec<(String, u32)>,
    /// astspooldir's name inside the instance directory, as bytes (need not be UTF-8).
    pub(super) spool_name: Vec<u8>,
    /// A spool directory shared with other instances: (host path, inside path).
    pub(super) shared_spool: Option<(std::path::PathBuf, String)>,
    pub(super) boot_timeout: Duration,
    /// `[options] runuser`/`rungroup`: a user of the chroot Asterisk switches to after start (it starts as
    /// root); `None`: Asterisk runs as root.
    pub(super) run_as: Option<String>,
    /// Files of astdatadir's `documentation/thirdparty/` (name, contents), as `make install` puts them there.
    pub(super) third_party_docs: Vec<(String, String)>,
}

impl Builder {
    pub(super) fn new(spooler: Spooler) -> Builder {
        Builder {
            name: None,
            spooler,
            verbose: 3,
            debug: 0,
            options: Vec::new(),
            modules: BASE_MODULES.iter().map(|m| m.to_string()).collect(),
            installed_not_loaded: Vec::new(),
            extensions: String::new(),
            files: Vec::new(),
            file_modes: Vec::new(),
            spool_name: b"spool".to_vec(),
            shared_spool: None,
            boot_timeout: Duration::from_secs(30),
            run_as: None,
            third_party_docs: Vec::new(),
        }
    }

    /// Names the instance directory (default: the test's name, from its thread).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// `[options] verbose` (default 3; the messages log records verbose up to 3 regardless).
    pub fn verbose(mut self, level: u32) -> Self {
        self.verbose = level;
        self
    }

    /// `[options] debug` (default 0). The messages log records debug lines once this is above 0.
    pub fn debug(mut self, level: u32) -> Self {
        self.debug = level;
        self
    }

    /// Any other `[options]` entry of asterisk.conf, e.g. `option("maxcalls", "2")`.
    pub fn option(mut self, key: &str, value: impl ToString) -> Self {
        self.options.push((key.to_owned(), value.to_string()));
        self
    }

    /// Loads one more stock module (file name, e.g. `app_stack.so`).
    pub fn module(mut self, file: &str) -> Self {
        if !self.modules.iter().any(|m| m == file) {
            self.modules.push(file.to_owned());
        }
        self
    }

    /// Installs a stock module (file name, e.g. `pbx_spool.so`) in the instance's modules/ without
    /// loading it: modules.conf says `noload => file`, as an admin's would, and a test loads it later
    /// with `module load file`.
    pub fn installed_not_loaded(self, file: &str) -> Self {
        self.installed_as_not_loaded(file, file)
    }

    /// Installs the stock module `stock_file` in modules/ under the name `name`, `noload`ed at boot.
    /// Asterisk registers a module under the file name it was loaded as, so once loaded it is `name`
    /// in the module list (a stand-in for a module that cannot be unloaded, say).
    pub fn installed_as_not_loaded(mut self, name: &str, stock_file: &str) -> Self {
        assert!(!self.module_files().iter().any(|m| m == name), "{name} is already loaded at boot");
        self.installed_not_loaded.retain(|(n, _)| n != name);
        self.installed_not_loaded.push((name.to_owned(), stock_file.to_owned()));
        self
    }

    /// The dialplan: contexts appended to extensions.conf after its `[general]` section.
    pub fn extensions(mut self, contexts: &str) -> Self {
        self.extensions = contexts.to_owned();
        self
    }

    /// One more file in etc/ (e.g. `pbx_spool_rs.conf`); replaces a default one of the same name.
    pub fn file(mut self, name: &str, contents: &str) -> Self {
        self.files.retain(|(n, _)| n != name);
        self.files.push((name.to_owned(), contents.to_owned()));
        self
    }

    /// The mode of `etc/<name>` (owned by root, as the harness writes it), e.g. 0o640: unreadable to an
    /// Asterisk that runs as another user ([`Builder::run_as`]).
    pub fn file_mode(mut self, name: &str, mode: u32) -> Self {
        self.file_modes.retain(|(n, _)| n != name);
        self.file_modes.push((name.to_owned(), mode));
        self
    }

    /// The spool directory's (astspooldir's) name inside the instance directory, `spool` by default; any
    /// bytes but `/` and NUL, UTF-8 or not.
    pub fn spool_dir_name(mut self, name: &[u8]) -> Self {
        assert!(!name.is_empty() && !name.contains(&b'/') && !name.contains(&0), "not a file name: {name:?}");
        self.spool_name = name.to_vec();
        self
    }

    /// astspooldir is `spool`, shared with every instance built with it, instead of the instance's own.
    pub fn shared_spool(mut self, spool: &super::SharedSpool) -> Self {
        self.shared_spool = Some((spool.dir().to_path_buf(), spool.inside().to_string()));
        self
    }

    /// Asterisk runs as `user` of the chroot (and that user's group), as a packaged Asterisk does
    /// (`asterisk` on Debian): asterisk.conf's `runuser`/`rungroup`, and the directories Asterisk writes
    /// (run/, log/, lib/, the spool) given to that user. The harness itself stays root.
    pub fn run_as(mut self, user: &str) -> Self {
        self.run_as = Some(user.to_owned());
        self
    }

    /// One more file in astdatadir's `documentation/thirdparty/` (the package's own documentation stays
    /// beside it), read by Asterisk at startup.
    pub fn third_party_doc(mut self, name: &str, contents: &str) -> Self {
        self.third_party_docs.retain(|(n, _)| n != name);
        self.third_party_docs.push((name.to_owned(), contents.to_owned()));
        self
    }

    /// How long to wait for FullyBooted (default 30 s).
    pub fn boot_timeout(mut self, timeout: Duration) -> Self {
        self.boot_timeout = timeout;
        self
    }

    /// asterisk.conf: every directory inside the instance directory `root` (an inside-chroot path), the
    /// binaries in `sbin` (the Asterisk under test's), the spool shared when the builder says so. Bytes:
    /// astspooldir need not be UTF-8.
    pub(super) fn asterisk_conf(&self, root: &str, sbin: &str) -> Vec<u8> {
        let mut conf = match &self.shared_spool {
            Some((_, inside)) => format!(
                "[directories]
astspooldir => {inside}"
            )
            .into_bytes(),
            None => {
                let mut conf = format!(
                    "[directories]
astspooldir => {root}/"
                )
                .into_bytes();
                conf.extend_from_slice(&self.spool_name);
                conf
            }
        };
        conf.push(b'\n');
        let mut text = format!(
            "astetcdir => {root}/etc\n\
             astmoddir => {root}/modules\n\
             astvarlibdir => {root}/lib\n\
             astdbdir => {root}/lib\n\
             astkeydir => {root}/lib\n\
             astcachedir => {root}/lib/cache\n\
             astdatadir => {root}/data\n\
             astagidir => {root}/data/agi-bin\n\
             astrundir => {root}/run\n\
             astlogdir => {root}/log\n\
             astsbindir => {sbin}\n\
             \n\
             [options]\n\
             verbose = {}\n\
             debug = {}\n",
            self.verbose, self.debug
        );
        for (key, value) in &self.options {
            text.push_str(&format!("{key} = {value}\n"));
        }
        if let Some(user) = &self.run_as {
            text.push_str(&format!("runuser = {user}\nrungroup = {user}\n"));
        }
        conf.extend_from_slice(text.as_bytes());
        conf
    }

    /// modules.conf: nothing but the listed modules, then the spooler(s); installed-only modules noloaded.
    pub(super) fn modules_conf(&self) -> String {
        let mut text = String::from("[modules]\nautoload = no\n");
        for module in self.module_files() {
            text.push_str(&format!("load => {module}\n"));
        }
        for (module, _) in &self.installed_not_loaded {
            text.push_str(&format!("noload => {module}\n"));
        }
        text
    }

    /// Every module file the instance's modules/ holds, as (name in modules/, the file it is): those it
    /// loads and those only installed.
    pub(super) fn installed_files(&self) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = self.module_files().into_iter().map(|m| (m.clone(), m)).collect();
        files.extend(self.installed_not_loaded.iter().cloned());
        files
    }

    /// Every module file the instance loads, spooler(s) last.
    pub(super) fn module_files(&self) -> Vec<String> {
        let mut files = self.modules.clone();
        files.extend(self.spooler.modules().iter().map(|m| m.to_string()));
        files
    }

    pub(super) fn extensions_conf(&self) -> String {
        format!("[general]\nstatic = yes\nwriteprotect = yes\n\n{}\n", self.extensions)
    }
}

/// The message Asterisk's logger writes when its queue is full and it starts discarding messages.
pub const LOGGER_DISCARDING: &str = "Log queue threshold";

/// logger.conf: one `messages` file with millisecond timestamps, nothing on the console. The log is what
/// many tests observe, so the logger's queue must never discard: its default limit (1,000 messages) is
/// exceeded by a burst of a few hundred calls at debug level, and the lines dropped then are a random
/// few (measured: 200 answered calls, one `Call completed` line missing).
pub(super) fn logger_conf() -> String {
    "[general]\n\
     dateformat = %F %T.%3q\n\
     logger_queue_limit = 10000000\n\
     \n\
     [logfiles]\n\
     messages => notice,warning,error,verbose(3),debug\n"
        .to_owned()
}

/// manager.conf: loopback only, one user allowed everything. The secret is unique per instance so
/// that logging in to somebody else's Asterisk (a port race) fails instead of silently succeeding.
pub(super) fn manager_conf(port: u16, user: &str, secret: &str) -> String {
    format!(
        "[general]\n\
         enabled = yes\n\
         port = {port}\n\
         bindaddr = 127.0.0.1\n\
         \n\
         [{user}]\n\
         secret = {secret}\n\
         read = all\n\
         write = all\n"
    )
}

/// Minimal versions of files the core reads at boot, so the log is free of "Unable to load config
/// file" noise that would hide real errors.
pub(super) fn quiet_defaults() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cdr.conf", "[general]\nenable = yes\n"),
        ("cel.conf", "[general]\nenable = no\n"),
        ("features.conf", "[general]\n"),
        ("acl.conf", ""),
        ("udptl.conf", "[general]\n"),
        ("ccss.conf", "[general]\n"),
    ]
}
