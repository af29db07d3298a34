//! Test support: a server on 127.0.0.1:0 (in-process, or the real binary), and raw-RESP clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use spindle::config::Config;
use spindle::shutdown::Shutdown;

/// A server running in this process on an ephemeral port; stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Arc<Shutdown>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(Config::default())
    }

    /// `config` with persistence kept out of the way: no save points, and a snapshot file
    /// name nothing writes, so a `dump.rdb` left in the working directory is not loaded.
    pub fn start_with(config: Config) -> Self {
        config.set("save", "").expect("save");
        config
            .set("dbfilename", "spindle-in-process-tests.rdb")
            .expect("dbfilename");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let sd = shutdown.clone();
        let handle = std::thread::spawn(move || {
            spindle::server::run(listener, config, sd).expect("server run");
        });
        TestServer {
            addr,
            shutdown,
            handle: Some(handle),
        }
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// Triggers shutdown and waits for `run` to return.
    pub fn stop(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `spindle` binary started on port 0; killed on drop.
pub struct BinServer {
    pub child: Child,
    pub addr: SocketAddr,
    /// Number of lines the server has logged so far.
    pub log_lines: Arc<std::sync::atomic::AtomicUsize>,
    /// Its working directory (removed on drop if it made it).
    pub dir: std::path::PathBuf,
    owns_dir: bool,
    log: Arc<std::sync::Mutex<String>>,
}

static NEXT_DIR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl BinServer {
    pub fn start(extra: &[&str]) -> Self {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_spindle")), extra)
    }

    /// Started with the config file `path` first on its command line, then `extra`.
    pub fn start_with_file(path: &std::path::Path, extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
        cmd.arg(path);
        Self::spawn(cmd, extra)
    }

    /// Started with these environment variables set (an empty value: removed).
    pub fn start_with_env(env: &[(&str, &str)], extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        Self::spawn(cmd, extra)
    }

    /// Everything it has logged so far (the first megabyte).
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Started in `dir` (kept after it stops: the caller's), as a server that persists there.
    pub fn start_in(dir: &std::path::Path, extra: &[&str]) -> Self {
        Self::spawn_in(Command::new(env!("CARGO_BIN_EXE_spindle")), dir, extra)
    }

    /// [`BinServer::start_in`], with files it writes limited to `bytes` (RLIMIT_FSIZE, soft
    /// limit only, SIGXFSZ ignored): a write past it fails with EFBIG, as on a full disk,
    /// until [`BinServer::lift_file_size_limit`].
    #[cfg(target_os = "linux")]
    pub fn start_in_with_file_limit(dir: &std::path::Path, extra: &[&str], bytes: u64) -> Self {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
        // SAFETY: only async-signal-safe calls (signal, getrlimit, setrlimit) between fork and
        // exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let mut lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                lim.rlim_cur = bytes.min(lim.rlim_max);
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn_in(cmd, dir, extra)
    }

    /// The disk "works again": the file-size limit goes back to the hard limit.
    #[cfg(target_os = "linux")]
    pub fn lift_file_size_limit(&self) {
        let pid = self.child.id() as libc::pid_t;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: prlimit reads and writes the two live locals.
        unsafe {
            assert_eq!(
                libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut lim),
                0
            );
            lim.rlim_cur = lim.rlim_max;
            assert_eq!(
                libc::prlimit(pid, libc::RLIMIT_FSIZE, &lim, std::ptr::null_mut()),
                0
            );
        }
    }

    fn spawn_in(mut cmd: Command, dir: &std::path::Path, extra: &[&str]) -> Self {
        cmd.arg("--dir").arg(dir);
        let mut s = Self::spawn(cmd, extra);
        let _ = std::fs::remove_dir_all(&s.dir);
        s.dir = dir.to_path_buf();
        s.owns_dir = false;
        s
    }

    /// Waits for the process to exit (after SHUTDOWN); its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Starts the binary with an open-files limit of `nofile` (soft and hard). As root, it
    /// also runs as `nobody`, so that the server cannot raise the hard limit again.
    #[cfg(target_os = "linux")]
    pub fn start_with_nofile(extra: &[&str], nofile: u64) -> Self {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
        // SAFETY: only async-signal-safe calls (setrlimit, getuid, setgid, setuid) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: nofile,
                    rlim_max: nofile,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getuid() == 0 && (libc::setgid(65534) != 0 || libc::setuid(65534) != 0) {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn(cmd, extra)
    }

    fn spawn(mut cmd: Command, extra: &[&str]) -> Self {
        // Its own empty directory: no snapshot is loaded, and none is left behind.
        let dir = std::env::temp_dir().join(format!(
            "spindle-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("test directory");
        let mut child = cmd
            .current_dir(&dir)
            .args(["--any-port", "yes"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn spindle");
        // The log goes to standard output, as redis-server's does.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let addr = loop {
            let line = lines.next().expect("banner").expect("log");
            {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split(',')
                    .next()
                    .unwrap()
                    .trim()
                    .parse()
                    .expect("address in banner");
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let log_lines = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&log_lines);
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut l = keep.lock().unwrap();
                // Bounded: a long test keeps the start of its log.
                if l.len() < 1 << 20 {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        BinServer {
            child,
            addr,
            log_lines,
            dir,
            owns_dir: true,
            log,
        }
    }

    /// A field of /proc/PID/status (`Threads`, `VmRSS` in kB), as a number.
    #[cfg(target_os = "linux")]
    pub fn proc_status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A raw client: writes bytes, reads whole RESP replies.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command as multibulk.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode_cmd(args));
    }

    /// Sends a command as multibulk and returns its raw reply.
    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_cmd(&args);
        self.read_reply()
    }

    /// Like `cmd`, the reply as a (lossy) string.
    pub fn cmd_str(&mut self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.cmd(args)).into_owned()
    }

    /// Sends `input` and asserts that exactly `expected` comes back.
    pub fn expect(&mut self, input: &[u8], expected: &[u8]) {
        self.send(input);
        let got = self.read_exact(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply to {:?}",
            String::from_utf8_lossy(input)
        );
    }

    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        // The in-process server's wake signal (SIGRTMIN, handled) may interrupt a read of this
        // thread too: try again, as the server's own reads do.
        let n = loop {
            match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.expect("read (timed out?)"),
            }
        };
        assert!(
            n > 0,
            "server closed the connection; had {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Reads exactly one RESP reply (any type, nested) and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(len) = reply_len(&self.buf) {
                return self.buf.drain(..len).collect();
            }
            self.fill();
        }
    }

    /// One RESP reply, or None if the server closes the connection before a whole one.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(len) = reply_len(&self.buf) {
                return Some(self.buf.drain(..len).collect());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// True if the server has closed the connection (after any pending bytes).
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }
}

/// Sends each command and asserts its exact reply.
pub fn check(c: &mut Conn, cases: &[(&[&str], &str)]) {
    for (args, want) in cases {
        assert_eq!(c.cmd_str(args), *want, "{args:?}");
    }
}

pub fn encode_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the first complete RESP2/RESP3 reply in `buf`, if complete.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let head = line_end + 2;
    match buf[0] {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Some(head),
        b'$' | b'=' | b'!' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some(head);
            }
            let total = head + n as usize + 2;
            (buf.len() >= total).then_some(total)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = line.parse().ok()?;
            let items = if buf[0] == b'%' || buf[0] == b'|' {
                2 * n.max(0)
            } else {
                n.max(0)
            };
            let mut pos = head;
            for _ in 0..items {
                pos += reply_len(&buf[pos..])?;
            }
            Some(pos)
        }
        _ => None,
    }
}

/// Every leaf of a reply (bulk, simple, integer, double; a null as "(nil)"), in order, with
/// the aggregates flattened: enough to read arrays of members and scores.
pub fn leaves(reply: &[u8]) -> Vec<String> {
    fn walk(buf: &[u8], pos: &mut usize, out: &mut Vec<String>) {
        let end = *pos
            + buf[*pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("line");
        let kind = buf[*pos];
        let line = String::from_utf8_lossy(&buf[*pos + 1..end]).into_owned();
        *pos = end + 2;
        match kind {
            b'$' | b'=' => {
                let n: i64 = line.parse().expect("length");
                if n < 0 {
                    out.push("(nil)".into());
                } else {
                    let n = n as usize;
                    out.push(String::from_utf8_lossy(&buf[*pos..*pos + n]).into_owned());
                    *pos += n + 2;
                }
            }
            b'*' | b'~' | b'>' | b'%' => {
                let n: i64 = line.parse().expect("count");
                let n = if kind == b'%' { n * 2 } else { n };
                if n < 0 {
                    out.push("(nil)".into());
                }
                for _ in 0..n.max(0) {
                    walk(buf, pos, out);
                }
            }
            b'_' => out.push("(nil)".into()),
            _ => out.push(line),
        }
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < reply.len() {
        walk(reply, &mut pos, &mut out);
    }
    out
}

/// Polls `cond` every 5 ms until it holds; panics with `what` after 10 s.
#[allow(clippy::disallowed_methods)] // tests measure wall time freely
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// INFO's `blocked_clients`.
pub fn blocked_clients(c: &mut Conn) -> usize {
    let info = c.cmd_str(&["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

/// Waits until `n` clients are blocked.
pub fn wait_blocked(c: &mut Conn, n: usize) {
    wait_for(&format!("{n} blocked clients"), || blocked_clients(c) == n);
}

/// A RESP bulk string.
pub fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// A RESP bulk string of any bytes.
pub fn bulk_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// A fresh directory under the system's temporary one (`spindle-<name>-<pid>`), removed on
/// drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("spindle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A field of INFO persistence.
pub fn info_field(c: &mut Conn, field: &str) -> String {
    let info = c.cmd_str(&["INFO", "persistence"]);
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}
