//! FUNCTION libraries (Redis's `functions.c` + `function_lua.c`): the registry of libraries
//! and their functions, and the Lua engine that loads them.
//!
//! All libraries share one Lua state of their own, apart from EVAL's, whose globals are
//! switched while a library's body runs (only `redis.register_function`, `redis.log` and the
//! version are reachable then; see `prelude.lua`). A registered callback is kept in the
//! state's `funcs` table under a number; the registry holds the numbers. As for EVAL, the
//! mutex is taken after the database locks, never before.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mlua::{Function, Value};
use parking_lot::{Mutex, MutexGuard};

use super::{error_table, flags, Interp};
use crate::store::rdbstr;

/// The one engine, as FUNCTION LIST and STATS name it.
pub const ENGINE: &str = "LUA";

/// How long a library's body may run at FUNCTION LOAD (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// The RDB opcode of a library (its code as an RDB string follows).
const OPCODE_FUNCTION2: u8 = 245;
/// The opcode of 7.0 release candidates (name, engine, description, code): refused.
const OPCODE_FUNCTION: u8 = 246;

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// A registered function.
pub struct FunctionInfo {
    pub name: Vec<u8>,
    pub desc: Option<Vec<u8>>,
    /// Script flags (`scripting::flags`).
    pub flags: u32,
    /// Its key in the Lua state's `funcs` table.
    id: u64,
}

/// A loaded library.
pub struct Library {
    pub name: Vec<u8>,
    /// The whole code, shebang line included (FUNCTION LIST WITHCODE, FUNCTION DUMP).
    pub code: Vec<u8>,
    /// In registration order.
    pub functions: Vec<FunctionInfo>,
}

/// A set of libraries with its function index (Redis's `functionsLibCtx`): the current one,
/// or the one a FUNCTION RESTORE builds before joining it.
#[derive(Default)]
pub struct LibSet {
    pub libraries: BTreeMap<Vec<u8>, Library>,
    /// Lowercased function name → its library (function names are case-insensitive).
    index: HashMap<Vec<u8>, Vec<u8>>,
    functions: usize,
}

impl LibSet {
    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.index
                .insert(f.name.to_ascii_lowercase(), lib.name.clone());
        }
        self.functions += lib.functions.len();
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &[u8]) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.index.remove(&f.name.to_ascii_lowercase());
        }
        self.functions -= lib.functions.len();
        Some(lib)
    }

    /// The function named `name` (any case) and its library.
    pub fn find(&self, name: &[u8]) -> Option<(&Library, &FunctionInfo)> {
        let lib = self
            .libraries
            .get(self.index.get(&name.to_ascii_lowercase())?)?;
        let f = lib
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))?;
        Some((lib, f))
    }

    pub fn function_count(&self) -> usize {
        self.functions
    }
}

/// What FUNCTION RESTORE does with the libraries already there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// The libraries and their Lua state.
pub struct Libraries {
    pub interp: Interp,
    pub current: LibSet,
    next_id: u64,
}

/// The shared registry, with counts INFO reads without the mutex (INFO may run inside a
/// function, where it is held).
pub struct Functions {
    inner: Mutex<Libraries>,
    functions: AtomicUsize,
    libraries: AtomicUsize,
    vm_memory: AtomicUsize,
    /// The libraries' names, code and function names and descriptions, in bytes (INFO
    /// `used_memory_functions`).
    held: AtomicUsize,
}

impl Default for Functions {
    fn default() -> Self {
        Self::new()
    }
}

impl Functions {
    pub fn new() -> Self {
        let interp = Interp::new(true).expect("the Lua sandbox loads");
        let vm = interp.lua.used_memory();
        Functions {
            inner: Mutex::new(Libraries {
                interp,
                current: LibSet::default(),
                next_id: 1,
            }),
            functions: AtomicUsize::new(0),
            libraries: AtomicUsize::new(0),
            vm_memory: AtomicUsize::new(vm),
            held: AtomicUsize::new(0),
        }
    }

    /// The registry. Taken after the database locks, if any (see the module note).
    pub fn lock(&self) -> MutexGuard<'_, Libraries> {
        self.inner.lock()
    }

    /// Refreshes INFO's counts after a change (with the registry still locked).
    pub fn counted(&self, libs: &Libraries) {
        self.functions
            .store(libs.current.functions, Ordering::Relaxed);
        self.libraries
            .store(libs.current.libraries.len(), Ordering::Relaxed);
        self.vm_memory
            .store(libs.interp.lua.used_memory(), Ordering::Relaxed);
        let held = libs
            .current
            .libraries
            .values()
            .map(|l| {
                l.name.len()
                    + l.code.len()
                    + l.functions
                        .iter()
                        .map(|f| f.name.len() + f.desc.as_ref().map_or(0, Vec::len))
                        .sum::<usize>()
            })
            .sum();
        self.held.store(held, Ordering::Relaxed);
    }

    /// INFO's `used_memory_functions`.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// INFO's `number_of_functions`.
    pub fn function_count(&self) -> usize {
        self.functions.load(Ordering::Relaxed)
    }

    /// INFO's `number_of_libraries`.
    pub fn library_count(&self) -> usize {
        self.libraries.load(Ordering::Relaxed)
    }

    /// INFO's `used_memory_vm_functions`: the bytes of the libraries' Lua state.
    pub fn vm_memory(&self) -> usize {
        self.vm_memory.load(Ordering::Relaxed)
    }
}

/// A library's shebang (Redis's `functionExtractLibMetaData`): engine, name, and where the
/// code after the shebang line starts (its newline is kept, so line numbers stay the user's).
fn metadata(code: &[u8]) -> Result<(Vec<u8>, Vec<u8>, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    // The C string ends at a NUL byte.
    let text = &code[..code.iter().position(|&b| b == 0).unwrap_or(code.len())];
    let Some(end) = text.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::protocol::inline::split_args(&code[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(c_str(part))
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok((engine, name, end))
}

/// Up to the first NUL, as C's `%s` prints.
fn c_str(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// Letters, digits and underscores, at least one (Redis's `functionsVerifyName`).
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The message of an error a library's body raised (Redis's `luaExtractErrorInformation`).
fn load_error(value: &Value, timed_out: bool) -> Vec<u8> {
    match value {
        Value::String(s) => [b"ERR ".as_slice(), &s.as_bytes()].concat(),
        Value::Number(n) => [b"ERR ".as_slice(), &super::format_lua_number(*n)].concat(),
        Value::Integer(n) => format!("ERR {n}").into_bytes(),
        Value::Table(t) => match t.get::<Value>("err") {
            Ok(Value::String(s)) => s.as_bytes().to_vec(),
            Ok(Value::Number(n)) => super::format_lua_number(n),
            _ => b"(null)".to_vec(),
        },
        Value::Error(_) if timed_out => b"ERR FUNCTION LOAD timeout".to_vec(),
        Value::Error(e) => format!("ERR {e}").into_bytes(),
        _ => b"(null)".to_vec(),
    }
}

impl Libraries {
    /// FUNCTION LOAD: creates the library `code` in the current set; its name, or the error
    /// (without its `ERR ` prefix).
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<Vec<u8>, Vec<u8>> {
        let mut set = std::mem::take(&mut self.current);
        let out = self.create(&mut set, code, replace, true);
        self.current = set;
        out
    }

    /// Redis's `functionsCreateWithLibraryCtx`: compiles `code`, runs its body to register
    /// its functions, and links the library into `set` (replacing one of the same name if
    /// `replace`). On failure `set` is as it was.
    fn create(
        &mut self,
        set: &mut LibSet,
        code: &[u8],
        replace: bool,
        timeout: bool,
    ) -> Result<Vec<u8>, Vec<u8>> {
        let (engine, name, body_at) = metadata(code).map_err(String::into_bytes)?;
        if !valid_name(&name) {
            return Err(BAD_NAME.into());
        }
        if !engine.eq_ignore_ascii_case(ENGINE.as_bytes()) {
            let mut e = b"Engine '".to_vec();
            e.extend_from_slice(&engine);
            e.extend_from_slice(b"' not found");
            return Err(e);
        }
        if set.libraries.contains_key(&name) && !replace {
            let mut e = b"Library '".to_vec();
            e.extend_from_slice(&name);
            e.extend_from_slice(b"' already exists");
            return Err(e);
        }
        let old = set.unlink(&name);
        let made = self.compile(&name, code, body_at, timeout).and_then(|lib| {
            if lib.functions.is_empty() {
                self.forget(&lib);
                return Err(b"No functions registered".to_vec());
            }
            let taken = lib
                .functions
                .iter()
                .find(|f| set.index.contains_key(&f.name.to_ascii_lowercase()));
            if let Some(f) = taken {
                let mut e = b"Function ".to_vec();
                e.extend_from_slice(c_str(&f.name));
                e.extend_from_slice(b" already exists");
                self.forget(&lib);
                return Err(e);
            }
            Ok(lib)
        });
        match made {
            Ok(lib) => {
                set.link(lib);
                if let Some(old) = old {
                    self.forget(&old);
                }
                Ok(name)
            }
            Err(e) => {
                if let Some(old) = old {
                    set.link(old);
                }
                Err(e)
            }
        }
    }

    /// Drops a library's callbacks from the Lua state.
    fn forget(&self, lib: &Library) {
        for f in &lib.functions {
            let _ = self.interp.funcs.raw_set(f.id, Value::Nil);
        }
    }

    /// The Lua engine's `create`: compiles the body and runs it with registration allowed.
    fn compile(
        &mut self,
        name: &[u8],
        code: &[u8],
        body_at: usize,
        timeout: bool,
    ) -> Result<Library, Vec<u8>> {
        let interp = &self.interp;
        let lua = &interp.lua;
        let chunk = lua
            .load(&code[body_at..])
            .set_name("@user_function")
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("Error compiling function: {msg}").into_bytes()
            })?;
        let api = interp
            .api
            .clone()
            .ok_or_else(|| b"the functions engine is not set up".to_vec())?;
        let loading: Function = api.raw_get("loading").map_err(lua_err)?;
        let loader: Function = api.raw_get("loader").map_err(lua_err)?;
        let mut functions: Vec<FunctionInfo> = Vec::new();
        let next_id = &mut self.next_id;
        // Wall time while the body runs, not the command's instant: the timeout is real time.
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if timeout {
            let flag = std::sync::Arc::clone(&timed_out);
            lua.set_hook(
                mlua::HookTriggers::new().every_nth_instruction(100_000),
                #[allow(clippy::disallowed_methods)]
                move |_, _| {
                    if started.elapsed() > LOAD_TIMEOUT {
                        flag.store(true, Ordering::Relaxed);
                        return Err(mlua::Error::runtime("FUNCTION LOAD timeout"));
                    }
                    Ok(mlua::VmState::Continue)
                },
            );
        }
        let ran = lua.scope(|scope| {
            let register = scope.create_function_mut(
                |lua,
                 (fname, callback, desc, bits): (
                    mlua::String,
                    Function,
                    Option<mlua::String>,
                    f64,
                )| {
                    let fname = fname.as_bytes().to_vec();
                    if !valid_name(&fname) {
                        return Ok((error_table(lua, BAD_NAME.as_bytes())?, true));
                    }
                    if functions.iter().any(|f| f.name == fname) {
                        return Ok((
                            error_table(lua, b"Function already exists in the library")?,
                            true,
                        ));
                    }
                    let id = *next_id;
                    *next_id += 1;
                    interp.funcs.raw_set(id, callback)?;
                    functions.push(FunctionInfo {
                        name: fname,
                        desc: desc.map(|d| d.as_bytes().to_vec()),
                        flags: bits as u32,
                        id,
                    });
                    Ok((Value::Nil, false))
                },
            )?;
            interp.hooks.raw_set("register", register)?;
            loading.call::<()>(true)?;
            let result = loader.call::<(bool, Value)>(chunk);
            loading.call::<()>(false)?;
            interp.hooks.raw_set("register", Value::Nil)?;
            result
        });
        if timeout {
            // The load-time hook replaced the busy-script one: put it back.
            lua.remove_hook();
            interp.install_hook();
        }
        let lib = Library {
            name: name.to_vec(),
            code: code.to_vec(),
            functions,
        };
        let failed = match ran {
            Ok((true, _)) => return Ok(lib),
            Ok((false, value)) => load_error(&value, timed_out.load(Ordering::Relaxed)),
            Err(e) => format!("ERR {e}").into_bytes(),
        };
        self.forget(&lib);
        let mut e = b"Error registering functions: ".to_vec();
        e.extend_from_slice(&failed);
        Err(e)
    }

    /// FUNCTION DELETE: whether the library existed.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        match self.current.unlink(name) {
            Some(lib) => {
                self.forget(&lib);
                true
            }
            None => false,
        }
    }

    /// FUNCTION FLUSH: every library goes.
    pub fn flush(&mut self) {
        let set = std::mem::take(&mut self.current);
        for lib in set.libraries.values() {
            self.forget(lib);
        }
        let _ = self.interp.lua.gc_collect();
    }

    /// Where function `f`'s callback is in the interpreter's `funcs` (see `Interp::invoke`).
    pub fn slot(f: &FunctionInfo) -> i64 {
        f.id as i64
    }

    /// FUNCTION DUMP: every library as Redis's payload (an RDB function record each, then
    /// the RDB version and the CRC-64).
    pub fn dump(&self) -> Vec<u8> {
        let mut out = self.records();
        rdbstr::seal(&mut out);
        out
    }

    /// Every library as an RDB function record (what RDB files and FUNCTION DUMP hold).
    pub fn records(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in self.current.libraries.values() {
            out.push(OPCODE_FUNCTION2);
            rdbstr::save_string(&mut out, &lib.code);
        }
        out
    }

    /// FUNCTION RESTORE: loads every library of `payload` into a set of its own, then joins
    /// it to the current one as `policy` says. The error is the whole reply text.
    pub fn restore(&mut self, payload: &[u8], policy: RestorePolicy) -> Result<(), Vec<u8>> {
        let Some(body) = rdbstr::unseal(payload) else {
            return Err(b"ERR DUMP payload version or checksum are wrong".to_vec());
        };
        let mut fresh = LibSet::default();
        let mut pos = 0;
        let mut failure = None;
        while pos < body.len() {
            let opcode = body[pos];
            pos += 1;
            if opcode != OPCODE_FUNCTION2 && opcode != OPCODE_FUNCTION {
                failure = Some(b"given type is not a function".to_vec());
                break;
            }
            if opcode == OPCODE_FUNCTION {
                failure = Some(b"Pre-GA function format not supported".to_vec());
                break;
            }
            let Some(code) = rdbstr::load_string(body, &mut pos) else {
                failure = Some(b"Failed loading library payload".to_vec());
                break;
            };
            if let Err(e) = self.create(&mut fresh, &code, false, false) {
                failure = Some(e);
                break;
            }
        }
        let failure = match failure {
            Some(e) => Some(e),
            None => match policy {
                RestorePolicy::Flush => {
                    let old = std::mem::replace(&mut self.current, std::mem::take(&mut fresh));
                    for lib in old.libraries.values() {
                        self.forget(lib);
                    }
                    None
                }
                _ => self
                    .join(&mut fresh, policy == RestorePolicy::Replace)
                    .err(),
            },
        };
        for lib in fresh.libraries.values() {
            self.forget(lib);
        }
        match failure {
            None => Ok(()),
            Some(e) => Err([b"ERR ".as_slice(), &e].concat()),
        }
    }

    /// Redis's `libraryJoin`: moves every library of `src` into the current set, replacing
    /// those of the same name if `replace`; on any collision nothing changes.
    fn join(&mut self, src: &mut LibSet, replace: bool) -> Result<(), Vec<u8>> {
        let mut replaced = Vec::new();
        let mut failure = None;
        for name in src.libraries.keys() {
            if self.current.libraries.contains_key(name) {
                if !replace {
                    let mut e = b"Library ".to_vec();
                    e.extend_from_slice(name);
                    e.extend_from_slice(b" already exists");
                    failure = Some(e);
                    break;
                }
                if let Some(old) = self.current.unlink(name) {
                    replaced.push(old);
                }
            }
        }
        if failure.is_none() {
            let taken = src.libraries.values().flat_map(|l| &l.functions).find(|f| {
                self.current
                    .index
                    .contains_key(&f.name.to_ascii_lowercase())
            });
            if let Some(f) = taken {
                let mut e = b"Function ".to_vec();
                e.extend_from_slice(c_str(&f.name));
                e.extend_from_slice(b" already exists");
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            for old in replaced {
                self.current.link(old);
            }
            return Err(e);
        }
        for (_, lib) in std::mem::take(&mut src.libraries) {
            self.current.link(lib);
        }
        *src = LibSet::default();
        for old in &replaced {
            self.forget(old);
        }
        Ok(())
    }

    /// The script flags a function name would run with, for dispatch's checks.
    pub fn flags_of(&self, name: &[u8]) -> Option<u32> {
        self.current.find(name).map(|(_, f)| f.flags)
    }
}

fn lua_err(e: mlua::Error) -> Vec<u8> {
    format!("ERR {e}").into_bytes()
}

/// The names of the flags set in `bits`, in Redis's order (FUNCTION LIST).
pub fn flag_names(bits: u32) -> Vec<&'static str> {
    super::FLAG_NAMES
        .iter()
        .filter(|(_, f)| bits & f != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// The script flag for "never writes" (FCALL_RO and readonly dispatch).
pub const NO_WRITES: u32 = flags::NO_WRITES;
