//! The shutdown signal: a flag plus a crossbeam channel whose sender is dropped on trigger, so
//! every receiver (idle workers, the expiry thread, the accept-loop waker) wakes at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

pub struct Shutdown {
    flag: AtomicBool,
    /// A signal asked for a shutdown; the cron thread prepares it (the final save) first.
    requested: AtomicBool,
    tx: Mutex<Option<Sender<()>>>,
    rx: Receiver<()>,
}

impl Shutdown {
    pub fn new() -> Arc<Self> {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Arc::new(Shutdown {
            flag: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            tx: Mutex::new(Some(tx)),
            rx,
        })
    }

    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.tx.lock().take();
    }

    /// Asks for a shutdown that saves first as configured (SIGTERM, SIGINT); the server's
    /// cron thread takes the request.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Takes a pending request, if any.
    pub fn take_request(&self) -> bool {
        self.requested.swap(false, Ordering::SeqCst)
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A receiver that becomes ready (disconnected) when shutdown starts.
    pub fn receiver(&self) -> Receiver<()> {
        self.rx.clone()
    }

    /// Blocks until shutdown starts.
    pub fn wait(&self) {
        let _ = self.rx.recv();
    }
}
