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

/// `syslog-enabled`: opens the system log with `syslog-ident` and `syslog-facility`, as
/// Redis's `openlog(ident, LOG_PID | LOG_NDELAY | LOG_NOWAIT, facility)`.
fn open_syslog(ident: &str, facility: &str) {
    let facility = match facility {
        "user" => libc::LOG_USER,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_LOCAL0,
    };
    // openlog keeps the pointer: the identity lives as long as the process.
    let ident: &'static std::ffi::CStr = Box::leak(
        std::ffi::CString::new(ident.replace('\0', ""))
            .unwrap_or_default()
            .into_boxed_c_str(),
    );
    // SAFETY: a NUL-terminated string that is never freed.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            facility,
        )
    };
}

/// One message to the system log, at Redis's priority for its level (its text alone, as
/// Redis sends it).
fn to_syslog(level: Level, msg: &str) {
    let priority = match level {
        Level::Error | Level::Warn => libc::LOG_WARNING,
        Level::Info => libc::LOG_NOTICE,
        Level::Debug => libc::LOG_INFO,
        Level::Trace => libc::LOG_DEBUG,
    };
    if let Ok(text) = std::ffi::CString::new(msg.replace('\0', "")) {
        // SAFETY: a constant format taking one NUL-terminated string.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
    }
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
    let syslog = setting(config, "syslog-enabled") == "yes";
    if syslog {
        open_syslog(
            &setting(config, "syslog-ident"),
            &setting(config, "syslog-facility"),
        );
    }
    b.format(move |buf, record| {
        if syslog {
            to_syslog(record.level(), &record.args().to_string());
        }
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
