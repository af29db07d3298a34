//! A connection's output when other threads write to it too: pub/sub messages (and keyspace
//! events) come from the publishing clients' threads, while the subscriber's own thread may
//! be parked in a read.
//!
//! **A publisher never waits on a subscriber.** It takes the subscriber's outbox lock, writes
//! the frame into the socket with a non-blocking `send` if nothing is queued before it, and
//! queues whatever the socket did not take; then it wakes the subscriber's thread, which
//! writes the queue out as the socket drains (it waits for input or for room to write, in
//! one `ppoll`). Nobody blocks on the socket while holding the lock, and every frame goes out
//! whole and in order: the subscriber's own replies take the same path once it has
//! subscribed.
//!
//! What is queued is bounded by `client-output-buffer-limit` for the client's class (pubsub:
//! 32 MB hard, 8 MB for 60 s soft): past it the subscriber is disconnected, as Redis does.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::OutputLimit;
use crate::os::ThreadWaker;

/// Frames waiting for the socket, and the limit bookkeeping.
#[derive(Default)]
struct Queue {
    frames: VecDeque<Vec<u8>>,
    /// Bytes of the front frame already written.
    front_sent: usize,
    bytes: usize,
    /// When the queue last went over the soft limit (and has stayed over it since).
    soft_since: Option<Instant>,
    /// The owner's thread, once the outbox is in use; `None` after it has gone.
    owner: Option<ThreadWaker>,
    active: bool,
    closed: bool,
}

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Written (or queued behind earlier frames) for the client.
    Taken,
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
        self.queue.lock().bytes
    }

    /// The connection is ending: nothing more is taken, and its thread is never woken again.
    pub fn close(&self) {
        let mut q = self.queue.lock();
        q.closed = true;
        q.owner = None;
        q.frames.clear();
        q.bytes = 0;
    }

    /// Sends `frame` after anything queued before it, never blocking: what the socket does
    /// not take at once is queued and the owner woken. `send` writes without blocking and
    /// returns the bytes taken.
    pub fn push(
        &self,
        frame: &[u8],
        send: impl Fn(&[u8]) -> usize,
        limit: OutputLimit,
        now: Instant,
    ) -> Pushed {
        let mut q = self.queue.lock();
        if q.closed {
            return Pushed::Gone;
        }
        let sent = if q.frames.is_empty() { send(frame) } else { 0 };
        if sent >= frame.len() {
            return Pushed::Taken;
        }
        q.frames.push_back(frame[sent..].to_vec());
        q.bytes += frame.len() - sent;
        if over_limit(&mut q, limit, now) {
            q.closed = true;
            q.owner = None;
            q.frames.clear();
            q.bytes = 0;
            return Pushed::OverLimit;
        }
        if let Some(owner) = q.owner {
            owner.wake();
        }
        Pushed::Taken
    }

    /// The owner writes out what the socket takes now; returns the bytes still queued and
    /// the bytes written.
    pub fn flush(&self, send: impl Fn(&[u8]) -> usize) -> (usize, usize) {
        let mut q = self.queue.lock();
        let mut written = 0;
        while let Some(front) = q.frames.front() {
            let rest = &front[q.front_sent..];
            let n = send(rest);
            written += n;
            if n < rest.len() {
                q.front_sent += n;
                q.bytes -= n;
                break;
            }
            q.bytes -= n;
            q.front_sent = 0;
            q.frames.pop_front();
        }
        if q.bytes == 0 {
            q.soft_since = None;
        }
        (q.bytes, written)
    }
}

/// Redis's `checkClientOutputBufferLimits`: over the hard limit, or over the soft one for
/// longer than its seconds.
fn over_limit(q: &mut Queue, limit: OutputLimit, now: Instant) -> bool {
    let used = q.bytes as u64;
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
        assert_eq!(ob.push(b"hello", send, LIMIT, now), Pushed::Taken);
        assert_eq!(ob.pending(), 2);
        // A later frame waits behind, even if the socket now has room.
        room.set(100);
        let sent = std::cell::RefCell::new(Vec::new());
        let record = |b: &[u8]| {
            sent.borrow_mut().extend_from_slice(b);
            b.len()
        };
        room.set(0);
        assert_eq!(ob.push(b"world", send, LIMIT, now), Pushed::Taken);
        assert_eq!(ob.pending(), 7);
        assert_eq!(ob.flush(record), (0, 7));
        assert_eq!(&*sent.borrow(), b"loworld");
    }

    #[test]
    fn limits_close_like_redis() {
        let ob = Outbox::default();
        let none = |_: &[u8]| 0;
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
