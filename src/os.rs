//! What Spindle asks of the operating system: the open-files limit, the descriptor table,
//! transparent huge pages, TCP keepalive, and a spare descriptor for when they run out.

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a child forked to run a Lua debugging session (`SCRIPT DEBUG YES`): it shares
/// every socket with the server, and must write to none but its own client's, nor signal
/// threads it does not have.
static FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// Marks this process as a forked debugging session (see [`is_forked_child`]).
pub fn mark_forked_child() {
    FORKED_CHILD.store(true, Ordering::Relaxed);
}

/// Is this process a forked debugging session, whose writes to other clients go nowhere?
pub fn is_forked_child() -> bool {
    FORKED_CHILD.load(Ordering::Relaxed)
}

/// Closes every descriptor above standard error but `keep` (in a forked child: the
/// server's listeners, files and other clients' sockets stay the server's alone).
///
/// # Safety
/// Only for a process that uses none of those descriptors any more.
pub unsafe fn close_all_but(keep: Option<i32>) {
    let ranges = match keep {
        Some(fd) if fd >= 3 => [(3, fd - 1), (fd + 1, i32::MAX)],
        _ => [(3, i32::MAX), (1, 0)],
    };
    for (lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        // SAFETY: per the caller; close_range only closes descriptors.
        let done = unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi as u32, 0u32) } == 0;
        if !done {
            // Kernels before 5.9: one at a time, up to the descriptor limit.
            // SAFETY: sysconf has no preconditions.
            let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(0, 1 << 20) as i32;
            for fd in lo..=hi.min(max) {
                // SAFETY: per the caller.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// File descriptors kept beyond one per client (listener, logs, the waker, later files);
/// Redis's `CONFIG_MIN_RESERVED_FDS`.
pub const RESERVED_FDS: usize = 32;

/// Raises the open-files limit so `maxclients` connections fit, like Redis's
/// `adjustOpenFilesLimit`: ask for `maxclients + 32`, step down by 16 until the kernel agrees,
/// and return the number of clients the obtained limit allows (never more than `maxclients`).
pub fn adjust_open_files_limit(maxclients: usize) -> usize {
    #[cfg(unix)]
    {
        let want = maxclients.saturating_add(RESERVED_FDS) as libc::rlim_t;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return maxclients;
        }
        if lim.rlim_cur >= want {
            return maxclients;
        }
        // Redis tries maxfiles, maxfiles-16, maxfiles-32, ... down to the current limit and
        // keeps the first the kernel accepts. Acceptance is monotonic, so a binary search over
        // the same candidates finds the same value in a few dozen calls instead of millions
        // (for `CONFIG SET maxclients 4000000000`).
        let try_set = |n: libc::rlim_t| {
            let new = libc::rlimit {
                rlim_cur: n,
                rlim_max: lim.rlim_max.max(n),
            };
            // SAFETY: `new` is a valid rlimit; failure leaves the limit unchanged.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 }
        };
        let candidate = |k: libc::rlim_t| want - 16 * k;
        // Candidates above the current limit: k in 0..count.
        let count = (want - lim.rlim_cur).div_ceil(16);
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if try_set(candidate(mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let ask = if lo < count && try_set(candidate(lo)) {
            candidate(lo)
        } else {
            // Nothing above the old limit was accepted: put it back as it was.
            try_set(lim.rlim_cur);
            lim.rlim_cur
        };
        let got = ask.max(lim.rlim_cur) as usize;
        if got < want as usize {
            return got.saturating_sub(RESERVED_FDS).max(1);
        }
        if got as libc::rlim_t != lim.rlim_cur {
            log::info!("increased maximum number of open files to {got}");
        }
        maxclients
    }
    #[cfg(not(unix))]
    maxclients
}

/// Grows the process's descriptor table once to hold `maxclients` sockets. Growing it later,
/// with worker threads alive, makes the kernel wait for an RCU grace period inside `accept`
/// (10–20 ms at 256, 512, 1024, ... descriptors): enough, during a burst of connects, to
/// overflow the listen backlog and cost the next client a one-second SYN retry.
pub fn reserve_descriptor_table(maxclients: usize) {
    #[cfg(unix)]
    {
        let top = maxclients
            .saturating_add(RESERVED_FDS - 1)
            .min(i32::MAX as usize) as i32;
        let Ok(probe) = File::open("/dev/null") else {
            return;
        };
        use std::os::fd::AsRawFd;
        // SAFETY: F_DUPFD duplicates a live descriptor owned by `probe` (or fails); the copy
        // is closed at once.
        let fd = unsafe { libc::fcntl(probe.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top) };
        if fd >= 0 {
            // SAFETY: `fd` was just created here and is owned by nobody else.
            unsafe { libc::close(fd) };
        }
    }
}

/// The sum of one field of this process's mappings (`Private_Dirty:`, `AnonHugePages:`), in
/// bytes, from the kernel's summary of them (Redis's `zmalloc_get_smap_bytes_by_field`); 0 if
/// unreadable.
pub fn smaps_bytes(field: &str) -> u64 {
    for path in ["/proc/self/smaps_rollup", "/proc/self/smaps"] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        return text
            .lines()
            .filter_map(|l| l.strip_prefix(field))
            .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .sum::<u64>()
            * 1024;
    }
    0
}

/// Run from `main.rs`'s constructor, before any allocation: see `transparent_huge_pages`.
#[cfg(target_os = "linux")]
pub extern "C" fn thp_off_early() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments; nothing here allocates.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Redis's `disable-thp`. With `yes` (the default) the process gets no transparent huge
/// pages: the allocator asks for them on its arenas, and a connection thread's pages then come
/// in whole (about 36 KB resident per idle client instead of about 25 KB), and memory freed in
/// the middle of a huge page stays resident until the page is split. With `no` they are kept
/// where the system allows them: `fork` then copies one entry per 2 MiB instead of 512, so the
/// pause of a `BGSAVE` or rewrite start on 1 GB falls from about 25 ms to under 10. Redis
/// warns when it cannot disable them and the system has them `[always]`; so does Spindle when
/// told not to.
pub fn transparent_huge_pages(disable: bool) {
    #[cfg(target_os = "linux")]
    {
        if !disable {
            // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments.
            unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
            let enabled = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
                .unwrap_or_default();
            if enabled.contains("[always]") {
                log::warn!(
                    "WARNING You have Transparent Huge Pages (THP) support enabled in your \
                     kernel. This will create latency and memory usage issues with Redis. To \
                     fix this issue run the command 'echo madvise > \
                     /sys/kernel/mm/transparent_hugepage/enabled' as root, and add it to your \
                     /etc/rc.local in order to retain the setting after a reboot. Redis must be \
                     restarted after THP is disabled (set to 'madvise' or 'never')."
                );
            }
            return;
        }
        // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            log::warn!(
                "cannot disable transparent huge pages: {}",
                io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = disable;
}

/// Gives back the calling thread's stack pages below its current frame: a command that once
/// ran deep (a sort, a script) left them resident, and a thread about to sleep on an idle
/// client does not need them. The kernel maps zeroed pages again if the thread goes deep again.
/// Only pages wholly more than `MARGIN` below the stack pointer go: nothing below it is live
/// but the `madvise` call's own return address (its wrapper makes the system call without a
/// frame), and the caller's frames, where the thread then sleeps, are all above it. The margin
/// is small on purpose: with 16 KB the page under the sleeping frames stayed resident, 4 KB
/// more for every idle client.
#[inline(never)]
pub fn release_idle_stack() {
    #[cfg(target_os = "linux")]
    {
        const MARGIN: usize = 256;
        const PAGE: usize = 4096;
        let Some((low, high)) = STACK.with(|cell| {
            if cell.get().is_none() {
                cell.set(stack_bounds());
            }
            cell.get()
        }) else {
            return;
        };
        let sp = stack_pointer();
        if sp < low + MARGIN + PAGE || sp >= high {
            return;
        }
        let (from, to) = (low.next_multiple_of(PAGE), (sp - MARGIN) & !(PAGE - 1));
        if to > from {
            // SAFETY: [from, to) lies inside this thread's own stack, more than MARGIN below
            // the stack pointer, where nothing is live.
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
        }
    }
}

/// The calling function's stack pointer, read from the register; on an architecture without
/// that read here, the address of a local less 4 KB, which lies safely below it.
#[cfg(target_os = "linux")]
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register; no memory is touched.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let here = 0u8;
        sp = (std::hint::black_box(&here) as *const u8 as usize).saturating_sub(4096);
    }
    sp
}

#[cfg(target_os = "linux")]
thread_local! {
    /// This thread's stack, `[low, high)`, looked up once.
    static STACK: std::cell::Cell<Option<(usize, usize)>> = const { std::cell::Cell::new(None) };
}

/// The calling thread's stack, `[low, high)` (glibc's, guard page excluded).
#[cfg(target_os = "linux")]
fn stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read and destroyed
    // after; the out-pointers are to live locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let (mut addr, mut size) = (std::ptr::null_mut(), 0usize);
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        ok.then(|| (addr as usize, addr as usize + size))
    }
}

/// Names the calling thread for `ps`, `top` and crash reports (Linux keeps 15 bytes). A
/// worker names itself this way rather than through `std::thread::Builder::name`: std then
/// copies the name into a block the new thread allocates and keeps for its whole life, and
/// that block pins one of the thread's own allocator pages, 8 KB resident per idle client.
pub fn set_thread_name(name: &std::ffi::CStr) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_NAME reads a NUL-terminated string, truncated to 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

/// The calling thread's name as the kernel has it, into `buf` (no allocation: a crash
/// report reads it in a signal handler).
pub fn thread_name(buf: &mut [u8; 17]) -> &str {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, into `buf`.
        let rc = unsafe {
            libc::prctl(
                libc::PR_GET_NAME,
                buf.as_mut_ptr() as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if rc == 0 {
            let len = buf.iter().position(|&b| b == 0).unwrap_or(16);
            return std::str::from_utf8(&buf[..len]).unwrap_or("?");
        }
    }
    let _ = buf;
    "?"
}

/// Asks the scheduler for a time slice of `ns` for the calling thread (EEVDF's custom slice,
/// Linux 6.12+, no privilege needed; older kernels ignore it). Its policy and nice value are
/// kept; a thread under a real-time or idle policy (set by whoever started the server) is left
/// as it is.
pub fn set_thread_slice(ns: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getscheduler has no preconditions.
        let policy = unsafe { libc::sched_getscheduler(0) };
        if policy != libc::SCHED_OTHER && policy != libc::SCHED_BATCH {
            return Ok(());
        }
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
        }
        // SAFETY: getpriority has no preconditions (errno is not consulted: 0 is the default).
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: policy as u32,
            flags: 0,
            nice,
            priority: 0,
            runtime: ns,
            deadline: 0,
            period: 0,
        };
        // SAFETY: `attr` is a valid sched_attr of the size it gives.
        let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Redis's `anetKeepAlive`: TCP keepalive on `stream`, first probe after `interval` seconds
/// of silence, then probes every `interval / 3` (at least 1) seconds, and the peer declared
/// dead after three unanswered ones. A peer that vanished without a FIN is then reaped.
pub fn set_keepalive(stream: &TcpStream, interval: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = stream.as_raw_fd();
        let secs = interval.clamp(1, i32::MAX as u32) as i32;
        for (level, name, value) in [
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (secs / 3).max(1)),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
        ] {
            setsockopt_int(fd, level, name, value)?;
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (stream, interval);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its size is passed; `fd` is a live socket.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One descriptor held back for the moment the process runs out: released, it lets the accept
/// loop take the waiting connection, tell it `-ERR max number of clients reached` and close
/// it, instead of leaving it hanging in the backlog (the accept would fail again at once).
pub struct SpareFd(Option<File>);

impl SpareFd {
    pub fn new() -> Self {
        SpareFd(File::open("/dev/null").ok())
    }

    /// Runs `f` with the spare descriptor released, then takes it back.
    pub fn release_for<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.0 = None;
        let r = f();
        self.0 = File::open("/dev/null").ok();
        r
    }
}

impl Default for SpareFd {
    fn default() -> Self {
        Self::new()
    }
}

/// Is this `accept` error the process (or system) running out of descriptors?
pub fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The signal that wakes a thread parked in a blocking command. Its handler does nothing; it
/// is blocked in every thread that may be woken, except inside [`park`], so it can never
/// interrupt anything else.
#[cfg(target_os = "linux")]
fn wake_signal() -> i32 {
    libc::SIGRTMIN()
}

#[cfg(target_os = "linux")]
extern "C" fn ignore_wake(_: i32) {}

/// A parked connection thread, to be woken from another thread.
///
/// A waker may outlive its thread (a publisher holds it while the connection ends), and a
/// thread id is reused by the next thread created: so every wake first checks, under the
/// thread's own lock, that the thread is still there. Without that check a late wake lands
/// on some unrelated thread, whose blocking read then fails with EINTR.
#[derive(Debug, Clone)]
pub struct ThreadWaker(#[cfg(target_os = "linux")] std::sync::Arc<Liveness>);

/// A thread's id while it runs: `None` before it starts and after it exits.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct Liveness {
    thread: parking_lot::Mutex<Option<libc::pthread_t>>,
}

/// Owned by the thread (a thread-local): dropping it, at thread exit, stops every wake.
#[cfg(target_os = "linux")]
struct ThreadGuard(std::sync::Arc<Liveness>);

#[cfg(target_os = "linux")]
impl ThreadGuard {
    /// Makes `liveness` the calling thread's, and blocks the wake signal outside its waits.
    fn start(liveness: std::sync::Arc<Liveness>) -> ThreadGuard {
        // SAFETY: plain calls on the calling thread's own signal mask and id.
        let id = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, wake_signal());
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::pthread_self()
        };
        *liveness.thread.lock() = Some(id);
        ThreadGuard(liveness)
    }
}

#[cfg(target_os = "linux")]
impl Drop for ThreadGuard {
    fn drop(&mut self) {
        *self.0.thread.lock() = None;
    }
}

#[cfg(target_os = "linux")]
thread_local! {
    static THIS_THREAD: std::cell::OnceCell<ThreadGuard> = const { std::cell::OnceCell::new() };
}

/// A worker thread's wake identity, allocated by the thread that starts it. A block the
/// worker allocated itself and kept for its whole life would pin one allocator page of its
/// own (about 8 KB resident) while its client idles; made elsewhere, it pins nothing.
pub struct WakeSlot(#[cfg(target_os = "linux")] std::sync::Arc<Liveness>);

impl WakeSlot {
    #[allow(clippy::new_without_default)]
    pub fn new() -> WakeSlot {
        WakeSlot(
            #[cfg(target_os = "linux")]
            std::sync::Arc::new(Liveness {
                thread: parking_lot::Mutex::new(None),
            }),
        )
    }

    /// Run first on the new thread: the slot becomes the thread's own.
    pub fn adopt(self) {
        #[cfg(target_os = "linux")]
        THIS_THREAD.with(|cell| {
            let _ = cell.set(ThreadGuard::start(self.0));
        });
    }
}

impl ThreadWaker {
    /// The calling thread, which is about to park: from now on the wake signal waits, blocked,
    /// until [`park`] lets it in, so a wake that comes first is not lost.
    pub fn current() -> ThreadWaker {
        #[cfg(target_os = "linux")]
        {
            static INSTALL: std::sync::Once = std::sync::Once::new();
            INSTALL.call_once(|| {
                // SAFETY: a zeroed sigaction with a handler that does nothing, installed once.
                unsafe {
                    let mut act: libc::sigaction = std::mem::zeroed();
                    act.sa_sigaction = ignore_wake as *const () as usize;
                    libc::sigemptyset(&mut act.sa_mask);
                    libc::sigaction(wake_signal(), &act, std::ptr::null_mut());
                }
            });
            THIS_THREAD.with(|cell| {
                let guard = cell.get_or_init(|| ThreadGuard::start(WakeSlot::new().0));
                ThreadWaker(std::sync::Arc::clone(&guard.0))
            })
        }
        #[cfg(not(target_os = "linux"))]
        ThreadWaker()
    }

    /// Sends `sig` to the thread, unless it has exited, after `before` is told its id; the
    /// thread's name, if it was sent (the watchdog's request for a stack trace).
    pub fn signal(&self, sig: libc::c_int, before: impl FnOnce(libc::pthread_t)) -> Option<String> {
        #[cfg(target_os = "linux")]
        {
            let thread = self.0.thread.lock();
            let id = (*thread)?;
            let mut name = [0u8; 32];
            // SAFETY: the thread is running and cannot exit while `thread` is held; the buffer
            // is as long as it is said to be.
            unsafe {
                libc::pthread_getname_np(id, name.as_mut_ptr().cast(), name.len());
            }
            before(id);
            // SAFETY: as above; the signal's handler is installed by the caller.
            if unsafe { libc::pthread_kill(id, sig) } != 0 {
                return None;
            }
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            Some(String::from_utf8_lossy(&name[..end]).into_owned())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (sig, before);
            None
        }
    }

    /// Wakes the thread, unless it has exited.
    pub fn wake(&self) {
        #[cfg(target_os = "linux")]
        if !is_forked_child() {
            if let Some(id) = *self.0.thread.lock() {
                // SAFETY: the thread is running, and cannot exit while the lock is held (its
                // exit takes the lock first); the signal's handler does nothing.
                unsafe {
                    libc::pthread_kill(id, wake_signal());
                }
            }
        }
    }
}

/// Why [`park`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// Another thread woke us (or a stray wake): look at what changed.
    Signal,
    /// The peer hung up, or the socket was shut down (kill, shutdown).
    Hangup,
    Timeout,
}

/// Parks the calling thread until it is woken, the peer of `stream` hangs up, `timeout`
/// passes (`None`: no limit), or, with `want_write`, the socket takes more output. Data the client sends meanwhile does not wake it: it waits in
/// the socket for the command after the blocking one.
pub fn park(stream: &TcpStream, timeout: Option<std::time::Duration>, want_write: bool) -> Woke {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLRDHUP | if want_write { libc::POLLOUT } else { 0 },
            revents: 0,
        };
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        // SAFETY: `pfd`, `ts` and `mask` live for the call; the mask is the thread's own with
        // the wake signal let in.
        let rc = unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            libc::sigdelset(&mut mask, wake_signal());
            libc::ppoll(
                &mut pfd,
                1,
                ts.as_ref().map_or(std::ptr::null(), |t| t as *const _),
                &mask,
            )
        };
        let gone = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
        match rc {
            0 => Woke::Timeout,
            n if n > 0 && pfd.revents & gone != 0 => Woke::Hangup,
            // Room to write (`want_write`): look again, as after a wake.
            n if n > 0 => Woke::Signal,
            _ => Woke::Signal,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = stream;
        std::thread::sleep(timeout.unwrap_or(std::time::Duration::from_millis(100)));
        Woke::Timeout
    }
}

/// What [`wait_io`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Input (or a hang-up, which a read then reports) is waiting.
    pub readable: bool,
    /// The socket takes more output.
    pub writable: bool,
}

/// Waits until `stream` has input, takes output (only if `want_write`), or another thread
/// wakes the caller (see [`ThreadWaker`]; then both flags are false). The caller must have
/// made its waker with [`ThreadWaker::current`] first, or a wake may be lost.
pub fn wait_io(stream: &TcpStream, want_write: bool) -> Ready {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP | if want_write { libc::POLLOUT } else { 0 },
            revents: 0,
        };
        // SAFETY: `pfd` and `mask` live for the call; the mask is the thread's own with the
        // wake signal let in.
        let rc = unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            libc::sigdelset(&mut mask, wake_signal());
            libc::ppoll(&mut pfd, 1, std::ptr::null(), &mask)
        };
        if rc <= 0 {
            return Ready {
                readable: false,
                writable: false,
            };
        }
        let input = libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
        Ready {
            readable: pfd.revents & input != 0,
            writable: pfd.revents & libc::POLLOUT != 0,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (stream, want_write);
        Ready {
            readable: true,
            writable: true,
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    fn getsockopt_int(fd: i32, level: i32, name: i32) -> i32 {
        let mut v: i32 = -1;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: `v` and `len` are valid for writing and describe an i32.
        let rc =
            unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut i32).cast(), &mut len) };
        assert_eq!(rc, 0);
        v
    }

    /// A worker's time slice reaches the scheduler (where the kernel shows slices).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_gets_the_slice_it_asks_for() {
        std::thread::spawn(|| {
            set_thread_slice(100_000).unwrap();
            let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap_or_default();
            if let Some(line) = sched.lines().find(|l| l.starts_with("se.slice")) {
                let ns: u64 = line.rsplit(' ').next().unwrap().trim().parse().unwrap();
                assert_eq!(ns, 100_000, "{line}");
            }
        })
        .join()
        .unwrap();
    }

    /// Resident pages of this thread's stack below `top`, by mincore.
    #[cfg(target_os = "linux")]
    fn resident_stack_pages_below(top: usize) -> usize {
        let (low, _) = stack_bounds().expect("stack bounds");
        let low = low.next_multiple_of(4096);
        let len = top.saturating_sub(low) & !4095;
        let mut vec = vec![0u8; len / 4096];
        // SAFETY: [low, low+len) is inside this thread's stack mapping; `vec` has a byte per page.
        let rc = unsafe { libc::mincore(low as *mut libc::c_void, len, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    #[inline(never)]
    fn go_deep(depth: usize) -> u8 {
        let mut buf = [depth as u8; 4096];
        std::hint::black_box(&mut buf);
        let below = if depth == 0 { 0 } else { go_deep(depth - 1) };
        std::hint::black_box(&mut buf);
        below.wrapping_add(buf[99])
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_names_itself_without_allocating() {
        std::thread::spawn(|| {
            set_thread_name(c"spindle-test");
            let mut buf = [0u8; 17];
            assert_eq!(thread_name(&mut buf), "spindle-test");
            let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
            assert_eq!(comm.trim_end(), "spindle-test");
        })
        .join()
        .unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_idle_thread_gives_back_the_stack_a_deep_call_used() {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(|| {
                std::hint::black_box(go_deep(40));
                let here = 0u8;
                // Within two pages of the caller's frame: nothing below it stays.
                let top = (std::hint::black_box(&here) as *const u8 as usize) - 8 * 1024;
                let before = resident_stack_pages_below(top);
                assert!(before >= 20, "the deep call left {before} pages resident");
                release_idle_stack();
                let after = resident_stack_pages_below(top);
                assert_eq!(after, 0, "{after} of {before} pages still resident");
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn park_wakes_on_signal_hangup_and_timeout() {
        use std::time::{Duration, Instant};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        // Timeout.
        let t = Instant::now();
        assert_eq!(
            park(&server, Some(Duration::from_millis(30)), false),
            Woke::Timeout
        );
        assert!(t.elapsed() >= Duration::from_millis(25));
        // Data from the client does not wake it.
        use std::io::Write;
        (&client).write_all(b"PING\r\n").unwrap();
        assert_eq!(
            park(&server, Some(Duration::from_millis(30)), false),
            Woke::Timeout
        );
        // A wake sent before the park is not lost.
        let me = ThreadWaker::current();
        me.wake();
        assert_eq!(park(&server, None, false), Woke::Signal);
        // A wake from another thread.
        let waker = ThreadWaker::current();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.wake();
        });
        assert_eq!(
            park(&server, Some(Duration::from_secs(10)), false),
            Woke::Signal
        );
        h.join().unwrap();
        // Hang-up.
        drop(client);
        assert_eq!(
            park(&server, Some(Duration::from_secs(10)), false),
            Woke::Hangup
        );
    }

    #[test]
    fn keepalive_like_redis() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let fd = server.as_raw_fd();
        assert_eq!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        set_keepalive(&server, 300).unwrap();
        assert_eq!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(
            getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            300
        );
        assert_eq!(
            getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            100
        );
        assert_eq!(getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 3);
        set_keepalive(&server, 2).unwrap();
        assert_eq!(getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 2);
        assert_eq!(
            getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            1
        );
    }

    /// A waker kept past its thread's exit must not signal the next thread given the same
    /// id (glibc reuses a finished thread's id and stack at once): that thread does not
    /// block the wake signal, so its blocking read would fail with EINTR.
    #[test]
    fn a_waker_outliving_its_thread_signals_nobody() {
        let waker = std::thread::spawn(ThreadWaker::current).join().unwrap();
        let (mut a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            a.set_read_timeout(Some(std::time::Duration::from_millis(300)))
                .unwrap();
            std::io::Read::read(&mut a, &mut [0u8; 8]).map_err(|e| e.kind())
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        waker.wake();
        assert_eq!(reader.join().unwrap(), Err(io::ErrorKind::WouldBlock));
    }
}

/// Fills `buf` from the system's random generator (`getrandom`), as Redis's
/// `getRandomBytes` reads /dev/urandom.
pub fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled part of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // No generator: fall back to the process's own (never reached on Linux >= 3.17).
            for b in &mut buf[filled..] {
                *b = crate::store::rand_u64() as u8;
            }
            return;
        }
    }
}

/// An OS error as C's `strerror` words it (Redis's texts), without Rust's " (os error N)".
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Redis's `daemonize`: the parent exits, the child leaves its session and its terminal, and
/// standard input, output and error go to /dev/null. Call it before any thread starts (a
/// fork keeps only the calling thread).
pub fn daemonize() {
    // SAFETY: no other thread exists yet; the parent leaves with `_exit` at once, and the
    // child only calls setsid, open, dup2 and close.
    unsafe {
        match libc::fork() {
            -1 => return,
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if fd != -1 {
            libc::dup2(fd, libc::STDIN_FILENO);
            libc::dup2(fd, libc::STDOUT_FILENO);
            libc::dup2(fd, libc::STDERR_FILENO);
            if fd > libc::STDERR_FILENO {
                libc::close(fd);
            }
        }
    }
}

/// The kernel's name, release and machine (`uname -srm`), for INFO's `os`.
pub fn uname() -> (String, String, String) {
    // SAFETY: uname fills a zeroed struct of NUL-terminated fields.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.sysname), field(&u.release), field(&u.machine))
}

/// The machine's memory in bytes (INFO `total_system_memory`), 0 if unknown.
pub fn total_system_memory() -> usize {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as usize * size as usize
    } else {
        0
    }
}

/// CPU seconds (system, user) used: by the process, by its reaped children (snapshot and
/// rewrite children), and by the calling thread (INFO's `..._main_thread`: Spindle has no
/// main thread doing the work, so it is the thread serving the INFO).
pub struct CpuTimes {
    pub process: (f64, f64),
    pub children: (f64, f64),
    pub thread: (f64, f64),
}

pub fn cpu_times() -> CpuTimes {
    let of = |who: libc::c_int| {
        // SAFETY: getrusage fills a zeroed struct.
        let r = unsafe {
            let mut r: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut r);
            r
        };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (secs(r.ru_stime), secs(r.ru_utime))
    };
    CpuTimes {
        process: of(libc::RUSAGE_SELF),
        children: of(libc::RUSAGE_CHILDREN),
        thread: of(libc::RUSAGE_THREAD),
    }
}
