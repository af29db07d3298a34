//! `math.random` and `math.randomseed` as Redis 7.0 replaces them: Lua's own functions over
//! `rand48` (the 48-bit generator of POSIX `lrand48`) instead of libc's `rand`, so a script
//! sees the same numbers on every machine. Like Redis's, there is one generator for the whole
//! process, shared by EVAL and FCALL, starting from `lrand48`'s fixed initial state and never
//! reseeded between scripts: only `math.randomseed` moves it.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::ffi;

use super::clib::{self, lua_fn, State};

/// The generator's state; `lrand48`'s initial value (0x1234ABCD330E).
static STATE: AtomicU64 = AtomicU64::new(INITIAL);
const INITIAL: u64 = 0x1234_ABCD_330E;
const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
/// Redis's `REDIS_LRAND48_MAX` (`INT32_MAX`).
const LRAND48_MAX: i32 = i32::MAX;

/// The next number in 0..2^31 (`lrand48`).
pub fn lrand48() -> i32 {
    let step = |x: u64| (A.wrapping_mul(x).wrapping_add(C)) & MASK;
    let prev = STATE
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
        .unwrap_or(INITIAL);
    (step(prev) >> 17) as i32
}

/// Reseeds the generator (`srand48`): the seed's 32 bits above the fixed low word 0x330E.
pub fn srand48(seed: i32) {
    STATE.store((u64::from(seed as u32) << 16) | 0x330E, Ordering::Relaxed);
}

lua_fn!(pub random_fn => random);
lua_fn!(pub randomseed_fn => randomseed);

/// `luaL_checkint`: the argument as Lua's integer, cut to a C int.
unsafe fn check_int(l: State, narg: c_int) -> i32 {
    ffi::luaL_checkinteger(l, narg) as i32
}

/// math.random([m [, n]]): Lua 5.1's, with `lrand48` for `rand`.
unsafe fn random(l: State) -> c_int {
    let r = f64::from(lrand48() % LRAND48_MAX) / f64::from(LRAND48_MAX);
    match ffi::lua_gettop(l) {
        0 => ffi::lua_pushnumber(l, r),
        1 => {
            let u = check_int(l, 1);
            if u < 1 {
                clib::arg_error(l, 1, c"interval is empty");
            }
            ffi::lua_pushnumber(l, (r * f64::from(u)).floor() + 1.0);
        }
        2 => {
            let lo = check_int(l, 1);
            let u = check_int(l, 2);
            if lo > u {
                clib::arg_error(l, 2, c"interval is empty");
            }
            // C's int arithmetic (u - l + 1), wrapping as it does on every machine Redis runs on.
            let span = u.wrapping_sub(lo).wrapping_add(1);
            ffi::lua_pushnumber(l, (r * f64::from(span)).floor() + f64::from(lo));
        }
        _ => clib::error(l, c"wrong number of arguments"),
    }
    1
}

/// math.randomseed(n)
unsafe fn randomseed(l: State) -> c_int {
    srand48(check_int(l, 1));
    0
}

/// Replaces `math.random` and `math.randomseed` in the state's `math` table.
///
/// # Safety
/// `l` must be a live Lua state whose global `math` is a table.
pub unsafe fn install(l: State) {
    ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
    clib::set_funcs(
        l,
        &[(c"random", random_fn), (c"randomseed", randomseed_fn)],
        0,
    );
    ffi::lua_settop(l, -2);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence is POSIX's: from the fixed initial state, and after srand48(seed).
    #[test]
    fn follows_lrand48() {
        srand48(0);
        let a = [lrand48(), lrand48(), lrand48()];
        srand48(0);
        assert_eq!(a, [lrand48(), lrand48(), lrand48()]);
        // glibc's srand48(0), then lrand48() three times.
        assert_eq!(a, [366850414, 1610402240, 206956554]);
    }
}
