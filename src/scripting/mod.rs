//! The Lua 5.1 interpreter behind EVAL and SCRIPT (Redis's `eval.c` + `script_lua.c`).
//!
//! One interpreter serves the whole server, behind a mutex. A script runs while its caller
//! holds the write lock of every database (see `command::scripting`), so the mutex is only
//! ever taken after those locks, never before: one lock order. The sandbox (allowed globals,
//! read-only globals and libraries, the error handler that adds the script's line) is set up
//! by `prelude.lua`, as Redis's `scriptingInit` does in C.

mod arena;
mod bit;
mod cjson;
mod clib;
mod cmsgpack;
pub mod functions;
mod lstruct;
mod rand48;
pub mod stack;

use std::collections::HashMap;

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use parking_lot::{Mutex, MutexGuard};
use sha1::{Digest, Sha1};

use crate::protocol::Reply;

pub mod busy;
pub mod ldb;

/// Shebang flags (`#!lua flags=...`), as Redis's `scripts_flags_def`.
pub mod flags {
    pub const NO_WRITES: u32 = 1;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// No shebang: a script of before Redis 7.0, run with the old rules.
    pub const EVAL_COMPAT: u32 = 1 << 31;
}

const FLAG_NAMES: &[(&str, u32)] = &[
    ("no-writes", flags::NO_WRITES),
    ("allow-oom", flags::ALLOW_OOM),
    ("allow-stale", flags::ALLOW_STALE),
    ("no-cluster", flags::NO_CLUSTER),
    ("allow-cross-slot-keys", flags::ALLOW_CROSS_SLOT),
];

/// The interpreter with its sandbox and the script cache.
pub struct Interp {
    pub lua: Lua,
    /// Where the per-run `run` function (redis.call and friends) is set.
    pub hooks: Table,
    /// That function, made once: it calls the handler [`with_handler`] installed for the
    /// running script, so that a run creates no callback of its own.
    run: Function,
    /// The name `run`, made once (making it per script hashes it again each time).
    run_name: mlua::String,
    /// The error handler a script runs under (it adds the script's line to the error).
    handler: Function,
    /// The globals scripts read (KEYS and ARGV are set here).
    backing: Table,
    /// The compiled scripts and functions by slot (in Lua: a handle each would use up mlua's
    /// reference slots).
    pub funcs: Table,
    /// Each cached script's shebang flags and slot in `funcs`, by SHA-1.
    pub scripts: HashMap<String, Cached>,
    /// In the state of FUNCTION libraries: `loading` and `loader` (see the end of
    /// `prelude.lua`).
    pub api: Option<Table>,
    /// `busy::SWITCHES` when the hook was last installed here.
    hooked_at: std::cell::Cell<u64>,
    /// Scripts run since the last garbage-collection step ([`Interp::after_run`]).
    runs: std::cell::Cell<u32>,
    /// The state's allocator: last, so that it is dropped after the state is closed.
    _arena: Option<arena::Installed>,
}

/// A cached EVAL script.
#[derive(Clone, Copy)]
pub struct Cached {
    /// Its shebang flags.
    pub flags: u32,
    /// Where it is in [`Interp::funcs`].
    pub slot: i64,
}

/// Redis's `LUA_GC_CYCLE_PERIOD`.
const GC_PERIOD: u32 = 50;

/// The shared interpreter.
pub struct Engine {
    interp: Mutex<Interp>,
    /// How many scripts are cached, for INFO (which may run inside a script, where the
    /// interpreter's mutex is already held).
    cached: std::sync::atomic::AtomicUsize,
    /// The interpreter's memory as of its last use, and the cached scripts' bodies and
    /// SHA-1s (INFO `used_memory_vm_eval`, `used_memory_scripts_eval`), for the same reason.
    vm_memory: std::sync::atomic::AtomicUsize,
    bodies: std::sync::atomic::AtomicUsize,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    pub fn new() -> Self {
        let interp = Interp::new(false).expect("the Lua sandbox loads");
        let vm = interp.lua.used_memory();
        Engine {
            interp: Mutex::new(interp),
            cached: Default::default(),
            vm_memory: std::sync::atomic::AtomicUsize::new(vm),
            bodies: Default::default(),
        }
    }

    /// The interpreter. Taken after the database locks, if any (see the module note).
    pub fn lock(&self) -> MutexGuard<'_, Interp> {
        self.interp.lock()
    }

    /// SCRIPT FLUSH: a fresh interpreter, as Redis's `scriptingReset`.
    pub fn flush(&self) {
        let fresh = Interp::new(false).expect("the Lua sandbox loads");
        let vm = fresh.lua.used_memory();
        let old = std::mem::replace(&mut *self.interp.lock(), fresh);
        self.cached.store(0, std::sync::atomic::Ordering::Relaxed);
        self.bodies.store(0, std::sync::atomic::Ordering::Relaxed);
        self.vm_memory
            .store(vm, std::sync::atomic::Ordering::Relaxed);
        drop(old);
    }

    /// The number of cached scripts (INFO's `number_of_cached_scripts`).
    pub fn cached(&self) -> usize {
        self.cached.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Compiles and caches `body` (see [`Interp::create`]), counting it.
    pub fn create(&self, interp: &mut Interp, body: &[u8]) -> Result<String, Reply> {
        let before = interp.scripts.len();
        let sha = interp.create(body)?;
        if interp.scripts.len() > before {
            self.bodies
                .fetch_add(body.len() + sha.len(), std::sync::atomic::Ordering::Relaxed);
        }
        self.cached
            .store(interp.scripts.len(), std::sync::atomic::Ordering::Relaxed);
        self.counted(interp);
        Ok(sha)
    }

    /// Notes the interpreter's memory after a use.
    pub fn counted(&self, interp: &Interp) {
        self.vm_memory.store(
            interp.lua.used_memory(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// INFO `used_memory_vm_eval` and `used_memory_scripts_eval`.
    pub fn memory(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.vm_memory.load(Relaxed), self.bodies.load(Relaxed))
    }
}

thread_local! {
    /// A script runs on this thread (its connection's): commands whose reply must not
    /// depend on how data is kept (SORT of a set BY a constant) ask [`in_script`].
    static RUNNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What `run` returns to the prelude: a value, and whether to raise it.
pub type RunResult = mlua::Result<(Value, bool)>;

/// What a running script asks of its handler.
pub enum Request {
    /// `run(op, ...)` from the prelude (see `prelude.lua`).
    Lua(MultiValue),
    /// redis.call (true: raise an error reply) or redis.pcall, with its arguments. The
    /// handler answers whether to raise, and leaves the reply either as the command's RESP
    /// ([`reply_resp`]) or as a Lua value in `hooks[1]` ([`REPLY_SLOT`]).
    Call(Vec<Vec<u8>>, bool),
}

/// Where the handler leaves a [`Request::Call`]'s reply, in the `hooks` table.
pub const REPLY_SLOT: i64 = 1;

/// The running script's handler on this thread: the handler's address and the function
/// that calls it with its own type.
type Handler = (*mut (), unsafe fn(*mut (), Request) -> RunResult);

thread_local! {
    static HANDLER: std::cell::Cell<Option<Handler>> = const { std::cell::Cell::new(None) };
    /// A panic inside the handler, caught before it could unwind through Lua's C frames:
    /// resumed once the script is back in Rust ([`with_handler`]).
    static PANIC: std::cell::RefCell<Option<Box<dyn std::any::Any + Send>>> =
        const { std::cell::RefCell::new(None) };
    /// A [`Request::Call`]'s reply as RESP, made a Lua value by `fast_call` itself.
    static CALL_REPLY: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

thread_local! {
    /// Buffers for redis.call's arguments and replies, kept for the next call on this
    /// thread: a call would otherwise allocate one per argument and one for its reply, on a
    /// thread whose allocator pages have gone cold since its last script.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The last command line's own vector, kept likewise.
    static SPARE_ARGV: std::cell::Cell<Vec<Vec<u8>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// How many spare buffers a thread keeps, and the largest it keeps.
const SPARE_COUNT: usize = 32;
const SPARE_BYTES: usize = 4096;

/// An empty buffer, a spare one if there is one.
pub fn buffer() -> Vec<u8> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

/// Keeps `bufs` (emptied) for later calls, up to the bounds above.
pub fn recycle(bufs: impl IntoIterator<Item = Vec<u8>>) {
    SPARE.with(|s| {
        let mut spare = s.borrow_mut();
        for mut b in bufs {
            if spare.len() >= SPARE_COUNT {
                break;
            }
            if b.capacity() <= SPARE_BYTES {
                b.clear();
                spare.push(b);
            }
        }
    });
}

/// Keeps a command line's buffers, and the line's own vector (if it held no more than
/// [`SPARE_COUNT`] arguments), for later calls.
pub fn recycle_argv(mut argv: Vec<Vec<u8>>) {
    recycle(argv.drain(..));
    if argv.capacity() <= SPARE_COUNT {
        SPARE_ARGV.with(|s| s.set(argv));
    }
}

/// The reply of the [`Request::Call`] being answered, as RESP.
pub fn reply_resp(resp: Vec<u8>) {
    CALL_REPLY.with(|r| r.set(Some(resp)));
}

/// Runs `body` with `handler` answering the running script's requests on this thread (and
/// the one installed before it back afterwards, even if `body` panics).
pub fn with_handler<F, T>(handler: &mut F, body: impl FnOnce() -> T) -> T
where
    F: FnMut(Request) -> RunResult,
{
    /// SAFETY (for callers): `data` is the `F` [`with_handler`] installed, alive until it
    /// returns.
    unsafe fn call<F: FnMut(Request) -> RunResult>(data: *mut (), req: Request) -> RunResult {
        // SAFETY: per the function's contract; taken out of HANDLER while it runs, so no
        // other reference to it exists.
        unsafe { (*data.cast::<F>())(req) }
    }
    struct Restore(Option<Handler>);
    impl Drop for Restore {
        fn drop(&mut self) {
            HANDLER.with(|h| h.set(self.0));
        }
    }
    let mine: Handler = ((handler as *mut F).cast(), call::<F>);
    // A panic left by a script that unwound anyway is not this one's.
    PANIC.with(|p| p.borrow_mut().take());
    let restore = Restore(HANDLER.with(|h| h.replace(Some(mine))));
    let out = body();
    drop(restore);
    if let Some(panic) = PANIC.with(|p| p.borrow_mut().take()) {
        std::panic::resume_unwind(panic);
    }
    out
}

/// Hands `req` to the installed handler, taken out while it runs (a request made again from
/// inside it finds none, and is answered as outside a script); `None` when there is none.
fn dispatch(req: Request) -> Option<RunResult> {
    // After a panic in the handler (a bug), the script gets no more of it.
    if PANIC.with(|p| p.borrow().is_some()) {
        return None;
    }
    let (data, call) = HANDLER.with(|h| h.take())?;
    struct Put(Handler);
    impl Drop for Put {
        fn drop(&mut self) {
            HANDLER.with(|h| h.set(Some(self.0)));
        }
    }
    let _put = Put((data, call));
    // SAFETY: `with_handler` installed `data` with its own `call`, and is still running
    // (it restores the previous handler before it returns).
    Some(unsafe { call(data, req) })
}

/// `run`'s body: the prelude's requests.
fn call_handler(lua: &Lua, args: MultiValue) -> RunResult {
    match dispatch(Request::Lua(args)) {
        Some(out) => out,
        None => Ok((
            error_table(
                lua,
                b"redis.call/pcall can only be called inside a script invocation",
            )?,
            true,
        )),
    }
}

/// redis.call and redis.pcall (upvalues: the prelude's Lua version, whether to raise, the
/// `hooks` table, [`convert`]). Redis's own are C functions reading their arguments off the
/// stack; so is this one, for a script's string and number arguments: handing them over as a
/// table through a Lua function and a callback cost about 5,000 instructions per call.
/// Anything else goes to the Lua version, which gives the errors.
unsafe extern "C-unwind" fn fast_call(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    let raise_errors = ffi::lua_toboolean(state, ffi::lua_upvalueindex(2)) != 0;
    let argv = if n > 0 && HANDLER.with(|h| h.get().is_some()) {
        // SAFETY: `n` values are on the stack.
        unsafe { stack_argv(state, n) }
    } else {
        None
    };
    let raise = match argv {
        // As `raiser` does: the Lua version answers a value and whether to raise it.
        None => {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
            ffi::lua_insert(state, 1);
            ffi::lua_call(state, n, 2);
            let raise = ffi::lua_toboolean(state, -1) != 0;
            ffi::lua_settop(state, -2);
            raise
        }
        Some(argv) => {
            // Off the stack: with thousands of arguments, the handler's own pushes would
            // find no room left (Lua allows 8,000 slots).
            ffi::lua_settop(state, 0);
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                dispatch(Request::Call(argv, raise_errors))
            }));
            match out {
                Ok(Some(Ok((_, raise)))) => match CALL_REPLY.with(|r| r.take()) {
                    // SAFETY: the stack was emptied above.
                    Some(resp) => (unsafe { push_reply(state, resp) }) || raise,
                    None => {
                        ffi::lua_rawgeti(state, ffi::lua_upvalueindex(3), REPLY_SLOT as _);
                        ffi::lua_pushnil(state);
                        ffi::lua_rawseti(state, ffi::lua_upvalueindex(3), REPLY_SLOT as _);
                        raise
                    }
                },
                // An interpreter error (a bug, out of memory) as an error reply.
                Ok(Some(Err(e))) => {
                    let text = format!("-ERR {e}").replace(['\r', '\n'], " ") + "\r\n";
                    // SAFETY: the stack was emptied above.
                    unsafe { push_reply(state, text.into_bytes()) };
                    true
                }
                // No handler after all (a panic took it): what `call_handler` answers then.
                Ok(None) => {
                    let text = b"-ERR redis.call/pcall can only be called inside a script \
                                 invocation\r\n";
                    // SAFETY: the stack was emptied above.
                    unsafe { push_reply(state, text.to_vec()) };
                    true
                }
                Err(panic) => {
                    PANIC.with(|p| *p.borrow_mut() = Some(panic));
                    ffi::lua_pushstring(state, c"a panic in redis.call".as_ptr());
                    true
                }
            }
        }
    };
    if raise {
        // Nothing with a destructor is alive here: lua_error does not return.
        ffi::lua_error(state);
    }
    1
}

/// What [`convert`] is given: the reply, and whether it fitted on the stack.
struct Convert<'b> {
    resp: &'b [u8],
    fitted: bool,
}

/// Pushes `resp` (a reply in RESP) as its Lua value, and answers whether to raise it
/// regardless of the caller's wish (it could not be made: the error is pushed instead).
///
/// Made in a protected call of [`convert`] (`fast_call`'s fourth upvalue, so that nothing
/// is allocated before the call is protected): making Lua values may run the garbage
/// collector, and with it a script's `__gc` handler, which may raise; an error must not jump
/// over `resp`, which is dropped here, on the way back. No request reaches the handler
/// meanwhile (a `__gc` calling redis.call is answered as outside a script), so nothing
/// replaces the reply being read.
///
/// # Safety
/// Called from `fast_call` (its upvalues), with room for three values on the stack.
unsafe fn push_reply(state: *mut mlua::ffi::lua_State, resp: Vec<u8>) -> bool {
    use mlua::ffi;
    // An integer makes no Lua object, so nothing can raise: no protected call (150-400
    // instructions per script). The stack has room: `fast_call` emptied it, and a C function
    // is given LUA_MINSTACK slots.
    if resp.first() == Some(&b':') {
        ffi::lua_pushnumber(state, number(line(&resp, &mut 1)) as f64);
        recycle([resp]);
        return false;
    }
    let mut job = Convert {
        resp: &resp,
        fitted: false,
    };
    let held = HANDLER.with(|h| h.take());
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(4));
    ffi::lua_pushlightuserdata(state, (&mut job as *mut Convert).cast());
    let status = ffi::lua_pcall(state, 1, 1, 0);
    HANDLER.with(|h| h.set(held));
    let fitted = job.fitted;
    recycle([resp]);
    if status != 0 {
        // The error is on the stack.
        return true;
    }
    if !fitted {
        // Where Redis panics ("lua stack limit reach"), an error.
        ffi::lua_settop(state, -2);
        ffi::lua_pushstring(state, c"reached lua stack limit".as_ptr());
        return true;
    }
    false
}

/// [`push_reply`]'s protected part: returns the value.
unsafe extern "C-unwind" fn convert(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: `push_reply` passed its `Convert`, alive until lua_pcall returns.
    let job = unsafe { &mut *ffi::lua_touserdata(state, 1).cast::<Convert>() };
    ffi::lua_settop(state, 0);
    // SAFETY: a C function's own stack, which `push_resp` grows as it needs.
    if !unsafe { push_resp(state, job.resp, &mut 0) } {
        return 0;
    }
    job.fitted = true;
    1
}

/// Pushes the RESP reply at `buf[*pos..]` as one Lua value, by Redis's rules
/// (`redisProtocolToLuaType`), straight onto the stack; false (with the stack as
/// it was) if the stack cannot grow. Nothing here owns memory across a Lua call, which may
/// raise (see [`push_reply`]).
///
/// # Safety
/// `state` must be a live Lua state inside a C function.
unsafe fn push_resp(state: *mut mlua::ffi::lua_State, buf: &[u8], pos: &mut usize) -> bool {
    use mlua::ffi;
    if ffi::lua_checkstack(state, 4) == 0 {
        return false;
    }
    let Some(&kind) = buf.get(*pos) else {
        ffi::lua_pushnil(state);
        return true;
    };
    *pos += 1;
    let head = line(buf, pos);
    let push_bytes = |b: &[u8]| ffi::lua_pushlstring(state, b.as_ptr().cast(), b.len());
    let bulk = |pos: &mut usize, len: i64| -> &[u8] {
        let start = (*pos).min(buf.len());
        let end = (start + len.max(0) as usize).min(buf.len());
        *pos = (end + 2).min(buf.len());
        &buf[start..end]
    };
    // {field = <the value on top>}
    let single = |field: &std::ffi::CStr| {
        ffi::lua_createtable(state, 0, 1);
        ffi::lua_insert(state, -2);
        ffi::lua_setfield(state, -2, field.as_ptr());
    };
    let top = ffi::lua_gettop(state);
    match kind {
        b'+' => {
            push_bytes(head);
            single(c"ok");
        }
        b'-' => {
            ffi::lua_createtable(state, 0, 2);
            if head.contains(&b' ') {
                push_bytes(head);
            } else {
                push_bytes(b"ERR ");
                push_bytes(head);
                ffi::lua_concat(state, 2);
            }
            ffi::lua_setfield(state, -2, c"err".as_ptr());
            ffi::lua_pushboolean(state, 1);
            ffi::lua_setfield(state, -2, c"ignore_error_stats_update".as_ptr());
        }
        b':' => ffi::lua_pushnumber(state, number(head) as f64),
        b'$' => {
            let len = number(head);
            if len < 0 {
                ffi::lua_pushboolean(state, 0);
            } else {
                push_bytes(bulk(pos, len));
            }
        }
        b'*' | b'>' => {
            let len = number(head);
            if len < 0 {
                ffi::lua_pushboolean(state, 0);
            } else {
                // Not sized ahead: `#` of a reply with nils in it (RESP3) must be what it is
                // for a table filled one element at a time, as Redis fills it.
                ffi::lua_createtable(state, 0, 0);
                for i in 1..=len {
                    if !push_resp(state, buf, pos) {
                        ffi::lua_settop(state, top);
                        return false;
                    }
                    ffi::lua_rawseti(state, -2, i as _);
                }
            }
        }
        b'%' | b'~' => {
            ffi::lua_createtable(state, 0, 0);
            for _ in 0..number(head) {
                if !push_resp(state, buf, pos) {
                    ffi::lua_settop(state, top);
                    return false;
                }
                if kind == b'~' {
                    ffi::lua_pushboolean(state, 1);
                } else if !push_resp(state, buf, pos) {
                    ffi::lua_settop(state, top);
                    return false;
                }
                if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
                    ffi::lua_settop(state, -3);
                } else {
                    ffi::lua_rawset(state, -3);
                }
            }
            single(if kind == b'~' { c"set" } else { c"map" });
        }
        b'|' => {
            for _ in 0..number(head) * 2 {
                if !push_resp(state, buf, pos) {
                    return false;
                }
                ffi::lua_settop(state, -2);
            }
            return push_resp(state, buf, pos);
        }
        b'#' => ffi::lua_pushboolean(state, (head == b"t") as _),
        b',' => {
            let d = match std::str::from_utf8(head).unwrap_or("") {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                t => t.parse().unwrap_or(0.0),
            };
            ffi::lua_pushnumber(state, d);
            single(c"double");
        }
        b'(' => {
            push_bytes(head);
            single(c"big_number");
        }
        b'=' => {
            let body = bulk(pos, number(head));
            let (format, text) = if body.len() >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b""[..], body)
            };
            ffi::lua_createtable(state, 0, 2);
            push_bytes(text);
            ffi::lua_setfield(state, -2, c"string".as_ptr());
            push_bytes(format);
            ffi::lua_setfield(state, -2, c"format".as_ptr());
            single(c"verbatim_string");
        }
        // `_` (RESP3 null) and anything unknown.
        _ => ffi::lua_pushnil(state),
    }
    true
}

/// Pushes a table of `items` as Lua strings (KEYS, ARGV): one table and a string at a time
/// on the stack, with no value handle per element as mlua's tables would take.
///
/// # Safety
/// `state` must have room for three more values, in a protected call (a memory error
/// raises).
pub unsafe fn push_strings(state: *mut mlua::ffi::lua_State, items: &[Vec<u8>]) {
    use mlua::ffi;
    ffi::lua_createtable(state, items.len().min(i32::MAX as usize) as _, 0);
    for (i, a) in items.iter().enumerate() {
        ffi::lua_pushlstring(state, a.as_ptr().cast(), a.len());
        ffi::lua_rawseti(state, -2, (i + 1) as _);
    }
}

/// The arguments on the stack as a command line, if each is a string or a number (a
/// number as `%.17g`, as Redis's `luaArgsToRedisArgv`).
///
/// # Safety
/// `n` values must be on `state`'s stack.
unsafe fn stack_argv(state: *mut mlua::ffi::lua_State, n: std::ffi::c_int) -> Option<Vec<Vec<u8>>> {
    use mlua::ffi;
    let mut argv = SPARE_ARGV.with(|s| s.take());
    argv.reserve(n as usize);
    for i in 1..=n {
        match ffi::lua_type(state, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(state, i, &mut len);
                let mut arg = buffer();
                // SAFETY: Lua's string of `len` bytes, alive while on the stack.
                arg.extend_from_slice(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) });
                argv.push(arg);
            }
            ffi::LUA_TNUMBER => argv.push(format_number(ffi::lua_tonumber(state, i))),
            _ => return None,
        }
    }
    Some(argv)
}

/// Is a script running on this thread?
pub fn in_script() -> bool {
    RUNNING.with(|r| r.get())
}

/// Marks this thread as running a script until dropped.
pub struct Running(());

impl Running {
    pub fn start() -> Running {
        RUNNING.with(|r| r.set(true));
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(false));
    }
}

/// The lowercase hex SHA-1 of `body`.
pub fn sha1hex(body: &[u8]) -> String {
    let digest = Sha1::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Interp {
    /// A fresh interpreter: EVAL's, or with `functions` the one FUNCTION libraries share.
    pub fn new(functions: bool) -> mlua::Result<Interp> {
        // Declared first so that, on an early return, it is dropped after the state.
        let mut installed = None;
        // SAFETY: the debug library is loaded only for the error handler, which the prelude
        // keeps to itself before removing `debug` from the globals scripts see.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::default(),
            )
        };
        // SAFETY: the state is fresh; the interpreter keeps the arena past the state.
        unsafe { lua.exec_raw::<()>((), |state| installed = arena::Installed::install(state)) }?;
        let hooks = lua.create_table()?;
        let sha =
            lua.create_function(|lua, s: mlua::String| lua.create_string(sha1hex(&s.as_bytes())))?;
        let log = lua.create_function(|_, (level, msg): (i64, mlua::String)| {
            let msg = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
            match level {
                0 => log::debug!("{msg}"),
                1 => log::info!("{msg}"),
                2 => log::info!("{msg}"),
                _ => log::warn!("{msg}"),
            }
            Ok(())
        })?;
        let make_raiser = lua.create_function(|lua, f: Function| {
            // SAFETY: pushes one C closure over the one argument exec_raw pushed.
            unsafe {
                lua.exec_raw::<Function>(f, |state| mlua::ffi::lua_pushcclosure(state, raiser, 1))
            }
        })?;
        let make_call = lua.create_function(|lua, args: (Function, bool, Table)| {
            // SAFETY: pushes one C closure over the three values exec_raw pushed and
            // `convert`.
            unsafe {
                lua.exec_raw::<Function>(args, |state| {
                    mlua::ffi::lua_pushcfunction(state, convert);
                    mlua::ffi::lua_pushcclosure(state, fast_call, 4)
                })
            }
        })?;
        // SAFETY: `math` was opened above; this only replaces two of its fields.
        unsafe { lua.exec_raw::<()>((), |state| rand48::install(state)) }?;
        // SAFETY: each opener pushes exactly one table; they run as called C functions.
        let libs = unsafe {
            lua.exec_raw::<Table>((), |state| {
                use mlua::ffi;
                ffi::lua_createtable(state, 0, 4);
                for (name, open) in [
                    (c"cjson", cjson::open as clib::CFunction),
                    (c"cmsgpack", cmsgpack::open),
                    (c"bit", bit::open),
                    (c"struct", lstruct::open),
                ] {
                    ffi::lua_pushcclosure(state, open, 0);
                    ffi::lua_call(state, 0, 1);
                    ffi::lua_setfield(state, -2, name.as_ptr());
                }
            })?
        };
        // redis.breakpoint and redis.debug, which act only in a debugging session.
        // SAFETY: pushes a table of two C functions.
        let debugger = unsafe {
            lua.exec_raw::<Table>((), |state| {
                use mlua::ffi;
                ffi::lua_createtable(state, 0, 2);
                ffi::lua_pushcfunction(state, ldb::breakpoint);
                ffi::lua_setfield(state, -2, c"breakpoint".as_ptr());
                ffi::lua_pushcfunction(state, ldb::debug);
                ffi::lua_setfield(state, -2, c"debug".as_ptr());
            })?
        };
        let (major, minor, patch) = version_parts(crate::REDIS_VERSION);
        let (handler, backing, api): (Function, Table, Option<Table>) = lua
            .load(include_str!("prelude.lua"))
            .set_name("=redis_lib")
            .call((
                hooks.clone(),
                sha,
                log,
                crate::REDIS_VERSION,
                (major << 16 | minor << 8 | patch) as f64,
                make_raiser,
                libs,
                functions,
                make_call,
                debugger,
            ))?;
        let funcs = lua.create_table()?;
        let run = lua.create_function(|lua, args: MultiValue| call_handler(lua, args))?;
        let run_name = lua.create_string("run")?;
        let interp = Interp {
            lua,
            hooks,
            run,
            run_name,
            handler,
            backing,
            funcs,
            scripts: HashMap::new(),
            api,
            hooked_at: std::cell::Cell::new(0),
            runs: std::cell::Cell::new(0),
            _arena: installed,
        };
        interp.install_hook();
        // What setting up the sandbox left behind: a fresh interpreter starts at its live
        // size (INFO `used_memory_lua`), not with the prelude's garbage on top.
        interp.lua.gc_collect()?;
        Ok(interp)
    }

    /// Sets the busy-script hook back to its usual rate if a stop may have left it firing at
    /// every line (mlua's raw call costs ~900 instructions, saved on every other script).
    pub fn rearm_hook(&self) {
        if self.hooked_at.get() != busy::SWITCHES.load(std::sync::atomic::Ordering::Relaxed) {
            self.install_hook();
        }
    }

    /// Runs the script or function in `funcs[slot]` under the error handler: `true` and its
    /// first result, or `false` and the error. An EVAL script (`globals`) finds KEYS and
    /// ARGV among its globals; a function is given them as its two arguments. `run` answers
    /// (redis.call's slow path, redis.setresp, ...) only meanwhile.
    ///
    /// All in one protected call: each of mlua's own (a table write, a function call) makes
    /// two C closures, garbage the collector then has to sweep, and scripts run one at a
    /// time, so whatever a run costs here every other script waits for.
    pub fn invoke(
        &self,
        slot: i64,
        keys: &[Vec<u8>],
        argv: &[Vec<u8>],
        globals: bool,
    ) -> mlua::Result<(bool, Value)> {
        let args = (
            &self.handler,
            &self.funcs,
            &self.backing,
            &self.hooks,
            &self.run_name,
            &self.run,
        );
        // SAFETY: the six values above are the stack (1 to 6); the run uses at most four
        // more slots before its call, and leaves exactly its two results.
        let out = unsafe {
            self.lua.exec_raw::<(bool, Value)>(args, |state| {
                use mlua::ffi;
                const HANDLER: i32 = 1;
                const FUNCS: i32 = 2;
                const BACKING: i32 = 3;
                const HOOKS: i32 = 4;
                const RUN_NAME: i32 = 5;
                const RUN: i32 = 6;
                ffi::lua_pushvalue(state, RUN_NAME);
                ffi::lua_pushvalue(state, RUN);
                ffi::lua_rawset(state, HOOKS);
                if globals {
                    for (name, items) in [(c"KEYS", keys), (c"ARGV", argv)] {
                        ffi::lua_pushstring(state, name.as_ptr());
                        push_strings(state, items);
                        ffi::lua_rawset(state, BACKING);
                    }
                }
                ffi::lua_rawgeti(state, FUNCS, slot as _);
                let nargs = if globals {
                    0
                } else {
                    push_strings(state, keys);
                    push_strings(state, argv);
                    2
                };
                // As xpcall (which is this call): the first result, or the handler's error.
                let status = ffi::lua_pcall(state, nargs, 1, HANDLER);
                ffi::lua_pushvalue(state, RUN_NAME);
                ffi::lua_pushnil(state);
                ffi::lua_rawset(state, HOOKS);
                ffi::lua_pushboolean(state, (status == 0) as _);
                ffi::lua_replace(state, 1);
                ffi::lua_replace(state, 2);
                ffi::lua_settop(state, 2);
            })
        };
        if out.is_err() {
            // Only when out of memory before the call: `run` is not left answering.
            let _ = self.hooks.raw_set(&self.run_name, Value::Nil);
        }
        out
    }

    /// After an EVAL script: every [`GC_PERIOD`] runs, a garbage-collection step of that many
    /// units, as Redis's `evalGenericCommand` does, so the interpreter's memory stays near
    /// its live size instead of waiting for Lua's own cycle at twice it.
    pub fn after_run(&self) {
        let runs = self.runs.get() + 1;
        if runs < GC_PERIOD {
            self.runs.set(runs);
            return;
        }
        self.runs.set(0);
        let _ = self.lua.gc_step_kbytes(GC_PERIOD as _);
    }

    /// Installs the busy-script hook at its usual rate.
    pub fn install_hook(&self) {
        self.hooked_at
            .set(busy::SWITCHES.load(std::sync::atomic::Ordering::Relaxed));
        // SAFETY: the interpreter's own state, not inside a hook (called between scripts).
        let _ = unsafe {
            self.lua
                .exec_raw::<()>((), |state| busy::install_hook(state))
        };
    }

    /// Hooks the debugger in instead of the busy-script check, for a script run in a
    /// debugging session; [`Interp::install_hook`] puts the usual hook back.
    pub fn install_debugger_hook(&self) {
        // SAFETY: the interpreter's own state, not inside a hook (called between scripts).
        let _ = unsafe {
            self.lua
                .exec_raw::<()>((), |state| ldb::install_hook(state))
        };
    }

    /// Compiles and caches `body` (Redis's `luaCreateFunction`); its SHA-1, or the error
    /// reply.
    pub fn create(&mut self, body: &[u8]) -> Result<String, Reply> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, skip) =
            shebang(body).map_err(|e| Reply::Error(format!("ERR {e}").into_bytes().into()))?;
        let func = self
            .lua
            .load(&body[skip..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                Reply::Error(
                    one_line(
                        format!("ERR Error compiling script (new function): {msg}").as_bytes(),
                    )
                    .into(),
                )
            })?;
        // Scripts are never dropped one at a time (SCRIPT FLUSH makes a new interpreter), so
        // the count names a free slot.
        let slot = self.scripts.len() as i64 + 1;
        self.funcs
            .raw_set(slot, func)
            .map_err(|e| Reply::Error(one_line(format!("ERR {e}").as_bytes()).into()))?;
        self.scripts.insert(sha.clone(), Cached { flags, slot });
        Ok(sha)
    }
}

/// The C body of redis.call and the other redis lib functions that raise: calls its upvalue
/// (a Lua function returning a value and whether to raise it) with its arguments, and
/// returns the value or raises it. Being a C function, the calling script's frame stays on
/// the stack even when it is called in a tail position, so the error handler finds the
/// script's line (`return redis.call(...)`), as with Redis's own C functions.
unsafe extern "C-unwind" fn raiser(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, n, 2);
    let raise = ffi::lua_toboolean(state, -1) != 0;
    ffi::lua_settop(state, -2);
    if raise {
        // Nothing with a destructor is alive here: lua_error does not return.
        ffi::lua_error(state);
    }
    1
}

/// `7.0.15` → (7, 0, 15).
fn version_parts(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Redis's `evalExtractShebangFlags`: the flags and the length of the shebang line (its
/// newline is kept, so line numbers stay the user's).
pub fn shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if *engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut out = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(',') {
            match FLAG_NAMES.iter().find(|(n, _)| *n == name) {
                Some((_, f)) => out |= f,
                None => return Err(format!("Unexpected flag in script shebang: {name}")),
            }
        }
    }
    Ok((out, end))
}

/// Newlines would break the protocol: Redis maps them to spaces.
pub fn one_line(text: &[u8]) -> Vec<u8> {
    text.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// An error table as Redis's `luaPushError` builds it (`ERR` prefixed), flagged so that the
/// error is not counted twice.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    let mut full = b"ERR ".to_vec();
    full.extend_from_slice(text);
    t.raw_set("err", lua.create_string(&full)?)?;
    t.raw_set("ignore_error_stats_update", true)?;
    Ok(Value::Table(t))
}

/// `%.17g`, as Redis formats a Lua number given to redis.call.
pub fn format_number(n: f64) -> Vec<u8> {
    printf_g(c"%.17g", n)
}

/// `%.14g`, as Lua 5.1 turns a number into a string.
pub fn format_lua_number(n: f64) -> Vec<u8> {
    printf_g(c"%.14g", n)
}

fn printf_g(format: &std::ffi::CStr, n: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is large enough for any %.17g and snprintf writes a terminated
    // string of at most its size.
    let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), format.as_ptr(), n) };
    buf[..(len.max(0) as usize).min(buf.len() - 1)].to_vec()
}

/// A reply in RESP (as a command wrote it) as a Lua value (Redis's
/// `redisProtocolToLuaType`).
pub fn resp_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    let mut fitted = false;
    // SAFETY: `push_resp` pushes one value (a nil is pushed when it cannot) and owns nothing
    // across the Lua calls that may raise; exec_raw runs it protected.
    let value = unsafe {
        lua.exec_raw::<Value>((), |state| {
            fitted = push_resp(state, buf, &mut 0);
            if !fitted {
                mlua::ffi::lua_pushnil(state);
            }
        })
    }?;
    if !fitted {
        return Err(mlua::Error::runtime("reached lua stack limit"));
    }
    Ok(value)
}

fn line<'b>(buf: &'b [u8], pos: &mut usize) -> &'b [u8] {
    let start = *pos;
    let end = buf[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
}

fn number(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// How deep a reply may nest before "reached lua stack limit". Redis reaches it at 7995
/// levels (Lua's 8000 stack slots); here each level holds one of mlua's reference slots, of
/// which there are as many, so the limit is lower.
pub const MAX_DEPTH: usize = 1000;

/// A Lua value as the reply to the caller (Redis's `luaReplyToRedisReply`). `script_resp`
/// is the script's protocol (`redis.setresp`), `caller_resp` the client's. Aggregates are
/// encoded at once for the caller (as Redis writes them), so that a deeply nested reply is
/// never a deeply nested `Reply`.
pub fn lua_to_reply(v: &Value, script_resp: u8, caller_resp: u8) -> Reply {
    match v {
        Value::Table(t) => match table_kind(t) {
            Kind::Leaf(Reply::Raw(bytes)) => {
                let mut out = Vec::new();
                write_leaf(Reply::Raw(bytes), caller_resp, &mut out);
                Reply::Raw(out.into())
            }
            Kind::Leaf(reply) => reply,
            _ => {
                let mut out = Vec::new();
                write(v, script_resp, caller_resp, 0, &mut out);
                Reply::Raw(out.into())
            }
        },
        other => scalar(other, script_resp),
    }
}

fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// A value that is not a table.
fn scalar(v: &Value, script_resp: u8) -> Reply {
    match v {
        Value::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        Value::Boolean(b) if script_resp == 2 => {
            if *b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        Value::Boolean(b) => Reply::Bool(*b),
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(*n as i64),
        _ => Reply::Nil,
    }
}

/// What a table stands for.
enum Kind {
    Leaf(Reply),
    Map(Table),
    Set(Table),
    Array,
}

fn table_kind(t: &Table) -> Kind {
    let get = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(_) = get("err") {
        // luaExtractErrorInformation reads `err` with lua_getfield.
        let msg = t.get::<Value>("err").ok().as_ref().and_then(bytes_of);
        return Kind::Leaf(Reply::Error(one_line(&msg.unwrap_or_default()).into()));
    }
    if let Some(ok) = bytes_of(&get("ok")) {
        return Kind::Leaf(Reply::Simple(
            String::from_utf8_lossy(&one_line(&ok)).into_owned().into(),
        ));
    }
    match get("double") {
        Value::Number(d) => return Kind::Leaf(Reply::Double(d)),
        Value::Integer(n) => return Kind::Leaf(Reply::Double(n as f64)),
        _ => {}
    }
    if let Some(big) = bytes_of(&get("big_number")) {
        let mut out = b"(".to_vec();
        out.extend_from_slice(&one_line(&big));
        out.extend_from_slice(b"\r\n");
        return Kind::Leaf(Reply::Raw(out.into()));
    }
    if let Value::Table(v) = get("verbatim_string") {
        let format = v
            .raw_get::<Value>("format")
            .ok()
            .as_ref()
            .and_then(bytes_of);
        let text = v
            .raw_get::<Value>("string")
            .ok()
            .as_ref()
            .and_then(bytes_of);
        if let (Some(mut format), Some(text)) = (format, text) {
            format.resize(3, b' ');
            let mut out = format!("={}\r\n", text.len() + 4).into_bytes();
            out.extend_from_slice(&format[..3]);
            out.push(b':');
            out.extend_from_slice(&text);
            out.extend_from_slice(b"\r\n");
            return Kind::Leaf(Reply::Raw(out.into()));
        }
    }
    if let Value::Table(m) = get("map") {
        return Kind::Map(m);
    }
    if let Value::Table(s) = get("set") {
        return Kind::Set(s);
    }
    Kind::Array
}

/// Writes a leaf for the caller; RESP3-only kinds become their RESP2 form for a RESP2 caller.
fn write_leaf(reply: Reply, caller_resp: u8, out: &mut Vec<u8>) {
    if let Reply::Raw(bytes) = &reply {
        if caller_resp == 2 {
            // A big number or verbatim string: a bulk string of its text.
            let text = match bytes.first() {
                Some(b'(') => bytes[1..bytes.len() - 2].to_vec(),
                _ => {
                    let start = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 5);
                    bytes[start.min(bytes.len() - 2)..bytes.len() - 2].to_vec()
                }
            };
            crate::protocol::encode(&Reply::Bulk(text), caller_resp, out);
            return;
        }
    }
    crate::protocol::encode(&reply, caller_resp, out);
}

fn write(v: &Value, script_resp: u8, caller_resp: u8, depth: usize, out: &mut Vec<u8>) {
    if depth >= MAX_DEPTH {
        out.extend_from_slice(b"-ERR reached lua stack limit\r\n");
        return;
    }
    let Value::Table(t) = v else {
        crate::protocol::encode(&scalar(v, script_resp), caller_resp, out);
        return;
    };
    match table_kind(t) {
        Kind::Leaf(reply) => write_leaf(reply, caller_resp, out),
        Kind::Map(m) => {
            let pairs: Vec<(Value, Value)> = m.pairs().filter_map(Result::ok).collect();
            let head = if caller_resp == 3 {
                format!("%{}\r\n", pairs.len())
            } else {
                format!("*{}\r\n", pairs.len() * 2)
            };
            out.extend_from_slice(head.as_bytes());
            for (k, v) in &pairs {
                write(k, script_resp, caller_resp, depth + 1, out);
                write(v, script_resp, caller_resp, depth + 1, out);
            }
        }
        Kind::Set(s) => {
            let keys: Vec<Value> = s
                .pairs::<Value, Value>()
                .filter_map(Result::ok)
                .map(|(k, _)| k)
                .collect();
            let kind = if caller_resp == 3 { '~' } else { '*' };
            out.extend_from_slice(format!("{kind}{}\r\n", keys.len()).as_bytes());
            for k in &keys {
                write(k, script_resp, caller_resp, depth + 1, out);
            }
        }
        Kind::Array => {
            let mut len = 0;
            while !t.raw_get::<Value>(len + 1).unwrap_or(Value::Nil).is_nil() {
                len += 1;
            }
            out.extend_from_slice(format!("*{len}\r\n").as_bytes());
            for j in 1..=len {
                let item = t.raw_get::<Value>(j).unwrap_or(Value::Nil);
                write(&item, script_resp, caller_resp, depth + 1, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_buffers_are_bounded() {
        recycle((0..100).map(|_| Vec::with_capacity(16)));
        recycle([Vec::with_capacity(SPARE_BYTES + 1)]);
        let kept = SPARE.with(|s| s.borrow().len());
        assert_eq!(kept, SPARE_COUNT);
        assert!(SPARE.with(|s| s.borrow().iter().all(|b| b.capacity() <= SPARE_BYTES)));
        let b = buffer();
        assert!(b.is_empty());
        // A long command line's own vector is not kept.
        recycle_argv(Vec::with_capacity(SPARE_COUNT * 4));
        assert_eq!(SPARE_ARGV.with(|s| s.take()).capacity(), 0);
        let mut line = Vec::with_capacity(4);
        line.push(b"x".to_vec());
        recycle_argv(line);
        let kept = SPARE_ARGV.with(|s| s.take());
        assert!(kept.is_empty() && kept.capacity() >= 4);
    }
}
