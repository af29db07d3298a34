//! Binding, the accept loop, `maxclients` admission, the cron thread, and orderly shutdown.

use std::io::{self, Write};
use std::net::{Shutdown as SockShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client;
use crate::config::Config;
use crate::pool::Pool;
use crate::shutdown::Shutdown;
use crate::state::Shared;
use crate::store::clock;

/// The reply to a connection over `maxclients`, before it is closed.
pub const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// Counts one admitted connection until dropped.
struct Admission(Arc<Shared>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Binds like `redis-server`: `addr:port`, IPv6 literals accepted.
pub fn bind(addr: &str, port: u16) -> io::Result<TcpListener> {
    let host = addr.trim_start_matches('[').trim_end_matches(']');
    let listener = TcpListener::bind((host, port))?;
    set_backlog(&listener, TCP_BACKLOG);
    Ok(listener)
}

/// Redis's `tcp-backlog`. std listens with 128, too few when a thousand clients connect at
/// once: the overflow's SYNs are dropped and retried a second later.
const TCP_BACKLOG: i32 = 511;

/// Linux takes a second `listen` on a listening socket as a new backlog (capped by
/// `net.core.somaxconn`); elsewhere the default stays.
fn set_backlog(listener: &TcpListener, backlog: i32) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is a live listening socket owned by `listener`.
        if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
            log::debug!(
                "listen backlog stays at the default: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// File descriptors kept beyond one per client (listener, logs, the waker, later files).
const RESERVED_FDS: usize = 32;

/// Raises the open-files limit so `maxclients` connections fit, like Redis's
/// `adjustOpenFilesLimit`: ask for `maxclients + 32`, step down by 16 until the kernel agrees,
/// and return the number of clients the obtained limit allows (never more than `maxclients`).
pub fn adjust_open_files_limit(maxclients: usize) -> usize {
    #[cfg(unix)]
    {
        let want = (maxclients + RESERVED_FDS) as libc::rlim_t;
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
        let mut ask = want;
        while ask > lim.rlim_cur {
            let new = libc::rlimit {
                rlim_cur: ask,
                rlim_max: lim.rlim_max.max(ask),
            };
            // SAFETY: `new` is a valid rlimit; failure leaves the limit unchanged.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
                break;
            }
            ask = ask.saturating_sub(16);
        }
        let got = ask.max(lim.rlim_cur) as usize;
        if got < want as usize {
            let allowed = got.saturating_sub(RESERVED_FDS).max(1);
            log::warn!(
                "open-files limit is {got}: maxclients lowered from {maxclients} to {allowed} \
                 (raise it with 'ulimit -n')"
            );
            return allowed;
        }
        if got as libc::rlim_t != lim.rlim_cur {
            log::info!("increased maximum number of open files to {got}");
        }
        maxclients
    }
    #[cfg(not(unix))]
    maxclients
}

/// Grows the process's descriptor table once, at startup, to hold `maxclients` sockets.
/// Growing it later, with worker threads alive, makes the kernel wait for an RCU grace period
/// inside `accept` (10–20 ms at 256, 512, 1024, ... descriptors): enough, during a burst of
/// connects, to overflow the listen backlog and cost the next client a one-second SYN retry.
pub fn reserve_descriptor_table(listener: &TcpListener, maxclients: usize) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let top = (maxclients + RESERVED_FDS - 1).min(i32::MAX as usize) as i32;
        // SAFETY: F_DUPFD duplicates the live listening socket (or fails); the copy is closed
        // at once.
        let fd = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top) };
        if fd >= 0 {
            // SAFETY: `fd` was just created here and is owned by nobody else.
            unsafe { libc::close(fd) };
        }
    }
}

/// Serves `listener` until `shutdown` is triggered, then closes every connection and returns.
pub fn run(listener: TcpListener, config: Config, shutdown: Arc<Shutdown>) -> io::Result<()> {
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config, Arc::clone(&shutdown), local.port()));
    let pool = Pool::new(shutdown.receiver());
    let cron = spawn_cron(Arc::clone(&shared))?;
    let waker = spawn_accept_waker(&shutdown, local)?;

    for conn in listener.incoming() {
        if shutdown.is_triggered() {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the server goes on.
                log::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        admit(&shared, &pool, stream);
    }

    drop(listener);
    pool.drain();
    let _ = waker.join();
    shared.clients.close_all_reads();
    if !wait_idle(&shared, Duration::from_millis(700)) {
        // Writers blocked on clients that do not read: cut them off.
        shared.clients.close_all();
        wait_idle(&shared, Duration::from_millis(200));
    }
    let _ = cron.join();
    Ok(())
}

fn admit(shared: &Arc<Shared>, pool: &Arc<Pool>, mut stream: TcpStream) {
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let max = shared.config.maxclients();
    if shared.active.fetch_add(1, Ordering::AcqRel) >= max {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        // A fresh socket's send buffer always has room for this short line.
        let _ = stream.write_all(MAX_CLIENTS_REPLY);
        let _ = stream.shutdown(SockShutdown::Both);
        return;
    }
    let guard = Admission(Arc::clone(shared));
    let job_shared = Arc::clone(shared);
    let job = Box::new(move || {
        let _guard = guard;
        client::serve(stream, &job_shared);
    });
    if let Err(e) = pool.execute(job) {
        log::error!("cannot start a worker thread: {e}");
    }
}

fn wait_idle(shared: &Shared, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while shared.active.load(Ordering::Acquire) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// The accept loop blocks in `accept`; when shutdown starts, a connection to ourselves wakes it.
fn spawn_accept_waker(
    shutdown: &Arc<Shutdown>,
    local: SocketAddr,
) -> io::Result<std::thread::JoinHandle<()>> {
    let shutdown = Arc::clone(shutdown);
    let mut target = local;
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    std::thread::Builder::new()
        .name("spindle-waker".into())
        .spawn(move || {
            shutdown.wait();
            let _ = TcpStream::connect_timeout(&target, Duration::from_millis(500));
        })
}

/// The cron thread, like Redis's `serverCron` at `hz` (default 10 per second): active expiry
/// (a bounded batch per database per lock hold; while a backlog remains it goes again after a
/// short pause so clients interleave) and the ops/sec sample.
#[allow(clippy::disallowed_methods)] // active expiry runs at the cron's own instant
fn spawn_cron(shared: Arc<Shared>) -> io::Result<std::thread::JoinHandle<()>> {
    const BATCH: usize = 200;
    let stop = shared.shutdown.receiver();
    std::thread::Builder::new()
        .name("spindle-cron".into())
        .spawn(move || loop {
            let hz = shared.config.hz().max(1) as u64;
            let mut wait = Duration::from_millis(1000 / hz);
            let n = shared.store.expire_cycle(clock::unix_ms(), BATCH);
            if n > 0 {
                shared
                    .stats
                    .expired_keys
                    .fetch_add(n as u64, Ordering::Relaxed);
                if n >= BATCH {
                    wait = Duration::from_millis(1);
                }
            }
            shared.stats.sample();
            let used = crate::alloc::used_memory() as u64;
            shared.stats.peak_memory.fetch_max(used, Ordering::Relaxed);
            if stop.recv_timeout(wait).is_err_and(|e| e.is_disconnected()) {
                return;
            }
        })
}
