//! Persistence: Redis's RDB encodings of values (DUMP/RESTORE today; snapshot files and
//! the append-only file build on them).

pub mod aof;
pub mod childinfo;
pub mod object;
pub mod rdb;
pub mod snapshot;

/// The first steps of a forked child (BGSAVE, a rewrite): the default signal actions (the
/// parent's handlers would report to the parent's signal thread), and no inherited
/// descriptors past standard error but `keep`, the pipe it reports its progress on (the
/// listening sockets above all must go: a child that outlives
/// its parent must not keep the port). No PR_SET_PDEATHSIG: it fires when the forking
/// *thread* ends, and a pool worker may retire while its BGSAVE still runs.
/// Allocates nothing: the child of a threaded process may find an allocator lock held.
pub(crate) fn child_setup(keep: Option<i32>) {
    // SAFETY: async-signal-safe calls on this process's own state.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        crate::os::close_all_but(keep);
    }
}

static FORKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LAST_FORK_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fork for BGSAVE or a rewrite took `us` microseconds (INFO `total_forks`,
/// `latest_fork_usec`).
pub(crate) fn forked(us: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    FORKS.fetch_add(1, Relaxed);
    LAST_FORK_US.store(us, Relaxed);
    crate::latency::sample_if_needed("fork", us / 1000);
    crate::store::dict::child_started();
}

/// (forks so far, the last one's duration in microseconds)
pub fn forks() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (FORKS.load(Relaxed), LAST_FORK_US.load(Relaxed))
}

/// Waits for the forked child `pid` (through interruptions): `waitpid`'s result and status.
pub(crate) fn reap(pid: libc::pid_t) -> (libc::pid_t, libc::c_int) {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        // Gone, or not ours to wait for any more: either way it shares nothing now.
        crate::store::dict::child_ended();
        return (r, status);
    }
}
