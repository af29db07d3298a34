//! Replies held for the append-only file's group commit.
//!
//! Under `appendfsync always` a reply may leave only once the records of the writes it
//! acknowledges are on disk (under `everysec` and `no`, once they are written). A connection
//! thread that waited for that itself would sleep through every fsync and be woken after it:
//! two thread switches per request instead of one. So when a connection has read all its
//! input, it hands its replies to the group commit's thread ([`Aof::hold`]) and goes back to
//! waiting for input. That thread writes and fsyncs what is buffered, then sends each reply
//! it covered with a non-blocking `send`.
//!
//! **Order.** While replies are held, everything the connection says next joins them
//! ([`hold`] appends), or waits for them ([`finish`]) before it is written another way, so
//! the client sees its replies in order.
//!
//! **A full socket.** The group commit's thread never blocks on a client: what the socket
//! does not take at once is left for the connection's own thread, which it wakes ([`wait`]
//! sleeps in `ppoll`, which the wake ends).
//!
//! [`Aof::hold`]: crate::persistence::aof::Aof::hold

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;

use crate::os;
use crate::persistence::aof::HeldReply;
use crate::state::{ClientInfo, Shared};

/// At most this much output is held; a longer reply waits for its records in its own
/// thread, which then writes it (blocking) as it would without the append-only file.
const HOLD_MAX: usize = 64 * 1024;

/// A connection's held replies.
#[derive(Default)]
pub struct Held {
    bytes: Vec<u8>,
    /// Where the record stream must be safe before `bytes` may leave.
    need: u64,
    /// In the group commit's queue.
    queued: bool,
    /// The socket did not take all of `bytes`: the connection's thread writes the rest.
    owner_writes: bool,
}

impl HeldReply for ClientInfo {
    fn release(&self, done: u64) -> bool {
        let mut h = self.held.lock();
        if h.need > done {
            return false;
        }
        h.queued = false;
        if h.bytes.is_empty() || h.owner_writes {
            return true;
        }
        let mut sent = 0;
        while sent < h.bytes.len() {
            let n = self.send_now(&h.bytes[sent..]);
            if n == 0 {
                break;
            }
            sent += n;
        }
        h.bytes.drain(..sent);
        if h.bytes.is_empty() {
            return true;
        }
        h.owner_writes = true;
        drop(h);
        if let Some(w) = self.waker.get() {
            w.wake();
        }
        true
    }
}

/// Holds `out` (and empties it) if it must wait for the record stream, or follows replies
/// already held; false: it may be written now, by the caller.
pub fn hold(shared: &Shared, info: &Arc<ClientInfo>, out: &mut Vec<u8>) -> bool {
    if out.is_empty() || out.len() > HOLD_MAX || !shared.aof.is_on() {
        return false;
    }
    let mut mark = shared.aof.unsafe_mark();
    if mark.is_some_and(|m| shared.aof.try_write(m)) {
        mark = None;
    }
    let mut h = info.held.lock();
    if h.owner_writes || h.bytes.len() + out.len() > HOLD_MAX {
        return false;
    }
    match mark {
        Some(need) => h.need = h.need.max(need),
        // Safe already, and nothing held before it: it goes now.
        None if h.bytes.is_empty() => return false,
        None => {}
    }
    let n = out.len();
    if h.bytes.is_empty() {
        std::mem::swap(&mut h.bytes, out);
    } else {
        h.bytes.extend_from_slice(out);
        out.clear();
    }
    let queue = !std::mem::replace(&mut h.queued, true);
    drop(h);
    shared.aof.clear_mark();
    shared.stats.net_output.add(n as u64);
    shared.stats.writes.add(1);
    info.touch();
    if queue {
        shared.aof.hold(Arc::clone(info) as Arc<dyn HeldReply>);
    }
    true
}

/// Writes the replies held for this connection, after waiting for their records (leading
/// the group commit if need be): before its output takes another way, and before it closes.
pub fn finish(mut stream: &TcpStream, shared: &Shared, info: &ClientInfo) -> io::Result<()> {
    let need = {
        let h = info.held.lock();
        if h.bytes.is_empty() {
            return Ok(());
        }
        (!h.owner_writes).then_some(h.need)
    };
    if let Some(need) = need {
        shared.aof.wait_for(need);
    }
    let bytes = {
        let mut h = info.held.lock();
        h.owner_writes = false;
        std::mem::take(&mut h.bytes)
    };
    // Still queued, the group commit finds it empty and lets it go.
    stream.write_all(&bytes)?;
    info.touch();
    Ok(())
}

/// Waits for input while replies are held: the group commit's thread sends them, and wakes
/// this one only if the socket did not take them all (then it writes the rest).
pub fn wait(stream: &TcpStream, shared: &Shared, info: &ClientInfo) -> io::Result<()> {
    loop {
        let h = info.held.lock();
        if h.bytes.is_empty() {
            return Ok(());
        }
        if h.owner_writes {
            drop(h);
            return finish(stream, shared, info);
        }
        drop(h);
        if os::wait_io(stream, false).readable {
            return Ok(());
        }
    }
}

/// An idle connection gives back the buffer its held replies took turns in (its output
/// buffer and this one trade places on every hold).
pub fn release_buffer(info: &ClientInfo) {
    let mut h = info.held.lock();
    if h.bytes.is_empty() {
        h.bytes = Vec::new();
    }
}

/// Are replies held for this connection?
pub fn any(info: &ClientInfo) -> bool {
    !info.held.lock().bytes.is_empty()
}
