//! `callfile`: check call files and submit them to pbx_spool_rs's spool safely.
//!
//! The entry point only: parse the command line ([`cli`]), run the command ([`commands`]), print its error
//! and exit with its status. The work is done by the modules below, over the module's own parser and
//! policy from `pbx_spool_core`:
//!
//! - [`conf`]: asterisk.conf (where the spool is) and pbx_spool_rs.conf (its rules), read offline;
//! - [`time`]: `--at` with its time zone, `--in`, `--spread` (jiff);
//! - [`render`]: call files from flags and from templates;
//! - [`examine`]: the spool's verdict on a file, offline; [`owner`]: `owner_check` offline;
//! - [`spool`]: placing a file into `outgoing/` atomically (the only writer);
//! - [`commands`]: `check`, `submit`, `bulk` (and the hidden `generate-man` for packaging); [`error`]: exit statuses.

use std::io::{self, IsTerminal, Write};

use clap::Parser;
use indicatif::ProgressDrawTarget;

mod ami_submit;
mod cli;
mod commands;
mod conf;
mod error;
mod examine;
mod owner;
mod render;
mod spool;
#[cfg(test)]
mod test_support;
mod time;

use cli::{Cli, Request};
use error::{Error, Exit};

fn run(request: Request) -> Result<Exit, Error> {
    let (mut stdout, mut stderr) = (io::stdout().lock(), io::stderr());
    match request {
        Request::Check { settings, files } => {
            commands::check::check_command(&settings, &files, &mut stdout, &mut stderr)
        }
        Request::Submit { settings, request } => {
            commands::submit::submit_command(&settings, &request, &mut stdout, &mut stderr)
        }
        Request::Bulk { settings, request } => {
            let progress =
                if io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
            commands::bulk::bulk_command(&settings, &request, &mut stdout, &mut stderr, progress)
        }
        Request::GenerateMan { dir } => commands::man::write_man_pages(&dir, &mut stdout),
    }
}

fn main() {
    // Usage errors exit 2 and --help/--version exit 0, as clap reports them.
    let request = match Cli::try_parse().and_then(Cli::into_request) {
        Ok(request) => request,
        Err(error) => error.exit(),
    };
    let exit = match run(request) {
        Ok(exit) => exit,
        Err(error) => {
            let _ = io::stdout().flush();
            eprintln!("callfile: {error}");
            error.exit
        }
    };
    let _ = io::stdout().flush();
    std::process::exit(exit.code());
}
