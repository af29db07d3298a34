//! HyperLogLog: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST (the structure is in
//! `store::hll`; the value is an ordinary string, as in Redis).

use super::args::{err, Args, CmdError, CmdResult};
use super::Ctx;
use crate::protocol::Reply;
use crate::store::{hll, notify, DbMut, Rewrite, Value};

const NOT_HLL: CmdError = err("WRONGTYPE Key is not a valid HyperLogLog string value.");
const CORRUPT: CmdError = err("INVALIDOBJ Corrupted HLL object detected");

fn sparse_max(ctx: &Ctx) -> usize {
    ctx.server
        .config
        .get(crate::config::lookup("hll-sparse-max-bytes").expect("in the table"))
        .parse()
        .unwrap_or(3000)
}

/// The HLL at `key` for modification: `None` if missing, Redis's errors for another type or
/// a string that is no HLL.
fn hll_mut<'a>(db: &'a mut DbMut, key: &[u8]) -> Result<Option<&'a mut Vec<u8>>, CmdError> {
    let Some(value) = db.get_mut_quiet(key) else {
        return Ok(None);
    };
    // Checked before it is marked: a string that is no HLL is left as it was.
    if !hll::is_hll(value.as_str()?) {
        return Err(NOT_HLL);
    }
    Ok(Some(value.as_str_rewrite(Rewrite::InPlace)?))
}

/// PFADD key [element ...]: 1 if a register changed (or the key was created).
pub fn pfadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let max = sparse_max(ctx);
    let db = ctx.client.db;
    ctx.write_db(db, |db| {
        let key = args.get(1);
        let (mut value, created) = match hll_mut(db, key)? {
            Some(s) => (std::mem::take(s), false),
            None => (hll::new(), true),
        };
        let mut updated = created;
        let mut result = Ok(());
        for ele in args.from(2) {
            match hll::add(&mut value, ele, max) {
                Ok(changed) => updated |= changed,
                Err(_) => {
                    result = Err(CORRUPT);
                    break;
                }
            }
        }
        if updated && value.len() >= 16 {
            // Stale cache: a new key too (Redis invalidates on any update).
            value[15] |= 0x80;
        }
        // The value goes back whatever happened (an error leaves what was done, as Redis).
        if created {
            if updated && result.is_ok() {
                db.set(key, Value::raw_str(value), false);
            }
        } else if let Ok(Some(s)) = db.str_mut_quiet(key) {
            *s = value;
        }
        result?;
        if updated {
            db.touch(key);
            db.notify(notify::STRING, "pfadd", key);
        }
        Ok(Reply::Int(i64::from(updated)))
    })
}

/// PFCOUNT key [key ...]: one key's cached or fresh estimate (refreshing the cache changes
/// the string, as in Redis), or the estimate of the union of several.
pub fn pfcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let db = ctx.client.db;
    ctx.write_db(db, |db| {
        if args.len() > 2 {
            let mut max = vec![0u8; hll::REGISTERS];
            for key in args.from(1) {
                let Some(s) = db.get_str(key)? else { continue };
                if !hll::is_hll(s) {
                    return Err(NOT_HLL);
                }
                hll::merge_into(&mut max, s).map_err(|_| CORRUPT)?;
            }
            return Ok(Reply::Int(hll::count_registers(&max) as i64));
        }
        let key = args.get(1);
        // The read door first (a keyspace hit or miss, as Redis's lookupKeyRead counts).
        if db.get_str(key)?.is_none() {
            return Ok(Reply::Int(0));
        }
        let Some(s) = hll_mut(db, key)? else {
            return Ok(Reply::Int(0));
        };
        let (card, refreshed) = hll::count(s).map_err(|_| CORRUPT)?;
        if refreshed {
            db.touch(key);
        }
        Ok(Reply::Int(card as i64))
    })
}

/// PFMERGE destkey [sourcekey ...]: the destination (itself included) raised to every
/// source's registers; dense if any input was.
pub fn pfmerge(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let sparse_max = sparse_max(ctx);
    let db = ctx.client.db;
    ctx.write_db(db, |db| {
        let mut max = vec![0u8; hll::REGISTERS];
        let mut dense = false;
        for key in args.from(1) {
            let Some(s) = db.get_str(key)? else { continue };
            if !hll::is_hll(s) {
                return Err(NOT_HLL);
            }
            dense |= !hll::is_sparse(s);
            hll::merge_into(&mut max, s).map_err(|_| CORRUPT)?;
        }
        let dest = args.get(1);
        let mut value = match hll_mut(db, dest)? {
            Some(s) => std::mem::take(s),
            None => hll::new(),
        };
        let result = (|| {
            if dense {
                hll::to_dense(&mut value)?;
            }
            for (i, &m) in max.iter().enumerate() {
                if m > 0 {
                    hll::set(&mut value, i, m, sparse_max)?;
                }
            }
            Ok::<(), hll::Corrupt>(())
        })();
        // The cache is stale now, whatever changed.
        if value.len() >= 16 {
            value[15] |= 0x80;
        }
        db.set(dest, Value::raw_str(value), true);
        result.map_err(|_| CORRUPT)?;
        db.notify(notify::STRING, "pfadd", dest);
        Ok(Reply::ok())
    })
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let db = ctx.client.db;
    let sub = args.text(1).to_ascii_lowercase();
    ctx.write_db(db, |db| {
        let key = args.get(2);
        let Some(s) = hll_mut(db, key)? else {
            return Err(err("ERR The specified key does not exist"));
        };
        match sub.as_str() {
            "getreg" => {
                let converted = hll::to_dense(s).map_err(|_| CORRUPT)?;
                let regs = hll::registers(s);
                if converted {
                    db.touch(key);
                }
                Ok(Reply::Array(
                    regs.into_iter().map(|r| Reply::Int(r.into())).collect(),
                ))
            }
            "decode" => {
                if !hll::is_sparse(s) {
                    return Err(err("ERR HLL encoding is not sparse"));
                }
                Ok(Reply::bulk(hll::decode(s).map_err(|_| CORRUPT)?))
            }
            "encoding" => Ok(Reply::simple(if hll::is_sparse(s) {
                "sparse"
            } else {
                "dense"
            })),
            "todense" => {
                let converted = hll::to_dense(s).map_err(|_| CORRUPT)?;
                if converted {
                    db.touch(key);
                }
                Ok(Reply::Int(i64::from(converted)))
            }
            _ => Err(CmdError::msg(format!(
                "ERR Unknown PFDEBUG subcommand '{}'",
                args.text(1)
            ))),
        }
    })
}

/// PFSELFTEST
pub fn pfselftest(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    match hll::selftest() {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(CmdError::msg(e)),
    }
}
