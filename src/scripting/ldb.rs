//! The Lua debugger behind `SCRIPT DEBUG` (Redis's LDB, in its `eval.c`).
//!
//! A debugging session belongs to the thread running the script: the interpreter's line hook
//! stops the script where the user asked, and there, still inside the hook, reads the user's
//! debugger commands straight from the client's connection and answers each one with a
//! RESP array of status lines, as `redis-cli --ldb` expects. Thread per connection makes
//! this natural: the connection's own thread is the one waiting in the hook.
//!
//! Nothing here knows of commands: `redis <cmd>` calls the script's own `redis.call`, which
//! logs the command and its reply through [`tracing`] and [`log_reply`].

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};
use std::io;
#[allow(clippy::disallowed_types)] // how long a stop has lasted: real time, as the threshold
use std::time::Instant;

use mlua::ffi;

/// At most this many breakpoints (Redis's `LDB_BREAKPOINTS_MAX`).
const MAX_BREAKPOINTS: usize = 64;
/// Logged replies and values are cut at this many bytes until `maxlen` says otherwise.
const MAX_LEN_DEFAULT: usize = 256;
/// A debugger command may not grow past this: the script is then stopped with an error.
const MAX_INPUT: usize = 1 << 20;
/// What a script logs between two stops (`redis.debug` in a loop) is kept up to this many
/// bytes; the rest is dropped, with one line saying so.
const MAX_LOGGED: usize = 4 << 20;
/// Nested tables are shown this deep (Redis's `LUA_MINSTACK / 2`).
const MAX_DEPTH: usize = 10;

/// `SCRIPT DEBUG YES` (a forked child runs the session; its changes are thrown away) or
/// `SYNC` (the session runs in the server, whose changes stay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forked,
    Sync,
}

/// The debugging client's connection.
pub trait Link {
    /// Some bytes; `Ok(0)` once the client has gone, `WouldBlock` or `TimedOut` when
    /// nothing came for a while (the session then checks whether it must stop).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
}

struct Session {
    link: Box<dyn Link>,
    /// The script's source, one entry per line.
    src: Vec<Vec<u8>>,
    breakpoints: Vec<i32>,
    /// Stop at the next line, whatever the breakpoints.
    step: bool,
    /// `redis.breakpoint()` was called: stop at the next line.
    luabp: bool,
    line: i32,
    /// What the client sent that does not yet make a whole command.
    input: Vec<u8>,
    maxlen: usize,
    hint_sent: bool,
    /// Lines waiting to be sent, as one array, at the next answer.
    logs: Vec<Vec<u8>>,
    /// Their bytes (bounded by [`MAX_LOGGED`]).
    logged: usize,
    /// A write to the client failed or timed out: it is treated as gone.
    dead: bool,
    /// The script just resumed after a stop (its commands read the clock again).
    resumed: bool,
    /// Since the script started or last stopped: a script running this long without a stop
    /// is stopped ("infinite loop?").
    since: Instant,
    threshold_ms: u64,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

fn with<T>(f: impl FnOnce(&mut Session) -> T) -> Option<T> {
    SESSION.with(|s| s.borrow_mut().as_mut().map(f))
}

/// Starts a session on this thread for a script of `body`, stopping at its first line.
/// `threshold_ms` is `busy-reply-threshold` (0: 5 s), after which a running script stops.
#[allow(clippy::disallowed_methods)] // real time, as the threshold
pub fn start(link: Box<dyn Link>, body: &[u8], threshold_ms: u64) -> Active {
    let mut body = body;
    while let [rest @ .., b'\n' | b'\r'] = body {
        body = rest;
    }
    let session = Session {
        link,
        src: body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect(),
        breakpoints: Vec::new(),
        step: true,
        luabp: false,
        line: 0,
        input: Vec::new(),
        maxlen: MAX_LEN_DEFAULT,
        hint_sent: false,
        logs: Vec::new(),
        logged: 0,
        dead: false,
        resumed: false,
        since: Instant::now(),
        threshold_ms: if threshold_ms == 0 {
            5000
        } else {
            threshold_ms
        },
    };
    SESSION.with(|s| *s.borrow_mut() = Some(session));
    Active(())
}

/// The session [`start`] began: ended by [`Active::end`]; dropped without it (a panic), it
/// is cleared, so that no later script on this pooled thread finds it.
#[must_use]
pub struct Active(());

impl Active {
    /// Sends what is logged and the `<endsession>` mark, and hands back the connection (the
    /// script's reply follows on it).
    pub fn end(self) -> Option<Box<dyn Link>> {
        log(b"<endsession>".to_vec());
        send_logs();
        SESSION.with(|s| s.borrow_mut().take()).map(|s| s.link)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        SESSION.with(|s| s.borrow_mut().take());
    }
}

/// Has the script resumed from a stop since this was last asked?
pub fn take_resumed() -> bool {
    with(|s| std::mem::take(&mut s.resumed)).unwrap_or(false)
}

/// Is a session running on this thread?
pub fn active() -> bool {
    SESSION.with(|s| s.borrow().is_some())
}

/// Should `redis.call` log its command and reply (the user is stepping)?
pub fn tracing() -> bool {
    with(|s| s.step).unwrap_or(false)
}

/// Adds a line to what the next answer sends.
pub fn log(line: Vec<u8>) {
    with(|s| s.push(line));
}

impl Session {
    /// Logs `line`, unless the logs already hold [`MAX_LOGGED`] bytes.
    fn push(&mut self, line: Vec<u8>) {
        if self.logged > MAX_LOGGED {
            return;
        }
        self.logged += line.len();
        if self.logged > MAX_LOGGED {
            self.logs.push(
                b"<error> The debugger's log is full: the lines after this one were dropped."
                    .to_vec(),
            );
        } else {
            self.logs.push(line);
        }
    }
}

/// Adds a line cut at `maxlen` (with a hint the first time one is cut).
fn log_trimmed(mut line: Vec<u8>) {
    with(|s| {
        if s.maxlen != 0 && line.len() > s.maxlen {
            line.truncate(s.maxlen);
            line.extend_from_slice(b" ...");
            s.push(line);
            if !s.hint_sent {
                s.hint_sent = true;
                s.push(
                    b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming."
                        .to_vec(),
                );
            }
        } else {
            s.push(line);
        }
    });
}

/// Logs a command's RESP reply, readable (Redis's `ldbLogRedisReply`).
pub fn log_reply(resp: &[u8]) {
    let mut line = b"<reply> ".to_vec();
    let mut pos = 0;
    human(resp, &mut pos, &mut line, 0);
    log_trimmed(line);
}

/// Sends the logged lines as one array of status replies.
fn send_logs() {
    with(|s| {
        s.logged = 0;
        let mut out = format!("*{}\r\n", s.logs.len()).into_bytes();
        for line in s.logs.drain(..) {
            out.push(b'+');
            out.extend(line.iter().map(|&b| match b {
                b'\r' | b'\n' => b' ',
                b => b,
            }));
            out.extend_from_slice(b"\r\n");
        }
        // A failed write (or one past the 5 s send timeout) means the client is gone.
        if !s.dead && s.link.write_all(&out).is_err() {
            s.dead = true;
        }
    });
}

/// Appends `bytes` quoted and escaped, as Redis's `sdscatrepr`.
fn repr(bytes: &[u8], out: &mut Vec<u8>) {
    crate::monitor::repr(out, bytes);
}

/// The line of a RESP frame at `*pos` (its type byte included), moving past its CRLF.
fn resp_line<'a>(resp: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = resp.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

/// Appends the RESP frame at `*pos` in readable form (Redis's `ldbRedisProtocolToHuman`).
fn human(resp: &[u8], pos: &mut usize, out: &mut Vec<u8>, depth: usize) {
    let Some(line) = resp_line(resp, pos) else {
        return;
    };
    let Some((&kind, text)) = line.split_first() else {
        return;
    };
    let count = || std::str::from_utf8(text).ok()?.parse::<i64>().ok();
    let nested = |out: &mut Vec<u8>, pos: &mut usize, n: i64, open: &[u8], close: &[u8], pairs| {
        out.extend_from_slice(open);
        for j in 0..n {
            if depth >= 64 || *pos >= resp.len() {
                break;
            }
            human(resp, pos, out, depth + 1);
            if pairs {
                out.extend_from_slice(b" => ");
                human(resp, pos, out, depth + 1);
            }
            if j != n - 1 {
                out.push(b',');
            }
        }
        out.extend_from_slice(close);
    };
    match kind {
        b':' => out.extend_from_slice(text),
        b'$' => match count() {
            Some(n) if n >= 0 => {
                let n = n as usize;
                let body = resp.get(*pos..*pos + n).unwrap_or_default();
                repr(body, out);
                *pos += n + 2;
            }
            _ => out.extend_from_slice(b"NULL"),
        },
        b'+' | b'-' => repr(line, out),
        b'*' => match count() {
            Some(n) if n >= 0 => nested(out, pos, n, b"[", b"]", false),
            _ => out.extend_from_slice(b"NULL"),
        },
        b'~' => nested(out, pos, count().unwrap_or(0), b"~(", b")", false),
        b'%' => nested(out, pos, count().unwrap_or(0), b"{", b"}", true),
        b'_' => out.extend_from_slice(b"(null)"),
        b'#' => out.extend_from_slice(if text.first() == Some(&b't') {
            b"#true"
        } else {
            b"#false"
        }),
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(text);
        }
        _ => {}
    }
}

/// C's `%g` of `n`.
fn format_g(n: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer and its length are this array's; the format takes one double.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%g".as_ptr(),
            n as libc::c_double,
        )
    };
    buf[..usize::try_from(len).unwrap_or(0).min(buf.len() - 1)].to_vec()
}

/// Appends the Lua value at `idx` in readable form (Redis's `ldbCatStackValue`).
///
/// # Safety
/// `state` is a live Lua state with a value at `idx`.
unsafe fn cat_value(state: *mut ffi::lua_State, idx: c_int, out: &mut Vec<u8>, level: usize) {
    // SAFETY: per the caller.
    unsafe { cat_value_within(state, idx, out, level, MAX_LOGGED) }
}

/// [`cat_value`], appending nothing more once `out` holds `budget` bytes: a table holding
/// itself would otherwise build a text exponential in the depth shown.
///
/// # Safety
/// As [`cat_value`].
unsafe fn cat_value_within(
    state: *mut ffi::lua_State,
    idx: c_int,
    out: &mut Vec<u8>,
    level: usize,
    budget: usize,
) {
    if out.len() >= budget {
        return;
    }
    // SAFETY (whole body): only reads the stack, pushing at most two slots per level after
    // checking there is room.
    unsafe {
        let idx = if idx < 0 && idx > ffi::LUA_REGISTRYINDEX {
            ffi::lua_gettop(state) + idx + 1
        } else {
            idx
        };
        if level == MAX_DEPTH {
            out.extend_from_slice(b"<max recursion level reached! Nested table?>");
            return;
        }
        match ffi::lua_type(state, idx) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(state, idx, &mut len);
                repr(std::slice::from_raw_parts(p.cast::<u8>(), len), out);
            }
            ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(state, idx) != 0 {
                b"true"
            } else {
                b"false"
            }),
            ffi::LUA_TNUMBER => out.extend(format_g(ffi::lua_tonumber(state, idx))),
            ffi::LUA_TNIL => out.extend_from_slice(b"nil"),
            ffi::LUA_TTABLE => {
                if ffi::lua_checkstack(state, 3) == 0 {
                    out.extend_from_slice(b"{}");
                    return;
                }
                // Both forms are built, and the array one kept if the keys were 1, 2, ...
                let (mut array, mut full) = (Vec::new(), Vec::new());
                let (mut expected, mut is_array) = (1.0, true);
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, idx) != 0 {
                    if is_array
                        && (ffi::lua_type(state, -2) != ffi::LUA_TNUMBER
                            || ffi::lua_tonumber(state, -2) != expected)
                    {
                        is_array = false;
                    }
                    // Past the budget the keys are still walked (they decide the form).
                    if array.len() < budget {
                        cat_value_within(state, -1, &mut array, level + 1, budget);
                        array.extend_from_slice(b"; ");
                    }
                    if full.len() < budget {
                        full.push(b'[');
                        cat_value_within(state, -2, &mut full, level + 1, budget);
                        full.extend_from_slice(b"]=");
                        cat_value_within(state, -1, &mut full, level + 1, budget);
                        full.extend_from_slice(b"; ");
                    }
                    ffi::lua_settop(state, -2);
                    expected += 1.0;
                }
                for form in [&mut array, &mut full] {
                    form.truncate(form.len().saturating_sub(2));
                }
                out.push(b'{');
                out.extend(if is_array { array } else { full });
                out.push(b'}');
            }
            t => {
                let name: &CStr = match t {
                    ffi::LUA_TFUNCTION => c"function",
                    ffi::LUA_TUSERDATA => c"userdata",
                    ffi::LUA_TTHREAD => c"thread",
                    ffi::LUA_TLIGHTUSERDATA => c"light-userdata",
                    _ => {
                        out.extend_from_slice(b"\"<unknown-lua-type>\"");
                        return;
                    }
                };
                let mut buf = [0u8; 96];
                let len = libc::snprintf(
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    c"\"%s@%p\"".as_ptr(),
                    name.as_ptr(),
                    ffi::lua_topointer(state, idx),
                );
                out.extend_from_slice(&buf[..usize::try_from(len).unwrap_or(0).min(95)]);
            }
        }
    }
}

/// Logs the value on top of the stack after `prefix`, cut at `maxlen`.
///
/// # Safety
/// `state` is a live Lua state with a value on top.
unsafe fn log_value(state: *mut ffi::lua_State, prefix: &[u8]) {
    let mut line = prefix.to_vec();
    // SAFETY: per the caller.
    unsafe { cat_value(state, -1, &mut line, 0) };
    log_trimmed(line);
}

/// One source line as the debugger lists it: the current line and breakpoints marked.
fn source_line(s: &Session, line: i32) -> Vec<u8> {
    let text: &[u8] = usize::try_from(line - 1)
        .ok()
        .and_then(|i| s.src.get(i))
        .map_or(b"<out of range source code line>", Vec::as_slice);
    let prefix = match (s.line == line, s.breakpoints.contains(&line)) {
        (true, true) => "->#",
        (true, false) => "-> ",
        (false, true) => "  #",
        (false, false) => "   ",
    };
    let mut out = format!("{prefix}{line:<3} ").into_bytes();
    out.extend_from_slice(text);
    out
}

fn list(around: i32, context: i32) {
    with(|s| {
        for j in 1..=s.src.len() as i32 {
            if around != 0 && (around - j).abs() > context {
                continue;
            }
            let line = source_line(s, j);
            s.logs.push(line);
        }
    });
}

/// glibc's `atoi`: leading blanks, a sign, digits (0 if none), read as a `long` that
/// saturates, then cut to an `int`.
fn atoi(bytes: &[u8]) -> i32 {
    let text = bytes.trim_ascii_start();
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let mut n: i128 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = (n * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let n = if neg { -n } else { n };
    n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64 as i32
}

/// Redis's strict `string2l`: an optional `-`, then digits without a leading zero.
fn strict_int(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && (digits.len() > 1 || bytes.len() > 1))
    {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn breakpoints(argv: &[Vec<u8>]) {
    with(|s| {
        if argv.len() == 1 {
            if s.breakpoints.is_empty() {
                s.logs
                    .push(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
            } else {
                s.logs
                    .push(format!("{} breakpoints set:", s.breakpoints.len()).into_bytes());
                for &line in &s.breakpoints.clone() {
                    let text = source_line(s, line);
                    s.logs.push(text);
                }
            }
            return;
        }
        for arg in &argv[1..] {
            let Some(line) = strict_int(arg) else {
                // Shown as C's `%s` shows it: up to a NUL.
                let shown = arg.split(|&b| b == 0).next().unwrap_or_default();
                let mut text = b"Invalid argument:'".to_vec();
                text.extend_from_slice(shown);
                text.push(b'\'');
                s.logs.push(text);
                continue;
            };
            if line == 0 {
                s.breakpoints.clear();
                s.logs.push(b"All breakpoints removed.".to_vec());
            } else if line > 0 {
                // Lines are C ints in Redis: a bigger number is cut to one.
                let line = line as i32;
                if s.breakpoints.len() == MAX_BREAKPOINTS {
                    s.logs.push(b"Too many breakpoints set.".to_vec());
                } else if line <= 0 || line as usize > s.src.len() || s.breakpoints.contains(&line)
                {
                    s.logs.push(b"Wrong line number.".to_vec());
                } else {
                    s.breakpoints.push(line);
                    for j in 1..=s.src.len() as i32 {
                        if (line - j).abs() <= 1 {
                            let text = source_line(s, j);
                            s.logs.push(text);
                        }
                    }
                }
            } else if let Some(i) = s
                .breakpoints
                .iter()
                .position(|&b| b == line.wrapping_neg() as i32)
            {
                s.breakpoints.remove(i);
                s.logs.push(b"Breakpoint removed.".to_vec());
            } else {
                s.logs
                    .push(b"No breakpoint in the specified line.".to_vec());
            }
        }
    });
}

fn maxlen(argv: &[Vec<u8>]) {
    with(|s| {
        if argv.len() == 2 {
            let n = atoi(&argv[1]);
            s.hint_sent = true;
            s.maxlen = if n != 0 && n <= 60 { 60 } else { n as usize };
        }
        let text = if s.maxlen != 0 {
            format!("<value> replies are truncated at {} bytes.", s.maxlen)
        } else {
            "<value> replies are unlimited.".to_string()
        };
        s.logs.push(text.into_bytes());
    });
}

/// The message of the error on top of the stack (a string, or the value shown).
///
/// # Safety
/// `state` is a live Lua state with a value on top.
unsafe fn error_text(state: *mut ffi::lua_State) -> Vec<u8> {
    // SAFETY: per the caller.
    unsafe {
        if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
            let mut len = 0;
            let p = ffi::lua_tolstring(state, -1, &mut len);
            std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()
        } else {
            let mut out = Vec::new();
            cat_value(state, -1, &mut out, 0);
            out
        }
    }
}

/// `eval <code>`: runs the code in a frame of its own, as an expression if it is one.
///
/// # Safety
/// `state` is the hooked state.
unsafe fn eval(state: *mut ffi::lua_State, argv: &[Vec<u8>]) {
    let code = argv[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    // SAFETY: each branch leaves the stack as it found it.
    unsafe {
        let load = |text: &[u8]| {
            ffi::luaL_loadbuffer(
                state,
                text.as_ptr().cast::<c_char>(),
                text.len(),
                c"@ldb_eval".as_ptr(),
            )
        };
        if load(&expr) != 0 {
            ffi::lua_settop(state, -2);
            if load(&code) != 0 {
                let mut line = b"<error> ".to_vec();
                line.extend(error_text(state));
                log(line);
                ffi::lua_settop(state, -2);
                return;
            }
        }
        if ffi::lua_pcall(state, 0, 1, 0) != 0 {
            let mut line = b"<error> ".to_vec();
            line.extend(error_text(state));
            log(line);
            ffi::lua_settop(state, -2);
            return;
        }
        log_value(state, b"<retval> ");
        ffi::lua_settop(state, -2);
    }
}

/// `redis <cmd>`: the script's own `redis.call`, with its command and reply logged.
///
/// # Safety
/// `state` is the hooked state.
unsafe fn redis(state: *mut ffi::lua_State, argv: &[Vec<u8>]) {
    // SAFETY: room is checked first; the stack is put back as it was.
    unsafe {
        if ffi::lua_checkstack(state, argv.len() as c_int + 1) == 0 {
            log(b"<reply> ".to_vec());
            return;
        }
        let top = ffi::lua_gettop(state);
        ffi::lua_getfield(state, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());
        ffi::lua_getfield(state, -1, c"call".as_ptr());
        for arg in &argv[1..] {
            ffi::lua_pushlstring(state, arg.as_ptr().cast::<c_char>(), arg.len());
        }
        with(|s| s.step = true);
        ffi::lua_pcall(state, argv.len() as c_int - 1, 1, 0);
        with(|s| s.step = false);
        ffi::lua_settop(state, top);
    }
}

/// `print [var]`: a local of the current frame or those around it, or KEYS or ARGV.
///
/// # Safety
/// `state` is the hooked state.
unsafe fn print(state: *mut ffi::lua_State, name: Option<&[u8]>) {
    // SAFETY: lua_getlocal pushes one value when it names one; each is popped.
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        let mut shown = 0;
        let mut level = 0;
        while ffi::lua_getstack(state, level, &mut ar) != 0 {
            level += 1;
            let mut i = 1;
            loop {
                let local = ffi::lua_getlocal(state, &ar, i);
                if local.is_null() {
                    break;
                }
                i += 1;
                let local = CStr::from_ptr(local).to_bytes();
                match name {
                    Some(wanted) if wanted == local => {
                        log_value(state, b"<value> ");
                        ffi::lua_settop(state, -2);
                        return;
                    }
                    None if !local.windows(12).any(|w| w == b"(*temporary)") => {
                        let mut prefix = b"<value> ".to_vec();
                        prefix.extend_from_slice(local);
                        prefix.extend_from_slice(b" = ");
                        log_value(state, &prefix);
                        shown += 1;
                    }
                    _ => {}
                }
                ffi::lua_settop(state, -2);
            }
            if name.is_none() {
                // Without a name, only the current frame.
                break;
            }
        }
        match name {
            None if shown == 0 => log(b"No local variables in the current context.".to_vec()),
            None => {}
            Some(global @ (b"ARGV" | b"KEYS")) => {
                let global = if global == b"ARGV" { c"ARGV" } else { c"KEYS" };
                ffi::lua_getfield(state, ffi::LUA_GLOBALSINDEX, global.as_ptr());
                log_value(state, b"<value> ");
                ffi::lua_settop(state, -2);
            }
            Some(_) => log(b"No such variable.".to_vec()),
        }
    }
}

/// `trace`: the script's frames, innermost first.
///
/// # Safety
/// `state` is the hooked state.
unsafe fn trace(state: *mut ffi::lua_State) {
    // SAFETY: only asks about the frames.
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        let mut level = 0;
        while ffi::lua_getstack(state, level, &mut ar) != 0 {
            ffi::lua_getinfo(state, c"Snl".as_ptr(), &mut ar);
            if in_script(&ar) {
                let name = if ar.name.is_null() {
                    "top level".to_string()
                } else {
                    CStr::from_ptr(ar.name).to_string_lossy().into_owned()
                };
                let at = if level == 0 { "In" } else { "From" };
                log(format!("{at} {name}:").into_bytes());
                with(|s| {
                    let text = source_line(s, ar.currentline);
                    s.logs.push(text);
                });
            }
            level += 1;
        }
        if level == 0 {
            log(b"<error> Can't retrieve Lua stack.".to_vec());
        }
    }
}

const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// What parsing the client's input found.
enum Parsed {
    Command(Vec<Vec<u8>>),
    /// Not a whole command yet.
    More,
    Invalid,
}

/// A debugger command from `input` (Redis's forgiving `ldbReplParseCommand`: junk before
/// the `*` is skipped; arguments are 1 to 1024 bytes, at most 1024 of them).
fn parse(input: &[u8]) -> Parsed {
    let Some(star) = input.iter().position(|&b| b == b'*') else {
        return if input.is_empty() {
            Parsed::More
        } else {
            Parsed::Invalid
        };
    };
    let mut pos = star;
    let Some(header) = resp_line(input, &mut pos) else {
        return Parsed::More;
    };
    let argc = atoi(&header[1..]);
    if !(1..=1024).contains(&argc) {
        return Parsed::Invalid;
    }
    let mut argv = Vec::with_capacity(argc as usize);
    while argv.len() < argc as usize {
        match input.get(pos) {
            None => return Parsed::More,
            Some(b'$') => {}
            Some(_) => return Parsed::Invalid,
        }
        let Some(header) = resp_line(input, &mut pos) else {
            return Parsed::More;
        };
        let len = atoi(&header[1..]);
        if !(1..=1024).contains(&len) {
            return Parsed::Invalid;
        }
        let len = len as usize;
        if pos + len + 2 > input.len() {
            return Parsed::More;
        }
        argv.push(input[pos..pos + len].to_vec());
        pos += len;
        if &input[pos..pos + 2] != b"\r\n" {
            return Parsed::Invalid;
        }
        pos += 2;
    }
    Parsed::Command(argv)
}

/// The forked debugging sessions still running (Redis's `ldb.children`).
static CHILDREN: parking_lot::Mutex<Vec<libc::pid_t>> = parking_lot::Mutex::new(Vec::new());

/// Records a forked session and waits for it to exit. The session's connection is watched
/// too: if its client hangs up and the child has not ended, the child is killed. A child
/// can only wedge on a lock some other thread of the server held at the fork, and then
/// nothing else would end it.
pub fn forked(pid: libc::pid_t, client: std::sync::Arc<std::net::TcpStream>) {
    CHILDREN.lock().push(pid);
    let spawned = std::thread::Builder::new()
        .name("spindle-ldb".into())
        .spawn(move || watch_child(pid, &client));
    if let Err(e) = spawned {
        log::warn!("cannot start the waiter of debugging session {pid}: {e}");
    }
}

fn watch_child(pid: libc::pid_t, client: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let mut hung_up = false;
    loop {
        // SAFETY: a zeroed siginfo is a valid out-parameter; waits for our own child without
        // reaping it (WNOWAIT), so its pid stays ours until it is off the list below.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: filled in by waitid when a child changed state (0 otherwise).
        let ended = r == -1 || unsafe { info.si_pid() } != 0;
        if ended {
            break;
        }
        if !hung_up {
            let mut fds = libc::pollfd {
                fd: client.as_raw_fd(),
                events: libc::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut fds, 1, 200) };
            if n > 0 && fds.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
                hung_up = true;
                // Given a moment to end on its own (it reads the hangup too).
                std::thread::sleep(std::time::Duration::from_secs(1));
                let children = CHILDREN.lock();
                if children.contains(&pid) {
                    // SAFETY: our own child, not yet reaped (WNOWAIT above).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                drop(children);
            }
        } else {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    CHILDREN.lock().retain(|&p| p != pid);
    let mut status = 0;
    // SAFETY: reaps our own child, which has exited.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// Ends every forked session (at shutdown, as Redis's `ldbKillForkedSessions`).
pub fn kill_sessions() {
    for pid in CHILDREN.lock().drain(..) {
        log::warn!("Killing debugging session {pid}");
        // SAFETY: a child of this process, not yet reaped: its waiter takes it off the list
        // before reaping it, under this lock.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// How the debugger's prompt ended.
enum Resume {
    /// `step` or `continue`.
    Run,
    /// The client went away: the script runs on without stops.
    Gone,
}

/// Reads the next debugger command: `Err` is an error to raise in the script.
fn next_command() -> Result<Option<Vec<Vec<u8>>>, &'static str> {
    let mut buf = [0u8; 1024];
    loop {
        if with(|s| s.dead).unwrap_or(true) {
            return Ok(None);
        }
        let parsed = with(|s| parse(&s.input)).unwrap_or(Parsed::More);
        match parsed {
            Parsed::Command(argv) => {
                // What else the client sent is dropped, as Redis drops it.
                with(|s| s.input.clear());
                return Ok(Some(argv));
            }
            Parsed::Invalid => return Err("protocol error"),
            Parsed::More => {}
        }
        if super::busy::stop_requested() {
            return Err(KILLED);
        }
        let read = with(|s| s.link.read(&mut buf)).unwrap_or(Ok(0));
        match read {
            Ok(0) => return Ok(None),
            Ok(n) => {
                let full = with(|s| {
                    s.input.extend_from_slice(&buf[..n]);
                    s.input.len() > MAX_INPUT
                });
                if full == Some(true) {
                    with(|s| s.input = Vec::new());
                    return Err("max client buffer reached");
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return Ok(None),
        }
    }
}

const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The debugger's prompt, at a stop: answers commands until one resumes the script.
///
/// # Safety
/// `state` is the hooked state.
unsafe fn repl(state: *mut ffi::lua_State) -> Result<Resume, &'static str> {
    loop {
        let Some(argv) = next_command()? else {
            with(|s| {
                s.step = false;
                s.breakpoints.clear();
            });
            return Ok(Resume::Gone);
        };
        let name = argv[0].to_ascii_lowercase();
        let is = |names: &[&str]| names.iter().any(|n| n.as_bytes() == name.as_slice());
        if is(&["h", "help"]) {
            with(|s| s.logs.extend(HELP.iter().map(|l| l.as_bytes().to_vec())));
        } else if is(&["s", "step", "n", "next"]) {
            with(|s| s.step = true);
            return Ok(Resume::Run);
        } else if is(&["c", "continue"]) {
            return Ok(Resume::Run);
        } else if is(&["t", "trace"]) {
            // SAFETY: per the caller.
            unsafe { trace(state) };
        } else if is(&["m", "maxlen"]) {
            maxlen(&argv);
        } else if is(&["b", "break"]) {
            breakpoints(&argv);
        } else if is(&["e", "eval"]) {
            // SAFETY: per the caller.
            unsafe { eval(state, &argv) };
        } else if is(&["a", "abort"]) {
            return Err("script aborted for user request");
        } else if argv.len() > 1 && is(&["r", "redis"]) {
            // SAFETY: per the caller.
            unsafe { redis(state, &argv) };
        } else if is(&["p", "print"]) {
            // SAFETY: per the caller.
            unsafe { print(state, (argv.len() == 2).then(|| argv[1].as_slice())) };
        } else if is(&["l", "list"]) {
            let mut around = with(|s| s.line).unwrap_or(0);
            if let Some(n) = argv.get(1).map(|a| atoi(a)).filter(|&n| n > 0) {
                around = n;
            }
            let context = argv.get(2).map_or(5, |a| atoi(a));
            list(around, context);
        } else if is(&["w", "whole"]) {
            list(1, 1_000_000);
        } else {
            log(
                b"<error> Unknown Redis Lua debugger command or wrong number of arguments."
                    .to_vec(),
            );
        }
        send_logs();
    }
}

/// Does this frame run the script itself (not the sandbox's library, not `eval` code)?
fn in_script(ar: &ffi::lua_Debug) -> bool {
    // SAFETY: short_src is a NUL-terminated array filled by lua_getinfo.
    let src = unsafe { CStr::from_ptr(ar.short_src.as_ptr()) }.to_bytes();
    src.windows(11).any(|w| w == b"user_script")
}

/// Installs the debugger's hook on `state`: at every line, and every 100,000 instructions
/// to notice a script that runs too long without a stop.
///
/// # Safety
/// `state` must be a live Lua state, not running a hook.
pub unsafe fn install_hook(state: *mut ffi::lua_State) {
    // SAFETY: per the caller; `hook` is a valid hook for any state.
    unsafe {
        ffi::lua_sethook(
            state,
            Some(hook),
            ffi::LUA_MASKLINE | ffi::LUA_MASKCOUNT,
            super::busy::HOOK_INSTRUCTIONS,
        )
    };
}

/// The debugger's hook (Redis's `luaLdbLineHook`).
unsafe extern "C-unwind" fn hook(state: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) {
    // SAFETY: called by Lua with a live state and its debug record.
    let raise = unsafe { stop_here(state, ar) };
    if let Some(message) = raise {
        // SAFETY: nothing with a destructor is alive here (`stop_here` has returned and the
        // message is static), so lua_error's jump skips no drop.
        unsafe {
            ffi::lua_pushstring(state, message.as_ptr());
            ffi::lua_error(state);
        }
    }
}

/// Stops the script here if the user asked for it, and runs the prompt. `Some`: an error
/// to raise in the script.
///
/// # Safety
/// `state` is the hooked state and `ar` its debug record.
#[allow(clippy::disallowed_methods)] // real time, as the threshold
unsafe fn stop_here(state: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) -> Option<&'static CStr> {
    // SAFETY: per the caller.
    let (line, event, ours) = unsafe {
        ffi::lua_getstack(state, 0, ar);
        ffi::lua_getinfo(state, c"Sl".as_ptr(), ar);
        ((*ar).currentline, (*ar).event, in_script(&*ar))
    };
    let (step, luabp, bp) = with(|s| {
        s.line = line;
        (s.step, s.luabp, s.breakpoints.contains(&line))
    })?;
    if !ours {
        return None;
    }
    if super::busy::stop_requested() {
        return Some(c"Script killed by user with SCRIPT KILL...");
    }
    let bp = bp || luabp;
    let mut timeout = false;
    if event == ffi::LUA_HOOKCOUNT && !step && !bp {
        let late = with(|s| s.since.elapsed().as_millis() >= u128::from(s.threshold_ms))?;
        if !late {
            return None;
        }
        timeout = true;
    }
    let reason = if bp {
        if luabp {
            "redis.breakpoint() called"
        } else {
            "break point"
        }
    } else if timeout {
        "timeout reached, infinite loop?"
    } else if step {
        "step over"
    } else {
        return None;
    };
    with(|s| {
        s.step = false;
        s.luabp = false;
        s.logs
            .push(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
        let text = source_line(s, line);
        s.logs.push(text);
    });
    send_logs();
    // No garbage collection while stopped: a script's `__gc` may raise, and an error raised
    // from inside the prompt would jump over its Rust frames.
    // SAFETY: per the caller; collection restarts below whatever the prompt did.
    unsafe { ffi::lua_gc(state, ffi::LUA_GCSTOP, 0) };
    // A panic must not unwind through Lua's C frames: it becomes the script's error.
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: per the caller.
        unsafe { repl(state) }
    }))
    .unwrap_or(Err("internal error in the Lua debugger"));
    // SAFETY: per the caller.
    unsafe { ffi::lua_gc(state, ffi::LUA_GCRESTART, 0) };
    with(|s| {
        s.since = Instant::now();
        s.resumed = true;
    });
    match resumed {
        Err(message) => Some(match message {
            "protocol error" => c"protocol error",
            "max client buffer reached" => c"max client buffer reached",
            "script aborted for user request" => c"script aborted for user request",
            "internal error in the Lua debugger" => c"internal error in the Lua debugger",
            _ => c"Script killed by user with SCRIPT KILL...",
        }),
        Ok(Resume::Gone) if timeout => {
            Some(c"timeout during Lua debugging with client closing connection")
        }
        Ok(_) => None,
    }
}

/// `redis.breakpoint()`: in a session, stop at the next line (true); otherwise false.
///
/// # Safety
/// Called by Lua as a C function, with a live state.
pub unsafe extern "C-unwind" fn breakpoint(state: *mut ffi::lua_State) -> c_int {
    let on = with(|s| s.luabp = true).is_some();
    // SAFETY: a C function may push its result.
    unsafe { ffi::lua_pushboolean(state, c_int::from(on)) };
    1
}

/// `redis.debug(...)`: in a session, logs its arguments (`<debug> line N: ...`).
///
/// # Safety
/// Called by Lua as a C function, with a live state.
pub unsafe extern "C-unwind" fn debug(state: *mut ffi::lua_State) -> c_int {
    let Some(line) = with(|s| s.line) else {
        return 0;
    };
    let mut text = format!("<debug> line {line}: ").into_bytes();
    // SAFETY: reads the arguments on the stack.
    unsafe {
        let argc = ffi::lua_gettop(state);
        for i in 1..=argc {
            cat_value(state, i, &mut text, 0);
            if i != argc {
                text.extend_from_slice(b", ");
            }
        }
    }
    log(text);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_redis() {
        assert!(matches!(parse(b""), Parsed::More));
        assert!(matches!(parse(b"*1\r\n$1\r"), Parsed::More));
        assert!(
            matches!(parse(b"junk*1\r\n$1\r\nw\r\n"), Parsed::Command(a) if a == vec![b"w".to_vec()])
        );
        assert!(matches!(parse(b"*0\r\n"), Parsed::Invalid));
        assert!(matches!(parse(b"*1\r\n$0\r\n\r\n"), Parsed::Invalid));
        assert!(matches!(parse(b"*1\r\n:1\r\n"), Parsed::Invalid));
        assert!(matches!(parse(b"*1\r\n$1\r\nwxx"), Parsed::Invalid));
        assert!(matches!(parse(b"no star"), Parsed::Invalid));
    }

    #[test]
    fn replies_read_as_redis_shows_them() {
        let show = |resp: &[u8]| {
            let mut out = Vec::new();
            human(resp, &mut 0, &mut out, 0);
            String::from_utf8(out).unwrap_or_default()
        };
        assert_eq!(show(b"+OK\r\n"), "\"+OK\"");
        assert_eq!(show(b"$-1\r\n"), "NULL");
        assert_eq!(show(b"*2\r\n$1\r\na\r\n:5\r\n"), "[\"a\",5]");
        assert_eq!(show(b"%1\r\n$1\r\nk\r\n#t\r\n"), "{\"k\" => #true}");
        assert_eq!(show(b"~1\r\n,1.5\r\n"), "~((double) 1.5)");
        assert_eq!(show(b"*0\r\n"), "[]");
        assert_eq!(show(b"_\r\n"), "(null)");
        assert_eq!(show(b"*3\r\n:1\r\n"), "[1,]");
    }

    #[test]
    fn strict_integers() {
        assert_eq!(strict_int(b"7"), Some(7));
        assert_eq!(strict_int(b"-7"), Some(-7));
        assert_eq!(strict_int(b"0"), Some(0));
        assert_eq!(strict_int(b"07"), None);
        assert_eq!(strict_int(b"-0"), None);
        assert_eq!(strict_int(b"+7"), None);
        assert_eq!(strict_int(b"x"), None);
        assert_eq!(atoi(b" 12abc"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"x"), 0);
    }
}
