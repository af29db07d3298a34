//! Snapshots: SAVE, BGSAVE, save points, and loading `dir/dbfilename` at startup.
//!
//! **How BGSAVE stays point-in-time without stopping clients.** Every database is locked for
//! reading (in index order, so the view is one instant), the process forks, and the locks
//! are released at once: readers never wait, writers wait only for the `fork` itself. The
//! child, which sees the memory as it was at the fork, writes the file through the guards it
//! inherited and exits; a thread of the parent waits for it and records the outcome. The
//! memory cost is the pages written by clients while the child runs (copy-on-write), as in
//! Redis. The child only writes a file: it logs nothing and takes no lock another thread
//! could have held at the fork.
//!
//! Every file is written to `temp-<pid>.rdb`, fsynced, renamed over `dbfilename` and the
//! directory fsynced, so a crash at any moment leaves the previous file whole.

// Snapshots keep their own clock (fork and save durations, LASTSAVE), not a command's instant.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::object::SaveOptions;
use super::rdb::{self, KeyUse};
use crate::config::{lookup, Config};
use crate::store::clock::{self, Op};
use crate::store::{Access, Db, Entry, Store};

/// What a snapshot is made of, gathered by the caller: the store, the settings, the function
/// records (`FUNCTION DUMP` without its footer) and the write counter at that moment.
pub struct Job<'a> {
    pub store: &'a Store,
    pub config: &'a Config,
    pub functions: Vec<u8>,
    pub dirty: u64,
}

/// A BGSAVE child running.
struct Child {
    pid: libc::pid_t,
    dirty: u64,
    started: Instant,
    /// Killed on purpose (SHUTDOWN, FLUSHALL): its end is not a failed save.
    killed: bool,
}

/// Snapshot state (INFO persistence, LASTSAVE, the save points' clock).
pub struct Snapshots {
    child: Mutex<Option<Child>>,
    /// Foreground saves one at a time: they share the temporary file and its rename.
    saving: Mutex<()>,
    /// Unix ms of the last successful save; the start time until one happens.
    last_save_ms: AtomicI64,
    /// The write counter as of the last successful save.
    dirty_saved: AtomicU64,
    last_bgsave_ok: AtomicBool,
    last_bgsave_secs: AtomicI64,
    /// Unix ms of the last BGSAVE attempt (a failed one is retried after 5 s, as in Redis).
    last_try_ms: AtomicI64,
    /// BGSAVE SCHEDULE while one was running.
    scheduled: AtomicBool,
    /// The startup load is running (`-LOADING`, INFO `loading:1`).
    loading: AtomicBool,
    /// Successful saves (`rdb_saves`), and what the last load read and dropped as expired.
    saves: AtomicU64,
    loaded_keys: AtomicU64,
    loaded_expired: AtomicU64,
}

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`.
const RETRY_DELAY_MS: i64 = 5000;

impl Snapshots {
    pub fn new(now_ms: i64) -> Snapshots {
        Snapshots {
            child: Mutex::new(None),
            saving: Mutex::new(()),
            last_save_ms: AtomicI64::new(now_ms),
            dirty_saved: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            last_try_ms: AtomicI64::new(0),
            scheduled: AtomicBool::new(false),
            loading: AtomicBool::new(false),
            saves: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
        }
    }

    pub fn last_save_ms(&self) -> i64 {
        self.last_save_ms.load(Ordering::Relaxed)
    }

    pub fn loading(&self) -> bool {
        self.loading.load(Ordering::Relaxed)
    }

    pub fn in_progress(&self) -> bool {
        self.child.lock().is_some()
    }

    /// Writes since the last successful save (`rdb_changes_since_last_save`).
    pub fn changes_since_save(&self, dirty: u64) -> u64 {
        dirty.saturating_sub(self.dirty_saved.load(Ordering::Relaxed))
    }

    /// Writes are refused with MISCONF: save points are set, the last BGSAVE failed and
    /// `stop-writes-on-bgsave-error` is on.
    pub fn refuses_writes(&self, config: &Config) -> bool {
        !self.last_bgsave_ok.load(Ordering::Relaxed)
            && setting(config, "stop-writes-on-bgsave-error") == "yes"
            && !save_points(config).is_empty()
    }

    /// INFO's persistence fields about snapshots.
    pub fn info(&self, dirty: u64) -> String {
        let child = self.child.lock();
        format!(
            "loading:{}\r\nasync_loading:0\r\n{}rdb_changes_since_last_save:{}\r\n\
             rdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\n\
             rdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\n\
             rdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
            u8::from(self.loading()),
            super::childinfo::info_current(),
            self.changes_since_save(dirty),
            u8::from(child.is_some()),
            self.last_save_ms() / 1000,
            if self.last_bgsave_ok.load(Ordering::Relaxed) {
                "ok"
            } else {
                "err"
            },
            self.last_bgsave_secs.load(Ordering::Relaxed),
            child
                .as_ref()
                .map_or(-1, |c| c.started.elapsed().as_secs() as i64),
            self.saves.load(Ordering::Relaxed),
            super::childinfo::last_cow(super::childinfo::Kind::Rdb),
            self.loaded_expired.load(Ordering::Relaxed),
            self.loaded_keys.load(Ordering::Relaxed),
        )
    }

    /// SAVE: writes the file in the calling thread, all databases locked for reading.
    pub fn save(&self, job: &Job<'_>) -> Result<(), String> {
        if self.in_progress() {
            return Err("ERR Background save already in progress".into());
        }
        let _one = self.saving.lock();
        let guards = job.store.read_all();
        let target = Target::of(job.config);
        let tmp = target.dir.join(format!("temp-{}.rdb", std::process::id()));
        let result = write_file(&guards, &target, &job.functions, &tmp, false)
            .map_err(|e| format!("Write error saving DB on disk: {e}"))
            .and_then(|()| {
                install(&tmp, &target).map_err(|e| {
                    format!(
                        "Error moving temp DB file {} on the final destination {} (in server root dir {}): {e}",
                        tmp.display(),
                        target.file,
                        target.dir.display()
                    )
                })
            });
        drop(guards);
        match result {
            Ok(()) => {
                log::info!("DB saved on disk");
                self.saved(job.dirty);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                log::warn!("{e}");
                Err("ERR".into())
            }
        }
    }

    fn saved(&self, dirty: u64) {
        self.saves.fetch_add(1, Ordering::Relaxed);
        self.dirty_saved.store(dirty, Ordering::Relaxed);
        self.last_save_ms.store(clock::unix_ms(), Ordering::Relaxed);
        self.last_bgsave_ok.store(true, Ordering::Relaxed);
    }

    /// BGSAVE: forks a child that writes the file; returns at once. `Err` if one is running.
    pub fn bgsave(self: &Arc<Self>, job: &Job<'_>) -> Result<(), &'static str> {
        let target = Target::of(job.config);
        // The databases first, then the child slot: the order FLUSHALL inside EXEC (which
        // holds the databases and kills a child) takes them in too.
        let guards = job.store.read_all();
        let mut child = self.child.lock();
        if child.is_some() {
            return Err("ERR Background save already in progress");
        }
        self.last_try_ms.store(clock::unix_ms(), Ordering::Relaxed);
        let channel = super::childinfo::Channel::open(total_keys(&guards));
        let started = Instant::now();
        // SAFETY: the child runs only `child_main`, which writes a file through memory it
        // inherited and leaves with `_exit`; it takes no lock that another thread could have
        // held at the fork (the database guards are this thread's own).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // A panic must end the child here, not unwind into the parent's code (where it
            // would go on serving a copy of the client).
            std::panic::set_hook(Box::new(|_| {
                // SAFETY: leaves the child at once, without touching anything shared.
                unsafe { libc::_exit(1) }
            }));
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child_main(&guards, &target, &job.functions, channel)
            }))
            .unwrap_or(1);
            // SAFETY: ends the child without running the parent's destructors or atexit.
            unsafe { libc::_exit(code) };
        }
        drop(guards);
        let reports = channel.map(super::childinfo::Channel::into_parent);
        if pid < 0 {
            super::childinfo::reset();
            let e = io::Error::last_os_error();
            log::warn!("Can't save in background: fork: {e}");
            self.last_bgsave_ok.store(false, Ordering::Relaxed);
            return Err("ERR");
        }
        super::forked(started.elapsed().as_micros() as u64);
        log::info!(
            "Background saving started by pid {pid} (fork took {} ms)",
            started.elapsed().as_millis()
        );
        *child = Some(Child {
            pid,
            dirty: job.dirty,
            started,
            killed: false,
        });
        drop(child);
        let me = Arc::clone(self);
        let dir = target.dir.clone();
        let spawned = std::thread::Builder::new()
            .name("spindle-bgsave".into())
            .spawn(move || me.wait_child(pid, &dir, reports));
        if let Err(e) = spawned {
            log::warn!("cannot start the BGSAVE waiter: {e}");
        }
        Ok(())
    }

    /// Waits for the child `pid` and records how it ended. Only this thread reaps it.
    fn wait_child(
        &self,
        pid: libc::pid_t,
        dir: &Path,
        reports: Option<super::childinfo::Receiver>,
    ) {
        // Its reports until it exits (and closes the pipe).
        if let Some(reports) = reports {
            reports.drain(super::childinfo::Kind::Rdb);
        }
        let (r, status) = super::reap(pid);
        let mut slot = self.child.lock();
        if slot.as_ref().map(|c| c.pid) != Some(pid) {
            return;
        }
        let Some(child) = slot.take() else {
            return;
        };
        drop(slot);
        let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        self.last_bgsave_secs
            .store(child.started.elapsed().as_secs() as i64, Ordering::Relaxed);
        if ok {
            log::info!("Background saving terminated with success");
            self.saved(child.dirty);
            return;
        }
        let _ = std::fs::remove_file(dir.join(format!("temp-{pid}.rdb")));
        if libc::WIFSIGNALED(status) {
            log::warn!(
                "Background saving terminated by signal {}",
                libc::WTERMSIG(status)
            );
        } else {
            log::warn!("Background saving error");
        }
        // Killed on purpose (SIGUSR1, as Redis kills its own child) is not a failure.
        let by_us =
            child.killed || (libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGUSR1);
        if !by_us {
            self.last_bgsave_ok.store(false, Ordering::Relaxed);
        }
    }

    /// Schedules a BGSAVE for when the running one ends (BGSAVE SCHEDULE).
    pub fn schedule(&self) {
        self.scheduled.store(true, Ordering::Relaxed);
    }

    /// Kills a running child (SHUTDOWN, FLUSHALL); its waiter reaps it and removes its
    /// temporary file. Returns once it is gone (a killed child ends at once), so that a
    /// save can follow.
    pub fn kill_child(&self) {
        // A forked debugging session's copy of this state is not its to act on: the child
        // is the server's.
        if crate::os::is_forked_child() {
            return;
        }
        {
            let mut slot = self.child.lock();
            let Some(c) = slot.as_mut() else {
                return;
            };
            c.killed = true;
            log::info!("Killing running BGSAVE child: {}", c.pid);
            // SAFETY: signals our own child. Its waiter reaps it just before clearing the
            // slot; only a pid reused in that instant could be hit.
            unsafe { libc::kill(c.pid, libc::SIGUSR1) };
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while self.in_progress() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Does a save point ("after N seconds if at least M writes"), or a scheduled BGSAVE,
    /// call for a BGSAVE now? (Redis's `serverCron`.)
    pub fn due(&self, config: &Config, dirty: u64, now_ms: i64) -> bool {
        if self.in_progress() {
            return false;
        }
        if self.scheduled.swap(false, Ordering::Relaxed) {
            return true;
        }
        let changes = self.changes_since_save(dirty);
        let since_save = (now_ms - self.last_save_ms()) / 1000;
        let retry_ok = self.last_bgsave_ok.load(Ordering::Relaxed)
            || now_ms - self.last_try_ms.load(Ordering::Relaxed) > RETRY_DELAY_MS;
        retry_ok
            && save_points(config)
                .iter()
                .any(|&(secs, min)| changes >= min && since_save >= secs as i64)
    }

    /// Marks the server loading if `dir/dbfilename` exists (before clients are admitted);
    /// true if there is a file to load.
    pub fn begin_loading(&self, config: &Config) -> bool {
        let target = Target::of(config);
        let exists = target.dir.join(&target.file).exists();
        self.loading.store(exists, Ordering::Relaxed);
        exists
    }

    /// Loads `dir/dbfilename` into `store` if it exists, taking each database's write lock
    /// for batches of keys; `loading` is cleared at the end.
    pub fn load_file(
        &self,
        store: &Store,
        config: &Config,
        merge: bool,
    ) -> Result<Option<rdb::Loaded>, String> {
        let target = Target::of(config);
        let path = target.dir.join(&target.file);
        let out = load_path(store, config, &path, merge);
        self.loading.store(false, Ordering::Relaxed);
        if let Ok(Some(loaded)) = &out {
            self.loaded_keys.store(loaded.keys, Ordering::Relaxed);
            self.loaded_expired.store(loaded.expired, Ordering::Relaxed);
        }
        out
    }

    /// The data set was just loaded again (DEBUG LOADAOF): no change is unsaved (Redis sets
    /// `server.dirty` to 0).
    pub fn forget_changes(&self, dirty: u64) {
        self.dirty_saved.store(dirty, Ordering::Relaxed);
    }

    /// Marks the server loading (or done), for a load that is not `dir/dbfilename`'s (the
    /// append-only file's).
    pub fn set_loading(&self, on: bool) {
        self.loading.store(on, Ordering::Relaxed);
    }
}

/// `redis-check-rdb`'s report of `dir/dbfilename` if it finds the file damaged (see
/// [`rdb::check`]); empty if the file reads as sound (a load can fail for other reasons,
/// such as a duplicated key) or cannot be read.
pub fn check_file(config: &Config, databases: usize) -> Vec<String> {
    let target = Target::of(config);
    let Ok(data) = std::fs::read(target.dir.join(&target.file)) else {
        return Vec::new();
    };
    match rdb::check(
        &target.file,
        &data,
        databases,
        &config.limits(),
        clock::unix_ms(),
    ) {
        (lines, false) => lines,
        (_, true) => Vec::new(),
    }
}

/// Loads the RDB file at `path` into `store` if it exists (`Ok(None)` if it does not), taking
/// each database's write lock for batches of keys. A file that does not start with an RDB
/// header is an error.
pub fn load_path(
    store: &Store,
    config: &Config,
    path: &Path,
    merge: bool,
) -> Result<Option<rdb::Loaded>, String> {
    {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
        };
        load_bytes(store, config, &data, merge)
            .map(Some)
            .map_err(|e| {
                format!(
                    "Internal error in RDB reading file '{}' at offset {}: {}",
                    path.display(),
                    e.offset,
                    e.reason
                )
            })
    }
}

/// Loads an RDB image (a file's bytes, or an append-only file's RDB preamble) into `store`.
pub fn load_bytes(
    store: &Store,
    config: &Config,
    data: &[u8],
    merge: bool,
) -> Result<rdb::Loaded, rdb::RdbError> {
    {
        let started = Instant::now();
        let limits = config.limits();
        let now = clock::unix_ms();
        let op = Op::new(limits);
        let mut current: Option<(usize, crate::store::WriteGuard<'_>)> = None;
        let mut batch = 0u32;
        // `key-load-delay` (µs per key; negative: 1 µs once in that many keys), Redis's
        // debugDelay; tests use it to keep a load running.
        let delay: i64 = setting(config, "key-load-delay").parse().unwrap_or(0);
        let result = rdb::load(
            data,
            store.len(),
            &limits,
            now,
            setting(config, "rdbchecksum") == "yes"
                && !crate::store::rdbstr::SKIP_CHECKSUM.load(Ordering::Relaxed),
            |k| {
                // The lock is let go every 1024 keys, so INFO and the like get through.
                batch += 1;
                if current.as_ref().map(|c| c.0) != Some(k.db) || batch.is_multiple_of(1024) {
                    current = None;
                    current = Some((k.db, store.write(k.db)));
                }
                if delay != 0 {
                    let us = if delay > 0 {
                        delay as u64
                    } else {
                        u64::from(crate::store::rand_u64().is_multiple_of(delay.unsigned_abs()))
                    };
                    if us > 0 {
                        // The lock is not held asleep: other clients' reads get through.
                        current = None;
                        std::thread::sleep(std::time::Duration::from_micros(us));
                        current = Some((k.db, store.write(k.db)));
                    }
                }
                let Some((_, guard)) = current.as_mut() else {
                    return Err("no database".into());
                };
                if let Some(n) = k.db_size {
                    guard.reserve(n);
                }
                let mut db = Db::new(&mut **guard, &op);
                if !merge && db.contains(&k.key) {
                    return Err(format!(
                        "Duplicated key '{}' found in RDB file",
                        String::from_utf8_lossy(&k.key)
                    ));
                }
                k.value.lru().init(limits.access);
                match (limits.access, k.idle, k.freq) {
                    (Access::Lru, Some(idle), _) => k.value.lru().set_idle(idle),
                    (Access::Lfu { .. }, _, Some(f)) => k.value.lru().set_freq(f),
                    _ => {}
                }
                db.insert_entry(
                    &k.key,
                    Entry {
                        value: k.value,
                        expire: k.expire,
                    },
                );
                Ok(())
            },
        );
        drop(current);
        match result {
            Ok(loaded) => {
                log::info!(
                    "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
                    loaded.keys,
                    loaded.expired,
                    loaded.empty
                );
                log::info!(
                    "DB loaded from disk: {:.3} seconds",
                    started.elapsed().as_secs_f64()
                );
                Ok(loaded)
            }
            Err(e) => Err(e),
        }
    }
}

/// Where and how the file is written, read from the settings once.
pub(super) struct Target {
    pub(super) dir: PathBuf,
    file: String,
    opts: SaveOptions,
    checksum: bool,
    key_use: KeyUse,
    access: Access,
    /// `rdb-key-save-delay`: microseconds slept after each key (tests use it to keep a save
    /// running).
    pub(super) key_delay_us: u64,
}

impl Target {
    pub(super) fn of(config: &Config) -> Target {
        let limits = config.limits();
        let policy = setting(config, "maxmemory-policy");
        Target {
            dir: PathBuf::from(setting(config, "dir")),
            file: setting(config, "dbfilename"),
            opts: SaveOptions {
                compress: limits.rdb_compression,
                list_fill: limits.list_fill,
            },
            checksum: setting(config, "rdbchecksum") == "yes",
            key_use: if policy.contains("lfu") {
                KeyUse::Freq
            } else if policy.contains("lru") {
                KeyUse::Idle
            } else {
                KeyUse::None
            },
            access: limits.access,
            key_delay_us: setting(config, "rdb-key-save-delay").parse().unwrap_or(0),
        }
    }
}

pub fn setting(config: &Config, name: &str) -> String {
    lookup(name).map(|d| config.get(d)).unwrap_or_default()
}

/// The save points: (seconds, changes) pairs.
pub fn save_points(config: &Config) -> Vec<(u64, u64)> {
    let v = setting(config, "save");
    let nums: Vec<u64> = v
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// The child's whole life: write, rename, report by exit code.
fn child_main(
    guards: &[crate::store::ReadGuard<'_>],
    target: &Target,
    functions: &[u8],
    channel: Option<super::childinfo::Channel>,
) -> i32 {
    super::child_setup(channel.map(super::childinfo::Channel::into_child));
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let tmp = target.dir.join(format!("temp-{pid}.rdb"));
    match write_file(guards, target, functions, &tmp, false).and_then(|()| install(&tmp, target)) {
        Ok(()) => {
            super::childinfo::finished();
            0
        }
        Err(_) => {
            let _ = std::fs::remove_file(&tmp);
            1
        }
    }
}

/// Writes every database to `tmp` and fsyncs it (`aof_base`: as an append-only file's
/// base, which its `aof-base` aux field says).
pub(super) fn write_file(
    guards: &[crate::store::ReadGuard<'_>],
    target: &Target,
    functions: &[u8],
    tmp: &Path,
    aof_base: bool,
) -> io::Result<()> {
    #[allow(clippy::disallowed_methods)]
    let now = clock::unix_ms();
    let aux = [
        ("redis-ver", crate::REDIS_VERSION.to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", (now / 1000).to_string()),
        ("used-mem", crate::alloc::used_memory().to_string()),
        ("aof-base", u8::from(aof_base).to_string()),
    ];
    let file = File::create(tmp)?;
    let mut w = rdb::Writer::new(
        BufWriter::with_capacity(1 << 20, file),
        target.opts,
        target.checksum,
        &aux,
    );
    w.functions(functions)?;
    let op = Op::new(crate::store::Limits::default());
    for (i, g) in guards.iter().enumerate() {
        let db = Db::new(&**g, &op);
        let (keys, expires) = db.stored_len();
        if keys == 0 {
            continue;
        }
        w.select_db(i, keys, expires)?;
        for (key, e) in db.iter_stored() {
            w.key(key, e, target.key_use, target.access)?;
            super::childinfo::key_written();
            if target.key_delay_us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(target.key_delay_us));
            }
        }
    }
    let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// The keys of every database (what a child will write: INFO `current_save_keys_total`).
pub(super) fn total_keys(guards: &[crate::store::ReadGuard<'_>]) -> u64 {
    let op = Op::new(crate::store::Limits::default());
    guards
        .iter()
        .map(|g| Db::new(&**g, &op).stored_len().0 as u64)
        .sum()
}

/// Renames `tmp` over the target file and fsyncs the directory, so the rename survives a crash.
fn install(tmp: &Path, target: &Target) -> io::Result<()> {
    std::fs::rename(tmp, target.dir.join(&target.file))?;
    File::open(&target.dir)?.sync_all()
}
