//! What every connection thread shares (the store, the settings, the statistics, the client
//! registry), and the state of one connection. Connections, dispatch and the accept loop all
//! depend on this module; it depends on none of them.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown as SockShutdown, SocketAddr, TcpStream};
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::config::Config;
use crate::config::{OutputClass, OutputLimit};
use crate::counter::Counter;
use crate::outbox::{Outbox, Pushed};
use crate::protocol::Reply;
use crate::pubsub::PubSub;
use crate::shutdown::Shutdown;
use crate::store::ready::{State as WaitState, Waiter};
use crate::store::watch::WatchFlag;
use crate::store::{clock, Store};

/// Server-wide counters for INFO.
#[derive(Default)]
pub struct Stats {
    pub commands: Counter,
    pub connections: AtomicU64,
    pub rejected: AtomicU64,
    pub net_input: Counter,
    pub net_output: Counter,
    /// Keys deleted to stay under `maxmemory` (INFO `evicted_keys`).
    pub evicted_keys: AtomicU64,
    pub errors: Counter,
    /// Write commands executed since the last save (`rdb_changes_since_last_save`).
    pub dirty: Counter,
    pub peak_memory: AtomicU64,
    /// INFO commandstats and errorstats.
    pub by_command: crate::cmdstats::CommandStats,
    /// Socket reads that returned data, and writes (INFO `total_reads_processed`,
    /// `total_writes_processed`).
    pub reads: Counter,
    pub writes: Counter,
    /// Used memory when the server started serving (INFO `used_memory_startup`).
    pub startup_memory: AtomicU64,
    /// Time the active expiry cycle has spent, in µs (INFO `expire_cycle_cpu_milliseconds`).
    pub expire_cycle_us: AtomicU64,
    /// Commands, input and output bytes sampled by the cron thread, for
    /// `instantaneous_ops_per_sec` and `instantaneous_input_kbps|output_kbps`.
    samples: Mutex<[OpsSamples; 3]>,
}

/// Redis's `trackInstantaneousMetric`: a ring of per-second rates.
#[derive(Default)]
struct OpsSamples {
    last_count: u64,
    last_at: Option<Instant>,
    rates: [u64; 16],
    next: usize,
}

impl OpsSamples {
    fn add(&mut self, count: u64, now: Instant) {
        if let Some(at) = self.last_at {
            let ms = now.duration_since(at).as_millis().max(1) as u64;
            let rate = count.saturating_sub(self.last_count) * 1000 / ms;
            let i = self.next;
            self.rates[i] = rate;
            self.next = (i + 1) % self.rates.len();
        }
        self.last_at = Some(now);
        self.last_count = count;
    }

    fn mean(&self) -> u64 {
        self.rates.iter().sum::<u64>() / self.rates.len() as u64
    }
}

impl Stats {
    /// Takes one sample of the command counter (called by the cron thread).
    #[allow(clippy::disallowed_methods)] // the cron's own pace, not a command's time
    pub(crate) fn sample(&self) {
        let mut s = self.samples.lock();
        let now = Instant::now();
        s[0].add(self.commands.get(), now);
        s[1].add(self.net_input.get(), now);
        s[2].add(self.net_output.get(), now);
    }

    pub fn ops_per_sec(&self) -> u64 {
        self.samples.lock()[0].mean()
    }

    /// Input and output in KB/s, as Redis's `instantaneous_input_kbps|output_kbps`.
    pub fn kbps(&self) -> (f64, f64) {
        let s = self.samples.lock();
        (s[1].mean() as f64 / 1024.0, s[2].mean() as f64 / 1024.0)
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [&self.connections, &self.rejected, &self.evicted_keys] {
            c.store(0, Ordering::Relaxed);
        }
        for c in [
            &self.commands,
            &self.net_input,
            &self.net_output,
            &self.errors,
            &self.reads,
            &self.writes,
        ] {
            c.reset();
        }
        self.expire_cycle_us.store(0, Ordering::Relaxed);
        self.peak_memory.store(0, Ordering::Relaxed);
        crate::store::lazyfree::reset_stats();
        self.by_command.reset();
        *self.samples.lock() = Default::default();
    }
}

/// Live connections, for CLIENT LIST/KILL and to wake blocked reads at shutdown.
#[derive(Default)]
pub struct Clients {
    map: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    closing: AtomicBool,
}

impl Clients {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, info: Arc<ClientInfo>) {
        let mut map = self.map.lock();
        if self.closing.load(Ordering::SeqCst) {
            info.close();
        }
        map.insert(info.id, info);
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    /// The live connection with this id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }

    /// A snapshot of the live connections, by id.
    pub fn list(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<_> = self.map.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every client idle for longer than `max_idle_secs` at `now` (Unix ms), Redis's
    /// `clientsCronHandleTimeout`: whole seconds, and never a client whose command is running
    /// or that is parked in a blocking command (its own timeout applies). Returns how many it
    /// closed.
    pub fn close_idle(&self, max_idle_secs: i64, now: i64) -> usize {
        let idle = |c: &ClientInfo| {
            now / 1000 - c.last_active_ms.load(Ordering::Relaxed) / 1000 > max_idle_secs
        };
        let mut closed = 0;
        for c in self.list() {
            // Blocked and subscribed clients are never idle (Redis's rule too).
            if !idle(&c) || c.blocked.lock().is_some() || c.is_subscribed() {
                continue;
            }
            // Holding its command slot, so it cannot start one meanwhile; idle still?
            let Some(_running) = c.running.try_lock() else {
                continue;
            };
            if idle(&c) && c.blocked.lock().is_none() {
                c.close();
                closed += 1;
            }
        }
        closed
    }

    /// Clients parked with a timeout (INFO `clients_in_timeout_table`).
    pub fn timed_waits(&self) -> usize {
        self.map
            .lock()
            .values()
            .filter(|c| c.blocked_with_timeout.load(Ordering::Relaxed))
            .count()
    }

    /// Wakes every connection's blocked read: it sees end-of-stream after its current command.
    pub(crate) fn close_all_reads(&self) {
        let map = self.map.lock();
        self.closing.store(true, Ordering::SeqCst);
        for c in map.values() {
            c.close_read();
        }
    }

    pub(crate) fn close_all(&self) {
        for c in self.map.lock().values() {
            c.close();
        }
    }
}

/// Everything the connections share.
pub struct Shared {
    /// The Lua interpreter and the script cache (EVAL, SCRIPT).
    pub scripts: crate::scripting::Engine,
    /// The script running now, if any, and the BUSY state it puts other clients in.
    pub script_busy: crate::scripting::busy::Busy,
    /// FUNCTION libraries (FCALL), in a Lua state of their own.
    pub functions: crate::scripting::functions::Functions,
    pub config: Arc<Config>,
    pub store: Store,
    /// What eviction keeps between rounds (`maxmemory-policy`'s candidate pool).
    pub evictor: crate::store::evict::Evictor,
    /// An eviction round ran out of time and the cron thread goes on with it.
    pub evicting: std::sync::atomic::AtomicBool,
    pub stats: Stats,
    pub clients: Arc<Clients>,
    /// Channel, pattern and shard-channel subscriptions.
    pub pubsub: Arc<PubSub>,
    /// Client-side caching: who may cache which keys.
    pub tracking: Arc<crate::tracking::Tracking>,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// CLIENT PAUSE.
    pub pause: crate::pause::Pause,
    pub shutdown: Arc<Shutdown>,
    /// When the server started, Unix ms (INFO `uptime_in_seconds`, from the command's instant).
    pub started_ms: i64,
    /// ACL users and the ACL LOG.
    pub acl: crate::acl::Acl,
    /// SLOWLOG.
    pub slowlog: Arc<crate::slowlog::SlowLog>,
    /// The listening sockets (CONFIG SET port/bind rebinds them).
    pub listeners: crate::listen::Listeners,
    /// Connections being served now (admitted, not yet closed).
    pub active: AtomicUsize,
    /// Clients parked in a blocking command (INFO `blocked_clients`).
    pub blocked_clients: Arc<AtomicUsize>,
    /// Active expiry runs (DEBUG SET-ACTIVE-EXPIRE 0 stops it), and the cron is paused
    /// (DEBUG PAUSE-CRON 1).
    pub active_expire: std::sync::atomic::AtomicBool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call commands flagged `noscript` (Redis's
    /// tests use it to call DEBUG and CLIENT from a script).
    pub disable_deny_scripts: std::sync::atomic::AtomicBool,
    pub cron_paused: std::sync::atomic::AtomicBool,
    /// SAVE, BGSAVE, the save points and the startup load (LASTSAVE, INFO persistence).
    pub snapshots: Arc<crate::persistence::snapshot::Snapshots>,
    /// The append-only file (every database records its changes there while it is on).
    pub aof: Arc<crate::persistence::aof::Aof>,
    /// A random 40-hex-digit id of this run (INFO `run_id`).
    pub run_id: String,
    /// MIGRATE's connections to other servers.
    pub links: crate::links::Links,
}

impl Shared {
    #[allow(clippy::disallowed_methods)] // LASTSAVE starts at the start time
    pub fn new(config: Config, shutdown: Arc<Shutdown>) -> Self {
        let store = Store::new(config.databases);
        let config = Arc::new(config);
        let pubsub = Arc::new(PubSub::default());
        let clients = Arc::new(Clients::default());
        let tracking = Arc::new(crate::tracking::Tracking::new(
            Arc::clone(&clients),
            Arc::clone(&config),
        ));
        store.set_invalidate(Arc::clone(&tracking) as Arc<dyn crate::store::watch::Invalidate>);
        store.set_sink(Arc::new(crate::pubsub::KeyspaceEvents {
            pubsub: Arc::clone(&pubsub),
            config: Arc::clone(&config),
        }));
        let aof = Arc::new(crate::persistence::aof::Aof::default());
        aof.refresh(&config);
        store.set_feed(Arc::clone(&aof) as Arc<dyn crate::store::feed::Feed>);
        let acl = crate::acl::Acl::default();
        if let Some(d) = crate::config::lookup("requirepass") {
            acl.set_default_password(config.get(d).as_bytes());
        }
        // The `aclfile`'s users (the binary checked the file before it started).
        let aclfile = config.get(crate::config::lookup("aclfile").expect("in the table"));
        if !aclfile.is_empty() {
            let all = config
                .get(crate::config::lookup("acl-pubsub-default").expect("in the table"))
                == "allchannels";
            if let Err(e) = acl.load_file(&aclfile, all) {
                log::warn!("Aborting Redis startup because of ACL errors: {e}");
            }
        }
        Shared {
            scripts: crate::scripting::Engine::new(),
            script_busy: Default::default(),
            functions: Default::default(),
            acl,
            slowlog: Default::default(),
            config,
            store,
            evictor: Default::default(),
            evicting: Default::default(),
            stats: Stats::default(),
            clients: Arc::clone(&clients),
            tracking,
            pubsub,
            monitors: Default::default(),
            pause: Default::default(),
            shutdown,
            started_ms: clock::unix_ms(),
            listeners: Default::default(),
            active: AtomicUsize::new(0),
            blocked_clients: Arc::new(AtomicUsize::new(0)),
            active_expire: std::sync::atomic::AtomicBool::new(true),
            disable_deny_scripts: std::sync::atomic::AtomicBool::new(false),
            cron_paused: std::sync::atomic::AtomicBool::new(false),
            snapshots: Arc::new(crate::persistence::snapshot::Snapshots::new(
                clock::unix_ms(),
            )),
            aof,
            run_id: (0..5)
                .map(|_| format!("{:08x}", crate::store::rand_u64() as u32))
                .collect(),
            links: Default::default(),
        }
    }
}

impl Shared {
    /// What a snapshot needs, gathered now: the function libraries and the write counter.
    pub fn snapshot_job(&self) -> crate::persistence::snapshot::Job<'_> {
        crate::persistence::snapshot::Job {
            store: &self.store,
            config: &self.config,
            functions: self.functions.lock().records(),
            dirty: self.stats.dirty.get(),
        }
    }
}

/// The `last_cmd` value of a client that has run nothing yet.
pub const NO_COMMAND: u32 = u32::MAX;

/// What other connections may see or do to this one (CLIENT LIST, CLIENT KILL, shutdown).
pub struct ClientInfo {
    pub id: u64,
    /// The peer's and the local address of a TCP connection (unspecified, port 0, on the
    /// Unix socket: see `unix`, and [`ClientInfo::addr_text`]).
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    /// The socket's path, for a client of the Unix socket (`unixsocket`).
    pub unix: Option<Arc<str>>,
    pub fd: i32,
    /// When the connection was accepted, Unix ms (CLIENT LIST `age`, from the command's
    /// instant).
    pub created_ms: i64,
    pub last_active_ms: AtomicI64,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<Vec<u8>>,
    pub lib_ver: Mutex<Vec<u8>>,
    /// The last command run, as an index into the command table (see `command::name_of`).
    pub last_cmd: AtomicU32,
    /// When its command now running began ([`crate::cmdstats::ticks`]); 0 between commands
    /// (the watchdog's view).
    pub busy_since: AtomicU64,
    pub no_evict: AtomicBool,
    /// Set by CLIENT KILL (and forced shutdown); checked by dispatch before every command.
    pub killed: AtomicBool,
    /// Held by dispatch while one of this client's commands runs, so that a killer can wait
    /// for the command in progress: once CLIENT KILL has answered, the victim runs nothing.
    running: Mutex<()>,
    /// The wait this client is parked in, if any (CLIENT UNBLOCK, CLIENT LIST's `b` flag).
    pub blocked: Mutex<Option<Arc<Waiter>>>,
    /// Parked with a timeout.
    pub blocked_with_timeout: AtomicBool,
    /// Commands queued since MULTI, or -1 outside a transaction (CLIENT LIST `multi`, flag `x`).
    pub multi: AtomicI64,
    /// Set when a key this client WATCHes changes (CLIENT LIST flag `d`).
    pub watch_flag: Arc<WatchFlag>,
    /// Output that other threads write too, once the client has subscribed.
    pub outbox: Outbox,
    /// Channels, patterns and shard channels subscribed (CLIENT LIST `sub psub ssub`).
    pub subs: [AtomicUsize; 3],
    /// In MONITOR mode (CLIENT LIST flag `O`).
    pub monitor: AtomicBool,
    /// CLIENT TRACKING: its settings and the invalidations held back for it.
    pub tracking: Mutex<crate::tracking::ClientTracking>,
    /// The connection's thread, to be woken when another client needs its outbox (a RESP3
    /// client others redirect invalidations to).
    pub waker: std::sync::OnceLock<crate::os::ThreadWaker>,
    /// Asked to switch its output to the outbox at its next turn.
    outbox_wanted: AtomicBool,
    /// Replies waiting for the append-only file's group commit (see [`crate::held`]).
    pub held: Mutex<crate::held::Held>,
    /// CLIENT LIST's `qbuf`, `qbuf-free` and `argv-mem`, as of the command being run.
    pub qbuf: AtomicUsize,
    pub qbuf_free: AtomicUsize,
    pub argv_mem: AtomicUsize,
    /// The ACL user it is authenticated as (CLIENT LIST `user`, CLIENT KILL USER, ACL
    /// DELUSER); the owner keeps its own copy in `ClientState::user`.
    pub user: Mutex<Arc<crate::acl::UserCell>>,
    /// Shared with the worker (`&TcpStream` reads and writes), so each connection holds one
    /// descriptor, not two: ten thousand clients must fit a 20k `ulimit -n`. `None` for
    /// the client that replays the append-only file, which has no connection.
    stream: Option<Arc<TcpStream>>,
}

impl ClientInfo {
    /// The shared view of a new connection; keeps a clone of its socket to close it from outside.
    pub fn new(
        id: u64,
        stream: &Arc<TcpStream>,
        unix: Option<Arc<str>>,
        user: Arc<crate::acl::UserCell>,
    ) -> io::Result<Self> {
        let ends = match unix {
            Some(_) => {
                let none = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
                (none, none)
            }
            None => (stream.peer_addr()?, stream.local_addr()?),
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&**stream);
        let mut info = Self::with(id, ends, fd, Some(Arc::clone(stream)), user);
        info.unix = unix;
        Ok(info)
    }

    /// The peer's address as Redis shows it (CLIENT LIST `addr`, SLOWLOG, CLIENT KILL ADDR):
    /// `ip:port`, or `path:0` on the Unix socket.
    pub fn addr_text(&self) -> String {
        match &self.unix {
            Some(path) => format!("{path}:0"),
            None => self.addr.to_string(),
        }
    }

    /// The local address as Redis shows it (CLIENT LIST `laddr`).
    pub fn laddr_text(&self) -> String {
        match &self.unix {
            Some(path) => format!("{path}:0"),
            None => self.laddr.to_string(),
        }
    }

    /// A client on this machine: the Unix socket or a loopback address (protected mode,
    /// `enable-debug-command local`).
    pub fn is_local(&self) -> bool {
        self.unix.is_some() || self.addr.ip().is_loopback()
    }

    /// A client without a connection (Redis's fake AOF client): it replays the append-only
    /// file's commands, and nothing it is sent goes anywhere.
    pub fn detached(id: u64, user: Arc<crate::acl::UserCell>) -> Self {
        let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        Self::with(id, (nowhere, nowhere), -1, None, user)
    }

    #[allow(clippy::disallowed_methods)] // its last interaction: bookkeeping, not a command
    fn with(
        id: u64,
        (addr, laddr): (std::net::SocketAddr, std::net::SocketAddr),
        fd: i32,
        stream: Option<Arc<TcpStream>>,
        user: Arc<crate::acl::UserCell>,
    ) -> Self {
        ClientInfo {
            id,
            addr,
            laddr,
            unix: None,
            fd,
            created_ms: clock::unix_ms(),
            last_active_ms: AtomicI64::new(clock::unix_ms()),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            name: Mutex::new(Vec::new()),
            lib_name: Mutex::new(Vec::new()),
            lib_ver: Mutex::new(Vec::new()),
            last_cmd: AtomicU32::new(NO_COMMAND),
            busy_since: AtomicU64::new(0),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            running: Mutex::new(()),
            blocked: Mutex::new(None),
            blocked_with_timeout: AtomicBool::new(false),
            multi: AtomicI64::new(-1),
            watch_flag: WatchFlag::new(),
            outbox: Outbox::default(),
            subs: Default::default(),
            monitor: AtomicBool::new(false),
            tracking: Mutex::new(Default::default()),
            waker: std::sync::OnceLock::new(),
            outbox_wanted: AtomicBool::new(false),
            held: Mutex::new(Default::default()),
            qbuf: AtomicUsize::new(0),
            qbuf_free: AtomicUsize::new(0),
            argv_mem: AtomicUsize::new(0),
            user: Mutex::new(user),
            stream,
        }
    }

    /// Records an interaction now (CLIENT LIST `idle`, the `timeout` reaper), on the cron's
    /// cached clock: whole seconds are all either needs.
    pub fn touch(&self) {
        let now = clock::cached_unix_ms();
        if self.last_active_ms.load(Ordering::Relaxed) != now {
            self.last_active_ms.store(now, Ordering::Relaxed);
        }
    }

    /// The connection's socket (`None` for the client replaying the append-only file).
    pub fn stream(&self) -> Option<Arc<TcpStream>> {
        self.stream.clone()
    }

    /// Ends the connection from outside (CLIENT KILL, forced shutdown), without waiting.
    pub fn close(&self) {
        self.killed.store(true, Ordering::SeqCst);
        if let Some(s) = &self.stream {
            let _ = s.shutdown(SockShutdown::Both);
        }
    }

    /// Holds this client's command slot while one of its commands runs; `None` once it has
    /// been killed (the command must not run).
    pub fn begin_command(&self) -> Option<MutexGuard<'_, ()>> {
        let guard = self.running.lock();
        (!self.killed.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Is one of this client's commands running now?
    pub fn is_running(&self) -> bool {
        self.running.is_locked()
    }

    /// Kills this client on behalf of `killer` and waits until its command in progress, if
    /// any, is over. Gives up waiting if the killer is killed meanwhile (two clients killing
    /// each other must not wait for each other forever).
    pub fn kill_and_wait(&self, killer: &ClientInfo) {
        // A parked client is cancelled first, so that nothing is served to it any more.
        if let Some(w) = self.blocked.lock().clone() {
            w.finish(WaitState::Cancelled);
        }
        self.close();
        loop {
            if self
                .running
                .try_lock_for(Duration::from_millis(10))
                .is_some()
                || killer.killed.load(Ordering::SeqCst)
            {
                return;
            }
        }
    }

    /// Writes what the socket takes at once, without blocking (another thread delivering the
    /// reply of this client's blocking command); returns the bytes written.
    pub fn send_now(&self, bytes: &[u8]) -> usize {
        if crate::os::is_forked_child() {
            return bytes.len();
        }
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let Some(stream) = &self.stream else {
                return bytes.len();
            };
            // SAFETY: `bytes` is a live buffer of that length; the socket is this client's,
            // open while `self` lives.
            let n = unsafe {
                libc::send(
                    stream.as_raw_fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            usize::try_from(n).unwrap_or(0)
        }
        #[cfg(not(unix))]
        {
            let _ = bytes;
            0
        }
    }

    /// Subscribed to anything (Redis's `CLIENT_PUBSUB`)?
    pub fn is_subscribed(&self) -> bool {
        self.subs.iter().any(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Another client will write to this one (invalidations redirected to it): its thread
    /// is asked to switch to the outbox, and woken if it sleeps idle. (A thread in the
    /// middle of a read sees the request when the read returns, within the 2-second idle
    /// read timeout; frames queued meanwhile wait in the outbox.)
    pub fn want_outbox(&self) {
        if !self.outbox.is_active() && !self.outbox_wanted.swap(true, Ordering::AcqRel) {
            if let Some(w) = self.waker.get() {
                w.wake();
            }
        }
    }

    /// Has another client asked for this one's outbox (not yet taken)?
    pub fn outbox_requested(&self) -> bool {
        self.outbox_wanted.load(Ordering::Relaxed)
    }

    /// Has another client asked for this one's outbox? (Taken by the owner.)
    pub fn take_outbox_request(&self) -> bool {
        self.outbox_wanted.load(Ordering::Relaxed)
            && self.outbox_wanted.swap(false, Ordering::AcqRel)
    }

    /// The output limit that applies to this client now.
    /// (A monitor is held to the pubsub class's limits: Redis counts it a normal client,
    /// whose output is unbounded by default, and every buffer here has a bound.)
    pub fn output_limit(&self, config: &Config) -> OutputLimit {
        let monitor = self.monitor.load(Ordering::Relaxed);
        config.output_limit(if monitor || self.is_subscribed() {
            OutputClass::PubSub
        } else {
            OutputClass::Normal
        })
    }

    /// Hands `frame` to this client through its outbox, from any thread, without blocking;
    /// a client that goes over its output limit is closed (and the event logged).
    pub fn deliver(self: &Arc<Self>, frame: &[u8], config: &Config) -> Pushed {
        self.deliver_within(frame, self.output_limit(config))
    }

    /// [`ClientInfo::deliver`] with the limit given. The owner's wake-up, if it needs one,
    /// waits until this thread's batch of work is done ([`wake_deferred`]).
    pub fn deliver_within(self: &Arc<Self>, frame: &[u8], limit: OutputLimit) -> Pushed {
        let pushed = self.push(frame, limit, false);
        if pushed == Pushed::TakenWake {
            DEFERRED_WAKES.with(|w| w.borrow_mut().push(Arc::clone(self)));
        }
        pushed
    }

    /// The connection's own thread hands it its replies: written at once, without blocking,
    /// when nothing is queued before them.
    pub fn deliver_own(&self, frame: &[u8], config: &Config) -> Pushed {
        self.push(frame, self.output_limit(config), true)
    }

    #[allow(clippy::disallowed_methods)] // output limits count seconds on a monotonic clock
    fn push(&self, frame: &[u8], limit: OutputLimit, own: bool) -> Pushed {
        let send = |b: &[u8]| self.send_now(b);
        let send: Option<&crate::outbox::SendFn<'_>> = if own { Some(&send) } else { None };
        let pushed = self.outbox.push(frame, send, limit, Instant::now());
        if pushed == Pushed::OverLimit {
            log::warn!(
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.id,
                self.addr_text()
            );
            self.close();
        }
        pushed
    }

    /// The reply of this client's blocking command, written by the thread that served it:
    /// through the outbox once that is in use (so it cannot cut into a queued frame), else
    /// straight into the socket, as much as it takes. Returns the bytes taken.
    pub fn send_reply(self: &Arc<Self>, bytes: &[u8], limit: OutputLimit) -> usize {
        if self.outbox.is_active() {
            self.deliver_within(bytes, limit);
            bytes.len()
        } else {
            self.send_now(bytes)
        }
    }

    /// Wakes a blocked read with end-of-stream; replies can still be written.
    pub fn close_read(&self) {
        if let Some(s) = &self.stream {
            let _ = s.shutdown(SockShutdown::Read);
        }
    }
}

thread_local! {
    /// Subscribers this thread queued frames for while they slept: written to (or woken)
    /// together when the thread's batch of work is done.
    static DEFERRED_WAKES: std::cell::RefCell<Vec<Arc<ClientInfo>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes out, or wakes, the clients this thread queued frames for (call before it sleeps
/// or reads, and at the end of each batch of commands). Returns the bytes written.
pub fn wake_deferred() -> usize {
    let wakes = DEFERRED_WAKES.with(|w| std::mem::take(&mut *w.borrow_mut()));
    wakes
        .iter()
        .map(|c| c.outbox.send_or_wake(|b| c.send_now(b)))
        .sum()
}

/// Per-connection state that only its own worker touches.
pub struct ClientState {
    pub id: u64,
    pub db: usize,
    /// Protocol version: 2 or 3 (HELLO).
    pub resp: u8,
    /// Reply, then close (QUIT, protocol errors).
    pub close_after_reply: bool,
    pub info: Arc<ClientInfo>,
    /// Set by a blocking command that found nothing: the connection parks until it ends.
    pub blocked: Option<Blocked>,
    /// Since MULTI: the commands queued for EXEC.
    pub multi: Option<Multi>,
    /// A script of this client is running: the commands it calls reach MONITOR as `lua`'s.
    pub in_script: bool,
    /// Argument vectors of executed transactions, kept for the next one to copy into:
    /// queueing then allocates nothing (bounded by [`Multi::recycle`]).
    pub spare_argvs: Vec<Vec<Vec<u8>>>,
    /// The keys WATCHed, by database index.
    pub watching: Vec<(usize, Box<[u8]>)>,
    /// What the client is subscribed to.
    pub subscriptions: Subscriptions,
    /// Its output goes through `info.outbox` (since it first subscribed).
    pub outbox_active: bool,
    /// CLIENT TRACKING is on (the owner's copy of `info.tracking.on`).
    pub tracking: bool,
    /// Command counts not yet added to INFO commandstats (handed over after each batch).
    pub cmd_stats: crate::cmdstats::Local,
    /// CLIENT REPLY: no replies (OFF), none to the current command (SKIP), none to the next
    /// one (SKIP just given). Pub/sub frames are sent regardless, as in Redis.
    pub reply_off: bool,
    pub reply_skip: bool,
    pub reply_skip_next: bool,
    /// The ACL user its commands run as.
    pub user: Arc<crate::acl::UserCell>,
    /// AUTH (or a user without a password) let it in.
    pub authenticated: bool,
    /// The slow-log entry of the blocking command just parked (see `slowlog::Pending`).
    pub slow_blocked: Option<Arc<Mutex<crate::slowlog::Pending>>>,
    /// SCRIPT DEBUG YES or SYNC: its next EVAL runs in a debugging session.
    pub ldb: Option<crate::scripting::ldb::Mode>,
    /// Replies to earlier commands of the same read are not sent yet (SCRIPT DEBUG refuses
    /// to start inside a pipeline, as the session writes to the socket directly).
    pub replies_pending: bool,
    /// The connection went to a forked debugging session: this process closes its copy of
    /// the socket at once, writing nothing and shutting nothing down.
    pub handed_off: bool,
}

/// A client's channels and shard channels, and its patterns in the order subscribed.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: std::collections::HashSet<Box<[u8]>>,
    pub patterns: Vec<Box<[u8]>>,
    pub shard: std::collections::HashSet<Box<[u8]>>,
}

/// A transaction being queued.
#[derive(Default)]
pub struct Multi {
    /// The queued commands, as resolved when queued: (command code, arguments).
    pub queue: Vec<(u32, Vec<Vec<u8>>)>,
    /// A queued command may reach a database other than the client's (EXEC locks them all).
    pub reaches_beyond: bool,
    /// Bytes of arguments queued (bounded like the query buffer).
    pub bytes: usize,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
    /// A queued command may grow memory (EXEC is refused over `maxmemory`).
    pub denyoom: bool,
    /// A queued command may write (EXEC waits out a CLIENT PAUSE WRITE).
    pub may_write: bool,
    /// A queued command is a write command (EXEC needs enough good replicas).
    pub writes: bool,
}

impl Multi {
    /// How many argument vectors a client keeps for its next transaction, and the largest
    /// argument buffer worth keeping: a few small commands' worth, so an idle client that
    /// once ran a transaction holds at most a few KB for it.
    const SPARE_ARGVS: usize = 16;
    const SPARE_ARG_BYTES: usize = 128;

    /// Hands the queue's argument vectors to `spare`, as many as are small enough to keep.
    pub fn recycle(self, spare: &mut Vec<Vec<Vec<u8>>>) {
        for (_, argv) in self.queue {
            if spare.len() >= Self::SPARE_ARGVS {
                break;
            }
            if argv.len() <= 8 && argv.iter().all(|a| a.capacity() <= Self::SPARE_ARG_BYTES) {
                spare.push(argv);
            }
        }
    }

    /// A copy of `argv` in a spare vector (reusing its buffers) if there is one.
    pub fn copy_args(spare: &mut Vec<Vec<Vec<u8>>>, argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let Some(mut v) = spare.pop() else {
            return argv.to_vec();
        };
        v.truncate(argv.len());
        for (slot, arg) in v.iter_mut().zip(argv) {
            slot.clear();
            slot.extend_from_slice(arg);
        }
        let have = v.len();
        v.extend(argv[have..].iter().cloned());
        v
    }
}

/// A blocking command's wait, handed from dispatch to the connection loop.
pub struct Blocked {
    pub waiter: Arc<Waiter>,
    /// `None`: wait forever.
    pub deadline: Option<Instant>,
    /// The reply if the wait times out (a null, of the command's kind).
    pub on_timeout: Reply,
}

impl ClientState {
    pub fn new(info: Arc<ClientInfo>) -> Self {
        let user = info.user.lock().clone();
        ClientState {
            slow_blocked: None,
            ldb: None,
            replies_pending: false,
            handed_off: false,
            authenticated: !user.needs_password(),
            user,
            id: info.id,
            db: 0,
            resp: 2,
            close_after_reply: false,
            info,
            blocked: None,
            multi: None,
            in_script: false,
            spare_argvs: Vec::new(),
            watching: Vec::new(),
            subscriptions: Subscriptions::default(),
            outbox_active: false,
            tracking: false,
            cmd_stats: Default::default(),
            reply_off: false,
            reply_skip: false,
            reply_skip_next: false,
        }
    }

    /// Runs as `user` from now on (AUTH, HELLO AUTH, RESET).
    pub fn set_user(&mut self, user: Arc<crate::acl::UserCell>, authenticated: bool) {
        *self.info.user.lock() = Arc::clone(&user);
        self.user = user;
        self.authenticated = authenticated;
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}
