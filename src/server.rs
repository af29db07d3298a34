//! Binding, the accept loop, `maxclients` admission, and orderly shutdown. Owns everything the
//! connections share: the store, the settings, the statistics and the client registry.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown as SockShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::client::{self, ClientInfo};
use crate::config::Config;
use crate::pool::Pool;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// The reply to a connection over `maxclients`, before it is closed.
pub const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// Server-wide counters for INFO.
#[derive(Default)]
pub struct Stats {
    pub commands: AtomicU64,
    pub connections: AtomicU64,
    pub rejected: AtomicU64,
    pub net_input: AtomicU64,
    pub net_output: AtomicU64,
    pub expired_keys: AtomicU64,
}

/// Live connections, for CLIENT LIST/KILL and to wake blocked reads at shutdown.
#[derive(Default)]
pub struct Clients {
    map: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    closing: std::sync::atomic::AtomicBool,
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

    /// Wakes every connection's blocked read: it sees end-of-stream after its current command.
    fn close_all_reads(&self) {
        let map = self.map.lock();
        self.closing.store(true, Ordering::SeqCst);
        for c in map.values() {
            c.close_read();
        }
    }

    fn close_all(&self) {
        for c in self.map.lock().values() {
            c.close();
        }
    }
}

/// Everything the connections share.
pub struct Shared {
    pub config: Config,
    pub store: Store,
    pub stats: Stats,
    pub clients: Clients,
    pub shutdown: Arc<Shutdown>,
    pub started: Instant,
    pub port: u16,
    /// Connections being served now (admitted, not yet closed).
    pub active: AtomicUsize,
    /// Unix ms of the last successful save (LASTSAVE); the start time until one happens.
    pub last_save: AtomicI64,
}

impl Shared {
    pub fn new(config: Config, shutdown: Arc<Shutdown>, port: u16) -> Self {
        let store = Store::new(config.databases);
        Shared {
            config,
            store,
            stats: Stats::default(),
            clients: Clients::default(),
            shutdown,
            started: Instant::now(),
            port,
            active: AtomicUsize::new(0),
            last_save: AtomicI64::new(crate::store::now_ms()),
        }
    }
}

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
    TcpListener::bind((host, port))
}

/// Serves `listener` until `shutdown` is triggered, then closes every connection and returns.
pub fn run(listener: TcpListener, config: Config, shutdown: Arc<Shutdown>) -> io::Result<()> {
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config, Arc::clone(&shutdown), local.port()));
    let pool = Pool::new(shutdown.receiver());
    let expirer = spawn_expirer(Arc::clone(&shared));
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
    let _ = expirer.join();
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

/// Active expiry: every 100 ms (Redis's `hz 10`) reclaim due keys, a bounded batch per database
/// per lock hold; while a backlog remains, go again after a short pause so clients interleave.
fn spawn_expirer(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    const BATCH: usize = 200;
    let stop = shared.shutdown.receiver();
    std::thread::Builder::new()
        .name("spindle-expire".into())
        .spawn(move || loop {
            let mut wait = Duration::from_millis(100);
            let n = shared.store.expire_cycle(BATCH);
            if n > 0 {
                shared
                    .stats
                    .expired_keys
                    .fetch_add(n as u64, Ordering::Relaxed);
                if n >= BATCH {
                    wait = Duration::from_millis(1);
                }
            }
            if stop.recv_timeout(wait).is_err_and(|e| e.is_disconnected()) {
                return;
            }
        })
        .expect("spawning the expiry thread at startup")
}
