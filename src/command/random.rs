//! Random picks with a count, as HRANDFIELD, SRANDMEMBER and ZRANDMEMBER take it.

use std::collections::HashSet;

use super::args::{err, Args, CmdError};
use crate::protocol::{Reply, ReplyStream};
use crate::store::rand_u64;

/// One pick: a member and, when values were asked for, its value.
pub type Item<V> = (Vec<u8>, Option<V>);

/// The reply of one item: a bulk member, or a (member, value) pair.
fn one<V>(item: &Item<V>, value: fn(&V) -> Reply) -> Reply {
    match &item.1 {
        Some(v) => Reply::Pairs(vec![(Reply::bulk(item.0.clone()), value(v))]),
        None => Reply::bulk(item.0.clone()),
    }
}

/// The reply to a random pick of `count` from `items` (storage order):
/// - `count < 0`: `|count|` picks that may repeat, in random order, made as they are written
///   (so a huge count never sits in memory);
/// - `count >= len`: every item, in storage order;
/// - otherwise `count` distinct items, in random order.
pub fn random_reply<V: Send + 'static>(
    items: Vec<Item<V>>,
    count: i64,
    value: fn(&V) -> Reply,
) -> Reply {
    let n = items.len();
    let pairs = items.first().is_some_and(|(_, v)| v.is_some());
    if n == 0 || count == 0 {
        return Reply::Array(vec![]);
    }
    if count < 0 {
        let len = count.unsigned_abs() as usize;
        let picks = (0..len).map(move |_| one(&items[(rand_u64() % n as u64) as usize], value));
        return Reply::Stream(ReplyStream::new(len, pairs, picks));
    }
    let chosen: Vec<usize> = if count as u64 >= n as u64 {
        (0..n).collect()
    } else {
        // A partial Fisher-Yates shuffle: the first `count` slots are a uniform sample.
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..count as usize {
            let j = i + (rand_u64() % (n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(count as usize);
        idx
    };
    let len = chosen.len();
    let picks = chosen.into_iter().map(move |i| one(&items[i], value));
    Reply::Stream(ReplyStream::new(len, pairs, picks))
}

/// Up to this many repeated picks are drawn straight from the collection; beyond it the
/// collection is copied once and the picks are streamed.
const DIRECT_PICKS: usize = 4096;

/// A random pick of `count` from a collection of `len` items that can draw a uniformly random
/// item (`draw`) without copying everything, as Redis's SRANDMEMBER and ZRANDMEMBER do:
/// `all` copies every item, in storage order, only where the answer needs most of them.
pub fn sample<V: Send + 'static>(
    len: usize,
    count: i64,
    mut draw: impl FnMut() -> Item<V>,
    all: impl FnOnce() -> Vec<Item<V>>,
    value: fn(&V) -> Reply,
) -> Reply {
    if len == 0 || count == 0 {
        return Reply::Array(vec![]);
    }
    let n = count.unsigned_abs() as usize;
    let picks: Vec<Item<V>> = if count < 0 && n <= DIRECT_PICKS {
        (0..n).map(|_| draw()).collect()
    } else if count > 0 && n < len && n.saturating_mul(3) <= len {
        // Few of many: draw until enough are distinct (Redis's case 4).
        let mut seen = HashSet::with_capacity(n);
        let mut picks = Vec::with_capacity(n);
        while picks.len() < n {
            let item = draw();
            if seen.insert(item.0.clone()) {
                picks.push(item);
            }
        }
        picks
    } else {
        return random_reply(all(), count, value);
    };
    let pairs = picks.first().is_some_and(|(_, v)| v.is_some());
    let len = picks.len();
    let replies = picks.into_iter().map(move |item| one(&item, value));
    Reply::Stream(ReplyStream::new(len, pairs, replies))
}

/// A random-pick count: any integer but `i64::MIN` (Redis's `-LONG_MAX..=LONG_MAX`).
pub fn count_arg(args: &Args, i: usize) -> Result<i64, CmdError> {
    let count = args.int(i)?;
    if count == i64::MIN {
        return Err(err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(count)
}
