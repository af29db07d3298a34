//! Keyspace commands (Redis's "generic" group: DEL, EXISTS, TYPE, EXPIRE, SCAN, ...).

use super::args::{Args, CmdResult};
use crate::protocol::Reply;
use crate::store::Db;

/// DEL key [key ...]
pub fn del(db: &mut Db, args: &Args) -> CmdResult {
    let n = args
        .from(1)
        .iter()
        .filter(|k| db.remove(k).is_some())
        .count();
    Ok(Reply::Int(n as i64))
}

/// EXISTS key [key ...]: a key named twice counts twice.
pub fn exists(db: &Db, args: &Args) -> CmdResult {
    let n = args.from(1).iter().filter(|k| db.contains(k)).count();
    Ok(Reply::Int(n as i64))
}
