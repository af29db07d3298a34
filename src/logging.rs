//! The log, in redis-server's format, through `log` + `env_logger` with a formatter of our own:
//! `pid:M dd Mon yyyy hh:mm:ss.mmm <c> message`, where `<c>` is `.` (debug), `-` (verbose),
//! `*` (notice) or `#` (warning). `loglevel` picks what is written and `logfile` where (empty:
//! standard output, as Redis). `RUST_LOG`, when set, overrides `loglevel`. Lines logged
//! with the target [`RAW`] are written without the prefix (the banner).

use std::fs::OpenOptions;
use std::io::Write;

use log::{Level, LevelFilter};

use crate::config::{lookup, Config};

/// The target of lines written as they are, without the prefix.
pub const RAW: &str = "raw";

/// Redis's level for a `log` level.
fn level_char(l: Level) -> char {
    match l {
        Level::Error | Level::Warn => '#',
        Level::Info => '*',
        Level::Debug => '-',
        Level::Trace => '.',
    }
}

/// `loglevel` as a filter: debug, verbose, notice, warning, nothing.
fn filter(loglevel: &str) -> LevelFilter {
    match loglevel {
        "debug" => LevelFilter::Trace,
        "verbose" => LevelFilter::Debug,
        "warning" => LevelFilter::Warn,
        "nothing" => LevelFilter::Off,
        _ => LevelFilter::Info,
    }
}

/// Local time as Redis prints it: `02 Dec 2026 16:40:01.123`.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    #[allow(clippy::disallowed_methods)] // the log's own clock
    let us = crate::store::clock::unix_us();
    let secs = (us / 1_000_000) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, from a valid time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        (us / 1000) % 1000
    )
}

/// One line in the log's format, at level `c` (the crash report writes its own).
pub fn line(c: char, text: &str) -> String {
    format!("{}:M {} {c} {text}\n", std::process::id(), timestamp())
}

fn setting(config: &Config, name: &str) -> String {
    lookup(name).map(|d| config.get(d)).unwrap_or_default()
}

/// Installs the logger `config` describes. `Err` is redis-server's fatal text for a log
/// file that cannot be opened.
pub fn init(config: &Config) -> Result<(), String> {
    let logfile = setting(config, "logfile");
    let mut b = env_logger::Builder::new();
    b.filter_level(filter(&setting(config, "loglevel")));
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    let pid = std::process::id();
    b.format(move |buf, record| {
        if record.target() == RAW {
            return writeln!(buf, "{}", record.args());
        }
        writeln!(
            buf,
            "{pid}:M {} {} {}",
            timestamp(),
            level_char(record.level()),
            record.args()
        )
    });
    if logfile.is_empty() {
        b.target(env_logger::Target::Stdout);
    } else {
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&logfile)
            .map_err(|e| {
                crate::config::file::fatal(
                    None,
                    &format!("Can't open the log file: {}", crate::os::strerror(&e)),
                )
            })?;
        // The crash report writes to the same file, through a descriptor of its own.
        if let Ok(dup) = f.try_clone() {
            crate::crash::set_log_fd(std::os::fd::IntoRawFd::into_raw_fd(dup));
        }
        b.target(env_logger::Target::Pipe(Box::new(f)));
    }
    // A second init (tests start several servers in one process) keeps the first logger.
    let _ = b.try_init();
    Ok(())
}
