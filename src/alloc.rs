//! A counting wrapper around the allocator, so INFO's `used_memory` is a real figure
//! (Redis reports what zmalloc handed out). Underneath is mimalloc: like Redis's jemalloc it has
//! headerless size classes, which is what keeps a small key near 100 bytes (glibc's malloc adds
//! a header to every chunk and rounds small ones up to 32 bytes: about 136 bytes a key).
//! Counts are kept in per-thread-slot, cache-padded counters, so two cores allocating at once
//! don't fight over one cache line.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use mimalloc::MiMalloc as Inner;

const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicIsize);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// This thread freed a block of at least [`BIG_FREE`] bytes since it last purged.
    static BIG_FREED: Cell<bool> = const { Cell::new(false) };
}

/// A freed block this large is worth giving back at once (see [`purge_if_big_freed`]).
/// Smaller ones are left to the purge delay: a client writing and reading 1 MB values would
/// otherwise have its buffers purged, and faulted in again, on every request.
const BIG_FREE: usize = 8 << 20;

fn note_free(size: usize) {
    if size >= BIG_FREE {
        let _ = BIG_FREED.try_with(|f| f.set(true));
    }
}

/// This thread's slot number (assigned round-robin on first use).
pub fn thread_slot() -> usize {
    MY_SLOT
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
                s.set(i);
            }
            i
        })
        .unwrap_or(0)
}

fn slot() -> &'static AtomicIsize {
    &COUNTS[thread_slot() % SLOTS].0
}

/// The process's allocator: mimalloc, counted.
pub struct Counting;

/// The alignment every mimalloc block has (`MI_MAX_ALIGN_SIZE`): layouts that ask no more,
/// and are at least that large, take mimalloc's plain entry points, whose fast path is
/// shorter than the `_aligned` ones the `mimalloc` crate always calls (the same rule as
/// std's `System` allocator uses for `malloc`).
const PLAIN_ALIGN: usize = 16;

fn plain(layout: &Layout) -> bool {
    layout.align() <= PLAIN_ALIGN && layout.align() <= layout.size()
}

// SAFETY: every call goes to mimalloc with the layout's size and, where a plain block would
// not do, its alignment; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if plain(&layout) {
            // SAFETY: mimalloc's malloc; the block is aligned to PLAIN_ALIGN.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()) }.cast()
        } else {
            unsafe { Inner.alloc(layout) }
        };
        if !p.is_null() {
            slot().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if plain(&layout) {
            // SAFETY: as in `alloc`, zeroed.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()) }.cast()
        } else {
            unsafe { Inner.alloc_zeroed(layout) }
        };
        if !p.is_null() {
            slot().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { Inner.dealloc(ptr, layout) };
        slot().fetch_sub(layout.size() as isize, Ordering::Relaxed);
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = if layout.align() <= PLAIN_ALIGN && layout.align() <= new_size {
            // SAFETY: `ptr` came from this allocator; the new block keeps PLAIN_ALIGN.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size) }.cast()
        } else {
            unsafe { Inner.realloc(ptr, layout, new_size) }
        };
        if !p.is_null() {
            slot().fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
            if p != ptr {
                note_free(layout.size());
            }
        }
        p
    }
}

/// Gives freed memory back to the system now if this thread freed a big block (a large
/// argument, reply or value, or a buffer that grew) since it last asked. mimalloc otherwise
/// keeps freed pages resident until its purge delay has passed and some thread calls into it
/// again: a 100 MB `SET` left 100 MB more resident for two seconds, its argument's.
pub fn purge_if_big_freed() {
    if BIG_FREED.try_with(|f| f.replace(false)).unwrap_or(false) {
        release_free_memory();
    }
}

/// Gives free allocator pages back to the system: those of the calling thread's heap, and
/// (mimalloc's forced collect) those of exited threads' abandoned heaps, which mimalloc would
/// otherwise keep resident until some thread happened to reclaim them.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; it walks the caller's heap and the abandoned
    // segments under mimalloc's own synchronisation.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Gives back the memory whose purge delay has passed, whichever thread freed it (the cron
/// calls this once a second). mimalloc purges freed memory only when some thread next calls
/// into it after the delay; a server that has gone quiet would otherwise keep a freed 100 MB
/// value resident for good.
pub fn purge_expired() {
    // SAFETY: as in `release_free_memory`; not forced, so only what is due is purged.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

/// mimalloc's committed and resident bytes (INFO `allocator_active`, `allocator_resident`;
/// on Linux mimalloc estimates the second from the first).
pub fn allocator_stats() -> (usize, usize) {
    let (mut elapsed, mut user, mut sys, mut rss, mut peak_rss) = (0, 0, 0, 0, 0);
    let (mut commit, mut peak_commit, mut faults) = (0, 0, 0);
    // SAFETY: every pointer is to a live local.
    unsafe {
        libmimalloc_sys::mi_process_info(
            &mut elapsed,
            &mut user,
            &mut sys,
            &mut rss,
            &mut peak_rss,
            &mut commit,
            &mut peak_commit,
            &mut faults,
        )
    };
    (commit, rss)
}

/// INFO `mem_allocator`: `mimalloc-<major>.<minor>.<patch>`.
pub fn allocator_name() -> String {
    // SAFETY: no preconditions.
    let v = unsafe { libmimalloc_sys::mi_version() };
    // Major, then two digits of minor and two of patch (30302: 3.3.2).
    format!("mimalloc-{}.{}.{}", v / 10000, (v / 100) % 100, v % 100)
}

/// Bytes currently allocated by the process.
pub fn used_memory() -> usize {
    COUNTS
        .iter()
        .map(|s| s.0.load(Ordering::Relaxed))
        .sum::<isize>()
        .max(0) as usize
}

/// Resident set size in bytes, from /proc (0 where unavailable).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
