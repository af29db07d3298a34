//! The listening sockets: one blocking `accept` thread per bound address, each handing the
//! streams it accepts to the server's admission. `CONFIG SET port|bind` binds the new set
//! first and retires the old one only once the new one listens, so a failed rebind leaves
//! the server as it was.
//!
//! `unixsocket` adds one more accept thread, on a Unix stream socket. Its connections are
//! served by the same code as TCP ones, through the same `TcpStream` type: std's `TcpStream`
//! is a socket descriptor, and all the connection code does with it (read, write, shutdown,
//! poll, non-blocking sends) works the same on a Unix stream socket. The TCP-only options
//! (no-delay, keepalive) are not set on it, and its address is the socket's path.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

/// What the accept threads do with a connection.
pub trait Acceptor: Send + Sync {
    /// A connection was accepted (on the Unix socket at `unix`, if given).
    fn admit(&self, stream: TcpStream, unix: Option<&Arc<str>>);
    /// `accept` failed (on `listener`, or on the Unix socket): returns how long the thread
    /// pauses before it tries again.
    fn failed(&self, listener: Option<&TcpListener>, e: &io::Error) -> std::time::Duration;
}

struct Bound {
    listener: Arc<TcpListener>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Wakes an accept thread out of `accept` on the listening socket `fd` (on Linux, shutting a
/// listening socket down makes a blocked `accept` fail) and waits for it.
fn stop_accepting(fd: i32, stopping: &AtomicBool, thread: Option<JoinHandle<()>>) {
    stopping.store(true, Ordering::Release);
    // SAFETY: the caller's listener owns `fd` and is alive until this returns.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
    if let Some(t) = thread {
        let _ = t.join();
    }
}

impl Bound {
    fn stop(mut self) {
        stop_accepting(
            self.listener.as_raw_fd(),
            &self.stopping,
            self.thread.take(),
        );
    }
}

#[derive(Default)]
struct Inner {
    acceptor: Option<Arc<dyn Acceptor>>,
    bound: Vec<Bound>,
    unix: Option<UnixBound>,
}

/// The Unix socket's listener and accept thread.
struct UnixBound {
    listener: Arc<std::os::unix::net::UnixListener>,
    path: Arc<str>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UnixBound {
    /// Stops as a TCP listener does; then the socket file goes, as Redis removes it at exit.
    fn stop(mut self) {
        stop_accepting(
            self.listener.as_raw_fd(),
            &self.stopping,
            self.thread.take(),
        );
        let _ = std::fs::remove_file(&*self.path);
    }
}

/// Binds the Unix socket at `path` as Redis's `anetUnixServer` does: a file already there is
/// removed first, and `perm` (octal `unixsocketperm`), when not 0, becomes its mode.
pub fn bind_unix(path: &str, perm: u32) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
    }
    // SAFETY: re-listens on our own socket with Redis's backlog.
    unsafe {
        libc::listen(listener.as_raw_fd(), TCP_BACKLOG);
    }
    Ok(listener)
}

/// The server's listening sockets and their threads.
#[derive(Default)]
pub struct Listeners {
    inner: Mutex<Inner>,
    /// [`Listeners::stop`] has closed every listener.
    stopped: AtomicBool,
}

impl Listeners {
    /// Starts an accept thread on each listener.
    pub fn start(
        &self,
        listeners: Vec<TcpListener>,
        acceptor: Arc<dyn Acceptor>,
    ) -> io::Result<()> {
        let mut inner = self.inner.lock();
        inner.acceptor = Some(Arc::clone(&acceptor));
        for l in listeners {
            inner.bound.push(spawn(l, Arc::clone(&acceptor))?);
        }
        Ok(())
    }

    /// Serves the Unix socket `listener` (bound at `path`) too; call after [`Self::start`].
    pub fn start_unix(
        &self,
        listener: std::os::unix::net::UnixListener,
        path: &str,
    ) -> io::Result<()> {
        let mut inner = self.inner.lock();
        let Some(acceptor) = inner.acceptor.clone() else {
            return Ok(());
        };
        let listener = Arc::new(listener);
        let path: Arc<str> = path.into();
        let stopping = Arc::new(AtomicBool::new(false));
        let (l, stop, at) = (
            Arc::clone(&listener),
            Arc::clone(&stopping),
            Arc::clone(&path),
        );
        let thread = std::thread::Builder::new()
            .name("spindle-accept-unix".into())
            .spawn(move || loop {
                match l.accept() {
                    Ok((stream, _)) => {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        let fd = std::os::fd::OwnedFd::from(stream);
                        acceptor.admit(TcpStream::from(fd), Some(&at));
                    }
                    Err(_) if stop.load(Ordering::Acquire) => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let pause = acceptor.failed(None, &e);
                        if !pause.is_zero() {
                            std::thread::sleep(pause);
                        }
                    }
                }
            })?;
        inner.unix = Some(UnixBound {
            listener,
            path,
            stopping,
            thread: Some(thread),
        });
        Ok(())
    }

    /// Listens on `addrs` at `port` instead: the new sockets are bound before the old ones
    /// close; on an error nothing changes. Returns the port bound (port 0: the system's pick).
    pub fn rebind(&self, addrs: &[String], port: u16) -> io::Result<u16> {
        let fresh = match bind_all(addrs, port) {
            Ok(fresh) => fresh,
            // The same port on an address already bound: as Redis's changeBindAddr does,
            // the old sockets close first, and come back if the new ones cannot be bound.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && self.listens_on_port(port) => {
                return self.rebind_in_place(addrs, port);
            }
            Err(e) => return Err(e),
        };
        let bound_port = fresh
            .first()
            .and_then(|l| l.local_addr().ok())
            .map_or(port, |a| a.port());
        let mut inner = self.inner.lock();
        let Some(acceptor) = inner.acceptor.clone() else {
            return Ok(bound_port);
        };
        let mut started = Vec::new();
        for l in fresh {
            started.push(spawn(l, Arc::clone(&acceptor))?);
        }
        let old = std::mem::replace(&mut inner.bound, started);
        drop(inner);
        for b in old {
            b.stop();
        }
        Ok(bound_port)
    }

    fn listens_on_port(&self, port: u16) -> bool {
        self.local_addrs().iter().any(|a| a.port() == port)
    }

    fn rebind_in_place(&self, addrs: &[String], port: u16) -> io::Result<u16> {
        let mut inner = self.inner.lock();
        let Some(acceptor) = inner.acceptor.clone() else {
            return Ok(port);
        };
        let old = std::mem::take(&mut inner.bound);
        let old_addrs: Vec<SocketAddr> = old
            .iter()
            .filter_map(|b| b.listener.local_addr().ok())
            .collect();
        for b in old {
            b.stop();
        }
        let (result, listeners) = match bind_all(addrs, port) {
            Ok(fresh) => (Ok(port), fresh),
            Err(e) => {
                let back = old_addrs
                    .iter()
                    .filter_map(|a| match bind_one(&a.ip().to_string(), a.port()) {
                        Ok(l) => Some(l),
                        Err(e) => {
                            log::warn!("Failed to restore old listening socket {a}: {e}");
                            None
                        }
                    })
                    .collect();
                (Err(e), back)
            }
        };
        for l in listeners {
            inner.bound.push(spawn(l, Arc::clone(&acceptor))?);
        }
        result
    }

    /// Closes every listening socket and forgets the acceptor (which holds the server).
    pub fn stop(&self) {
        let (bound, unix) = {
            let mut inner = self.inner.lock();
            inner.acceptor = None;
            (std::mem::take(&mut inner.bound), inner.unix.take())
        };
        for b in bound {
            b.stop();
        }
        if let Some(u) = unix {
            u.stop();
        }
        self.stopped.store(true, Ordering::Release);
    }

    /// Waits (at most `limit`) until shutdown has closed the listeners. The connection that
    /// sent SHUTDOWN closes only after that, as Redis's process exits with both at once: a
    /// client that sees its connection close and connects again is refused.
    #[allow(clippy::disallowed_methods)] // a bounded wait on a monotonic clock
    pub fn wait_stopped(&self, limit: std::time::Duration) {
        let start = std::time::Instant::now();
        while !self.stopped.load(Ordering::Acquire) && start.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// The addresses listened on now.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .lock()
            .bound
            .iter()
            .filter_map(|b| b.listener.local_addr().ok())
            .collect()
    }
}

fn spawn(listener: TcpListener, acceptor: Arc<dyn Acceptor>) -> io::Result<Bound> {
    let listener = Arc::new(listener);
    let stopping = Arc::new(AtomicBool::new(false));
    let (l, stop) = (Arc::clone(&listener), Arc::clone(&stopping));
    let name = match listener.local_addr() {
        Ok(a) => format!("spindle-accept-{}", a.port()),
        Err(_) => "spindle-accept".into(),
    };
    let thread = std::thread::Builder::new().name(name).spawn(move || loop {
        match l.accept() {
            Ok((stream, _)) => {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                acceptor.admit(stream, None);
            }
            Err(_) if stop.load(Ordering::Acquire) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let pause = acceptor.failed(Some(&l), &e);
                if !pause.is_zero() {
                    std::thread::sleep(pause);
                }
            }
        }
    })?;
    Ok(Bound {
        listener,
        stopping,
        thread: Some(thread),
    })
}

/// Redis's `tcp-backlog`. std listens with 128, too few when a thousand clients connect at
/// once: the overflow's SYNs are dropped and retried a second later.
const TCP_BACKLOG: i32 = 511;

/// Binds every address as Redis's `listenToPort` does: `*` is every IPv4 address, `::*`
/// every IPv6 one (IPv6 only, so that both can be bound), a leading `-` makes an address
/// optional (skipped if it is not available here), and an address family the system lacks is
/// skipped. With port 0, the first socket's port is used for the rest.
pub fn bind_all(addrs: &[String], port: u16) -> io::Result<Vec<TcpListener>> {
    let mut out: Vec<TcpListener> = Vec::new();
    let mut port = port;
    for addr in addrs {
        let (optional, addr) = match addr.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, addr.as_str()),
        };
        match bind_one(addr, port) {
            Ok(l) => {
                if port == 0 {
                    port = l.local_addr()?.port();
                }
                out.push(l);
            }
            Err(e) => {
                log::warn!(
                    "Warning: Could not create server TCP listening socket {addr}:{port}: {e}"
                );
                let errno = e.raw_os_error().unwrap_or(0);
                if errno == libc::EADDRNOTAVAIL && optional {
                    continue;
                }
                if [
                    libc::ENOPROTOOPT,
                    libc::EPROTONOSUPPORT,
                    libc::ESOCKTNOSUPPORT,
                    libc::EPFNOSUPPORT,
                    libc::EAFNOSUPPORT,
                ]
                .contains(&errno)
                {
                    continue;
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// One listening socket, with SO_REUSEADDR (and IPV6_V6ONLY for IPv6), as Redis's anet makes
/// them.
pub fn bind_one(addr: &str, port: u16) -> io::Result<TcpListener> {
    let host = addr.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid address '{h}'"),
            )
        })?,
    };
    let sa = SocketAddr::new(ip, port);
    let family = if sa.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket calls on a descriptor this function owns until it is wrapped.
    unsafe {
        let fd = libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let listener = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let set = |level, opt| {
            libc::setsockopt(
                fd,
                level,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set(libc::SOL_SOCKET, libc::SO_REUSEADDR) != 0
            || (sa.is_ipv6() && set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) != 0)
        {
            return Err(io::Error::last_os_error());
        }
        let rc = match sa {
            SocketAddr::V4(v4) => {
                let raw = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*v4.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                libc::bind(
                    fd,
                    (&raw as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            SocketAddr::V6(v6) => {
                let raw = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                libc::bind(
                    fd,
                    (&raw as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        if rc != 0 || libc::listen(fd, TCP_BACKLOG) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Acceptor for Count {
        fn admit(&self, _stream: TcpStream, _unix: Option<&Arc<str>>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn failed(&self, _l: Option<&TcpListener>, _e: &io::Error) -> Duration {
            Duration::from_millis(1)
        }
    }

    fn wait_for(counter: &Count, n: usize) {
        for _ in 0..200 {
            if counter.0.load(Ordering::SeqCst) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{n} connections were not admitted");
    }

    #[test]
    fn rebinding_moves_the_listener_and_a_failed_rebind_changes_nothing() {
        let counter = Arc::new(Count(AtomicUsize::new(0)));
        let listeners = Listeners::default();
        let first = bind_all(&["127.0.0.1".into()], 0).unwrap();
        let old = first[0].local_addr().unwrap();
        listeners.start(first, counter.clone()).unwrap();
        TcpStream::connect(old).unwrap();
        wait_for(&counter, 1);

        // A port in use: the rebind fails and the old socket still listens.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = taken.local_addr().unwrap().port();
        assert!(listeners.rebind(&["127.0.0.1".into()], busy).is_err());
        assert_eq!(listeners.local_addrs(), vec![old]);
        TcpStream::connect(old).unwrap();
        wait_for(&counter, 2);

        let port = listeners.rebind(&["127.0.0.1".into()], 0).unwrap();
        assert_ne!(port, old.port());
        TcpStream::connect(("127.0.0.1", port)).unwrap();
        wait_for(&counter, 3);
        assert!(
            TcpStream::connect(old).is_err(),
            "the old port still listens"
        );
        listeners.stop();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn an_optional_address_that_is_not_here_is_skipped() {
        let l = bind_all(&["127.0.0.1".into(), "-192.0.2.1".into()], 0).unwrap();
        assert_eq!(l.len(), 1);
        assert!(bind_all(&["192.0.2.1".into()], 0).is_err());
    }
}
