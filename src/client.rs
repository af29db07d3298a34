//! One connection: read → parse every complete request → dispatch → buffer the replies →
//! one write per batch. The only module that touches a client's socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command;
use crate::held;
use crate::os::{self, ThreadWaker, Woke};
use crate::outbox::Pushed;
use crate::protocol::{encode, encode_streaming, Reply, RequestParser};
use crate::state::{Blocked, ClientInfo, ClientState, Shared};
use crate::store::ready::State as WaitState;

/// Bytes asked of the kernel per read (Redis's `PROTO_IOBUF_LEN`).
const READ_CHUNK: usize = 16 * 1024;
/// Replies are written out once this much is pending, so a long pipeline of large replies
/// never accumulates in memory.
const OUT_FLUSH: usize = 64 * 1024;
/// Buffers larger than this are given back after use.
const KEEP_BUF: usize = 64 * 1024;
/// An input buffer larger than this shrinks after a batch that used less than half of it
/// (Redis's `PROTO_RESIZE_THRESHOLD`).
const RESIZE_THRESHOLD: usize = 32 * 1024;
/// A client silent this long gives its buffers back until it sends again (Redis frees an
/// idle client's query buffer after 2 seconds): an idle connection then costs no buffer.
const IDLE_RELEASE: Duration = Duration::from_secs(2);

/// The unparsed input: `data[start..end]`, kept initialised so reads need no zeroing.
struct InBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// The most input waiting at once since the buffer was last emptied.
    peak: usize,
}

impl InBuf {
    fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Makes room for at least `want` more bytes at the end.
    fn reserve(&mut self, want: usize) {
        if self.data.len() - self.end >= want {
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.data.len() - self.end < want {
            let new_len = (self.end + want).max(self.data.len() * 2);
            self.data.resize(new_len, 0);
        }
    }

    /// Notes how much input is waiting now, with `held`, what the parser has already taken of
    /// the request under way (a big argument it gathers): the batch's peak decides whether a
    /// large buffer is kept for the next one, as Redis keeps a query buffer the size of the
    /// big argument it last read.
    fn note_peak(&mut self, held: usize) {
        self.peak = self.peak.max(self.end - self.start + held);
    }

    /// `n` bytes were parsed; `mid_request`: the request they belong to is not complete.
    fn consume(&mut self, n: usize, mid_request: bool) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // As Redis resizes a query buffer: a large one stays while batches use over half
            // of it, and goes back to a chunk after one that does not (never in the middle of
            // a request, whose big argument still has bytes to come).
            if mid_request {
                return;
            }
            if self.data.len() > RESIZE_THRESHOLD && self.data.len() / 2 > self.peak {
                self.data = vec![0; READ_CHUNK];
            }
            self.peak = 0;
        }
    }
}

/// Redis's refusal of a remote client in protected mode.
const PROTECTED_MODE_REPLY: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

fn protected_mode(shared: &Shared) -> bool {
    shared
        .config
        .get(crate::config::lookup("protected-mode").expect("in the table"))
        == "yes"
}

/// What a connection keeps for as long as it lasts, made by the accepting thread: allocated
/// there, among every other connection's, it leaves nothing in the pooled thread's own
/// allocator pages, which the thread then gives back whole while its client idles.
pub struct Accepted {
    stream: Arc<TcpStream>,
    info: Arc<ClientInfo>,
}

impl Accepted {
    pub fn new(stream: TcpStream, unix: Option<Arc<str>>, shared: &Shared) -> Option<Self> {
        let stream = Arc::new(stream);
        let id = shared.clients.next_id();
        match ClientInfo::new(id, &stream, unix, shared.acl.default_user()) {
            Ok(info) => Some(Accepted {
                stream,
                info: Arc::new(info),
            }),
            Err(e) => {
                log::debug!("client {id}: {e}");
                None
            }
        }
    }
}

/// Serves one accepted connection until it closes or the server shuts down.
pub fn serve(accepted: Accepted, shared: &Arc<Shared>) {
    let Accepted { stream, info } = accepted;
    let id = info.id;
    // Protected mode: without a password for the default user, only loopback clients (on
    // the connection's own thread, so the accept loop makes no extra call per client).
    if !info.is_local() && shared.acl.default_user().nopass() && protected_mode(shared) {
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        let _ = (&*stream).write_all(PROTECTED_MODE_REPLY);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    // Blocks the wake signal for this thread outside its waits, so a wake can only end one.
    let _ = info.waker.set(ThreadWaker::current());
    shared.clients.register(Arc::clone(&info));
    let mut state = ClientState::new(info);
    // A panic in the loop (a bug) must not skip the cleanup below: a subscriber left
    // registered would be signalled after its thread has gone.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        connection_loop(&stream, shared, &mut state)
    }));
    match outcome {
        Ok(Err(e)) => log::debug!("client {id} ({}): {e}", state.info.addr_text()),
        Ok(Ok(())) => {}
        Err(_) => log::error!(
            "client {id} ({}): connection loop panicked; closed",
            state.info.addr_text()
        ),
    }
    // Replies held for the append-only file still go (the loop may have ended on QUIT);
    // not on a connection a debugging session was handed.
    if !state.handed_off {
        if let Err(e) = held::finish(&stream, shared, &state.info) {
            log::debug!("client {id}: {e}");
        }
    }
    if shared.shutdown.is_triggered() {
        shared.listeners.wait_stopped(Duration::from_secs(1));
    }
    // However the loop ended, a wait it left behind is cancelled and leaves the queues.
    if let Some(blocked) = state.blocked.take() {
        blocked.waiter.finish_here(WaitState::Cancelled);
        end_wait(shared, &mut state, &blocked);
    }
    command::flush_stats(shared, &mut state);
    shared
        .stats
        .net_output
        .add(crate::state::wake_deferred() as u64);
    command::transactions::discard_transaction(shared, &mut state);
    shared.tracking.disable(&state.info);
    shared.tracking.broadcast();
    shared
        .stats
        .net_output
        .add(crate::state::wake_deferred() as u64);
    // Off every channel first, so no publisher reaches the outbox once it is closed.
    command::pubsub::forget_all(shared, &mut state);
    shared.monitors.remove(state.id);
    if state.outbox_active && !state.handed_off {
        let info = &state.info;
        let (_, written) = info.outbox.flush(|b| info.send_now(b));
        shared.stats.net_output.add(written as u64);
    }
    state.info.outbox.close();
    shared.clients.unregister(id);
}

fn connection_loop(
    mut stream: &TcpStream,
    shared: &Arc<Shared>,
    state: &mut ClientState,
) -> io::Result<()> {
    let mut input = InBuf {
        data: vec![0; READ_CHUNK],
        start: 0,
        end: 0,
        peak: 0,
    };
    let mut parser = RequestParser::new();
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    // A read that waits this long returns, so the loop can release the buffers (one
    // syscall per connection; the hot path is unchanged).
    let _ = stream.set_read_timeout(Some(IDLE_RELEASE));
    loop {
        // A bulk under way may be large: read as much of it as has room, at least a chunk.
        let want = parser
            .pending_bulk()
            .unwrap_or(0)
            .saturating_sub(input.pending().len());
        input.reserve(want.clamp(READ_CHUNK, 1024 * 1024));
        if !state.outbox_active && state.info.take_outbox_request() {
            // Another client writes to this one now (redirected invalidations).
            state.info.outbox.activate(ThreadWaker::current());
            state.outbox_active = true;
            emit(&mut stream, &mut out, shared, &state.info, true, false)?;
        }
        if state.outbox_active {
            wait_for_input(stream, shared, &state.info);
        }
        if held::any(&state.info) {
            held::wait(stream, shared, &state.info)?;
        }
        // A big argument being gathered may have outgrown (and freed) its last buffer.
        crate::alloc::purge_if_big_freed();
        let n = match stream.read(&mut input.data[input.end..]) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if input.pending().is_empty() && !parser.in_request() {
                    input.data = Vec::new();
                    out = Vec::new();
                    held::release_buffer(&state.info);
                    parser.release();
                    state.spare_argvs = Vec::new();
                    command::flush_stats(shared, state);
                    state.cmd_stats = Default::default();
                    state.info.qbuf.store(0, Ordering::Relaxed);
                    state.info.qbuf_free.store(0, Ordering::Relaxed);
                    // This thread's allocator pages, emptied by what it just dropped (or by a
                    // big value it freed), go back now: only it can give them back, and it
                    // is about to sleep.
                    crate::alloc::release_free_memory();
                    os::release_idle_stack();
                    // Until input (or a hangup, or shutdown's) arrives; then the buffers are
                    // made again.
                    while !os::wait_io(stream, false).readable {
                        if state.info.outbox_requested() {
                            break;
                        }
                    }
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        input.end += n;
        input.note_peak(parser.held_bytes());
        shared.stats.net_input.add(n as u64);
        shared.stats.reads.add(1);
        // Every read, and every write below, counts as activity (the `timeout` reaper).
        state.info.touch();
        // The limits are read live, so CONFIG SET takes effect on the next read.
        let config = &shared.config;
        if input.pending().len() + parser.held_bytes() > config.client_query_buffer_limit() {
            log::warn!(
                "closing client {} that reached max query buffer length",
                state.id
            );
            return Ok(());
        }
        parser.set_max_bulk(config.proto_max_bulk_len());

        let mut pos = 0;
        loop {
            // AUTH earlier in this batch lifts the limits for the requests after it.
            parser.set_unauthenticated(!state.authenticated && shared.acl.default_requires_auth());
            let (start, held) = (pos, parser.held_bytes());
            match parser.parse(input.pending(), &mut pos) {
                Ok(Some(argv)) => {
                    // CLIENT LIST's `qbuf`: the unprocessed input, this command included;
                    // `qbuf-free`: the room left in the read buffer.
                    let info = &state.info;
                    info.qbuf
                        .store(input.pending().len() - start + held, Ordering::Relaxed);
                    info.qbuf_free
                        .store(input.data.len() - input.end, Ordering::Relaxed);
                    info.argv_mem
                        .store(argv.iter().map(Vec::len).sum::<usize>(), Ordering::Relaxed);
                    if !state.outbox_active && may_subscribe(state, &argv) {
                        // Others will write to this client: from now on so does it, through
                        // the outbox, starting with the replies it has not sent yet.
                        state.info.outbox.activate(ThreadWaker::current());
                        state.outbox_active = true;
                        emit(&mut stream, &mut out, shared, &state.info, true, false)?;
                    }
                    let mark = out.len();
                    let tracked = state.tracking;
                    let client_cmd = tracked && command::is_client_command(&argv);
                    state.replies_pending = !out.is_empty();
                    let reply = command::execute(shared, state, &argv, &mut out);
                    parser.recycle(argv);
                    if state.handed_off {
                        // A forked debugging session has the connection now (see
                        // `scripting::ldb`): nothing more is read, written or shut down here.
                        return Ok(());
                    }
                    crate::alloc::purge_if_big_freed();
                    let (info, active) = (&state.info, state.outbox_active);
                    // CLIENT REPLY OFF|SKIP: this command's reply (a blocking one's too) is
                    // not sent.
                    let suppressed = state.reply_off || state.reply_skip;
                    if suppressed {
                        out.truncate(mark);
                    } else if active {
                        // Whole, so that no message lands inside a long streamed reply.
                        encode_streaming(reply, state.resp, &mut out, usize::MAX, |_| {
                            Ok::<(), io::Error>(())
                        })?;
                    } else {
                        encode_streaming(reply, state.resp, &mut out, OUT_FLUSH, |out| {
                            emit(&mut stream, out, shared, info, active, false)
                        })?;
                    }
                    // Redis's resetClient: SKIP covers one command, the one after SKIP.
                    state.reply_skip = std::mem::take(&mut state.reply_skip_next);
                    if active {
                        // In order with the messages published meanwhile.
                        emit(&mut stream, &mut out, shared, info, true, false)?;
                    }
                    if tracked || state.tracking {
                        // Invalidations held back during the command follow its reply.
                        let keep = state.multi.is_some() || client_cmd;
                        shared.tracking.after_command(&state.info, keep);
                    }
                    if state.blocked.is_some() {
                        command::flush_stats(shared, state);
                        // What this batch changed goes out to BCAST clients before it
                        // parks.
                        shared.tracking.broadcast();
                        shared
                            .stats
                            .net_output
                            .add(crate::state::wake_deferred() as u64);
                        // Replies so far go out before the connection parks (if that fails,
                        // the wait is cancelled on the way out).
                        emit(&mut stream, &mut out, shared, &state.info, active, false)?;
                        if state.tracking {
                            // A parked client is not running a command: invalidations go
                            // out while it waits, as in Redis.
                            shared.tracking.after_command(&state.info, true);
                        }
                        match wait_blocked(stream, shared, state) {
                            Some(_) if suppressed => {}
                            Some(reply) => out.extend_from_slice(&reply),
                            None => state.close_after_reply = true,
                        }
                        if state.tracking {
                            // Served: the invalidations its serving caused follow the reply
                            // (its thread may have taken the reply before the serving
                            // thread released them).
                            emit(
                                &mut stream,
                                &mut out,
                                shared,
                                &state.info,
                                state.outbox_active,
                                false,
                            )?;
                            shared.tracking.release(&state.info);
                        }
                    }
                    if state.close_after_reply || shared.shutdown.is_triggered() {
                        break;
                    }
                    if out.len() >= OUT_FLUSH {
                        emit(
                            &mut stream,
                            &mut out,
                            shared,
                            &state.info,
                            state.outbox_active,
                            false,
                        )?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    encode(&Reply::error(e.message()), state.resp, &mut out);
                    // An error reply like any other (total_error_replies, errorstats).
                    command::count_error(shared, &command::args::CmdError(e.message().into()));
                    log::debug!("protocol error from client {}: {e:?}", state.id);
                    state.close_after_reply = true;
                    break;
                }
            }
        }
        input.consume(pos, parser.in_request());
        // BCAST invalidations of what this batch changed (Redis sends them before it sleeps).
        shared.tracking.broadcast();
        // Between commands, as Redis reports them: what is left unparsed, and no arguments.
        let info = &state.info;
        info.qbuf.store(
            input.pending().len() + parser.held_bytes(),
            Ordering::Relaxed,
        );
        info.qbuf_free
            .store(input.data.len() - input.end, Ordering::Relaxed);
        info.argv_mem.store(parser.held_bytes(), Ordering::Relaxed);
        command::flush_stats(shared, state);
        shared
            .stats
            .net_output
            .add(crate::state::wake_deferred() as u64);
        // All input read: replies that wait for the append-only file are held, not waited
        // for (see `held`).
        emit(
            &mut stream,
            &mut out,
            shared,
            &state.info,
            state.outbox_active,
            true,
        )?;
        if state.close_after_reply || state.info.killed.load(Ordering::Relaxed) {
            // Everything is written (QUIT's +OK, a protocol error): the FIN follows at once,
            // as Redis closes right after writing. Closing only after the cleanup would let
            // a request the client sent meanwhile turn the close into a reset. Not during a
            // shutdown: the close then waits for the listeners (see `serve`).
            if state.close_after_reply
                && !state.outbox_active
                && !held::any(&state.info)
                && !shared.shutdown.is_triggered()
            {
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
            return Ok(());
        }
        if shared.shutdown.is_triggered() && !parser.in_request() && input.pending().is_empty() {
            return Ok(());
        }
    }
}

/// Parks the connection's thread until its blocking command is served, times out, is
/// unblocked, or the client goes (then `None`: the connection closes, and nothing was popped
/// for it). The thread holds no lock while parked.
#[allow(clippy::disallowed_methods)] // a monotonic clock for the wait's deadline
fn wait_blocked(stream: &TcpStream, shared: &Shared, state: &mut ClientState) -> Option<Vec<u8>> {
    let blocked = state.blocked.take()?;
    let waiter = &blocked.waiter;
    let end = loop {
        if let Some(end) = waiter.take() {
            break end;
        }
        let left = match blocked.deadline {
            Some(at) => {
                let now = Instant::now();
                if now >= at {
                    waiter.finish_here(WaitState::TimedOut);
                    continue;
                }
                Some(at - now)
            }
            None => None,
        };
        let mut want_write = false;
        if !state.outbox_active && state.info.take_outbox_request() {
            // Redirected invalidations are written to it while it waits.
            state.info.outbox.activate(ThreadWaker::current());
            state.outbox_active = true;
        }
        if state.outbox_active {
            // Messages for a subscriber (RESP3) keep flowing while it waits.
            let info = &state.info;
            let (queued, written) = info.outbox.flush(|b| info.send_now(b));
            shared.stats.net_output.add(written as u64);
            info.outbox.parking();
            // Queued between the flush and now: its wake may have gone before the flag.
            if queued == 0 && info.outbox.pending() > 0 {
                info.outbox.awake();
                continue;
            }
            want_write = queued > 0;
        }
        let woke = os::park(stream, left, want_write);
        if state.outbox_active {
            state.info.outbox.awake();
        }
        if woke == Woke::Hangup {
            waiter.finish_here(WaitState::Cancelled);
        }
    };
    end_wait(shared, state, &blocked);
    let mut out = Vec::new();
    match end {
        // The serving thread may have written part or all of it already.
        WaitState::Served { mut reply, sent } => {
            // Served with an error (XREADGROUP's group or stream gone, BLMOVE's WRONGTYPE):
            // counted as the command's failure, as Redis's updateStatsOnUnblock does.
            if let Some(text) = reply.strip_prefix(b"-") {
                let end = text.iter().position(|&b| b == b'\r').unwrap_or(text.len());
                let e = command::args::CmdError(std::borrow::Cow::Owned(text[..end].to_vec()));
                command::count_error(shared, &e);
                command::count_failed_last(shared, state);
            }
            reply.drain(..sent.min(reply.len()));
            return Some(reply);
        }
        WaitState::TimedOut => encode(&blocked.on_timeout, state.resp, &mut out),
        WaitState::Unblocked => {
            const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
            command::count_error(shared, &command::args::CmdError::msg(UNBLOCKED.to_string()));
            command::count_failed_last(shared, state);
            encode(&Reply::error(UNBLOCKED), state.resp, &mut out)
        }
        WaitState::Cancelled | WaitState::Waiting | WaitState::Taken => return None,
    }
    Some(out)
}

/// A wait is over (its state no longer `Waiting`): out of the queues and the counts.
fn end_wait(shared: &Shared, state: &mut ClientState, blocked: &Blocked) {
    shared.store.unblock(blocked.waiter.db, &blocked.waiter);
    *state.info.blocked.lock() = None;
    state
        .info
        .blocked_with_timeout
        .store(false, Ordering::Relaxed);
}

/// Could this request make other threads write to the client (SUBSCRIBE, PSUBSCRIBE,
/// SSUBSCRIBE, MONITOR, or EXEC of a queue holding one)?
fn may_subscribe(state: &ClientState, argv: &[Vec<u8>]) -> bool {
    fn subscribes(name: &[u8]) -> bool {
        [&b"subscribe"[..], b"psubscribe", b"ssubscribe", b"monitor"]
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s))
    }
    let name = &argv[0];
    // Most commands are none of these: their length says so without comparing.
    if !matches!(name.len(), 4 | 6 | 7 | 9 | 10) {
        return false;
    }
    if subscribes(name) {
        return true;
    }
    // CLIENT TRACKING: invalidations are written by the threads that change keys.
    if name.eq_ignore_ascii_case(b"client") {
        return argv
            .get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"tracking"))
            && argv.get(2).is_some_and(|a| a.eq_ignore_ascii_case(b"on"));
    }
    name.eq_ignore_ascii_case(b"exec")
        && state
            .multi
            .as_ref()
            .is_some_and(|m| m.queue.iter().any(|(_, q)| subscribes(&q[0])))
}

/// Sends `out` on its way and empties it: through the outbox once others write to this
/// client too (`active`), else straight into the socket.
/// `may_hold`: the connection has read all its input, so its replies may be held for the
/// append-only file's group commit while it waits for more.
fn emit(
    stream: &mut &TcpStream,
    out: &mut Vec<u8>,
    shared: &Shared,
    info: &Arc<ClientInfo>,
    active: bool,
    may_hold: bool,
) -> io::Result<()> {
    if may_hold && !active && held::hold(shared, info, out) {
        return Ok(());
    }
    // Replies held before these go first.
    held::finish(stream, shared, info)?;
    // A reply leaves only once the records of the writes it acknowledges are written (or,
    // under `appendfsync always`, on disk).
    shared.aof.before_reply();
    if !active {
        return flush(stream, out, shared, info);
    }
    if out.is_empty() {
        return Ok(());
    }
    let pushed = info.deliver_own(out, &shared.config);
    out.clear();
    if out.capacity() > KEEP_BUF {
        out.shrink_to(READ_CHUNK);
    }
    match pushed {
        Pushed::Taken | Pushed::TakenWake => Ok(()),
        Pushed::OverLimit | Pushed::Gone => Err(io::Error::other("closed for its output limit")),
    }
}

/// A client with an outbox waits for input without leaving its queued output behind: it
/// writes what the socket takes, and sleeps until there is input, room for more output, or a
/// publisher has queued something.
fn wait_for_input(stream: &TcpStream, shared: &Shared, info: &ClientInfo) {
    loop {
        let (left, written) = info.outbox.flush(|b| info.send_now(b));
        shared.stats.net_output.add(written as u64);
        info.outbox.parking();
        // Queued between the flush and now: its wake may have gone before the flag was set.
        if left == 0 && info.outbox.pending() > 0 {
            info.outbox.awake();
            continue;
        }
        let ready = os::wait_io(stream, left > 0);
        info.outbox.awake();
        if ready.readable {
            return;
        }
    }
}

/// Writes `out` to the client in chunks, each counting as activity (a slow but steady reader
/// of a large reply is not idle), and empties it.
fn flush(
    stream: &mut &TcpStream,
    out: &mut Vec<u8>,
    shared: &Shared,
    info: &ClientInfo,
) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    // Subscribers this thread queued messages for are not kept waiting while it blocks
    // writing its own replies.
    shared
        .stats
        .net_output
        .add(crate::state::wake_deferred() as u64);
    for chunk in out.chunks(OUT_FLUSH) {
        stream.write_all(chunk)?;
        info.touch();
    }
    shared.stats.net_output.add(out.len() as u64);
    shared
        .stats
        .writes
        .add(out.len().div_ceil(OUT_FLUSH) as u64);
    out.clear();
    if out.capacity() > KEEP_BUF {
        out.shrink_to(READ_CHUNK);
    }
    Ok(())
}
