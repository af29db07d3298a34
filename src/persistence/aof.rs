//! The append-only file, in Redis 7.0's multi-part layout: in `dir/appenddirname`, a base
//! file (an RDB image, or commands), incremental files of commands, and a manifest naming
//! them.
//!
//! **Records.** Every change reaches the file as a command that redoes it exactly: dispatch
//! records a write command's arguments when it changed something, handlers record what
//! replaying them would not redo (an element handed to a blocked client, an ID chosen by the
//! clock, an absolute expiry for a relative one), and the store records the deletion of
//! expired and evicted keys. Records are appended to one buffer while the database's write
//! lock is held, so the file has them in the order the changes were made; a transaction's or a
//! script's records are kept together and appended as one `MULTI` ... `EXEC` at its end.
//!
//! **Group commit.** Buffered records are written (and, under `appendfsync always`, fsynced)
//! by the connection threads themselves, before a reply that depends on them leaves: the first
//! thread takes the I/O lock and writes everything buffered so far, and the threads that queued
//! behind it meanwhile usually find their records already covered. One `fsync` serves every
//! record that arrived while the previous one ran. Under `everysec` the reply waits only for
//! `write`, and the cron fsyncs once a second; under `no`, the kernel decides. A connection
//! that has read all its input does not sleep through that wait: it [holds](HeldReply) its
//! replies with the group commit's own thread, which sends them once their records are safe,
//! and goes back to reading.
//!
//! **Rewrites** (`BGREWRITEAOF`, the automatic rule, `CONFIG SET appendonly yes`) work like
//! BGSAVE: every database is read-locked, the records so far are written to the current
//! incremental file, a new incremental file takes the records from then on, and a forked
//! child writes the new base. When it succeeds, the manifest is replaced (temporary file,
//! fsync, rename, directory fsync) and the files it no longer names are deleted. A crash at
//! any point leaves a manifest naming files that are all there.

// The I/O clock (fsync every second, rewrite durations) is the file's own, not a command's.
#![allow(clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::snapshot::{self, setting, Target};
use crate::config::Config;
use crate::store::feed::Feed;
use crate::store::Store;

/// Runs one command read from the file (the server's fake client); an error stops the load.
pub type Replayer<'a> = dyn FnMut(&[Vec<u8>]) -> Result<(), String> + 'a;

/// `appendfsync no`: the kernel flushes when it likes.
pub const FSYNC_NO: u8 = 0;
/// `appendfsync always`: a reply leaves after its records are on disk.
pub const FSYNC_ALWAYS: u8 = 1;
/// `appendfsync everysec`: written before the reply, fsynced once a second.
pub const FSYNC_EVERYSEC: u8 = 2;

thread_local! {
    /// Where in the record stream this thread's last record ends (0: none yet): its replies
    /// wait until the stream is written (or fsynced) that far.
    static LAST: Cell<u64> = const { Cell::new(0) };
    /// Records of the transactions or scripts this thread is running, kept together until
    /// the outermost one ends: (database, encoded command).
    static BATCH: RefCell<Batch> = const { RefCell::new(Batch { depth: 0, records: Vec::new() }) };
}

struct Batch {
    depth: u32,
    records: Vec<(usize, Vec<u8>)>,
}

/// Keeps this thread's records together until it is dropped (EXEC, a script): then they are
/// appended as one `MULTI` ... `EXEC` (a lone record as itself). Drop it while the locks the
/// records were made under are still held.
pub struct BatchGuard<'a> {
    aof: &'a Aof,
}

impl Drop for BatchGuard<'_> {
    fn drop(&mut self) {
        let records = BATCH.with(|b| {
            let mut b = b.borrow_mut();
            b.depth = b.depth.saturating_sub(1);
            if b.depth == 0 {
                std::mem::take(&mut b.records)
            } else {
                Vec::new()
            }
        });
        if records.is_empty() {
            return;
        }
        let mut p = self.aof.pending.lock();
        p.annotate(self.aof.timestamps.load(Ordering::Relaxed));
        let wrap = records.len() > 1;
        if wrap {
            // The database first, then MULTI (Redis's order).
            p.select(records[0].0);
            encode(&mut p.bytes, &[b"MULTI"]);
        }
        for (db, cmd) in &records {
            p.select(*db);
            p.bytes.extend_from_slice(cmd);
        }
        if wrap {
            encode(&mut p.bytes, &[b"EXEC"]);
        }
        p.seal();
    }
}

/// Records not yet handed to `write`.
struct Pending {
    bytes: Vec<u8>,
    /// The database the stream's last record ran against (`usize::MAX`: none since the
    /// file was opened, so the next record says which).
    selected: usize,
    /// The stream's length once `bytes` is written: every record's end is a position in it.
    appended: u64,
    /// `appended` before `bytes` (what is written already).
    flushed: u64,
    /// The second of the last `#TS:` annotation.
    last_ts: i64,
}

impl Pending {
    /// A `#TS:` line if the second changed since the last one (`aof-timestamp-enabled`).
    fn annotate(&mut self, on: bool) {
        if !on {
            return;
        }
        let now = crate::store::clock::unix_ms() / 1000;
        if now != self.last_ts {
            self.bytes
                .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            self.last_ts = now;
        }
    }

    fn select(&mut self, db: usize) {
        if self.selected != db {
            let n = db.to_string();
            encode(&mut self.bytes, &[b"SELECT", n.as_bytes()]);
            self.selected = db;
        }
    }

    /// The buffer's end is now a record's end: this thread's replies wait for it.
    fn seal(&mut self) {
        self.appended = self.flushed + self.bytes.len() as u64;
        LAST.with(|l| l.set(self.appended));
    }
}

/// Appends `argv` as a RESP multibulk, the form every record takes.
pub fn encode(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.push(b'*');
    push_int(out, argv.len());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        push_int(out, a.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_int(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// One file the manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub seq: u64,
    /// `b` base, `h` history, `i` incremental.
    pub kind: char,
}

/// The manifest: which files make the data, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<FileInfo>,
    pub incrs: Vec<FileInfo>,
    pub history: Vec<FileInfo>,
    /// The last base and incremental sequence numbers given out: new files continue from
    /// them, whatever the lists hold now (Redis's `curr_base_file_seq`, `curr_incr_file_seq`).
    pub base_seq: u64,
    pub incr_seq: u64,
}

/// C's `atoll`: leading digits (with a sign), 0 if none.
fn atoll(s: &str) -> u64 {
    let t = s.trim_start();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

impl Manifest {
    /// Parses a manifest as Redis's `aofLoadManifestFromFile` does: lines of at most 1024
    /// bytes, `#` comments, no blank line, `key value` pairs (`file`, `seq`, `type`; others
    /// ignored, at least three pairs). An error is the whole fatal message Redis logs.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        const MAX_LINE: usize = 1024;
        let fatal = |line: Option<(usize, &str)>, err: &str| {
            let mut msg = String::from("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
            if let Some((n, l)) = line {
                msg.push_str(&format!(
                    "\nReading the manifest file, at line {n}\n\n>>> '{l}'\n"
                ));
            }
            msg.push_str(&format!("\n{err}\n"));
            msg
        };
        let mut m = Manifest::default();
        if bytes.is_empty() {
            return Err(fatal(None, "Found an empty AOF manifest"));
        }
        let mut rest = bytes;
        let mut linenum = 0;
        let mut maxseq = 0;
        while !rest.is_empty() {
            // fgets: up to MAX_LINE bytes, through a newline if there is one.
            let take = match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
                Some(nl) => nl + 1,
                None => rest.len().min(MAX_LINE),
            };
            let raw = &rest[..take];
            rest = &rest[take..];
            linenum += 1;
            if raw.first() == Some(&b'#') {
                continue;
            }
            let text = String::from_utf8_lossy(raw);
            let line = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            let at = Some((linenum, line));
            if !raw.ends_with(b"\n") {
                return Err(fatal(at, "The AOF manifest file contains too long line"));
            }
            if line.is_empty() {
                return Err(fatal(at, "Invalid AOF manifest file format"));
            }
            let words = crate::protocol::inline::split_args(line.as_bytes())
                .filter(|w| w.len() >= 6 && w.len() % 2 == 0)
                .ok_or_else(|| fatal(at, "Invalid AOF manifest file format"))?;
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for pair in words.chunks(2) {
                let v = String::from_utf8_lossy(&pair[1]).into_owned();
                if pair[0].eq_ignore_ascii_case(b"file") {
                    if v.contains('/') {
                        return Err(fatal(at, "File can't be a path, just a filename"));
                    }
                    name = Some(v);
                } else if pair[0].eq_ignore_ascii_case(b"seq") {
                    seq = atoll(&v);
                } else if pair[0].eq_ignore_ascii_case(b"type") {
                    kind = v.chars().next();
                }
            }
            let (Some(name), true, Some(kind)) = (name, seq != 0, kind) else {
                return Err(fatal(at, "Invalid AOF manifest file format"));
            };
            let info = FileInfo { name, seq, kind };
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err(fatal(at, "Found duplicate base file information"));
                    }
                    m.base_seq = seq;
                    m.base = Some(info);
                }
                'h' => m.history.push(info),
                'i' => {
                    if seq <= maxseq {
                        return Err(fatal(at, "Found a non-monotonic sequence number"));
                    }
                    maxseq = seq;
                    m.incr_seq = seq;
                    m.incrs.push(info)
                }
                _ => return Err(fatal(at, "Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest's text: base, history, then incremental files (Redis's order).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, f: &FileInfo| {
            let name = if f
                .name
                .bytes()
                .any(|b| b <= b' ' || b == b'"' || b == b'\'' || b >= 0x7f)
            {
                crate::config::file::repr(&f.name)
            } else {
                f.name.clone()
            };
            out.push_str(&format!("file {name} seq {} type {}\n", f.seq, f.kind));
        };
        if let Some(b) = &self.base {
            line(&mut out, b);
        }
        for h in &self.history {
            line(&mut out, h);
        }
        for i in &self.incrs {
            line(&mut out, i);
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.base.is_none() && self.incrs.is_empty()
    }
}

/// The file being appended to, and the manifest.
struct Io {
    file: Option<File>,
    /// `dir/appenddirname`.
    dir: PathBuf,
    /// `appendfilename`.
    fname: String,
    manifest: Manifest,
    base_size: u64,
    /// Bytes of the incremental files since the last base.
    incr_size: u64,
    /// The length of the incremental file being appended to: a failed write is cut back
    /// to it.
    cur_len: u64,
    /// The whole size as of the last rewrite (or start): the automatic rule's yardstick.
    rewrite_base_size: u64,
    /// A buffer kept between writes, so the pending one can be swapped out without
    /// allocating.
    spare: Vec<u8>,
}

/// What a rewrite is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BGREWRITEAOF or the automatic rule, with the file on.
    Rewrite,
    /// The file is being switched on: records start at once, and the manifest is written
    /// once the base exists.
    TurnOn,
    /// BGREWRITEAOF with the file off: only a new base, which the manifest then names
    /// alone (Redis does the same).
    BaseOnly,
}

/// A rewrite child running.
struct Child {
    pid: libc::pid_t,
    started: Instant,
    /// The base file it writes, and the first incremental file that follows it.
    base: FileInfo,
    next_incr_seq: u64,
    mode: Mode,
    killed: bool,
}

/// The append-only file of one server.
pub struct Aof {
    /// Records are wanted (`appendonly yes`, or its first base being written).
    on: AtomicBool,
    policy: AtomicU8,
    pending: Mutex<Pending>,
    io: Mutex<Option<Io>>,
    written: AtomicU64,
    durable: AtomicU64,
    /// `aof_last_write_status`, and the error that made it `err`.
    write_ok: AtomicBool,
    write_errno: AtomicI32,
    child: Mutex<Option<Child>>,
    scheduled: AtomicBool,
    rewrites: AtomicU64,
    rewrite_failures: AtomicU64,
    last_rewrite_ok: AtomicBool,
    last_rewrite_secs: AtomicI64,
    last_fsync: Mutex<Instant>,
    /// CONFIG SET appendonly yes inside EXEC: the cron turns it on after.
    turn_on_scheduled: AtomicBool,
    /// `aof-timestamp-enabled`: a `#TS:<unix seconds>` line before the records of each
    /// new second.
    timestamps: AtomicBool,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds slept before each write (tests use it).
    flush_sleep_us: AtomicU64,
    /// `aof-disable-auto-gc`: history files stay after a rewrite.
    keep_history: AtomicBool,
    /// A thread is writing (and fsyncing) for everyone (group commit's leader), and the
    /// threads waiting for it to finish.
    leader: AtomicBool,
    waiters: Mutex<Vec<std::thread::Thread>>,
    /// Replies held for the group commit's thread, which waits on `held_ready`; `syncer`:
    /// that thread was started.
    held: Mutex<Vec<Arc<dyn HeldReply>>>,
    held_ready: Condvar,
    syncer: AtomicBool,
    /// The automatic rewrites' back-off after failures: (minutes, until Unix s).
    limit: Mutex<(i64, i64)>,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            on: AtomicBool::new(false),
            policy: AtomicU8::new(FSYNC_EVERYSEC),
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                selected: usize::MAX,
                appended: 0,
                flushed: 0,
                last_ts: 0,
            }),
            io: Mutex::new(None),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            write_ok: AtomicBool::new(true),
            write_errno: AtomicI32::new(0),
            child: Mutex::new(None),
            scheduled: AtomicBool::new(false),
            rewrites: AtomicU64::new(0),
            rewrite_failures: AtomicU64::new(0),
            last_rewrite_ok: AtomicBool::new(true),
            last_rewrite_secs: AtomicI64::new(-1),
            last_fsync: Mutex::new(Instant::now()),
            turn_on_scheduled: AtomicBool::new(false),
            timestamps: AtomicBool::new(false),
            flush_sleep_us: AtomicU64::new(0),
            keep_history: AtomicBool::new(false),
            leader: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            held_ready: Condvar::new(),
            syncer: AtomicBool::new(false),
            limit: Mutex::new((0, 0)),
        }
    }
}

impl Feed for Aof {
    fn active(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    fn record(&self, db: usize, argv: &[&[u8]]) {
        let batched = BATCH.with(|b| {
            let mut b = b.borrow_mut();
            if b.depth == 0 {
                return false;
            }
            let mut cmd = Vec::new();
            encode(&mut cmd, argv);
            b.records.push((db, cmd));
            true
        });
        if batched {
            return;
        }
        let mut p = self.pending.lock();
        p.annotate(self.timestamps.load(Ordering::Relaxed));
        p.select(db);
        encode(&mut p.bytes, argv);
        p.seal();
    }

    fn sync(&self) {
        self.before_reply();
    }
}

/// A connection's replies held until the records they acknowledge are written (or fsynced):
/// see [`Aof::hold`].
pub trait HeldReply: Send + Sync {
    /// The records are safe up to `done`: sends the replies that waited for no more than
    /// that (and says true), or says false if they wait for more (records added since they
    /// were queued).
    fn release(&self, done: u64) -> bool;
}

/// What loading the files found.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No file to load.
    Nothing,
    /// Loaded; (commands run).
    Done(u64),
}

/// `valid`: where the last whole command ended; `in_multi_from`: where an unfinished MULTI
/// began.
enum Replay {
    Ok,
    /// The file ends inside a command (or transaction): what was whole ends at this offset.
    Truncated(usize),
    Bad(String),
}

impl Aof {
    fn policy_of(config: &Config) -> u8 {
        match setting(config, "appendfsync").as_str() {
            "always" => FSYNC_ALWAYS,
            "no" => FSYNC_NO,
            _ => FSYNC_EVERYSEC,
        }
    }

    /// Takes `appendfsync` again (after CONFIG SET).
    pub fn refresh(&self, config: &Config) {
        self.policy
            .store(Self::policy_of(config), Ordering::Relaxed);
        self.timestamps.store(
            setting(config, "aof-timestamp-enabled") == "yes",
            Ordering::Relaxed,
        );
        let keep = setting(config, "aof-disable-auto-gc") == "yes";
        // Turned back on: the history kept meanwhile goes (Redis's updateAofAutoGCEnabled).
        if !keep && self.keep_history.swap(keep, Ordering::Relaxed) {
            if let Some(io) = self.io.lock().as_mut() {
                del_history(&io.dir, &io.fname, &mut io.manifest);
            }
        }
        self.keep_history.store(keep, Ordering::Relaxed);
    }

    /// DEBUG AOF-FLUSH-SLEEP.
    pub fn set_flush_sleep(&self, us: u64) {
        self.flush_sleep_us.store(us, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Is a rewrite child running?
    pub fn rewriting(&self) -> bool {
        self.child.lock().is_some()
    }

    /// Writes are refused with MISCONF: the last write to the file failed.
    pub fn refuses_writes(&self) -> Option<String> {
        if self.write_ok.load(Ordering::Relaxed) || !self.is_on() {
            return None;
        }
        let e = io::Error::from_raw_os_error(self.write_errno.load(Ordering::Relaxed));
        Some(format!(
            "MISCONF Errors writing to the AOF file: {}",
            strerror(&e)
        ))
    }

    /// Before this thread's replies leave: its records are written (and fsynced under
    /// `always`), by this thread or one that got there first.
    pub fn before_reply(&self) {
        let last = LAST.with(Cell::get);
        if last == 0 {
            return;
        }
        self.wait_for(last);
        LAST.with(|l| {
            if l.get() == last {
                l.set(0);
            }
        });
    }

    /// Where this thread's records end, if the policy's wait for them is not over yet
    /// (written, or fsynced under `always`): a reply that acknowledges them may be
    /// [held](HeldReply) instead of waited for. `None`: it may leave now.
    pub fn unsafe_mark(&self) -> Option<u64> {
        let last = LAST.with(Cell::get);
        if last == 0 || !self.is_on() {
            return None;
        }
        let done = if self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS {
            &self.durable
        } else {
            &self.written
        };
        (done.load(Ordering::Acquire) < last).then_some(last)
    }

    /// Under `everysec` and `no`, writes what is buffered now if no other thread is writing
    /// (a `write` into the page cache is short): true if this thread's records are written,
    /// so its replies may leave without being held.
    pub fn try_write(&self, mark: u64) -> bool {
        if self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS {
            return false;
        }
        let Some(mut io) = self.io.try_lock() else {
            return false;
        };
        match io.as_mut() {
            Some(io) => {
                self.flush_locked(io, false) && self.written.load(Ordering::Acquire) >= mark
            }
            None => true,
        }
    }

    /// This thread's replies so far are [held](HeldReply): its next ones wait only for
    /// records it adds from now on.
    pub fn clear_mark(&self) {
        LAST.with(|l| l.set(0));
    }

    /// Queues a reply held until the records it acknowledges are safe. The group commit's
    /// own thread (started here the first time) writes and fsyncs what is buffered, then
    /// [releases](HeldReply::release) every reply it covered: the connection threads go
    /// straight back to reading instead of sleeping through the fsync, so a request costs
    /// one thread switch, not two, and one `fsync` covers everything that came meanwhile.
    pub fn hold(self: &Arc<Self>, reply: Arc<dyn HeldReply>) {
        self.held.lock().push(reply);
        self.held_ready.notify_one();
        if !self.syncer.swap(true, Ordering::AcqRel) {
            let aof = Arc::clone(self);
            let spawned = std::thread::Builder::new().spawn(move || {
                crate::os::set_thread_name(c"aof-sync");
                aof.release_loop();
            });
            if let Err(e) = spawned {
                // Without the thread, the held replies are released here, at once after a
                // write (and fsync) of their own.
                log::warn!("Can't start the AOF sync thread: {e}");
                self.syncer.store(false, Ordering::Release);
                self.release_round(std::mem::take(&mut *self.held.lock()));
            }
        }
    }

    fn release_loop(&self) {
        loop {
            let batch = {
                let mut q = self.held.lock();
                while q.is_empty() {
                    self.held_ready.wait(&mut q);
                }
                std::mem::take(&mut *q)
            };
            self.release_round(batch);
        }
    }

    /// One round of the group commit for held replies: write (and fsync) everything
    /// buffered, then release what that covered. A reply whose client added records after
    /// the write goes back in the queue for the next round.
    fn release_round(&self, mut batch: Vec<Arc<dyn HeldReply>>) {
        let always = self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS;
        if always {
            self.gather();
        }
        let outcome = {
            let mut io = self.io.lock();
            io.as_mut().map(|io| self.flush_locked(io, always))
        };
        // Held meanwhile: this round's write may have covered them too.
        batch.append(&mut self.held.lock());
        // A failed write (`everysec`, `no`) lets the replies go, as Redis's do; no file (turned
        // off meanwhile) leaves nothing to wait for.
        let done = match outcome {
            Some(true) if always => self.durable.load(Ordering::Acquire),
            Some(true) => self.written.load(Ordering::Acquire),
            _ => u64::MAX,
        };
        batch.retain(|r| !r.release(done));
        if !batch.is_empty() {
            self.held.lock().append(&mut batch);
        }
    }

    /// Waits until the record stream is written (or fsynced under `always`) up to `last`,
    /// leading the group commit when no other thread does.
    pub fn wait_for(&self, last: u64) {
        if !self.is_on() {
            return;
        }
        let always = self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS;
        let done = if always { &self.durable } else { &self.written };
        if done.load(Ordering::Acquire) >= last {
            return;
        }
        // Group commit. One thread at a time leads: it writes (and fsyncs) everything
        // buffered so far, then unparks every thread that waited meanwhile, each straight
        // back to work (no lock to take in turn); those its flush covered go on, and one of
        // the rest leads the next flush, which covers whatever arrived meanwhile. A failed
        // write leaves the records buffered and the reply goes, as Redis's does; later
        // writes are refused until the disk works again.
        loop {
            if done.load(Ordering::Acquire) >= last {
                return;
            }
            if self
                .leader
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                if always {
                    self.gather();
                }
                let outcome = {
                    let mut io = self.io.lock();
                    io.as_mut().map(|io| self.flush_locked(io, always))
                };
                self.leader.store(false, Ordering::Release);
                for w in std::mem::take(&mut *self.waiters.lock()) {
                    w.unpark();
                }
                // No file (turned off meanwhile), or a failed write: nothing to wait for.
                if outcome != Some(true) {
                    return;
                }
                continue;
            }
            self.waiters.lock().push(std::thread::current());
            // The leader may have finished before this thread was listed.
            if done.load(Ordering::Acquire) >= last || !self.leader.load(Ordering::Acquire) {
                continue;
            }
            std::thread::park();
        }
    }

    /// Before an fsync: lets the threads that are about to add records run first, as long
    /// as records keep coming (a few yields at most), so one fsync covers them too (Redis
    /// gets the same from running every ready client before its fsync).
    fn gather(&self) {
        let mut seen = self.pending.lock().bytes.len();
        for _ in 0..8 {
            std::thread::yield_now();
            let now = self.pending.lock().bytes.len();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// Writes what is buffered (and fsyncs it if `fsync`); false if the write failed.
    fn flush(&self, fsync: bool) -> bool {
        let mut io = self.io.lock();
        let Some(io) = io.as_mut() else {
            return true;
        };
        self.flush_locked(io, fsync)
    }

    fn flush_locked(&self, io: &mut Io, fsync: bool) -> bool {
        let (mut bytes, end) = {
            let mut p = self.pending.lock();
            let mut spare = std::mem::take(&mut io.spare);
            spare.clear();
            let bytes = std::mem::replace(&mut p.bytes, spare);
            p.flushed = p.appended;
            (bytes, p.appended)
        };
        let Some(file) = io.file.as_mut() else {
            return true;
        };
        if !bytes.is_empty() {
            let sleep = self.flush_sleep_us.load(Ordering::Relaxed);
            if sleep > 0 {
                std::thread::sleep(std::time::Duration::from_micros(sleep));
            }
            if let Err(e) = crate::latency::measure("aof-write", || file.write_all(&bytes)) {
                // Nothing half-written stays: the file is cut back to its last whole record
                // and the records wait in the buffer for the next try.
                let _ = file.set_len(io.cur_len);
                let mut p = self.pending.lock();
                bytes.extend_from_slice(&p.bytes);
                p.bytes = bytes;
                p.flushed = p.appended - p.bytes.len() as u64;
                drop(p);
                self.write_failed(&e);
                return false;
            }
            io.incr_size += bytes.len() as u64;
            io.cur_len += bytes.len() as u64;
            bytes.clear();
            io.spare = bytes;
        }
        self.written.fetch_max(end, Ordering::Release);
        if !self.write_ok.load(Ordering::Relaxed) {
            log::warn!("AOF write error looks solved, Redis can write again.");
            self.write_ok.store(true, Ordering::Relaxed);
        }
        if fsync {
            let synced = if self.fsync_always() {
                crate::latency::measure("aof-fsync-always", || file.sync_data())
            } else {
                file.sync_data()
            };
            if let Err(e) = synced {
                log::warn!("Can't persist the AOF file: fsync: {}", strerror(&e));
                self.write_failed(&e);
                return false;
            }
            self.durable.fetch_max(end, Ordering::Release);
            *self.last_fsync.lock() = Instant::now();
        }
        true
    }

    /// Bytes of records waiting to be written (INFO `mem_aof_buffer`).
    pub fn buffered(&self) -> usize {
        self.pending.lock().bytes.len()
    }

    /// Is `appendfsync always` in force (LATENCY DOCTOR's advice)?
    pub fn fsync_always(&self) -> bool {
        self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS
    }

    fn write_failed(&self, e: &io::Error) {
        if self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS {
            log::warn!(
                "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
            );
            std::process::exit(1);
        }
        if self.write_ok.swap(false, Ordering::Relaxed) {
            log::warn!("Error writing to the AOF file: {}", strerror(e));
        }
        self.write_errno
            .store(e.raw_os_error().unwrap_or(libc::EIO), Ordering::Relaxed);
    }

    /// The cron's part, several times a second: `everysec`'s fsync, retries after a failed
    /// write, a scheduled or automatic rewrite.
    /// `bgsave`: a BGSAVE child runs (one child at a time: rewrites wait for it).
    pub fn cron(
        self: &Arc<Self>,
        store: &Store,
        config: &Config,
        bgsave: bool,
        functions: impl Fn() -> Vec<u8>,
    ) {
        if !bgsave && self.turn_on_scheduled.swap(false, Ordering::Relaxed) {
            if let Err(e) = self.turn_on(store, config, &functions()) {
                log::warn!("Can't turn the append-only file on: {e}");
            }
        }
        if self.is_on() {
            let policy = self.policy.load(Ordering::Relaxed);
            let due = self.last_fsync.lock().elapsed().as_millis() >= 1000;
            if policy == FSYNC_EVERYSEC && due {
                self.flush(true);
            } else if policy == FSYNC_NO || !self.write_ok.load(Ordering::Relaxed) {
                self.flush(false);
            }
        }
        if bgsave || self.rewriting() {
            return;
        }
        let scheduled = self.scheduled.load(Ordering::Relaxed);
        let auto = self.is_on() && self.auto_rewrite_due(config) && !self.rewrite_limited();
        if scheduled || auto {
            if auto {
                let io = self.io.lock();
                if let Some(io) = io.as_ref() {
                    let size = io.base_size + io.incr_size;
                    let growth = (size * 100)
                        .checked_div(io.rewrite_base_size.max(1))
                        .unwrap_or(0)
                        .saturating_sub(100);
                    log::info!("Starting automatic rewriting of AOF on {growth}% growth");
                }
            }
            self.scheduled.store(false, Ordering::Relaxed);
            let mode = if self.is_on() {
                Mode::Rewrite
            } else {
                Mode::BaseOnly
            };
            if let Err(e) = self.rewrite(store, config, &functions(), mode) {
                log::warn!("Background AOF rewrite failed to start: {e}");
            }
        }
    }

    /// After 3 failed rewrites in a row, automatic ones wait 1 minute, then 2, 4, ... up
    /// to an hour (Redis's `aofRewriteLimited`).
    fn rewrite_limited(&self) -> bool {
        let mut l = self.limit.lock();
        if self.rewrite_failures.load(Ordering::Relaxed) < 3 {
            *l = (0, 0);
            return false;
        }
        let now = crate::store::clock::unix_ms() / 1000;
        if l.1 != 0 {
            if now < l.1 {
                return true;
            }
            l.1 = 0;
            return false;
        }
        l.0 = if l.0 == 0 { 1 } else { (l.0 * 2).min(60) };
        l.1 = now + l.0 * 60;
        log::warn!(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
            l.0
        );
        true
    }

    fn auto_rewrite_due(&self, config: &Config) -> bool {
        let pct: u64 = setting(config, "auto-aof-rewrite-percentage")
            .parse()
            .unwrap_or(0);
        let min: u64 = setting(config, "auto-aof-rewrite-min-size")
            .parse()
            .unwrap_or(0);
        if pct == 0 {
            return false;
        }
        let io = self.io.lock();
        let Some(io) = io.as_ref() else {
            return false;
        };
        let size = io.base_size + io.incr_size;
        let base = io.rewrite_base_size.max(1);
        size > min && (size - base.min(size)) * 100 / base >= pct
    }

    /// CONFIG SET appendonly yes inside EXEC: done by the cron once the transaction ends.
    pub fn schedule_turn_on(&self) {
        self.turn_on_scheduled.store(true, Ordering::Relaxed);
    }

    /// BGREWRITEAOF while a BGSAVE runs: done when it ends.
    pub fn schedule(&self) {
        self.scheduled.store(true, Ordering::Relaxed);
    }

    pub fn is_scheduled(&self) -> bool {
        self.scheduled.load(Ordering::Relaxed) || self.turn_on_scheduled.load(Ordering::Relaxed)
    }

    /// Starts a rewrite: a child writes a new base of the data as it is now, and the records
    /// from now on go to a new incremental file. `turn_on`: the file is being switched on
    /// (CONFIG SET appendonly yes): records start now, and the manifest is written once the
    /// base exists.
    pub fn rewrite(
        self: &Arc<Self>,
        store: &Store,
        config: &Config,
        functions: &[u8],
        mode: Mode,
    ) -> Result<(), String> {
        let guards = store.read_all();
        let child = self.child.lock();
        if child.is_some() {
            return Err("ERR Background append only file rewriting already in progress".into());
        }
        let mut io_slot = self.io.lock();
        if mode != Mode::Rewrite && io_slot.is_none() {
            *io_slot = Some(Io::open_dir(config)?);
        }
        let Some(io) = io_slot.as_mut() else {
            return Err("ERR the append-only file is off".into());
        };
        // Everything recorded so far belongs to the files the new base replaces.
        if io.file.is_some() && !self.flush_locked(io, true) {
            return Err("ERR Can't write the AOF buffer before the rewrite".into());
        }
        let base_seq = io.manifest.base_seq + 1;
        let next_incr_seq = io.manifest.incr_seq + 1;
        let preamble = setting(config, "aof-use-rdb-preamble") == "yes";
        let base = FileInfo {
            name: format!(
                "{}.{base_seq}.base.{}",
                io.fname,
                if preamble { "rdb" } else { "aof" }
            ),
            seq: base_seq,
            kind: 'b',
        };
        let channel = super::childinfo::Channel::open(snapshot::total_keys(&guards));
        let started = Instant::now();
        let target = Target::of(config);
        let dir = io.dir.clone();
        let timestamps = self.timestamps.load(Ordering::Relaxed);
        // SAFETY: as BGSAVE's fork (see `snapshot`): the child only writes a file through
        // memory it inherited and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            std::panic::set_hook(Box::new(|_| {
                // SAFETY: leaves the child at once.
                unsafe { libc::_exit(1) }
            }));
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                super::child_setup(channel.map(super::childinfo::Channel::into_child));
                // SAFETY: getpid has no preconditions.
                let me = unsafe { libc::getpid() };
                let tmp = dir.join(format!("temp-rewriteaof-bg-{me}.aof"));
                let written = if preamble {
                    snapshot::write_file(&guards, &target, functions, &tmp, true)
                } else {
                    write_commands(&guards, functions, &tmp, timestamps, target.key_delay_us)
                };
                match written {
                    Ok(()) => {
                        super::childinfo::finished();
                        0
                    }
                    Err(_) => {
                        let _ = std::fs::remove_file(&tmp);
                        1
                    }
                }
            }))
            .unwrap_or(1);
            // SAFETY: ends the child without the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let reports = channel.map(super::childinfo::Channel::into_parent);
        if pid < 0 {
            super::childinfo::reset();
            let e = io::Error::last_os_error();
            return Err(format!(
                "ERR Can't rewrite append only file in background: fork: {e}"
            ));
        }
        super::forked(started.elapsed().as_micros() as u64);
        let mut child = child;
        // With the file off (a base alone), no records and no incremental file: the
        // manifest is written once the base is in place.
        if mode != Mode::BaseOnly {
            // Records from now on go to a new incremental file; while the file is being
            // turned on, to a temporary one the manifest names only once the base exists.
            let incr = FileInfo {
                name: if mode == Mode::TurnOn {
                    temp_incr_name(&io.fname)
                } else {
                    format!("{}.{next_incr_seq}.incr.aof", io.fname)
                },
                seq: next_incr_seq,
                kind: 'i',
            };
            let opened = OpenOptions::new()
                .create(true)
                .append(true)
                .open(io.dir.join(&incr.name));
            let file = match opened {
                Ok(f) => f,
                Err(e) => {
                    // SAFETY: our own child.
                    unsafe {
                        libc::kill(pid, libc::SIGUSR1);
                    }
                    super::reap(pid);
                    super::childinfo::reset();
                    return Err(format!(
                        "ERR Can't open the append-only file {}: {e}",
                        incr.name
                    ));
                }
            };
            io.cur_len = 0;
            io.file = Some(file);
            if mode == Mode::Rewrite {
                io.manifest.incrs.push(incr);
                io.manifest.incr_seq = next_incr_seq;
                if let Err(e) = persist_manifest(&io.dir, &io.fname, &io.manifest) {
                    log::warn!("Can't persist the AOF manifest: {e}");
                }
            }
            {
                let mut p = self.pending.lock();
                p.selected = usize::MAX;
                p.last_ts = 0;
                if mode == Mode::TurnOn {
                    // Records left from before (a start that failed) are in the new base.
                    p.bytes.clear();
                    p.flushed = p.appended;
                }
            }
            if mode == Mode::TurnOn {
                self.on.store(true, Ordering::Relaxed);
            }
        }
        drop(io_slot);
        drop(guards);
        log::info!("Background append only file rewriting started by pid {pid}");
        *child = Some(Child {
            pid,
            started,
            base,
            next_incr_seq,
            mode,
            killed: false,
        });
        drop(child);
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("spindle-aofrw".into())
            .spawn(move || me.wait_child(pid, reports));
        if let Err(e) = spawned {
            log::warn!("cannot start the rewrite waiter: {e}");
        }
        Ok(())
    }

    /// Waits for the rewrite child `pid` and installs its base if it succeeded.
    fn wait_child(&self, pid: libc::pid_t, reports: Option<super::childinfo::Receiver>) {
        // Its reports until it exits (and closes the pipe).
        if let Some(reports) = reports {
            reports.drain(super::childinfo::Kind::Aof);
        }
        let (r, status) = super::reap(pid);
        let mut slot = self.child.lock();
        if slot.as_ref().map(|c| c.pid) != Some(pid) {
            return;
        }
        let Some(child) = slot.take() else {
            return;
        };
        self.last_rewrite_secs
            .store(child.started.elapsed().as_secs() as i64, Ordering::Relaxed);
        let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        // The file's lock before the child slot is let go: no other rewrite starts until
        // this one is installed.
        let mut io_slot = self.io.lock();
        drop(slot);
        let Some(io) = io_slot.as_mut() else {
            return;
        };
        let tmp = io.dir.join(format!("temp-rewriteaof-bg-{pid}.aof"));
        if !ok {
            let _ = std::fs::remove_file(&tmp);
            if child.killed
                || (libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGUSR1)
            {
                log::warn!(
                    "Background AOF rewrite terminated by signal {}",
                    libc::WTERMSIG(status)
                );
            } else {
                log::warn!("Background AOF rewrite terminated with error");
                self.last_rewrite_ok.store(false, Ordering::Relaxed);
                self.rewrite_failures.fetch_add(1, Ordering::Relaxed);
            }
            if child.mode == Mode::TurnOn {
                // The file never came to be: the temporary incremental file goes, and the
                // cron tries again (its base will hold everything written meanwhile).
                log::info!(
                    "Removing the temp incr aof file {} in the background",
                    temp_incr_name(&io.fname)
                );
                let _ = std::fs::remove_file(io.dir.join(temp_incr_name(&io.fname)));
                self.on.store(false, Ordering::Relaxed);
                {
                    let mut p = self.pending.lock();
                    p.bytes.clear();
                    p.flushed = p.appended;
                }
                if !child.killed {
                    self.turn_on_scheduled.store(true, Ordering::Relaxed);
                }
            }
            if child.mode != Mode::Rewrite {
                io.file = None;
                *io_slot = None;
            }
            return;
        }
        let installed = std::fs::rename(&tmp, io.dir.join(&child.base.name))
            .and_then(|()| File::open(&io.dir)?.sync_all());
        if let Err(e) = installed {
            log::warn!("Error trying to rename the temporary AOF base file: {e}");
            self.last_rewrite_ok.store(false, Ordering::Relaxed);
            self.rewrite_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut m = io.manifest.clone();
        if child.mode == Mode::TurnOn {
            // The temporary incremental file becomes the first one the manifest names.
            let incr = FileInfo {
                name: format!("{}.{}.incr.aof", io.fname, child.next_incr_seq),
                seq: child.next_incr_seq,
                kind: 'i',
            };
            if let Err(e) = std::fs::rename(
                io.dir.join(temp_incr_name(&io.fname)),
                io.dir.join(&incr.name),
            ) {
                log::warn!("Error trying to rename the temporary AOF incr file: {e}");
                self.last_rewrite_ok.store(false, Ordering::Relaxed);
                return;
            }
            m.incrs.push(incr);
            m.incr_seq = child.next_incr_seq;
        }
        let (old, keep): (Vec<_>, Vec<_>) = m.incrs.drain(..).partition(|i| match child.mode {
            Mode::BaseOnly => true,
            _ => i.seq < child.next_incr_seq,
        });
        if child.mode == Mode::BaseOnly {
            m.incr_seq = 0;
        }
        m.base_seq = child.base.seq;
        // History, newest first, as Redis lists it: the replaced incremental files (in
        // order), then the replaced base, then what was history already.
        let mut history: Vec<FileInfo> = old
            .into_iter()
            .map(|mut i| {
                i.kind = 'h';
                i
            })
            .collect();
        if let Some(mut b) = m.base.take() {
            b.kind = 'h';
            history.push(b);
        }
        history.append(&mut m.history);
        m.history = history;
        m.incrs = keep;
        m.base = Some(child.base.clone());
        if let Err(e) = persist_manifest(&io.dir, &io.fname, &m) {
            log::warn!("Can't persist the AOF manifest after the rewrite: {e}");
            self.last_rewrite_ok.store(false, Ordering::Relaxed);
            return;
        }
        // The files the manifest no longer needs, then the manifest without them (Redis's
        // aofDelHistoryFiles), unless `aof-disable-auto-gc` keeps them.
        if !self.keep_history.load(Ordering::Relaxed) {
            del_history(&io.dir, &io.fname, &mut m);
        }
        io.manifest = m;
        io.base_size = file_size(&io.dir.join(&child.base.name));
        io.incr_size = io
            .manifest
            .incrs
            .iter()
            .map(|i| file_size(&io.dir.join(&i.name)))
            .sum();
        io.rewrite_base_size = io.base_size + io.incr_size;
        self.rewrites.fetch_add(1, Ordering::Relaxed);
        self.rewrite_failures.store(0, Ordering::Relaxed);
        self.last_rewrite_ok.store(true, Ordering::Relaxed);
        log::info!("Background AOF rewrite terminated with success");
        log::info!("Background AOF rewrite finished successfully");
        if child.mode == Mode::BaseOnly {
            *io_slot = None;
        }
        drop(io_slot);
    }

    /// Kills a running rewrite (appendonly no, SHUTDOWN); returns once it is gone.
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
            log::info!("Killing running AOF rewrite child: {}", c.pid);
            // SAFETY: signals our own child.
            unsafe { libc::kill(c.pid, libc::SIGUSR1) };
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while self.rewriting() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// `appendonly yes` while running: a base of the data as it is now is written, and
    /// records start at once.
    pub fn turn_on(
        self: &Arc<Self>,
        store: &Store,
        config: &Config,
        functions: &[u8],
    ) -> Result<(), String> {
        self.refresh(config);
        if self.is_on() {
            return Ok(());
        }
        if self.rewriting() {
            // A rewrite that is not ours is abandoned (Redis's startAppendOnly).
            self.kill_child();
        }
        self.rewrite(store, config, functions, Mode::TurnOn)
    }

    /// `appendonly no`: what is buffered is written and fsynced, and the file closed.
    pub fn turn_off(&self) {
        if !self.is_on() {
            return;
        }
        self.kill_child();
        let mut io = self.io.lock();
        if let Some(i) = io.as_mut() {
            self.flush_locked(i, true);
        }
        self.on.store(false, Ordering::Relaxed);
        *io = None;
        let mut p = self.pending.lock();
        p.bytes.clear();
        p.selected = usize::MAX;
        p.flushed = p.appended;
    }

    /// At exit (SHUTDOWN, SIGTERM): everything buffered goes to disk.
    pub fn flush_all(&self) {
        self.kill_child();
        if self.is_on() {
            self.flush(true);
        }
    }

    /// INFO's persistence fields about the file.
    pub fn info(&self) -> String {
        let child = self.child.lock();
        let mut out = format!(
            "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\n\
             aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
             aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\n\
             aof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\n\
             aof_last_cow_size:{}\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
            u8::from(self.is_on()),
            u8::from(child.is_some()),
            u8::from(self.is_scheduled()),
            self.last_rewrite_secs.load(Ordering::Relaxed),
            child
                .as_ref()
                .map_or(-1, |c| c.started.elapsed().as_secs() as i64),
            ok_err(self.last_rewrite_ok.load(Ordering::Relaxed)),
            self.rewrites.load(Ordering::Relaxed),
            self.rewrite_failures.load(Ordering::Relaxed),
            ok_err(self.write_ok.load(Ordering::Relaxed)),
            super::childinfo::last_cow(super::childinfo::Kind::Aof),
        );
        drop(child);
        if self.is_on() {
            let io = self.io.lock();
            let (cur, base) = io
                .as_ref()
                .map_or((0, 0), |i| (i.base_size + i.incr_size, i.rewrite_base_size));
            let buffered = self.pending.lock().bytes.len();
            out.push_str(&format!(
                "aof_current_size:{cur}\r\naof_base_size:{base}\r\naof_pending_rewrite:{}\r\n\
                 aof_buffer_length:{buffered}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                u8::from(self.is_scheduled()),
            ));
        }
        out
    }

    /// Keeps this thread's records together until the guard is dropped (EXEC, scripts).
    pub fn batch(&self) -> BatchGuard<'_> {
        BATCH.with(|b| b.borrow_mut().depth += 1);
        BatchGuard { aof: self }
    }

    /// Loads the files of `dir/appenddirname` (or an old single `appendfilename` in `dir`,
    /// which becomes the base of a new directory), running each command through `run`;
    /// then opens the file for appending, writing a first base if there was nothing, and
    /// starts recording. An error is fatal: the caller logs it and exits.
    pub fn start(
        &self,
        store: &Store,
        config: &Config,
        functions: &[u8],
        mut load_rdb: impl FnMut(&[u8]) -> Result<usize, String>,
        run: &mut Replayer<'_>,
    ) -> Result<Loaded, String> {
        self.refresh(config);
        let mut io = Io::open_dir(config)?;
        upgrade(&mut io, config)?;
        let loaded = load_files(&io, config, &mut load_rdb, run)?;
        if io.manifest.is_empty() {
            // Nothing to load: a first base is written now (Redis does the same).
            let guards = store.read_all();
            let preamble = setting(config, "aof-use-rdb-preamble") == "yes";
            let base = FileInfo {
                name: format!(
                    "{}.1.base.{}",
                    io.fname,
                    if preamble { "rdb" } else { "aof" }
                ),
                seq: 1,
                kind: 'b',
            };
            let tmp = io
                .dir
                .join(format!("temp-rewriteaof-{}.aof", std::process::id()));
            let written = if preamble {
                snapshot::write_file(&guards, &Target::of(config), functions, &tmp, true)
            } else {
                write_commands(
                    &guards,
                    functions,
                    &tmp,
                    self.timestamps.load(Ordering::Relaxed),
                    0,
                )
            };
            drop(guards);
            written
                .and_then(|()| std::fs::rename(&tmp, io.dir.join(&base.name)))
                .map_err(|e| format!("Can't create the AOF base file {}: {e}", base.name))?;
            log::info!("Creating AOF base file {} on server start", base.name);
            io.manifest.base_seq = base.seq;
            io.manifest.base = Some(base);
        }
        if io.manifest.incrs.is_empty() {
            let seq = io.manifest.incr_seq + 1;
            io.manifest.incr_seq = seq;
            io.manifest.incrs.push(FileInfo {
                name: format!("{}.{seq}.incr.aof", io.fname),
                seq,
                kind: 'i',
            });
            log::info!(
                "Creating AOF incr file {} on server start",
                io.manifest.incrs[0].name
            );
        }
        let last = io
            .manifest
            .incrs
            .last()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(io.dir.join(&last))
            .map_err(|e| format!("Can't open the append-only file {last}: {e}"))?;
        io.cur_len = file.metadata().map_or(0, |m| m.len());
        io.file = Some(file);
        // Files an interrupted rewrite left named as history are deleted (unless
        // `aof-disable-auto-gc`), then the manifest names what is there.
        if setting(config, "aof-disable-auto-gc") != "yes" {
            for h in std::mem::take(&mut io.manifest.history) {
                log::info!("Removing the history file {} in the background", h.name);
                let _ = std::fs::remove_file(io.dir.join(&h.name));
            }
        }
        persist_manifest(&io.dir, &io.fname, &io.manifest)
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
        io.base_size = io
            .manifest
            .base
            .as_ref()
            .map_or(0, |b| file_size(&io.dir.join(&b.name)));
        io.incr_size = io
            .manifest
            .incrs
            .iter()
            .map(|i| file_size(&io.dir.join(&i.name)))
            .sum();
        io.rewrite_base_size = io.base_size + io.incr_size;
        *self.io.lock() = Some(io);
        self.on.store(true, Ordering::Relaxed);
        Ok(loaded)
    }

    /// DEBUG LOADAOF: what is buffered is written and fsynced, then the files are read back
    /// (into a store the caller emptied), recording nothing meanwhile.
    pub fn reload(
        &self,
        config: &Config,
        mut load_rdb: impl FnMut(&[u8]) -> Result<usize, String>,
        run: &mut Replayer<'_>,
    ) -> Result<(), String> {
        let was_on = self.is_on();
        if was_on {
            self.flush(true);
        }
        self.on.store(false, Ordering::Relaxed);
        // A rewrite that has just ended installs its base and manifest under the file's lock,
        // taken before it lets INFO show it over: wait for that, or the files read here would
        // be the ones it replaces.
        drop(self.io.lock());
        let io = Io::open_dir(config);
        let out = io.and_then(|io| load_files(&io, config, &mut load_rdb, run));
        self.on.store(was_on, Ordering::Relaxed);
        out.map(|_| ())
    }
}

/// The incremental file records go to while the file is being turned on.
fn temp_incr_name(fname: &str) -> String {
    format!("temp-{fname}.incr")
}

fn ok_err(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "err"
    }
}

fn strerror(e: &io::Error) -> String {
    // Redis prints strerror's text: Rust's adds " (os error N)".
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

impl Io {
    /// Reads the manifest of `dir/appenddirname`, creating the directory if missing.
    fn open_dir(config: &Config) -> Result<Io, String> {
        let dir = PathBuf::from(setting(config, "dir")).join(setting(config, "appenddirname"));
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "Can't open or create append-only dir {}: {e}",
                setting(config, "appenddirname")
            )
        })?;
        let fname = setting(config, "appendfilename");
        let manifest = read_manifest(&dir, &fname)?;
        Ok(Io {
            file: None,
            dir,
            fname,
            manifest,
            base_size: 0,
            incr_size: 0,
            cur_len: 0,
            rewrite_base_size: 0,
            spare: Vec::new(),
        })
    }
}

/// An append-only file from before Redis 7 (`dir/appendfilename`, no manifest) becomes the
/// base of the directory, moved there under its own name (Redis's `aofUpgradePrepare`).
fn upgrade(io: &mut Io, config: &Config) -> Result<(), String> {
    let old = PathBuf::from(setting(config, "dir")).join(&io.fname);
    // Redis's three cases: no directory or no manifest (nothing listed), or an upgrade
    // interrupted after the manifest was written but before the file was moved.
    let interrupted = io.manifest.incrs.is_empty()
        && io
            .manifest
            .base
            .as_ref()
            .is_some_and(|b| b.name == io.fname)
        && !io.dir.join(&io.fname).exists();
    if !old.is_file() || !(io.manifest.is_empty() || interrupted) {
        return Ok(());
    }
    let base = FileInfo {
        name: io.fname.clone(),
        seq: 1,
        kind: 'b',
    };
    let mut m = io.manifest.clone();
    m.base = Some(base);
    m.base_seq = 1;
    // The manifest first, then the move: an interruption between them is the third case.
    persist_manifest(&io.dir, &io.fname, &m)
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    std::fs::rename(&old, io.dir.join(&io.fname)).map_err(|e| {
        format!(
            "Error trying to move the old AOF file {} into dir {}: {e}",
            io.fname,
            setting(config, "appenddirname")
        )
    })?;
    log::info!(
        "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
        io.fname,
        setting(config, "appenddirname")
    );
    io.manifest = m;
    Ok(())
}

/// Deletes the history files and writes the manifest without them.
fn del_history(dir: &Path, fname: &str, m: &mut Manifest) {
    if m.history.is_empty() {
        return;
    }
    for h in m.history.drain(..) {
        log::info!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(dir.join(&h.name));
    }
    if let Err(e) = persist_manifest(dir, fname, m) {
        log::warn!("Can't persist the AOF manifest: {e}");
    }
}

fn read_manifest(dir: &Path, fname: &str) -> Result<Manifest, String> {
    let path = dir.join(format!("{fname}.manifest"));
    match std::fs::read(&path) {
        Ok(bytes) => Manifest::parse(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(format!("Fail to open AOF manifest {}: {e}", path.display())),
    }
}

/// Writes the manifest to a temporary file, fsyncs it, renames it over the manifest and
/// fsyncs the directory.
fn persist_manifest(dir: &Path, fname: &str, m: &Manifest) -> io::Result<()> {
    let tmp = dir.join(format!("temp-{fname}.manifest"));
    let mut f = File::create(&tmp)?;
    f.write_all(m.render().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(format!("{fname}.manifest")))?;
    File::open(dir)?.sync_all()
}

/// Loads every file the manifest names, in order. An old-style single file in `dir` with no
/// manifest becomes the base of the directory (Redis's upgrade).
fn load_files(
    io: &Io,
    config: &Config,
    load_rdb: &mut dyn FnMut(&[u8]) -> Result<usize, String>,
    run: &mut Replayer<'_>,
) -> Result<Loaded, String> {
    let truncated_ok = setting(config, "aof-load-truncated") == "yes";
    let mut files: Vec<(String, bool)> = Vec::new();
    if let Some(b) = &io.manifest.base {
        files.push((b.name.clone(), true));
    }
    files.extend(io.manifest.incrs.iter().map(|i| (i.name.clone(), false)));
    if files.is_empty() {
        return Ok(Loaded::Nothing);
    }
    // A file the manifest names but the disk lacks is fatal (Redis's rule).
    for (name, _) in &files {
        if !io.dir.join(name).exists() {
            return Err(format!(
                "The append log file {name} doesn't exist: No such file or directory"
            ));
        }
    }
    let mut commands = 0u64;
    let n = files.len();
    let total: u64 = files.iter().map(|(f, _)| file_size(&io.dir.join(f))).sum();
    if total == 0 {
        return Ok(Loaded::Nothing);
    }
    for (i, (name, is_base)) in files.iter().enumerate() {
        let path = io.dir.join(name);
        let started = Instant::now();
        let data = std::fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                format!("The append log file {name} doesn't exist: {e}")
            } else {
                format!("Fatal error: can't open the append log file {name} for reading: {e}")
            }
        })?;
        let last = i + 1 == n;
        let mut start = 0;
        if data.starts_with(b"REDIS") {
            log::info!("Reading RDB base file on AOF loading...");
            start = load_rdb(&data).map_err(|e| {
                format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
            })?;
        }
        match replay(name, &data, start, run, &mut commands) {
            Replay::Ok => {}
            Replay::Bad(why) => return Err(why),
            Replay::Truncated(valid) => {
                if !last {
                    return Err("Fatal error: the truncated file is not the last file".into());
                }
                if !truncated_ok {
                    return Err(format!(
                        "Unexpected end of file reading the append only file {name}. You can: \
                         1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. \
                         2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
                    ));
                }
                log::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
                log::warn!("!!! Truncating the AOF {name} at offset {valid} !!!");
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(valid as u64))
                    .map_err(|e| format!("Error truncating the AOF file {name}: {e}"))?;
                log::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
            }
        }
        log::info!(
            "DB loaded from {} file {name}: {:.3} seconds",
            if *is_base { "base" } else { "incr" },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Loaded::Done(commands))
}

/// Runs the commands of `data` from `start`. A command cut short by the end of the file, or
/// a transaction left open, is a truncation; anything else malformed is an error.
fn replay(
    name: &str,
    data: &[u8],
    start: usize,
    run: &mut Replayer<'_>,
    commands: &mut u64,
) -> Replay {
    let bad = || {
        Replay::Bad(format!(
            "Bad file format reading the append only file {name}: make a backup of your AOF file, \
             then use ./redis-check-aof --fix <filename.manifest>"
        ))
    };
    let mut pos = start;
    let mut queued: Option<(usize, Vec<Vec<u8>>)> = None;
    let mut queue: Vec<Vec<Vec<u8>>> = Vec::new();
    while pos < data.len() {
        let line = |pos: &mut usize| -> Option<&[u8]> {
            let rest = &data[*pos..];
            let nl = rest.iter().position(|&b| b == b'\n')?;
            *pos += nl + 1;
            let l = &rest[..nl];
            Some(l.strip_suffix(b"\r").unwrap_or(l))
        };
        let at = pos;
        let Some(head) = line(&mut pos) else {
            return Replay::Truncated(valid_end(at, &queued));
        };
        // Redis's loader reads a line with fgets: a line of its own may be an annotation.
        if head.first() == Some(&b'#') {
            continue;
        }
        if head.first() != Some(&b'*') {
            return bad();
        }
        let Some(argc) = std::str::from_utf8(&head[1..])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n >= 1)
        else {
            return bad();
        };
        let mut argv = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let Some(h) = line(&mut pos) else {
                return Replay::Truncated(valid_end(at, &queued));
            };
            if h.first() != Some(&b'$') {
                return bad();
            }
            let Some(len) = std::str::from_utf8(&h[1..])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                return bad();
            };
            let Some(arg) = data.get(pos..pos.saturating_add(len)) else {
                return Replay::Truncated(valid_end(at, &queued));
            };
            if data.len() < pos + len + 2 {
                return Replay::Truncated(valid_end(at, &queued));
            }
            argv.push(arg.to_vec());
            pos += len + 2;
        }
        let cmd_name = argv[0].to_ascii_lowercase();
        match cmd_name.as_slice() {
            b"multi" => {
                queued = Some((at, Vec::new()));
                queue.clear();
            }
            b"exec" if queued.is_some() => {
                queued = None;
                for cmd in queue.drain(..) {
                    if let Err(e) = run(&cmd) {
                        return Replay::Bad(format!("{e} reading the append only file {name}"));
                    }
                    *commands += 1;
                }
            }
            _ if queued.is_some() => queue.push(argv),
            _ => {
                if let Err(e) = run(&argv) {
                    return Replay::Bad(format!("{e} reading the append only file {name}"));
                }
                *commands += 1;
            }
        }
    }
    if let Some((at, _)) = queued {
        log::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
        return Replay::Truncated(at);
    }
    Replay::Ok
}

fn valid_end(at: usize, queued: &Option<(usize, Vec<Vec<u8>>)>) -> usize {
    queued.as_ref().map_or(at, |(m, _)| *m)
}

/// Writes every database as commands (the base without an RDB preamble), then fsyncs.
/// Each key is one command that recreates it whole: `RESTORE` of its DUMP payload with its
/// absolute expiry, which Redis's loader takes as readily as any other command.
fn write_commands(
    guards: &[crate::store::ReadGuard<'_>],
    functions: &[u8],
    tmp: &Path,
    timestamp: bool,
    key_delay_us: u64,
) -> io::Result<()> {
    let file = File::create(tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    if timestamp {
        let now = crate::store::clock::unix_ms() / 1000;
        w.write_all(format!("#TS:{now}\r\n").as_bytes())?;
    }
    let mut cmd = Vec::new();
    if !functions.is_empty() {
        let mut payload = functions.to_vec();
        crate::store::rdbstr::seal(&mut payload);
        encode(&mut cmd, &[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]);
        w.write_all(&cmd)?;
    }
    let op = crate::store::Op::new(crate::store::Limits::default());
    let opts = super::object::SaveOptions {
        compress: false,
        list_fill: -2,
    };
    for (i, g) in guards.iter().enumerate() {
        let db = crate::store::Db::new(&**g, &op);
        if db.stored_len().0 == 0 {
            continue;
        }
        cmd.clear();
        let n = i.to_string();
        encode(&mut cmd, &[b"SELECT", n.as_bytes()]);
        w.write_all(&cmd)?;
        for (key, e) in db.iter_stored() {
            let mut payload = Vec::new();
            super::object::save(&mut payload, &e.value, opts);
            crate::store::rdbstr::seal(&mut payload);
            let ttl = e.expire.to_string();
            cmd.clear();
            if e.expire != 0 {
                encode(
                    &mut cmd,
                    &[b"RESTORE", key, ttl.as_bytes(), &payload, b"ABSTTL"],
                );
            } else {
                encode(&mut cmd, &[b"RESTORE", key, b"0", &payload]);
            }
            w.write_all(&cmd)?;
            super::childinfo::key_written();
            // `rdb-key-save-delay` slows this base too, as Redis's (tests keep a rewrite
            // running with it).
            if key_delay_us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(key_delay_us));
            }
        }
    }
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().seq, 1);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render(), text);
        let err = |t: &str| Manifest::parse(t.as_bytes()).unwrap_err();
        assert!(err("file a seq 1 type b\nfile b seq 2 type b\n").contains("duplicate base"));
        assert!(err("file a seq 2 type i\nfile b seq 1 type i\n").contains("non-monotonic"));
        assert!(err("file a seq 1\n").contains("Invalid AOF manifest file format"));
        assert!(err("file a seq 1 type b\n\n").contains("at line 2"));
        assert!(err("").contains("Found an empty AOF manifest"));
        assert!(err("file a seq 1 type b").contains("too long line"));
    }

    #[test]
    fn replay_stops_at_a_cut_command() {
        let mut data = Vec::new();
        encode(&mut data, &[b"SET", b"a", b"1"]);
        let whole = data.len();
        encode(&mut data, &[b"SET", b"b", b"2"]);
        data.truncate(data.len() - 3);
        let mut seen = Vec::new();
        let mut n = 0;
        let r = replay(
            "f",
            &data,
            0,
            &mut |argv| {
                seen.push(argv.to_vec());
                Ok(())
            },
            &mut n,
        );
        assert!(matches!(r, Replay::Truncated(at) if at == whole));
        assert_eq!(seen.len(), 1);
        // An open transaction is dropped whole.
        let mut data = Vec::new();
        encode(&mut data, &[b"SET", b"a", b"1"]);
        let before = data.len();
        encode(&mut data, &[b"MULTI"]);
        encode(&mut data, &[b"SET", b"b", b"2"]);
        let mut n = 0;
        let r = replay("f", &data, 0, &mut |_| Ok(()), &mut n);
        assert!(matches!(r, Replay::Truncated(at) if at == before));
        assert_eq!(n, 1);
        assert!(matches!(
            replay("f", b"+OK\r\n", 0, &mut |_| Ok(()), &mut n),
            Replay::Bad(_)
        ));
    }
}
