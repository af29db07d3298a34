//! Binding, the accept loop, `maxclients` admission, the cron thread, and orderly shutdown.

use std::io::{self, Write};
use std::net::{Shutdown as SockShutdown, TcpListener, TcpStream};

use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client;
use crate::config::Config;
use crate::os::{self, SpareFd};
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
    crate::listen::bind_one(addr, port)
}

/// The admission of the accept threads: every accepted connection goes to a pooled thread,
/// or is turned away over `maxclients`.
struct Admit {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    /// Out of descriptors, a connection waiting in the backlog would stay there unanswered:
    /// it is taken with this spare descriptor and turned away.
    spare: Mutex<SpareFd>,
    errors: Mutex<AcceptErrors>,
}

impl crate::listen::Acceptor for Admit {
    fn admit(&self, stream: TcpStream, unix: Option<&Arc<str>>) {
        self.errors.lock().recovered();
        admit(&self.shared, &self.pool, stream, unix.cloned());
    }

    fn failed(&self, listener: Option<&TcpListener>, e: &io::Error) -> Duration {
        if os::out_of_descriptors(e)
            && listener.is_some_and(|l| {
                self.spare
                    .lock()
                    .release_for(|| reject_one(l, &self.shared))
            })
        {
            self.errors.lock().note(e);
            return Duration::ZERO;
        }
        self.errors.lock().note(e)
    }
}

/// Serves `listener` until `shutdown` is triggered, then closes every connection and returns.
pub fn run(listener: TcpListener, config: Config, shutdown: Arc<Shutdown>) -> io::Result<()> {
    run_on(vec![listener], config, shutdown)
}

/// Serves every listener (one accept thread each) until `shutdown` is triggered, then closes
/// every connection and returns.
pub fn run_on(
    listeners: Vec<TcpListener>,
    config: Config,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    if let Some(port) = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
    {
        config.set_port(port);
    }
    // (Only the binary claims the title's bytes: in-process servers change nothing.)
    crate::proctitle::apply(&config);
    crate::command::install_renames(&config.renames)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let shared = Arc::new(Shared::new(config, Arc::clone(&shutdown)));
    shared
        .stats
        .startup_memory
        .store(crate::alloc::used_memory() as u64, Ordering::Relaxed);
    // Calibrates the command clock now, so that no command waits for it (SLOWLOG, INFO).
    crate::cmdstats::ticks_per_us();
    let pool = Pool::new(shutdown.receiver(), shared.config.worker_idle_timeout());
    let cron = spawn_cron(Arc::clone(&shared), Arc::clone(&pool))?;
    let watchdog = crate::watchdog::spawn(Arc::clone(&shared))?;
    let admit = Arc::new(Admit {
        shared: Arc::clone(&shared),
        pool: Arc::clone(&pool),
        spare: Mutex::new(SpareFd::new()),
        errors: Mutex::new(AcceptErrors::default()),
    });
    // The snapshot in `dir` loads while clients are served `-LOADING` (only commands flagged
    // `loading` run meanwhile); a file that does not load stops the server.
    // With `appendonly yes` the append-only file is the data (as in Redis), and it is
    // always opened at start (a first base is written if there is none).
    let aof = crate::persistence::snapshot::setting(&shared.config, "appendonly") == "yes";
    let load = if aof {
        shared.snapshots.set_loading(true);
        true
    } else {
        shared.snapshots.begin_loading(&shared.config)
    };
    // The Unix socket, as Redis's initServer opens it: a failure stops the start.
    let unixsocket = crate::persistence::snapshot::setting(&shared.config, "unixsocket");
    let unix = if unixsocket.is_empty() {
        None
    } else {
        let perm = crate::persistence::snapshot::setting(&shared.config, "unixsocketperm");
        let perm = u32::from_str_radix(&perm, 8).unwrap_or(0);
        match crate::listen::bind_unix(&unixsocket, perm) {
            Ok(l) => Some(l),
            Err(e) => {
                log::error!("Failed opening Unix socket: {}", crate::os::strerror(&e));
                return Err(e);
            }
        }
    };
    log::warn!("Server initialized");
    let serves_tcp = !listeners.is_empty();
    shared.listeners.start(listeners, admit)?;
    if let Some(l) = unix {
        shared.listeners.start_unix(l, &unixsocket)?;
    }
    let serves_unix = !unixsocket.is_empty();
    // Ready once the data is in (clients that come earlier get -LOADING).
    if load {
        let sh = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("spindle-load".into())
            .spawn(move || {
                if aof {
                    if let Err(e) = load_aof(&sh) {
                        log::error!("{e}");
                        std::process::exit(1);
                    }
                } else if let Err(e) = load_snapshot(&sh) {
                    log::error!("{e}");
                    // As Redis does, the checker's report goes to standard output.
                    let report =
                        crate::persistence::snapshot::check_file(&sh.config, sh.store.len());
                    // Written, not printed: a closed standard output must not keep the
                    // load thread from exiting the process below.
                    let mut out = std::io::stdout().lock();
                    for line in report {
                        let _ = writeln!(out, "{line}");
                    }
                    drop(out);
                    log::error!("Terminating server after rdb file reading failure.");
                    std::process::exit(1);
                }
                ready(serves_tcp, serves_unix);
            })?;
    } else {
        ready(serves_tcp, serves_unix);
    }
    shutdown.wait();
    crate::supervise::stopping();
    // A script still running (a signal came) stops at its next check: it holds the locks.
    shared.script_busy.shutting_down();

    shared.listeners.stop();
    pool.drain();
    shared.clients.close_all_reads();
    if !wait_idle(&shared, Duration::from_millis(700)) {
        // Writers blocked on clients that do not read: cut them off.
        shared.clients.close_all();
        wait_idle(&shared, Duration::from_millis(200));
    }
    let _ = cron.join();
    let _ = watchdog.join();
    Ok(())
}

/// The lines that say the server serves: one per kind of socket.
fn ready(tcp: bool, unix: bool) {
    if tcp {
        log::info!("Ready to accept connections tcp");
    }
    if unix {
        log::info!("Ready to accept connections unix");
    }
    crate::supervise::ready();
}

/// Loads the append-only file (its base and incremental files, through a client without a
/// connection, as Redis's fake AOF client), then opens it for appending.
#[allow(clippy::disallowed_methods)] // the load's duration, for the log
pub fn load_aof(shared: &Shared) -> Result<(), String> {
    let started = Instant::now();
    let functions = shared.functions.lock().records();
    let out = with_replayer(shared, |load_rdb, run| {
        shared
            .aof
            .start(&shared.store, &shared.config, &functions, load_rdb, run)
    });
    shared.snapshots.set_loading(false);
    if let crate::persistence::aof::Loaded::Done(_) = out? {
        log::info!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// DEBUG LOADAOF: the append-only files read back into the (emptied) store.
pub fn reload_aof(shared: &Shared) -> Result<(), String> {
    with_replayer(shared, |load_rdb, run| {
        shared.aof.reload(&shared.config, load_rdb, run)
    })
}

/// What reading the append-only file needs: an RDB loader for a base (or preamble) that
/// installs its function libraries too, and a replayer of commands through a client
/// without a connection.
fn with_replayer<R>(
    shared: &Shared,
    f: impl FnOnce(
        &mut dyn FnMut(&[u8]) -> Result<usize, String>,
        &mut crate::persistence::aof::Replayer<'_>,
    ) -> R,
) -> R {
    let info = Arc::new(crate::state::ClientInfo::detached(
        u64::MAX,
        shared.acl.default_user(),
    ));
    let mut client = crate::state::ClientState::new(info);
    let mut run = |argv: &[Vec<u8>]| crate::command::replay(shared, &mut client, argv);
    let mut load_rdb = |data: &[u8]| -> Result<usize, String> {
        let loaded =
            crate::persistence::snapshot::load_bytes(&shared.store, &shared.config, data, false)
                .map_err(|e| format!("{} at offset {}", e.reason, e.offset))?;
        let end = loaded.end;
        restore_functions(shared, loaded.functions)?;
        Ok(end)
    };
    f(&mut load_rdb, &mut run)
}

/// Loads `dir/dbfilename` and the function libraries it holds.
fn load_snapshot(shared: &Shared) -> Result<(), String> {
    let Some(loaded) = shared
        .snapshots
        .load_file(&shared.store, &shared.config, false)?
    else {
        return Ok(());
    };
    restore_functions(shared, loaded.functions)
}

/// Installs the function libraries a snapshot held (`FUNCTION RESTORE ... REPLACE`).
fn restore_functions(shared: &Shared, records: Vec<u8>) -> Result<(), String> {
    if records.is_empty() {
        return Ok(());
    }
    let mut payload = records;
    crate::store::rdbstr::seal(&mut payload);
    let mut libs = shared.functions.lock();
    let restored = libs.restore(
        &payload,
        crate::scripting::functions::RestorePolicy::Replace,
    );
    shared.functions.counted(&libs);
    restored.map_err(|e| {
        format!(
            "Failed loading the functions of the RDB file: {}",
            String::from_utf8_lossy(&e)
        )
    })
}

/// Accepts one waiting connection and turns it away with the maxclients error; false if
/// there was none to take.
fn reject_one(listener: &TcpListener, shared: &Shared) -> bool {
    match listener.accept() {
        Ok((stream, _)) => {
            shared.stats.connections.fetch_add(1, Ordering::Relaxed);
            reject(shared, stream);
            true
        }
        Err(_) => false,
    }
}

fn reject(shared: &Shared, mut stream: TcpStream) {
    shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
    // A fresh socket's send buffer always has room for this short line.
    let _ = stream.write_all(MAX_CLIENTS_REPLY);
    let _ = stream.shutdown(SockShutdown::Both);
}

/// Failed `accept`s: each is followed by a pause that doubles while they persist (1 ms up to
/// 1 s), and they are logged at most once a second, with a count of those that were not, so
/// a broken accept neither spins nor floods the log.
struct AcceptErrors {
    pause: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Default for AcceptErrors {
    fn default() -> Self {
        AcceptErrors {
            pause: MIN_ACCEPT_PAUSE,
            last_log: None,
            unlogged: 0,
        }
    }
}

const MIN_ACCEPT_PAUSE: Duration = Duration::from_millis(1);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

impl AcceptErrors {
    /// Records a failure; returns how long to pause before the next try.
    #[allow(clippy::disallowed_methods)] // log pacing, not a command's time
    fn note(&mut self, e: &io::Error) -> Duration {
        let due = self
            .last_log
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            if self.unlogged > 0 {
                log::warn!(
                    "Accepting client connection: {e} ({} more since the last report)",
                    self.unlogged
                );
            } else {
                log::warn!("Accepting client connection: {e}");
            }
            self.last_log = Some(Instant::now());
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_ACCEPT_PAUSE);
        pause
    }

    /// An accept worked: the next failure starts the backoff over.
    fn recovered(&mut self) {
        self.pause = MIN_ACCEPT_PAUSE;
    }
}

fn admit(shared: &Arc<Shared>, pool: &Arc<Pool>, stream: TcpStream, unix: Option<Arc<str>>) {
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    let keepalive = shared.config.tcp_keepalive();
    if unix.is_none() {
        let _ = stream.set_nodelay(true);
    }
    if keepalive > 0 && unix.is_none() {
        if let Err(e) = os::set_keepalive(&stream, keepalive) {
            log::debug!("cannot set TCP keepalive: {e}");
        }
    }
    let max = shared.config.maxclients();
    if shared.active.fetch_add(1, Ordering::AcqRel) >= max {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        reject(shared, stream);
        return;
    }
    let guard = Admission(Arc::clone(shared));
    let Some(accepted) = client::Accepted::new(stream, unix, shared) else {
        return;
    };
    let job_shared = Arc::clone(shared);
    let job = Box::new(move || {
        let _guard = guard;
        client::serve(accepted, &job_shared);
    });
    if let Err(e) = pool.execute(job) {
        log::error!("cannot start a worker thread: {e}");
    }
}

#[allow(clippy::disallowed_methods)] // shutdown's grace period
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

/// Steps of active rehashing per database per cron tick (each moves up to 4 buckets: a few
/// hundred µs at most).
const REHASH_STEPS: usize = 1000;

/// The cron thread, like Redis's `serverCron` at `hz` (default 10 per second): active expiry
/// (a bounded batch per database per lock hold; while a backlog remains it goes again after a
/// short pause so clients interleave) and the ops/sec sample.
#[allow(clippy::disallowed_methods)] // the cron keeps its own time
fn spawn_cron(shared: Arc<Shared>, pool: Arc<Pool>) -> io::Result<std::thread::JoinHandle<()>> {
    const BATCH: usize = 200;
    let active_rehashing = crate::config::lookup("activerehashing")
        .ok_or_else(|| io::Error::other("activerehashing is not in the config table"))?;
    let stop = shared.shutdown.receiver();
    let mut last_reap = Instant::now();
    let mut collect_ticks = 0u32;
    let mut purge_ticks = 0u32;
    std::thread::Builder::new()
        .name("spindle-cron".into())
        .spawn(move || loop {
            let hz = shared.config.hz().max(1) as u64;
            // A signal's shutdown: the final save first, as `shutdown-on-sigterm` says.
            if shared.shutdown.take_request() {
                let how = crate::config::lookup("shutdown-on-sigterm")
                    .map(|d| shared.config.get(d))
                    .unwrap_or_default();
                let has = |w: &str| how.split(' ').any(|x| x == w);
                match crate::command::server::prepare_shutdown(
                    &shared,
                    has("save"),
                    has("nosave"),
                    has("force"),
                ) {
                    Ok(()) => shared.shutdown.trigger(),
                    Err(_) => log::warn!(
                        "SIGTERM received but errors trying to shut down the server, check the logs for more information"
                    ),
                }
            }
            // Redis's clientsCronHandleTimeout: idle clients closed after `timeout` seconds.
            let timeout = shared.config.timeout();
            if timeout > 0 && last_reap.elapsed() >= Duration::from_secs(1) {
                last_reap = Instant::now();
                let n = shared
                    .clients
                    .close_idle(i64::from(timeout), clock::unix_ms());
                if n > 0 {
                    log::debug!("Closed {n} idle client(s)");
                }
            }
            let mut wait = Duration::from_millis(1000 / hz);
            // DEBUG PAUSE-CRON 1: nothing periodic runs until it is lifted.
            if shared.cron_paused.load(Ordering::Relaxed) {
                if stop.recv_timeout(wait).is_err_and(|e| e.is_disconnected()) {
                    return;
                }
                continue;
            }
            // No active expiry while clients are paused (Redis's rule), or once DEBUG
            // SET-ACTIVE-EXPIRE 0 turned it off.
            let paused = shared.pause.in_force(clock::unix_ms()).is_some()
                || !shared.active_expire.load(Ordering::Relaxed);
            let n = if paused {
                0
            } else {
                let mut worked = Duration::ZERO;
                let n = shared.store.expire_cycle(
                    clock::unix_ms(),
                    BATCH,
                    shared.config.notify_keyspace_events(),
                    &mut worked,
                );
                shared
                    .stats
                    .expire_cycle_us
                    .fetch_add(worked.as_micros() as u64, Ordering::Relaxed);
                n
            };
            // Subscribers of the `expired` events it published.
            shared
                .stats
                .net_output
                .add(crate::state::wake_deferred() as u64);
            // (The keys it deleted are counted in INFO by their databases.)
            if n >= BATCH {
                wait = Duration::from_millis(1);
            }
            if shared.config.get(active_rehashing) == "yes" {
                shared.store.rehash_cycle(REHASH_STEPS);
            }
            shared.stats.sample();
            clock::tick_lru_clock();
            // Save points, and a BGSAVE scheduled while another ran.
            let dirty = shared.stats.dirty.get();
            if !shared.aof.rewriting()
                && shared.snapshots.due(&shared.config, dirty, clock::unix_ms())
            {
                log::info!(
                    "{} changes since the last save. Saving...",
                    shared.snapshots.changes_since_save(dirty)
                );
                if let Err(e) = shared.snapshots.bgsave(&shared.snapshot_job()) {
                    log::warn!("BGSAVE from the cron failed: {e}");
                }
            }
            // The append-only file: everysec's fsync, a failed write retried, rewrites.
            shared.aof.cron(
                &shared.store,
                &shared.config,
                shared.snapshots.in_progress(),
                || shared.functions.lock().records(),
            );
            crate::evict::resume(&shared);
            if shared.evicting.load(Ordering::Relaxed) {
                // Still over the limit: go on soon, as Redis's eviction time event does.
                wait = Duration::from_millis(1);
            }
            // Client-side caching: BCAST invalidations of keys expired or evicted here, and
            // the tracking table's size limit.
            shared.tracking.broadcast();
            shared.tracking.limit();
            // Those invalidations' and the evictions' subscribers.
            shared
                .stats
                .net_output
                .add(crate::state::wake_deferred() as u64);
            // Exited workers leave their allocator pages behind, abandoned; a few of their
            // blocks are freed only as the thread is torn down. Collect for a second after
            // the last retirement, so that those pages go back too.
            if pool.take_retired() > 0 {
                collect_ticks = hz.max(1) as u32;
            }
            if collect_ticks > 0 {
                collect_ticks -= 1;
                crate::alloc::release_free_memory();
            }
            purge_ticks += 1;
            if purge_ticks >= hz as u32 {
                purge_ticks = 0;
                crate::alloc::purge_expired();
                shared.links.close_idle();
            }
            let used = crate::alloc::used_memory() as u64;
            shared.stats.peak_memory.fetch_max(used, Ordering::Relaxed);
            if stop.recv_timeout(wait).is_err_and(|e| e.is_disconnected()) {
                return;
            }
        })
}
