//! MONITOR: clients that see every command the server runs, as Redis's
//! `replicationFeedMonitors` formats it (`+<sec>.<usec> [<db> <addr>] "arg" ...`).
//!
//! A monitor is written to through its outbox, from the thread of the client whose command
//! is shown, without waiting on the monitor; its queue is bounded like a subscriber's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::Config;
use crate::state::ClientInfo;

#[derive(Default)]
pub struct Monitors {
    clients: Mutex<Vec<Arc<ClientInfo>>>,
    /// How many: read on every command, so that nobody pays for monitors when there are none.
    count: AtomicUsize,
}

impl Monitors {
    /// Adds `client` (from its own thread), and queues `confirmation` to it first, under the
    /// same lock, so it comes before any command shown. False if it already monitors.
    pub fn add(&self, client: &Arc<ClientInfo>, confirmation: &[u8], config: &Config) -> bool {
        let mut list = self.clients.lock();
        if list.iter().any(|c| c.id == client.id) {
            return false;
        }
        // Counted before the confirmation goes out: a command its client sends once it has
        // the confirmation must see it (a test under load lost the first line otherwise).
        list.push(Arc::clone(client));
        self.count.store(list.len(), Ordering::Release);
        client.deliver_own(confirmation, config);
        true
    }

    /// Takes client `id` off the list (RESET, disconnect).
    pub fn remove(&self, id: u64) {
        let mut list = self.clients.lock();
        list.retain(|c| c.id != id);
        self.count.store(list.len(), Ordering::Release);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// Shows a command run by `from` (none: a script) in database `db` at `unix_us` to every
    /// monitor.
    pub fn feed(
        &self,
        from: Option<&ClientInfo>,
        db: usize,
        argv: &[Vec<u8>],
        unix_us: i64,
        config: &Config,
    ) {
        if self.is_empty() {
            return;
        }
        let line = format_line(from, db, argv, unix_us);
        for m in self.clients.lock().iter() {
            m.deliver(&line, config);
        }
    }
}

/// One MONITOR line, with AUTH's and HELLO ... AUTH's credentials redacted as Redis redacts
/// them.
fn format_line(from: Option<&ClientInfo>, db: usize, argv: &[Vec<u8>], unix_us: i64) -> Vec<u8> {
    let (secs, micros) = (unix_us.div_euclid(1_000_000), unix_us.rem_euclid(1_000_000));
    let mut out = match from {
        Some(c) => match &c.unix {
            Some(path) => format!("+{secs}.{micros:06} [{db} unix:{path}] "),
            None => format!("+{secs}.{micros:06} [{db} {}] ", c.addr),
        },
        None => format!("+{secs}.{micros:06} [{db} lua] "),
    }
    .into_bytes();
    let redacted = redactions(argv);
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if redacted.contains(&i) {
            repr(&mut out, b"(redacted)");
        } else {
            repr(&mut out, arg);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The argument positions Redis hides (its `redactClientCommandArgument` calls): AUTH's
/// password (and user), HELLO's AUTH pair, ACL SETUSER's rules and name, and the values of
/// CONFIG SET's sensitive parameters.
pub fn redactions(argv: &[Vec<u8>]) -> Vec<usize> {
    let name = &argv[0];
    if name.eq_ignore_ascii_case(b"acl")
        && argv.len() >= 3
        && argv[1].eq_ignore_ascii_case(b"setuser")
    {
        return (2..argv.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"config")
        && argv.len() >= 2
        && argv[1].eq_ignore_ascii_case(b"set")
    {
        return (2..argv.len())
            .step_by(2)
            .filter(|&i| {
                crate::config::lookup(&String::from_utf8_lossy(&argv[i]))
                    .is_some_and(|d| d.has(crate::config::table::SENSITIVE_CONFIG))
            })
            .map(|i| i + 1)
            .filter(|&i| i < argv.len())
            .collect();
    }
    if name.eq_ignore_ascii_case(b"auth") && argv.len() <= 3 {
        return (1..argv.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"migrate") {
        // AUTH's password, AUTH2's user name and password, as MIGRATE reads its options.
        let mut hidden = Vec::new();
        let mut j = 6;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if argv[j].eq_ignore_ascii_case(b"AUTH") && more >= 1 {
                hidden.push(j + 1);
                j += 2;
            } else if argv[j].eq_ignore_ascii_case(b"AUTH2") && more >= 2 {
                hidden.extend([j + 1, j + 2]);
                j += 3;
            } else if argv[j].eq_ignore_ascii_case(b"COPY")
                || argv[j].eq_ignore_ascii_case(b"REPLACE")
            {
                j += 1;
            } else {
                break;
            }
        }
        return hidden;
    }
    if name.eq_ignore_ascii_case(b"hello") {
        let mut hidden = Vec::new();
        let mut j = 2;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if argv[j].eq_ignore_ascii_case(b"AUTH") && more >= 2 {
                hidden.extend([j + 1, j + 2]);
                j += 3;
            } else if argv[j].eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
                j += 2;
            } else {
                break;
            }
        }
        return hidden;
    }
    Vec::new()
}

/// Redis's `sdscatrepr` (MONITOR's arguments, the Lua debugger's values, config files):
/// quoted, with `\\ \" \n \r \t \a \b` and `\xHH` escapes.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_like_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x00\xff ok");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff ok\"".to_vec());
    }

    #[test]
    fn credentials_are_redacted() {
        let v = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(redactions(&v(&["auth", "pw"])), vec![1]);
        assert_eq!(redactions(&v(&["AUTH", "user", "pw"])), vec![1, 2]);
        assert_eq!(
            redactions(&v(&["hello", "3", "AUTH", "u", "p"])),
            vec![3, 4]
        );
        assert_eq!(
            redactions(&v(&["hello", "3", "SETNAME", "n", "AUTH", "u", "p"])),
            vec![5, 6]
        );
        assert!(redactions(&v(&["set", "auth", "x"])).is_empty());
    }
}
