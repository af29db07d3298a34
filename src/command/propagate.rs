//! What a write command records for the append-only file (Redis's `propagate`, with the
//! rewrites of `rewriteClientCommandVector`): its own arguments when replaying them redoes
//! the change exactly, or the command that does when they would not, read from the data as
//! the command left it (under its lock). Relative expiry becomes absolute, a value computed
//! in floating point is stored as computed, a random pop names what it popped, an ID chosen
//! by the clock is the ID chosen.

use std::cell::RefCell;

use super::args::Args;
use super::streams;
use crate::persistence::aof::Aof;
use crate::protocol::reply::Reply;
use crate::store::feed::Feed;
use crate::store::DbMut;

/// Records `args`, run against `db`, if it changed something there and its handler did not
/// record it otherwise. Called under the command's write lock.
pub fn after(db: &DbMut, name: &str, args: &Args, changes_before: u64, reply: Option<&Reply>) {
    if db.propagated() || !db.feeding() {
        return;
    }
    let argv = args.from(0);
    // Consumer groups change without changing the key for WATCH (their commands take the
    // quiet doors): a group command that succeeded is recorded regardless.
    let group_change = matches!(
        name,
        "xack" | "xclaim" | "xautoclaim" | "xreadgroup" | "xsetid"
    ) || argv[0].eq_ignore_ascii_case(b"xgroup");
    let failed = matches!(reply, None | Some(Reply::Error(_)));
    let recorded_anyway = group_change && !failed;
    if db.changes() == changes_before && !recorded_anyway {
        return;
    }
    let owned: Vec<Vec<u8>>;
    let record: Vec<&[u8]> = match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            owned = absolute_expiry(db, &argv[1], false);
            owned.iter().map(Vec::as_slice).collect()
        }
        "set" if argv.len() > 3 => {
            owned = set_with_ttl(db, &argv[1]);
            owned.iter().map(Vec::as_slice).collect()
        }
        "setex" | "psetex" => {
            owned = set_with_ttl(db, &argv[1]);
            owned.iter().map(Vec::as_slice).collect()
        }
        "getex" => {
            owned = absolute_expiry(db, &argv[1], true);
            owned.iter().map(Vec::as_slice).collect()
        }
        "incrbyfloat" => {
            let Some(v) = db.peek(&argv[1]).and_then(|e| e.value.as_str().ok()) else {
                return;
            };
            owned = vec![
                b"SET".to_vec(),
                argv[1].clone(),
                v.to_vec(),
                b"KEEPTTL".to_vec(),
            ];
            owned.iter().map(Vec::as_slice).collect()
        }
        "hincrbyfloat" => match reply {
            Some(Reply::Bulk(v)) => vec![b"HSET", &argv[1][..], &argv[2][..], v.as_slice()],
            _ => return,
        },
        "spop" => {
            let members: Vec<&[u8]> = match reply {
                Some(Reply::Bulk(m)) => vec![m.as_slice()],
                Some(Reply::Array(items) | Reply::Set(items)) => items
                    .iter()
                    .filter_map(|r| match r {
                        Reply::Bulk(m) => Some(m.as_slice()),
                        _ => None,
                    })
                    .collect(),
                _ => return,
            };
            if members.is_empty() {
                return;
            }
            let mut r: Vec<&[u8]> = vec![b"SREM", &argv[1]];
            r.extend(members);
            r
        }
        "restore" => {
            owned = restore_absolute(db, argv);
            owned.iter().map(Vec::as_slice).collect()
        }
        "xadd" | "xtrim" => {
            owned = streams::exact_record(db, args, name == "xadd", reply);
            owned.iter().map(Vec::as_slice).collect()
        }
        "xclaim" | "xautoclaim" => {
            owned = claimed_record(argv, name == "xautoclaim", reply);
            if owned.is_empty() {
                return;
            }
            owned.iter().map(Vec::as_slice).collect()
        }
        "xreadgroup" => {
            // Recorded as Redis propagates it: per stream read, XCLAIMs of what was
            // delivered and the group's position (see `streams::group_read_record`).
            let (Some(group), Some(consumer)) = (argv.get(2), argv.get(3)) else {
                return;
            };
            let per_key: Vec<(&Reply, &Reply)> = match reply {
                Some(Reply::Array(items)) => items
                    .iter()
                    .filter_map(|kv| match kv {
                        Reply::Array(pair) if pair.len() == 2 => Some((&pair[0], &pair[1])),
                        _ => None,
                    })
                    .collect(),
                Some(Reply::Map(items)) => items.iter().map(|(k, v)| (k, v)).collect(),
                _ => Vec::new(),
            };
            for (key, entries) in per_key {
                if let Reply::Bulk(key) = key {
                    let ids = streams::entry_ids(entries);
                    streams::group_read_record(db, key, group, consumer, &ids);
                }
            }
            return;
        }
        _ => argv.iter().map(Vec::as_slice).collect(),
    };
    if !record.is_empty() {
        db.propagate(&record);
    }
}

/// XCLAIM and XAUTOCLAIM pick entries by how long they have been idle, which a replay
/// would judge differently: recorded as an XCLAIM of exactly the IDs claimed (and, for
/// XAUTOCLAIM, those it found deleted, which XCLAIM drops from the PEL too), with no idle
/// minimum.
fn claimed_record(argv: &[Vec<u8>], auto: bool, reply: Option<&Reply>) -> Vec<Vec<u8>> {
    fn id_of(r: &Reply) -> Option<Vec<u8>> {
        match r {
            Reply::Bulk(id) => Some(id.clone()),
            Reply::Array(e) => match e.first() {
                Some(Reply::Bulk(id)) => Some(id.clone()),
                _ => None,
            },
            _ => None,
        }
    }
    let mut ids: Vec<Vec<u8>> = Vec::new();
    match (auto, reply) {
        (false, Some(Reply::Array(items))) => ids.extend(items.iter().filter_map(id_of)),
        (true, Some(Reply::Array(parts))) => {
            for part in parts.iter().skip(1) {
                if let Reply::Array(items) = part {
                    ids.extend(items.iter().filter_map(id_of));
                }
            }
        }
        _ => {}
    }
    if ids.is_empty() {
        return Vec::new();
    }
    let mut r = vec![
        b"XCLAIM".to_vec(),
        argv[1].clone(),
        argv[2].clone(),
        argv[3].clone(),
        b"0".to_vec(),
    ];
    r.extend(ids);
    const OPTIONS: [&[u8]; 6] = [
        b"IDLE",
        b"TIME",
        b"RETRYCOUNT",
        b"FORCE",
        b"JUSTID",
        b"LASTID",
    ];
    if auto {
        if argv
            .iter()
            .skip(6)
            .any(|a| a.eq_ignore_ascii_case(b"JUSTID"))
        {
            r.push(b"JUSTID".to_vec());
        }
    } else if let Some(at) = argv
        .iter()
        .skip(5)
        .position(|a| OPTIONS.iter().any(|o| a.eq_ignore_ascii_case(o)))
    {
        r.extend(argv[5 + at..].iter().cloned());
    }
    r
}

/// `PEXPIREAT key at` for the key's expiry as the command left it; `DEL key` if it is gone
/// (a time in the past deletes); `PERSIST key` if it has none (GETEX PERSIST).
fn absolute_expiry(db: &DbMut, key: &[u8], getex: bool) -> Vec<Vec<u8>> {
    match db.expire_of(key) {
        Some(at) if at > 0 => vec![
            b"PEXPIREAT".to_vec(),
            key.to_vec(),
            at.to_string().into_bytes(),
        ],
        Some(_) if getex => vec![b"PERSIST".to_vec(), key.to_vec()],
        Some(_) => Vec::new(),
        None => vec![b"DEL".to_vec(), key.to_vec()],
    }
}

/// `SET key value [PXAT at]` for the string as the command left it, or `DEL key`.
fn set_with_ttl(db: &DbMut, key: &[u8]) -> Vec<Vec<u8>> {
    let Some(e) = db.peek(key) else {
        return vec![b"DEL".to_vec(), key.to_vec()];
    };
    let Ok(v) = e.value.as_str() else {
        return Vec::new();
    };
    let mut r = vec![b"SET".to_vec(), key.to_vec(), v.to_vec()];
    if e.expire > 0 {
        r.push(b"PXAT".to_vec());
        r.push(e.expire.to_string().into_bytes());
    }
    r
}

/// RESTORE with a relative TTL becomes one with the absolute time: the same arguments,
/// the TTL replaced and `ABSTTL` added (Redis's rewrite).
fn restore_absolute(db: &DbMut, argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let absttl = argv
        .iter()
        .skip(4)
        .any(|a| a.eq_ignore_ascii_case(b"ABSTTL"));
    let mut r = argv.to_vec();
    match db.expire_of(&argv[1]) {
        Some(at) if at > 0 && !absttl => {
            r[2] = at.to_string().into_bytes();
            r.push(b"ABSTTL".to_vec());
        }
        _ => {}
    }
    r
}

thread_local! {
    /// The arguments of the write command with a `Client` handler this thread is running
    /// (MOVE, COPY, FLUSHALL, PFADD, ...): recorded by the first database access that
    /// changes something, under its lock (see `access`).
    static CURRENT: RefCell<Vec<Vec<Vec<u8>>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` as the write command `argv` with a `Client` handler: its change is recorded
/// once, by the access that makes it.
pub fn as_client_write<R>(aof: &Aof, argv: &[Vec<u8>], f: impl FnOnce() -> R) -> R {
    if !aof.active() {
        return f();
    }
    CURRENT.with(|c| c.borrow_mut().push(argv.to_vec()));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            CURRENT.with(|c| c.borrow_mut().pop());
        }
    }
    let _pop = Pop;
    f()
}

/// Records the running `Client` write command against database `db` (once), if there is
/// one. Called under the lock of the change.
pub fn client_write(aof: &Aof, db: usize) {
    if !aof.active() {
        return;
    }
    let argv = CURRENT.with(|c| {
        c.borrow_mut()
            .last_mut()
            .map(std::mem::take)
            .filter(|a| !a.is_empty())
    });
    if let Some(argv) = argv {
        let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        aof.record(db, &refs);
    }
}
