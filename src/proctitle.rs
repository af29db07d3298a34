//! The process title `ps` and `/proc/PID/cmdline` show (Redis's `setproctitle`, from
//! `proc-title-template`): written over the bytes where the kernel keeps the command line,
//! argv's strings and then the environment's, which the binary claims once at start.

use std::sync::OnceLock;

use parking_lot::Mutex;

/// The claimed bytes, and the title's `{title}` (argv[0] as started).
struct Area {
    start: usize,
    len: usize,
    /// The bytes argv's strings had (the kernel's `arg_end - arg_start`).
    args_len: usize,
    argv0: String,
}

static AREA: OnceLock<Area> = OnceLock::new();
/// One writer at a time (CONFIG SET from two clients).
static WRITING: Mutex<()> = Mutex::new(());

/// Claims the command line's bytes for the title: the environment's strings, which follow
/// argv's, are first copied to the heap and `environ` pointed at the copies, so nothing reads
/// them there any more. Call once, from `main`, while the process has one thread and after
/// the arguments were read (std reads argv's strings where they lie). Linux only; elsewhere,
/// and if `/proc/self/stat` cannot say where the bytes are, titles are not set.
pub fn claim(argv0: &str) {
    #[cfg(target_os = "linux")]
    {
        let Some([arg_start, arg_end, env_start, env_end]) = bounds() else {
            return;
        };
        if arg_end <= arg_start {
            return;
        }
        let mut end = arg_end;
        if env_start == arg_end && env_end > env_start {
            extern "C" {
                static mut environ: *mut *mut libc::c_char;
            }
            // SAFETY: single-threaded (see above): nothing reads or changes the environment
            // meanwhile. Each entry inside the environment's bytes is replaced by a heap
            // copy of the same string (kept for the life of the process, as getenv's
            // results must be).
            unsafe {
                let mut p = environ;
                while !p.is_null() && !(*p).is_null() {
                    let s = *p as usize;
                    if (env_start..env_end).contains(&s) {
                        let copy = libc::strdup(*p);
                        if copy.is_null() {
                            return;
                        }
                        *p = copy;
                    }
                    p = p.add(1);
                }
            }
            end = env_end;
        }
        #[cfg(target_env = "gnu")]
        {
            extern "C" {
                static mut program_invocation_name: *mut libc::c_char;
                static mut program_invocation_short_name: *mut libc::c_char;
            }
            // SAFETY: single-threaded, as above; glibc's copies of argv[0], which its own
            // messages print, are pointed at heap copies before the bytes are overwritten.
            unsafe {
                for name in [
                    &raw mut program_invocation_name,
                    &raw mut program_invocation_short_name,
                ] {
                    if !(*name).is_null() {
                        let copy = libc::strdup(*name);
                        if !copy.is_null() {
                            *name = copy;
                        }
                    }
                }
            }
        }
        let _ = AREA.set(Area {
            start: arg_start,
            len: end - arg_start,
            args_len: arg_end - arg_start,
            argv0: argv0.to_string(),
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = argv0;
}

/// argv's and the environment's bounds: /proc/self/stat's fields 48 to 51.
#[cfg(target_os = "linux")]
fn bounds() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The name (field 2) is in parentheses and may hold anything: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3.
    let at = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some([at(48)?, at(49)?, at(50)?, at(51)?])
}

/// argv[0] as the binary was started, once the area is claimed (the template's `{title}`).
pub fn argv0() -> Option<&'static str> {
    AREA.get().map(|a| a.argv0.as_str())
}

/// Shows what `proc-title-template` makes now (at start, and when CONFIG SET changes it or
/// what it shows).
pub fn apply(config: &crate::config::Config) {
    if let Some(title) = argv0().and_then(|argv0| config.proc_title(argv0)) {
        set(&title);
    }
}

/// Shows `title` as the command line, cut to the claimed bytes; nothing if none were.
pub fn set(title: &str) {
    let Some(area) = AREA.get() else {
        return;
    };
    let _one = WRITING.lock();
    let n = title.len().min(area.len - 1);
    // SAFETY: `[start, start + len)` is the command line's and environment's bytes, claimed
    // by `claim` for this module alone (nothing else reads them: the environment was moved,
    // and std reads argv only at start); they are writable memory of this process.
    unsafe {
        let dst = area.start as *mut u8;
        std::ptr::copy_nonoverlapping(title.as_ptr(), dst, n);
        std::ptr::write_bytes(dst.add(n), 0, area.len - n);
        // A title shorter than argv was: the kernel would show argv's whole length, the
        // title then empty arguments. A byte other than NUL where argv ended makes it read
        // up to the title's NUL instead (what setproctitle does).
        if n + 1 < area.args_len {
            *dst.add(area.args_len - 1) = b'.';
        }
    }
}
