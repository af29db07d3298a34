//! A bounded pool of reusable, small-stack worker threads fed through a crossbeam channel.
//!
//! A thread is spawned only when no idle one is waiting, and each goes back to waiting after
//! its connection ends, so the number of threads never exceeds the peak number of connections
//! (itself bounded by `maxclients`). A thread left idle for the idle timeout exits, unless
//! only the warm pool is left, so that stacks and per-thread allocator pages go back to the
//! system after a crowd of clients has gone.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, RecvTimeoutError, Sender};

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Stack size of a worker: small, so that ten thousand connections fit.
pub const WORKER_STACK: usize = 256 * 1024;

/// The scheduler time slice a worker asks for (EEVDF's default here is 1.4 ms). A shorter
/// slice gives a woken thread an earlier deadline, so a connection thread woken by its
/// client's request runs at once instead of queueing behind a thread that runs long (a slow
/// neighbour's `KEYS`, the client itself on a shared core), and a worker preempted while it
/// holds a database lock is back sooner. Too short, and lock holders are preempted by the
/// very threads that then wait for them. Alternating runs, 20 clients doing 50/50 SET/GET,
/// p99.9: 0.1 ms 1.7-1.9 ms, 0.2 ms 3.0-3.2, 0.3 ms 4.5-4.7, default 8.2-8.4; `SET` and
/// `LPUSH` at `-c 50 -P 16` lost about 15% at 0.1 ms and nothing measurable at 0.2 ms.
pub const WORKER_SLICE_NS: u64 = 200_000;

/// Threads kept however long they idle, so that a trickle of short connections never waits
/// for a thread to start.
pub const WARM_WORKERS: usize = 16;

pub struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    /// One message per queued job that no idle worker was reserved for.
    spawn_tx: Sender<()>,
    shutdown: Receiver<()>,
    /// Idle workers for which no queued job has been reserved yet.
    idle: AtomicUsize,
    threads: AtomicUsize,
    idle_timeout: Duration,
    /// Workers retired since the last `take_retired`.
    retired: AtomicUsize,
}

impl Pool {
    /// `shutdown` becomes ready when idle workers (and the spawner) should exit; a worker
    /// beyond the warm pool exits after `idle_timeout` without a job.
    pub fn new(shutdown: Receiver<()>, idle_timeout: Duration) -> Arc<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (spawn_tx, spawn_rx) = crossbeam_channel::unbounded();
        let pool = Arc::new(Pool {
            tx,
            rx,
            spawn_tx,
            shutdown,
            idle: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
            idle_timeout,
            retired: AtomicUsize::new(0),
        });
        let spawner = Arc::clone(&pool);
        let started = std::thread::Builder::new()
            .name("spindle-spawner".into())
            .stack_size(WORKER_STACK)
            .spawn(move || spawner.spawner(spawn_rx));
        if let Err(e) = started {
            log::error!("cannot start the worker spawner: {e}");
        }
        pool
    }

    /// Queues `job` for an idle worker, or for a new one if none is idle. Never waits for a
    /// thread to be created: the spawner does that, so a burst of connects is accepted as fast as
    /// it arrives instead of overflowing the listen backlog.
    pub fn execute(self: &Arc<Self>, job: Job) -> io::Result<()> {
        let reserved = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        self.tx
            .send(job)
            .map_err(|_| io::Error::other("worker pool closed"))?;
        if !reserved && self.spawn_tx.send(()).is_err() {
            // No spawner (it could not start): create the worker here rather than leave the
            // job queued with no thread coming for it.
            self.spawn_worker()?;
        }
        Ok(())
    }

    /// Creates one worker per request; a failed spawn is retried, since a queued job has no other
    /// thread coming for it unless a busy worker frees up.
    fn spawner(self: Arc<Self>, requests: Receiver<()>) {
        loop {
            select! {
                recv(requests) -> msg => if msg.is_err() { return },
                recv(self.shutdown) -> _ => return,
            }
            while let Err(e) = self.spawn_worker() {
                log::error!("cannot start a worker thread: {e}; retrying");
                // The shutdown channel never carries a message: only its closing ends the wait.
                if !matches!(
                    self.shutdown.recv_timeout(Duration::from_millis(100)),
                    Err(RecvTimeoutError::Timeout)
                ) {
                    return;
                }
            }
        }
    }

    fn spawn_worker(self: &Arc<Self>) -> io::Result<()> {
        let pool = Arc::clone(self);
        let slot = crate::os::WakeSlot::new();
        self.threads.fetch_add(1, Ordering::AcqRel);
        // Named from inside, not by the builder: see `os::set_thread_name`.
        std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn(move || {
                crate::os::set_thread_name(c"spindle-worker");
                slot.adopt();
                if let Err(e) = crate::os::set_thread_slice(WORKER_SLICE_NS) {
                    log::debug!("worker time slice not set: {e}");
                }
                if !pool.work() {
                    pool.threads.fetch_sub(1, Ordering::AcqRel);
                }
            })
            .map(drop)
            .inspect_err(|_| {
                self.threads.fetch_sub(1, Ordering::AcqRel);
            })
    }

    /// A new worker's first job was queued for it; after each job it counts itself idle.
    /// Returns true if it retired (and already left the thread count).
    fn work(&self) -> bool {
        loop {
            // At the warm floor there is nothing to time out for: wait for work alone.
            if self.threads.load(Ordering::Acquire) <= WARM_WORKERS {
                select! {
                    recv(self.rx) -> job => match job {
                        Ok(job) => run(job),
                        Err(_) => return false,
                    },
                    recv(self.shutdown) -> _ => return false,
                }
            } else {
                select! {
                    recv(self.rx) -> job => match job {
                        Ok(job) => run(job),
                        Err(_) => return false,
                    },
                    recv(self.shutdown) -> _ => return false,
                    default(self.idle_timeout) => {
                        if self.retire() {
                            crate::alloc::release_free_memory();
                            self.retired.fetch_add(1, Ordering::AcqRel);
                            return true;
                        }
                        continue;
                    }
                }
            }
            self.idle.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// An idle worker timed out: it may leave if the pool is above its warm size and some
    /// idle worker has no job reserved (otherwise a queued job would be left without one).
    fn retire(&self) -> bool {
        let above_warm = self
            .threads
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t > WARM_WORKERS).then(|| t - 1)
            })
            .is_ok();
        if !above_warm {
            return false;
        }
        let unreserved = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !unreserved {
            self.threads.fetch_add(1, Ordering::AcqRel);
        }
        unreserved
    }

    /// How many workers retired since the last call.
    pub fn take_retired(&self) -> usize {
        self.retired.swap(0, Ordering::AcqRel)
    }

    /// Threads alive (idle or busy).
    pub fn threads(&self) -> usize {
        self.threads.load(Ordering::Acquire)
    }

    /// Drops jobs no worker will pick up any more (at shutdown).
    pub fn drain(&self) {
        while let Ok(job) = self.rx.try_recv() {
            drop(job);
        }
    }
}

/// A panic that escaped a connection must not kill the worker thread.
fn run(job: Job) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        log::error!("a connection handler panicked; the worker goes on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn threads_are_reused() {
        let shutdown = crate::shutdown::Shutdown::new();
        let pool = Pool::new(shutdown.receiver(), Duration::from_secs(60));
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        for _ in 0..50 {
            let tx = done_tx.clone();
            pool.execute(Box::new(move || tx.send(()).unwrap()))
                .unwrap();
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            while pool.idle.load(Ordering::Acquire) < pool.threads() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(pool.threads(), 1, "sequential jobs reuse one thread");
        shutdown.trigger();
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn idle_threads_beyond_the_warm_pool_exit() {
        const JOBS: usize = 60;
        let shutdown = crate::shutdown::Shutdown::new();
        let pool = Pool::new(shutdown.receiver(), Duration::from_millis(20));
        for round in 0..3 {
            // All at once: each job holds its thread until every one has started, and until
            // the count below is taken (a loaded machine may otherwise pause this thread long
            // enough for the first ones to finish and idle out).
            let started = std::sync::Arc::new(std::sync::Barrier::new(JOBS + 1));
            let counted = std::sync::Arc::new(std::sync::Barrier::new(JOBS + 1));
            for _ in 0..JOBS {
                let (s, c) = (started.clone(), counted.clone());
                pool.execute(Box::new(move || {
                    s.wait();
                    c.wait();
                }))
                .unwrap();
            }
            started.wait();
            assert!(pool.threads() >= JOBS, "round {round}: one thread per job");
            counted.wait();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while pool.threads() > WARM_WORKERS {
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: {} threads still alive",
                    pool.threads()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(pool.threads(), WARM_WORKERS, "the warm pool stays");
        }
        // The survivors still take work.
        let (tx, rx) = crossbeam_channel::unbounded();
        for _ in 0..100 {
            let tx = tx.clone();
            pool.execute(Box::new(move || tx.send(()).unwrap()))
                .unwrap();
        }
        for _ in 0..100 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        shutdown.trigger();
    }
}
