-- Spindle's scripting sandbox, run once per interpreter (chunk name "=redis_lib").
--
-- Stock Lua 5.1 has no read-only tables, so Redis 7.0's protection is emulated: the real
-- globals table stays empty and reads through `backing` (a missing name is an error), every
-- write to it is refused, and library tables are seen through read-only views. Frames of this
-- chunk are skipped when an error is given its script line.
--
-- Arguments: hooks (the per-run `run` function is set there), sha1hex, log, version,
-- version number, make_raiser (wraps a Lua function returning a value and whether to raise
-- it into a C function, so that the script's frame stays below it even in a tail call, as
-- with Redis's C functions), the bundled libraries by name (cjson, cmsgpack, bit, struct,
-- written in Rust: see clib.rs), functions (true for the state of FUNCTION libraries),
-- make_call (redis.call and redis.pcall: see `fast_call` in mod.rs), debugger (redis.breakpoint
-- and redis.debug, which act only in a SCRIPT DEBUG session: see ldb.rs).
-- Returns the error handler scripts run under, the backing table of globals and, for
-- functions, the library API (see the end). The per-run `run(op, ...)` takes redis.call's
-- arguments as a count and a table (a callback's own arguments are limited in number).
local hooks, sha1hex_raw, log_raw, version, version_num, make_raiser, libs, functions, make_call,
  debugger = ...

local G = _G
local error, tostring, tonumber, type, rawset, next, select, ipairs =
    error, tostring, tonumber, type, rawset, next, select, ipairs
local raw_setmetatable, raw_getmetatable = setmetatable, getmetatable
local floor, ceil, concat, lower = math.floor, math.ceil, table.concat, string.lower
local dbg = debug

local RO = 'Attempt to modify a readonly table'
local protected = raw_setmetatable({}, {__mode = 'k'})
local function readonly() error(RO, 2) end

-- A read-only view of a table holding no tables (the libraries, `redis`, `string`, ...):
-- reads go straight to it, without a function call, since nothing read through it needs a
-- view of its own.
local function freeze_flat(t)
  local v = {}
  protected[v] = true
  raw_setmetatable(v, {__index = t, __newindex = readonly, __metatable = false})
  return v
end

-- Redis's __redis__err__handler: an error becomes {err=...} with the script's line.
local function handler(err)
  local level = 2
  local i = dbg.getinfo(level, 'nSl')
  if i and i.what == 'C' then
    level = 3
    i = dbg.getinfo(level, 'nSl')
  end
  while i and i.source == '=redis_lib' do
    level = level + 1
    i = dbg.getinfo(level, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end

-- luaPushErrorBuff: "-CODE msg" or "msg" becomes {err="CODE msg"}.
local function error_table(text)
  local code, msg = 'ERR', text
  if text:sub(1, 1) == '-' then
    msg = text:sub(2)
    local sp = msg:find(' ', 1, true)
    if sp then code, msg = msg:sub(1, sp - 1), msg:sub(sp + 1) end
  end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return {err = code .. ' ' .. msg}
end

local redis = {}

local function fail(text) return {err = text}, true end

-- redis.call and redis.pcall are C functions that hand string and number arguments straight
-- to the running script's handler; anything else (no arguments, a nil, a table, no script
-- running) goes to these, for their errors.
redis.call = make_call(function(...)
  local run = hooks.run
  if not run then return fail('ERR redis.call/pcall can only be called inside a script invocation') end
  return run(1, select('#', ...), {...})
end, true, hooks)

redis.pcall = make_call(function(...)
  local run = hooks.run
  if not run then return fail('ERR redis.call/pcall can only be called inside a script invocation') end
  return run(0, select('#', ...), {...})
end, false, hooks)

redis.sha1hex = make_raiser(function(...)
  if select('#', ...) ~= 1 then return fail('ERR wrong number of arguments') end
  local s = ...
  if type(s) == 'number' then s = tostring(s) end
  if type(s) ~= 'string' then s = '' end
  return sha1hex_raw(s), false
end)

redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or (type(e) ~= 'string' and type(e) ~= 'number') then
    return {err = 'ERR wrong number or type of arguments'}
  end
  e = tostring(e)
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return error_table(e)
end

redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or (type(s) ~= 'string' and type(s) ~= 'number') then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = tostring(s)}
end

redis.log = make_raiser(function(...)
  local argc = select('#', ...)
  if argc < 2 then return fail('ERR redis.log() requires two arguments or more.') end
  local level = tonumber((...))
  if level == nil then return fail('ERR First argument must be a number (log level).') end
  level = level >= 0 and floor(level) or ceil(level)
  if level < 0 or level > 3 then return fail('ERR Invalid debug level.') end
  local parts = {}
  for j = 2, argc do
    local s = select(j, ...)
    local t = type(s)
    if t == 'string' or t == 'number' then parts[#parts + 1] = tostring(s) end
  end
  log_raw(level, concat(parts, ' '))
  return nil, false
end)

redis.setresp = make_raiser(function(...)
  local run = hooks.run
  if not run then return fail('ERR redis.setresp can only be called inside a script invocation') end
  if select('#', ...) ~= 1 then return fail('ERR redis.setresp() requires one argument.') end
  local resp = tonumber((...)) or 0
  resp = resp >= 0 and floor(resp) or ceil(resp)
  if resp ~= 2 and resp ~= 3 then return fail('ERR RESP version must be 2 or 3.') end
  return run(2, resp)
end)

redis.set_repl = make_raiser(function(...)
  local run = hooks.run
  if not run then return fail('ERR redis.set_repl can only be called inside a script invocation') end
  if select('#', ...) ~= 1 then return fail('ERR redis.set_repl() requires two arguments.') end
  local flags = tonumber((...)) or 0
  flags = flags >= 0 and floor(flags) or ceil(flags)
  if flags < 0 or flags > 3 then
    return fail('ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
  end
  return run(3, flags)
end)

redis.acl_check_cmd = make_raiser(function(...)
  local run = hooks.run
  if not run then return fail('ERR redis.acl_check_cmd can only be called inside a script invocation') end
  return run(4, select('#', ...), {...})
end)

redis.replicate_commands = function() return true end
redis.breakpoint = debugger.breakpoint
redis.debug = debugger.debug

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = version
redis.REDIS_VERSION_NUM = version_num

-- The globals a script sees (Redis's allow lists; no print, dofile, loadfile, os, io,
-- package, require, module; debug only for the error handler above).
local backing = {}
for _, k in ipairs({
  'xpcall', 'tostring', 'getfenv', 'next', 'assert', 'tonumber', 'rawequal',
  'collectgarbage', 'getmetatable', 'type', 'select', 'unpack', 'gcinfo', 'pairs',
  'rawget', 'ipairs', '_VERSION', 'setfenv', 'load', 'error', 'newproxy',
}) do
  backing[k] = G[k]
end
-- Redis's luaRedisPcall: an error table with an `err` field is caught as that field.
local raw_pcall = pcall
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' then
    local s = e.err
    if type(s) == 'string' or type(s) == 'number' then e = s end
  end
  return false, e
end
backing.pcall = function(...) return caught(raw_pcall(...)) end
-- Precompiled (binary) chunks are refused, as Redis's Lua does.
local raw_loadstring = loadstring
backing.loadstring = function(s, name)
  if type(s) == 'string' and s:sub(1, 1) == '\27' then
    return nil, 'binary chunks are not allowed'
  end
  return raw_loadstring(s, name)
end
backing.setmetatable = function(t, mt)
  if protected[t] then error(RO, 0) end
  return raw_setmetatable(t, mt)
end
backing.rawset = function(t, k, v)
  if protected[t] then error(RO, 0) end
  return rawset(t, k, v)
end
-- None of these holds a table, so their views read straight through (a read through a
-- function made every `redis.call` a Lua call more).
backing.string = freeze_flat(string)
backing.math = freeze_flat(math)
backing.table = freeze_flat(table)
backing.coroutine = freeze_flat(coroutine)
backing.redis = freeze_flat(redis)
backing.cjson = freeze_flat(libs.cjson)
backing.cmsgpack = freeze_flat(libs.cmsgpack)
backing.bit = freeze_flat(libs.bit)
backing.struct = freeze_flat(libs.struct)
backing.__redis__err__handler = handler
backing._G = G
raw_getmetatable('').__index = backing.string

local names = {}
for k in next, G do names[#names + 1] = k end
for _, k in ipairs(names) do rawset(G, k, nil) end

raw_setmetatable(backing, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
local gmeta = {__index = backing, __newindex = readonly}
-- What getmetatable(_G) shows: Redis's own globals metatable (an error function as __index,
-- read-only), never the real one, whose __index leads to the backing table.
gmeta.__metatable = freeze_flat({
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
raw_setmetatable(G, gmeta)
protected[G] = true
protected[backing] = true

-- Scripts and functions run under `handler` (see Interp::invoke).
if not functions then
  return handler, backing
end

-- FUNCTION libraries (Redis's function_lua.c). While a library's body runs (FUNCTION LOAD),
-- the globals are only `redis` with register_function, log, the log levels and the version;
-- any other name is an error. Functions then run with the full globals, their keys and
-- arguments as arguments.
-- Raised from a metamethod: level 3 is the code that read the name.
local function missing(k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end

local known_flags = {
  ['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4, ['no-cluster'] = 8,
  ['allow-cross-slot-keys'] = 16,
}

-- The flags of a `flags` table as bits, or nil for one Redis does not know.
local function read_flags(t)
  local bits, j = 0, 1
  while true do
    local f = t[j]
    if f == nil then return bits end
    local tf = type(f)
    if tf ~= 'string' and tf ~= 'number' then return nil end
    local bit = known_flags[lower(tostring(f))]
    if not bit then return nil end
    if floor(bits / bit) % 2 == 0 then bits = bits + bit end
    j = j + 1
  end
end

local function is_text(v)
  local t = type(v)
  return t == 'string' or t == 'number'
end

-- Redis's luaRegisterFunctionReadArgs: name, callback, description, flags, or an error.
local function register_args(...)
  local argc = select('#', ...)
  if argc < 1 or argc > 2 then
    return nil, 'wrong number of arguments to redis.register_function'
  end
  if argc == 2 then
    local name, callback = ...
    if not is_text(name) then return nil, 'first argument to redis.register_function must be a string' end
    if type(callback) ~= 'function' then
      return nil, 'second argument to redis.register_function must be a function'
    end
    return tostring(name), callback, nil, 0
  end
  local t = ...
  if type(t) ~= 'table' then
    return nil, 'calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).'
  end
  local name, callback, desc, bits
  for k, v in next, t do
    if not is_text(k) then return nil, 'named argument key given to redis.register_function is not a string' end
    k = lower(tostring(k))
    if k == 'function_name' then
      if not is_text(v) then return nil, 'function_name argument given to redis.register_function must be a string' end
      name = tostring(v)
    elseif k == 'description' then
      if not is_text(v) then return nil, 'description argument given to redis.register_function must be a string' end
      desc = tostring(v)
    elseif k == 'callback' then
      if type(v) ~= 'function' then return nil, 'callback argument given to redis.register_function must be a function' end
      callback = v
    elseif k == 'flags' then
      if type(v) ~= 'table' then
        return nil, 'flags argument to redis.register_function must be a table representing function flags'
      end
      bits = read_flags(v)
      if not bits then return nil, 'unknown flag given' end
    else
      return nil, 'unknown argument given to redis.register_function'
    end
  end
  if not name then return nil, 'redis.register_function must get a function name argument' end
  if not callback then return nil, 'redis.register_function must get a callback argument' end
  return name, callback, desc, bits or 0
end

local lib = {}
lib.register_function = make_raiser(function(...)
  local register = hooks.register
  if not register then
    return fail('ERR redis.register_function can only be called on FUNCTION LOAD command')
  end
  local name, callback, desc, bits = register_args(...)
  if not name then return fail('ERR ' .. callback) end
  return register(name, callback, desc, bits)
end)
lib.log = redis.log
lib.LOG_DEBUG, lib.LOG_VERBOSE, lib.LOG_NOTICE, lib.LOG_WARNING = 0, 1, 2, 3
lib.REDIS_VERSION = version
lib.REDIS_VERSION_NUM = version_num
local lib_view = raw_setmetatable({}, {
  __index = function(_, k)
    local v = lib[k]
    if v == nil then missing(k) end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})
protected[lib_view] = true
local load_globals = raw_setmetatable({redis = lib_view}, {__index = function(_, k) missing(k) end})
protected[load_globals] = true

-- Switches the globals between the load-time API (true) and the full one.
local function loading(on)
  if on then gmeta.__index = load_globals else gmeta.__index = backing end
end

-- Runs a library's body (no error handler, as Redis's lua_pcall at load).
local function loader(f)
  return raw_pcall(f)
end

return handler, backing, {loading = loading, loader = loader}
