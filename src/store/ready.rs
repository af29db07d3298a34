//! "This key may be ready": the wait queues of connections parked in a blocking command
//! (BLPOP and its family, BZPOPMIN, XREAD and XREADGROUP BLOCK), per database and key.
//!
//! A blocked client is a [`Waiter`] in the queue of every key it waits on, oldest first. A
//! write that creates one of those keys marks it ready; before the database's write lock is
//! released the ready keys are served, oldest waiter first, by calling each waiter's
//! [`Request`] under that same lock, so the element a push hands to a waiter is seen by no one
//! else. The waiter's thread only sleeps: it is woken with the reply already made.
//!
//! Every change of a waiter's [`State`] happens under its own mutex, and a waiter is served
//! only while `Waiting`: a timeout, CLIENT UNBLOCK, a kill or a disconnect that gets there
//! first means nothing is ever popped on its behalf. Lock order: the database, then a
//! waiter's state; never the other way round.
//!
//! Once the database lock is released, the serving thread also writes the reply into the
//! waiter's socket itself, if the socket takes it at once ([`Waiter::deliver`]): the client
//! then has its element without waiting for its own thread to be scheduled. That write and
//! the parked thread's taking of its outcome both happen under the state lock, so the reply
//! is written exactly once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use super::DbMut;

/// What a blocked command waits to do, served by the command layer.
pub trait Request: Send + Sync {
    /// Tries to serve the waiter now that `key` may be ready: `Some(reply)`, encoded for the
    /// waiter's protocol, if it was served (an error reply counts: it ends the wait too), or
    /// `None` if the key has nothing for it (another type, or already emptied).
    fn serve(&self, db: &mut DbMut, key: &[u8]) -> Option<Vec<u8>>;
}

/// Where a waiter is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting,
    /// Served: the reply, of which the serving thread already wrote `sent` bytes.
    Served {
        reply: Vec<u8>,
        sent: usize,
    },
    /// Its timeout passed, or CLIENT UNBLOCK ... TIMEOUT.
    TimedOut,
    /// CLIENT UNBLOCK ... ERROR.
    Unblocked,
    /// The client went away or was killed: nothing is sent.
    Cancelled,
    /// The parked thread has taken its outcome.
    Taken,
}

/// Writes what a socket takes at once, without blocking; returns the bytes written.
pub type SendNow = Box<dyn Fn(&[u8]) -> usize + Send + Sync>;

/// How a parked client is reached from another thread.
pub struct Wake {
    /// Wakes the parked thread; called with the state lock held, while it still waits.
    pub wake: Box<dyn Fn() + Send + Sync>,
    pub send: SendNow,
    /// Called once, under the state lock, when the wait ends (by whoever ends it), with how
    /// it ended: counts such as INFO's `blocked_clients` drop, and the slow log gets the
    /// command, before the client can see its reply.
    pub ended: Box<dyn Fn(&State) + Send + Sync>,
    /// `true` just before it is served, `false` once served (or not after all): what the
    /// serving changes tell this client (client-side caching's invalidations) follows its
    /// reply, as Redis orders them for a client it unblocks.
    pub hold: Box<dyn Fn(bool) + Send + Sync>,
}

/// A connection parked in a blocking command.
pub struct Waiter {
    pub client_id: u64,
    /// The database it waits in (by index: SWAPDB does not move waiters).
    pub db: usize,
    /// The keys it waits on, in argument order.
    pub keys: Vec<Box<[u8]>>,
    request: Box<dyn Request>,
    state: Mutex<State>,
    reach: Wake,
}

impl Waiter {
    pub fn new(
        client_id: u64,
        db: usize,
        keys: Vec<Box<[u8]>>,
        request: Box<dyn Request>,
        reach: Wake,
    ) -> Arc<Waiter> {
        Arc::new(Waiter {
            client_id,
            db,
            keys,
            request,
            state: Mutex::new(State::Waiting),
            reach,
        })
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state.lock().clone()
    }

    /// The parked thread takes its outcome (once it has one): `None` while it still waits.
    pub fn take(&self) -> Option<State> {
        let mut state = self.state.lock();
        if *state == State::Waiting {
            return None;
        }
        Some(std::mem::replace(&mut *state, State::Taken))
    }

    /// After the database lock is released: writes a served reply into the client's socket,
    /// as much as it takes at once, and wakes the parked thread for the rest (and for what
    /// follows its blocking command).
    pub fn deliver(&self) {
        let mut state = self.state.lock();
        if let State::Served { reply, sent } = &mut *state {
            if *sent == 0 {
                *sent = (self.reach.send)(reply);
            }
            (self.reach.hold)(false);
            (self.reach.wake)();
        }
    }

    pub fn is_waiting(&self) -> bool {
        *self.state.lock() == State::Waiting
    }

    /// Ends the wait with `to` unless it has already ended; true if this call ended it. The
    /// parked thread is woken (it may not be the caller).
    pub fn finish(&self, to: State) -> bool {
        let mut state = self.state.lock();
        if *state != State::Waiting {
            return false;
        }
        *state = to;
        (self.reach.ended)(&state);
        (self.reach.wake)();
        true
    }

    /// Serves the waiter with what `serve` makes, if it still waits and `serve` makes a reply;
    /// true if it was served (then [`Waiter::deliver`] must follow). `serve` runs under the
    /// state lock, so nothing else can end the wait meanwhile.
    pub fn serve_with(&self, serve: impl FnOnce(&dyn Request) -> Option<Vec<u8>>) -> bool {
        let mut state = self.state.lock();
        if *state != State::Waiting {
            return false;
        }
        (self.reach.hold)(true);
        match serve(&*self.request) {
            Some(reply) => {
                *state = State::Served { reply, sent: 0 };
                (self.reach.ended)(&state);
                true
            }
            None => {
                (self.reach.hold)(false);
                false
            }
        }
    }

    /// Ends the wait from the parked thread itself (timeout, disconnect): no wake needed.
    pub fn finish_here(&self, to: State) -> State {
        let mut state = self.state.lock();
        if *state == State::Waiting {
            *state = to;
            (self.reach.ended)(&state);
        }
        state.clone()
    }
}

/// One database's waiters, by key, and the keys that may have become ready.
#[derive(Default)]
pub struct Queues {
    by_key: HashMap<Box<[u8]>, VecDeque<Arc<Waiter>>>,
    ready: Vec<Box<[u8]>>,
}

impl Queues {
    /// Is anyone waiting on `key`? (Nobody, almost always: that answer costs no hashing.)
    pub fn has_waiters(&self, key: &[u8]) -> bool {
        !self.by_key.is_empty() && self.by_key.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Adds `w` at the back of the queue of each of its keys.
    pub fn add(&mut self, w: &Arc<Waiter>) {
        for k in &w.keys {
            self.by_key
                .entry(k.clone())
                .or_default()
                .push_back(Arc::clone(w));
        }
    }

    /// Takes `w` out of every queue it is in.
    pub fn remove(&mut self, w: &Arc<Waiter>) {
        for k in &w.keys {
            if let Some(q) = self.by_key.get_mut(k) {
                q.retain(|x| !Arc::ptr_eq(x, w));
                if q.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
    }

    /// Notes that `key` may be ready (it was just created), if anyone waits on it.
    pub fn signal(&mut self, key: &[u8]) {
        if self.by_key.contains_key(key) && !self.ready.iter().any(|k| **k == *key) {
            self.ready.push(Box::from(key));
        }
    }

    /// Notes every waited-on key for which `exists` holds (after SWAPDB or a flush).
    pub fn signal_existing(&mut self, exists: impl Fn(&[u8]) -> bool) {
        let keys: Vec<Box<[u8]>> = self.by_key.keys().filter(|k| exists(k)).cloned().collect();
        for k in keys {
            self.signal(&k);
        }
    }

    /// Calls `f` with every key someone waits on.
    pub fn for_each_key(&self, mut f: impl FnMut(&[u8])) {
        for k in self.by_key.keys() {
            f(k);
        }
    }

    /// Takes the keys signalled so far.
    pub fn take_ready(&mut self) -> Vec<Box<[u8]>> {
        std::mem::take(&mut self.ready)
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The waiters on `key`, oldest first.
    pub fn waiters(&self, key: &[u8]) -> Vec<Arc<Waiter>> {
        self.by_key
            .get(key)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}
