//! What a server with no replicas and no cluster answers to the replication and cluster
//! commands clients send anyway: ROLE, WAIT, and ASKING, READONLY and READWRITE.

use super::args::{err, Args, CmdError, CmdResult};
use super::{Ctx, Step, Wait};
use crate::protocol::{parse_i64, Reply};
use crate::store::ready::Request;
use crate::store::DbMut;

const NO_CLUSTER: CmdError = err("ERR This instance has cluster support disabled");

/// ASKING, READONLY, READWRITE: cluster mode only.
pub fn cluster_only(_: &mut Ctx, _: &Args) -> CmdResult {
    Err(NO_CLUSTER)
}

/// ROLE: a master with no replicas, at offset 0 (INFO's `master_repl_offset`).
pub fn role(_: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::Array(vec![
        Reply::Bulk(b"master".to_vec()),
        Reply::Int(0),
        Reply::Array(Vec::new()),
    ]))
}

/// A WAIT no write can end: no replica acknowledges anything.
struct NoReplicas;

impl Request for NoReplicas {
    fn serve(&self, _: &mut DbMut, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// WAIT numreplicas timeout: the replicas that acknowledged the client's writes, none here.
/// Asked for none, it answers at once; asked for some, it waits out the timeout (0: until
/// CLIENT UNBLOCK or the client goes), as Redis does with no replica connected.
pub fn wait(_: &mut DbMut, args: &Args, _: u8) -> Result<Step, CmdError> {
    let replicas = args.int(1)?;
    let timeout =
        parse_i64(args.get(2)).ok_or(err("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(err("ERR timeout is negative"));
    }
    if replicas <= 0 {
        return Ok(Step::Reply(Reply::Int(0)));
    }
    Ok(Step::Wait(Wait {
        keys: Vec::new(),
        request: Box::new(NoReplicas),
        timeout_ms: timeout,
        on_timeout: Reply::Int(0),
        in_multi: Some(Reply::Int(0)),
    }))
}
