//! The interpreter's own allocator for small blocks. Scripts run on whichever connection
//! thread sent them, one at a time; through the process allocator (mimalloc, one heap per
//! thread) each script's strings, tables and closures came from that thread's heap and were
//! freed by the garbage collector on another's, so a script's objects lay scattered over 50
//! heaps, and every cross-thread free took an atomic. Here blocks up to [`SMALL`] bytes come
//! from one region that belongs to the interpreter, and a freed block is the first reused for
//! its size, still in cache: Redis's single-threaded Lua has that locality for free.
//!
//! The interpreter is used by one thread at a time (mlua's lock, under the engine's mutex), so
//! nothing here is atomic. Larger blocks, and the small ones once the region is full, go to the
//! process allocator as before.

use std::alloc::Layout;
use std::os::raw::c_void;
use std::ptr;

/// Blocks up to this size come from the region, in classes [`STEP`] bytes apart.
const SMALL: usize = 512;
const STEP: usize = 16;
const CLASSES: usize = SMALL / STEP;
/// The region's address space: reserved, and backed only as it is first used. Its pages are
/// kept until the interpreter goes (SCRIPT FLUSH, FUNCTION FLUSH), so it is small: a script
/// that builds more than this in small blocks gets the rest from the process allocator, which
/// gives memory back when it is freed. A typical interpreter holds well under 1 MB.
const REGION: usize = 16 << 20;
/// Lua 5.1 aligns nothing beyond what malloc gives; mlua's allocator uses this alignment.
const ALIGN: usize = 16;

pub struct Arena {
    base: *mut u8,
    /// The next never-used byte of the region, and its end.
    next: *mut u8,
    end: *mut u8,
    /// A free list per class: each free block's first word points to the next.
    free: [*mut u8; CLASSES],
}

impl Arena {
    /// A fresh arena, or `None` when the address space cannot be reserved.
    pub fn new() -> Option<Box<Arena>> {
        // SAFETY: a fresh anonymous private mapping, checked below; NORESERVE leaves its
        // pages unbacked until touched.
        let map = unsafe {
            libc::mmap(
                ptr::null_mut(),
                REGION,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        let base = map.cast::<u8>();
        Some(Box::new(Arena {
            base,
            next: base,
            // SAFETY: one past the end of the mapping.
            end: unsafe { base.add(REGION) },
            free: [ptr::null_mut(); CLASSES],
        }))
    }

    fn owns(&self, p: *mut u8) -> bool {
        p >= self.base && p < self.end
    }

    /// A block of `size` (1..=SMALL) bytes, or null when the region is full.
    fn take(&mut self, size: usize) -> *mut u8 {
        let class = (size - 1) / STEP;
        let head = self.free[class];
        if !head.is_null() {
            // SAFETY: a free block of this class holds the next one's address.
            self.free[class] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let bytes = (class + 1) * STEP;
        if (self.end as usize) - (self.next as usize) < bytes {
            return ptr::null_mut();
        }
        let p = self.next;
        // SAFETY: within the region, checked just above.
        self.next = unsafe { p.add(bytes) };
        p
    }

    /// Gives back a region block of `size` bytes.
    fn give(&mut self, p: *mut u8, size: usize) {
        let class = (size - 1) / STEP;
        // SAFETY: a region block of at least STEP bytes, no longer used by Lua.
        unsafe { p.cast::<*mut u8>().write(self.free[class]) };
        self.free[class] = p;
    }

    fn alloc(&mut self, size: usize) -> *mut u8 {
        if size <= SMALL {
            let p = self.take(size);
            if !p.is_null() {
                return p;
            }
        }
        match Layout::from_size_align(size, ALIGN) {
            // SAFETY: a non-zero size.
            Ok(layout) => unsafe { std::alloc::alloc(layout) },
            Err(_) => ptr::null_mut(),
        }
    }

    fn release(&mut self, p: *mut u8, size: usize) {
        if self.owns(p) {
            self.give(p, size);
        } else {
            // SAFETY: a block of the process allocator (from here, or from mlua's allocator
            // before this one was installed), of this size and alignment.
            unsafe { std::alloc::dealloc(p, Layout::from_size_align_unchecked(size, ALIGN)) };
        }
    }
}

/// An arena installed as a state's allocator; it must be dropped after the state is closed.
pub struct Installed(*mut Arena);

// SAFETY: the arena is used only through its state, one thread at a time.
unsafe impl Send for Installed {}

impl Installed {
    /// Makes an arena the allocator of `state` (a fresh one); `None` leaves the state's own.
    ///
    /// # Safety
    /// `state` is a live state used by one thread at a time, and outlived by the result.
    pub unsafe fn install(state: *mut mlua::ffi::lua_State) -> Option<Installed> {
        let arena = Box::into_raw(Arena::new()?);
        // SAFETY: the caller's guarantee; blocks made before keep going to the process
        // allocator when freed (`release`).
        unsafe { mlua::ffi::lua_setallocf(state, alloc, arena.cast()) };
        Some(Installed(arena))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // SAFETY: made by Box::into_raw in `install`; the state is closed.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; the state that used it is closed (see
        // `Interp`'s field order).
        unsafe { libc::munmap(self.base.cast(), REGION) };
    }
}

/// The `lua_Alloc` over an [`Arena`] (`ud`).
pub unsafe extern "C-unwind" fn alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the arena installed with this function; one thread at a time.
    let arena = unsafe { &mut *ud.cast::<Arena>() };
    let p = ptr.cast::<u8>();
    if nsize == 0 {
        if !p.is_null() {
            arena.release(p, osize);
        }
        return ptr::null_mut();
    }
    if p.is_null() {
        return arena.alloc(nsize).cast();
    }
    // A resize within the same class keeps the block.
    if arena.owns(p) && nsize <= SMALL && (nsize - 1) / STEP == (osize.max(1) - 1) / STEP {
        return ptr.cast();
    }
    if !arena.owns(p) && nsize > SMALL {
        if isize::try_from(nsize).is_err() {
            return ptr::null_mut();
        }
        // SAFETY: a process-allocator block of `osize` bytes at ALIGN.
        return unsafe {
            std::alloc::realloc(p, Layout::from_size_align_unchecked(osize, ALIGN), nsize)
        }
        .cast();
    }
    let q = arena.alloc(nsize);
    if q.is_null() {
        // Lua counts on a shrink never failing: the old block is big enough.
        return if nsize <= osize { ptr } else { ptr::null_mut() };
    }
    // SAFETY: both blocks hold at least the smaller size; they are distinct.
    unsafe { ptr::copy_nonoverlapping(p, q, osize.min(nsize)) };
    arena.release(p, osize);
    q.cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resizes keep a block's bytes, across classes, into and out of the process allocator;
    /// a freed block is the next one handed out for its class.
    #[test]
    fn resizes_keep_contents_and_frees_are_reused() {
        let mut arena = Arena::new().expect("address space");
        let ud: *mut c_void = (&mut *arena as *mut Arena).cast();
        let fill = |p: *mut c_void, n: usize| {
            for i in 0..n {
                // SAFETY: a block of at least n bytes.
                unsafe { p.cast::<u8>().add(i).write(i as u8) };
            }
        };
        let check = |p: *mut c_void, n: usize| {
            (0..n).all(|i| unsafe { p.cast::<u8>().add(i).read() } == i as u8)
        };
        // SAFETY: blocks used as lua_Alloc's contract says.
        unsafe {
            let mut p = alloc(ud, ptr::null_mut(), 0, 10);
            fill(p, 10);
            let mut size = 10;
            for next in [12, 40, 500, 513, 4096, 300, 7, 1] {
                p = alloc(ud, p, size, next);
                assert!(check(p, size.min(next)), "{size} -> {next}");
                fill(p, next);
                size = next;
            }
            alloc(ud, p, size, 0);
            let a = alloc(ud, ptr::null_mut(), 0, 33);
            alloc(ud, a, 33, 0);
            assert_eq!(alloc(ud, ptr::null_mut(), 0, 48), a, "same class, reused");
            // A block of the process allocator is freed there.
            let layout = Layout::from_size_align(64, ALIGN).expect("layout");
            let outside = std::alloc::alloc(layout);
            assert!(!arena.owns(outside));
            alloc(ud, outside.cast(), 64, 0);
        }
    }

    /// Past the region's end, small blocks come from the process allocator, and are given
    /// back there.
    #[test]
    fn a_full_region_spills_over() {
        let mut arena = Arena::new().expect("address space");
        let ud: *mut c_void = (&mut *arena as *mut Arena).cast();
        let blocks: Vec<*mut c_void> = (0..REGION / SMALL + 100)
            // SAFETY: fresh blocks of SMALL bytes.
            .map(|_| unsafe { alloc(ud, ptr::null_mut(), 0, SMALL) })
            .collect();
        assert!(blocks.iter().all(|p| !p.is_null()));
        let inside = blocks.iter().filter(|p| arena.owns(p.cast())).count();
        assert_eq!(inside, REGION / SMALL);
        for p in blocks {
            // SAFETY: each block once, with its size.
            unsafe { alloc(ud, p, SMALL, 0) };
        }
    }
}
