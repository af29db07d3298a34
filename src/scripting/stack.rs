//! The stack scripts run on. Lua's C recursion (nested pcall, metamethods, deep replies) may
//! need more than a worker thread's small stack, so a script runs on a stack of its own: one
//! mapping made the first time and reused, since scripts run one at a time (each holds every
//! database's lock). Mapping and unmapping a fresh stack per call would cost three system
//! calls, page faults on every page touched, and a TLB shootdown across cores per script.

use parking_lot::Mutex;

/// Its size: Lua 5.1 bounds its C recursion (200 nested C calls), and replies nest at most
/// `scripting::MAX_DEPTH` deep; pages are only backed once touched.
const SIZE: usize = 64 << 20;

/// A mapping with an inaccessible guard page below it, so an overflow faults instead of
/// writing over other memory.
struct Stack {
    map: *mut libc::c_void,
    page: usize,
}

// SAFETY: the mapping is owned by the process; the mutex gives one user at a time.
unsafe impl Send for Stack {}

static STACK: Mutex<Option<Stack>> = Mutex::new(None);

impl Stack {
    fn new() -> Option<Stack> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        // SAFETY: a fresh anonymous private mapping; checked below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE + page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: the first page of the mapping just made.
        if unsafe { libc::mprotect(map, page, libc::PROT_NONE) } != 0 {
            // SAFETY: the mapping just made, used by nobody.
            unsafe { libc::munmap(map, SIZE + page) };
            return None;
        }
        Some(Stack { map, page })
    }
}

/// Runs `f` on the scripts' stack (on a freshly mapped one if it cannot be made or is in
/// use, which the locks scripts hold should never let happen); a panic inside comes out here,
/// once back on the caller's stack.
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    let Some(mut slot) = STACK.try_lock() else {
        return stacker::grow(SIZE, f);
    };
    if slot.is_none() {
        *slot = Stack::new();
    }
    let Some(stack) = slot.as_ref() else {
        drop(slot);
        return stacker::grow(SIZE, f);
    };
    // SAFETY: the stack region lies above the guard page, is used by nobody else while the
    // mutex is held, and outlives the call (it is never unmapped). A panic is caught on that
    // stack and resumed on this one, as psm requires.
    let out = unsafe {
        let base = stack.map.cast::<u8>().add(stack.page);
        psm::on_stack(base, SIZE, move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        })
    };
    drop(slot);
    out.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
