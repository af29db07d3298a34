//! MIGRATE's connections to other servers, kept for the next MIGRATE to the same place
//! (Redis's `migrate_cached_sockets`): at most 64, each closed once unused for 10 seconds
//! (the cron), each lent to one client at a time.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Redis's `MIGRATE_SOCKET_CACHE_ITEMS` and `MIGRATE_SOCKET_CACHE_TTL`.
const MAX_LINKS: usize = 64;
const IDLE_CLOSE: Duration = Duration::from_secs(10);
/// The longest reply line read from the other server (its replies here are one short line;
/// anything longer is no Redis).
const MAX_LINE: usize = 64 * 1024;

/// One connection to another server.
pub struct Link {
    stream: TcpStream,
    /// The database the other side has selected, once known (no SELECT needed for it).
    pub db: Option<i64>,
    last_use: Instant,
    /// Bytes read past the last reply line.
    pending: Vec<u8>,
}

/// Why no connection could be had.
#[derive(Debug)]
pub enum Unreachable {
    /// The address does not resolve (Redis: "connecting to the client").
    Address,
    /// It resolves, and connecting failed (Redis finds out when it writes).
    Connect(io::Error),
}

impl Link {
    /// Connects to `host:port`, within `timeout` for each address the name resolves to. The
    /// port is read as C's `atoi` reads it, as Redis does (not a number: 0).
    #[allow(clippy::disallowed_methods)] // a connection's idle time is not a command's instant
    fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Result<Link, Unreachable> {
        let host = std::str::from_utf8(host).map_err(|_| Unreachable::Address)?;
        let digits = port.iter().take_while(|b| b.is_ascii_digit()).count();
        // (Out of range: a port nothing listens on, as the wrapped number would be.)
        let port: u16 = std::str::from_utf8(&port[..digits])
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|_| Unreachable::Address)?;
        let mut last = Unreachable::Address;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Link {
                        stream,
                        db: None,
                        last_use: Instant::now(),
                        pending: Vec::new(),
                    });
                }
                Err(e) => last = Unreachable::Connect(e),
            }
        }
        Err(last)
    }

    /// Every read and write from now on must finish within `timeout` (set once per MIGRATE,
    /// not per line).
    pub fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.stream.set_write_timeout(Some(timeout))?;
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Sends `bytes` whole.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next reply line, without its CRLF.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=at).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.pending.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Did `e` come from a timeout (Redis does not retry those)?
pub fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The idle connections, by `host:port`.
#[derive(Default)]
pub struct Links {
    idle: Mutex<HashMap<Vec<u8>, Link>>,
}

fn name(host: &[u8], port: &[u8]) -> Vec<u8> {
    [host, b":", port].concat()
}

impl Links {
    /// The connection to `host:port`: the idle one, or a new one.
    pub fn take(&self, host: &[u8], port: &[u8], timeout: Duration) -> Result<Link, Unreachable> {
        if let Some(link) = self.idle.lock().remove(&name(host, port)) {
            return Ok(link);
        }
        Link::connect(host, port, timeout)
    }

    /// Keeps `link` for the next MIGRATE to `host:port`. Past the limit one idle connection
    /// goes (Redis drops one at random); another client's connection already kept for the
    /// same place stays and this one closes.
    #[allow(clippy::disallowed_methods)] // as in `Link::connect`
    pub fn keep(&self, host: &[u8], port: &[u8], mut link: Link) {
        link.last_use = Instant::now();
        let mut idle = self.idle.lock();
        let key = name(host, port);
        if idle.contains_key(&key) {
            return;
        }
        if idle.len() >= MAX_LINKS {
            if let Some(k) = idle.keys().next().cloned() {
                idle.remove(&k);
            }
        }
        idle.insert(key, link);
    }

    /// Closes the connections unused for 10 seconds (the cron, once a second).
    #[allow(clippy::disallowed_methods)] // as in `Link::connect`
    pub fn close_idle(&self) {
        let mut idle = self.idle.lock();
        if !idle.is_empty() {
            idle.retain(|_, l| l.last_use.elapsed() < IDLE_CLOSE);
        }
    }

    /// INFO `migrate_cached_sockets`.
    pub fn count(&self) -> usize {
        self.idle.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn lines_are_read_across_reads_and_links_are_kept_once() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).expect("read");
            assert_eq!(&buf, b"PING");
            s.write_all(b"+O").expect("write");
            std::thread::sleep(Duration::from_millis(20));
            s.write_all(b"K\r\n-ERR x\r\n").expect("write");
        });
        let links = Links::default();
        let t = Duration::from_secs(5);
        let mut link = links
            .take(b"127.0.0.1", port.as_bytes(), t)
            .expect("connect");
        link.set_timeout(t).expect("timeout");
        link.send(b"PING").expect("send");
        assert_eq!(link.read_line().expect("line"), b"+OK");
        assert_eq!(link.read_line().expect("line"), b"-ERR x");
        server.join().expect("server");
        assert!(link.read_line().is_err(), "closed by the other side");
        links.keep(b"127.0.0.1", port.as_bytes(), link);
        assert_eq!(links.count(), 1);
        links.close_idle();
        assert_eq!(links.count(), 1, "used just now");
        assert!(matches!(
            links.take(b"no\0host", b"1", t),
            Err(Unreachable::Address)
        ));
        assert!(matches!(
            links.take(b"127.0.0.1", b"x", t),
            Err(Unreachable::Connect(_))
        ));
        assert!(links.take(b"127.0.0.1", port.as_bytes(), t).is_ok());
        assert_eq!(links.count(), 0, "lent out");
    }
}
