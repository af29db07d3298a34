//! A bounded pool of reusable, small-stack worker threads fed through a crossbeam channel.
//!
//! A thread is spawned only when no idle one is waiting, and each goes back to waiting after
//! its connection ends, so the number of threads never exceeds the peak number of connections
//! (itself bounded by `maxclients`).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{select, Receiver, Sender};

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Stack size of a worker: small, so that ten thousand connections fit.
pub const WORKER_STACK: usize = 256 * 1024;

pub struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    shutdown: Receiver<()>,
    idle: AtomicUsize,
    threads: AtomicUsize,
}

impl Pool {
    /// `shutdown` becomes ready when idle workers should exit.
    pub fn new(shutdown: Receiver<()>) -> Arc<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Arc::new(Pool {
            tx,
            rx,
            shutdown,
            idle: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
        })
    }

    /// Runs `job` on an idle worker, or on a new one if none is idle.
    pub fn execute(self: &Arc<Self>, job: Job) -> io::Result<()> {
        let reserved = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if reserved.is_ok() {
            if let Err(e) = self.tx.send(job) {
                self.idle.fetch_add(1, Ordering::AcqRel);
                drop(e.into_inner());
            }
            return Ok(());
        }
        let pool = Arc::clone(self);
        self.threads.fetch_add(1, Ordering::AcqRel);
        std::thread::Builder::new()
            .name("spindle-worker".into())
            .stack_size(WORKER_STACK)
            .spawn(move || {
                run(job);
                pool.work();
                pool.threads.fetch_sub(1, Ordering::AcqRel);
            })
            .map(drop)
            .inspect_err(|_| {
                self.threads.fetch_sub(1, Ordering::AcqRel);
            })
    }

    fn work(&self) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            select! {
                recv(self.rx) -> job => match job {
                    Ok(job) => run(job),
                    Err(_) => return,
                },
                recv(self.shutdown) -> _ => return,
            }
        }
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
        let pool = Pool::new(shutdown.receiver());
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
}
