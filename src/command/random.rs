//! Random picks with a count, as HRANDFIELD (and later SRANDMEMBER, ZRANDMEMBER) take it.

use crate::protocol::{Reply, ReplyStream};
use crate::store::rand_u64;

/// The reply to a random pick of `count` from `items` (storage order), each a member and, when
/// values were asked for, its value:
/// - `count < 0`: `|count|` picks that may repeat, in random order, made as they are written
///   (so a huge count never sits in memory);
/// - `count >= len`: every item, in storage order;
/// - otherwise `count` distinct items, in random order.
pub fn random_reply(items: Vec<(Vec<u8>, Option<Vec<u8>>)>, count: i64) -> Reply {
    let n = items.len();
    let with_values = items.first().is_some_and(|(_, v)| v.is_some());
    let one = move |(m, v): &(Vec<u8>, Option<Vec<u8>>)| match v {
        Some(v) if with_values => {
            Reply::Pairs(vec![(Reply::bulk(m.clone()), Reply::bulk(v.clone()))])
        }
        _ => Reply::bulk(m.clone()),
    };
    if n == 0 || count == 0 {
        return Reply::Array(vec![]);
    }
    if count < 0 {
        let len = count.unsigned_abs() as usize;
        let picks = (0..len).map(move |_| one(&items[(rand_u64() % n as u64) as usize]));
        return Reply::Stream(ReplyStream::new(len, with_values, picks));
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
    let picks = chosen.into_iter().map(move |i| one(&items[i]));
    Reply::Stream(ReplyStream::new(len, with_values, picks))
}
