//! A connection's output when other threads write to it too: pub/sub messages (and keyspace
//! events) come from the publishing clients' threads, while the subscriber's own thread may
//! be parked in a read.
//!
//! **A publisher never waits on a subscriber.** It takes the subscriber's outbox lock and
//! appends the frame to its queue. When the publisher's batch of commands is done, it writes
//! each queue it filled into its subscriber's socket with a non-blocking `send`, as Redis
//! writes its clients' buffers before it sleeps: a burst of messages costs one write per
//! subscriber and no thread switch. Only what a full socket does not take wakes the
//! subscriber's own thread, which writes the rest as the socket drains (it waits for input,
//! room to write or a wake in one `ppoll`). Nobody blocks on a socket while holding the lock,
//! and every frame goes out whole and in order: the subscriber's own replies take the same
//! path once it has subscribed (written at once, without blocking, when nothing is queued
//! before them).
//!
//! What is queued is bounded by `client-output-buffer-limit` for the client's class (pubsub:
//! 32 MB hard, 8 MB for 60 s soft): past it the subscriber is disconnected, as Redis does.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::OutputLimit;
use crate::os::ThreadWaker;

/// Bytes waiting for the socket, and the limit bookkeeping.
#[derive(Default)]
struct Queue {
    /// What waits for the socket, in blocks of up to [`BLOCK`] bytes (never one growing
    /// buffer, whose copies on growth would double the memory a full queue holds); the
    /// first `sent` bytes of the front block are already written.
    blocks: VecDeque<Vec<u8>>,
    sent: usize,
    bytes: usize,
    /// When the queue last went over the soft limit (and has stayed over it since).
    soft_since: Option<Instant>,
    /// The owner's thread, once the outbox is in use; `None` after it has gone.
    owner: Option<ThreadWaker>,
    active: bool,
    closed: bool,
    /// The owner is asleep (or about to be) and must be woken for new frames; cleared by
    /// the first wake, so a burst of frames costs one.
    parked: bool,
}

/// The size of a queue block.
const BLOCK: usize = 16 * 1024;

/// A non-blocking write into the client's socket: the bytes it took.
pub type SendFn<'a> = dyn Fn(&[u8]) -> usize + 'a;

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Written (or queued behind earlier frames) for the client.
    Taken,
    /// Queued, and the owner sleeps: once its own batch of work is done, the caller must
    /// [write it out or wake the owner](Outbox::send_or_wake).
    TakenWake,
    /// The client went over its output limit: it must be closed (the queue was dropped).
    OverLimit,
    /// The client is gone or was closed: nothing was sent.
    Gone,
}

#[derive(Default)]
pub struct Outbox {
    queue: Mutex<Queue>,
}

impl Outbox {
    /// From now on every write to this client goes through the outbox; `owner` is the
    /// connection's thread, to be woken when frames are queued.
    pub fn activate(&self, owner: ThreadWaker) {
        let mut q = self.queue.lock();
        q.owner = Some(owner);
        q.active = true;
    }

    /// Has the connection switched to the outbox?
    pub fn is_active(&self) -> bool {
        self.queue.lock().active
    }

    /// Bytes waiting for the socket (CLIENT LIST `omem`).
    pub fn pending(&self) -> usize {
        self.queue.lock().pending()
    }

    /// The connection is ending: nothing more is taken, and its thread is never woken again.
    pub fn close(&self) {
        let mut q = self.queue.lock();
        q.closed = true;
        q.owner = None;
        q.clear();
    }

    /// Queues `frame` after anything queued before it, never blocking, and wakes the owner
    /// if the queue was empty. The owner itself passes `send` (a non-blocking write): with
    /// nothing queued, its frame goes straight into the socket.
    pub fn push(
        &self,
        frame: &[u8],
        send: Option<&SendFn<'_>>,
        limit: OutputLimit,
        now: Instant,
    ) -> Pushed {
        let mut q = self.queue.lock();
        if q.closed {
            return Pushed::Gone;
        }
        let was_empty = q.pending() == 0;
        let sent = match send {
            Some(send) if was_empty => send(frame),
            _ => 0,
        };
        if sent >= frame.len() {
            return Pushed::Taken;
        }
        q.append(&frame[sent..]);
        if over_limit(&mut q, limit, now) {
            q.closed = true;
            q.owner = None;
            q.clear();
            return Pushed::OverLimit;
        }
        if was_empty && send.is_none() && q.parked {
            return Pushed::TakenWake;
        }
        Pushed::Taken
    }

    /// The owner is about to sleep until input, room to write or a wake: from now on a frame
    /// queued by another thread wakes it. (A wake sent before it sleeps is not lost: the
    /// signal waits, blocked, until the sleep lets it in.)
    pub fn parking(&self) {
        self.queue.lock().parked = true;
    }

    /// After a [`Pushed::TakenWake`]: writes what the socket takes now, without blocking, and
    /// wakes the owner only for what is left. Nothing happens once the owner has gone (under
    /// the lock, so a thread that has left is never signalled). Returns the bytes written.
    pub fn send_or_wake(&self, send: impl Fn(&[u8]) -> usize) -> usize {
        let mut q = self.queue.lock();
        if q.closed || q.owner.is_none() {
            return 0;
        }
        let written = q.write_out(send);
        if q.pending() > 0 && q.parked {
            q.parked = false;
            if let Some(owner) = &q.owner {
                owner.wake();
            }
        }
        written
    }

    /// The owner is awake again.
    pub fn awake(&self) {
        self.queue.lock().parked = false;
    }

    /// The owner writes out what the socket takes now; returns the bytes still queued and
    /// the bytes written.
    pub fn flush(&self, send: impl Fn(&[u8]) -> usize) -> (usize, usize) {
        let mut q = self.queue.lock();
        let written = q.write_out(send);
        (q.pending(), written)
    }
}

impl Queue {
    /// Adds `data` at the back, filling the last block before starting another.
    fn append(&mut self, mut data: &[u8]) {
        self.bytes += data.len();
        while !data.is_empty() {
            match self.blocks.back_mut() {
                Some(last) if last.len() < BLOCK => {
                    let n = (BLOCK - last.len()).min(data.len());
                    last.extend_from_slice(&data[..n]);
                    data = &data[n..];
                }
                // Whole blocks, never grown: growth would copy and leave freed pieces of
                // every size behind.
                _ => self.blocks.push_back(Vec::with_capacity(BLOCK)),
            }
        }
    }

    /// Writes what `send` takes, block by block; the bytes written.
    fn write_out(&mut self, send: impl Fn(&[u8]) -> usize) -> usize {
        let mut written = 0;
        while let Some(front) = self.blocks.front() {
            let n = send(&front[self.sent..]);
            if n == 0 {
                break;
            }
            written += n;
            self.sent += n;
            self.bytes -= n;
            if self.sent == front.len() {
                self.blocks.pop_front();
                self.sent = 0;
            }
        }
        if self.bytes == 0 {
            self.soft_since = None;
        }
        written
    }

    fn pending(&self) -> usize {
        self.bytes
    }

    /// Empties the queue.
    fn clear(&mut self) {
        self.blocks = VecDeque::new();
        self.sent = 0;
        self.bytes = 0;
        self.soft_since = None;
    }
}

/// Redis's `checkClientOutputBufferLimits`: over the hard limit, or over the soft one for
/// longer than its seconds.
fn over_limit(q: &mut Queue, limit: OutputLimit, now: Instant) -> bool {
    let used = q.pending() as u64;
    if limit.hard > 0 && used >= limit.hard {
        return true;
    }
    if limit.soft > 0 && used >= limit.soft {
        match q.soft_since {
            None => q.soft_since = Some(now),
            Some(since) => {
                if now.duration_since(since) > Duration::from_secs(limit.soft_secs) {
                    return true;
                }
            }
        }
    } else {
        q.soft_since = None;
    }
    false
}

/// Writes to `stream` without blocking; the bytes taken (0 if none, or on an error, which
/// the owner's next read reports).
pub fn send_nonblocking(stream: &TcpStream, bytes: &[u8]) -> usize {
    if crate::os::is_forked_child() {
        return bytes.len();
    }
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `bytes` is a live buffer of that length; the descriptor is the stream's.
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
        let _ = (stream, bytes);
        0
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const LIMIT: OutputLimit = OutputLimit {
        hard: 100,
        soft: 50,
        soft_secs: 1,
    };

    #[test]
    fn frames_queue_in_order_behind_a_full_socket() {
        let ob = Outbox::default();
        let room = Cell::new(3usize);
        let send = |b: &[u8]| {
            let n = b.len().min(room.get());
            room.set(room.get() - n);
            n
        };
        let now = Instant::now();
        assert_eq!(ob.push(b"hello", Some(&send), LIMIT, now), Pushed::Taken);
        assert_eq!(ob.pending(), 2);
        // A later frame waits behind, even from the owner with room in the socket; another
        // thread's frame is only queued.
        room.set(100);
        assert_eq!(ob.push(b"world", Some(&send), LIMIT, now), Pushed::Taken);
        assert_eq!(ob.push(b"!", None, LIMIT, now), Pushed::Taken);
        assert_eq!(ob.pending(), 8);
        let sent = std::cell::RefCell::new(Vec::new());
        let record = |b: &[u8]| {
            sent.borrow_mut().extend_from_slice(b);
            b.len()
        };
        assert_eq!(ob.flush(record), (0, 8));
        assert_eq!(&*sent.borrow(), b"loworld!");
    }

    #[test]
    fn limits_close_like_redis() {
        let ob = Outbox::default();
        let none = None;
        let t0 = Instant::now();
        assert_eq!(
            ob.push(&[0; 60], none, LIMIT, t0),
            Pushed::Taken,
            "over soft: noted"
        );
        assert_eq!(
            ob.push(&[0; 1], none, LIMIT, t0 + Duration::from_millis(500)),
            Pushed::Taken
        );
        assert_eq!(
            ob.push(&[0; 1], none, LIMIT, t0 + Duration::from_millis(1500)),
            Pushed::OverLimit,
            "over soft for longer than its seconds"
        );
        assert_eq!(ob.push(b"x", none, LIMIT, t0), Pushed::Gone);
        let ob = Outbox::default();
        assert_eq!(
            ob.push(&[0; 100], none, LIMIT, t0),
            Pushed::OverLimit,
            "hard"
        );
    }
}
