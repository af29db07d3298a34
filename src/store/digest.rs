//! Redis's dataset digest (DEBUG DIGEST, DEBUG DIGEST-VALUE; `computeDatasetDigest` in
//! debug.c), computed the same way, so that equal data gives Redis's own hex: SHA-1 mixes,
//! ordered for lists and streams, XOR-ed (order-free) for keys, set members, hash fields and
//! sorted-set entries.

use sha1::{Digest, Sha1};

use super::{Entry, Value};

pub type Sum = [u8; 20];

fn sha1(data: &[u8]) -> Sum {
    Sha1::digest(data).into()
}

/// Redis's `xorDigest`.
fn xor(d: &mut Sum, data: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(data)) {
        *a ^= b;
    }
}

/// Redis's `mixDigest`: XOR in, then hash the result.
fn mix(d: &mut Sum, data: &[u8]) {
    xor(d, data);
    *d = sha1(d);
}

/// The digest of one key and its value (`xorObjectDigest` after mixing the key in).
pub fn key(name: &[u8], e: &Entry) -> Sum {
    let mut d = [0u8; 20];
    mix(&mut d, name);
    value_into(&mut d, e);
    d
}

/// The value's part alone (DEBUG DIGEST-VALUE).
pub fn value(e: &Entry) -> Sum {
    let mut d = [0u8; 20];
    value_into(&mut d, e);
    d
}

fn value_into(d: &mut Sum, e: &Entry) {
    let t: u32 = match &e.value {
        Value::Str(..) => 0,
        Value::List(..) => 1,
        Value::Set(..) => 2,
        Value::ZSet(..) => 3,
        Value::Hash(..) => 4,
        Value::Stream(..) => 6,
    };
    mix(d, &t.to_be_bytes());
    match &e.value {
        Value::Str(s, _) => mix(d, s),
        Value::List(l, _) => l.iter().for_each(|el| mix(d, el)),
        Value::Set(s, _) => s.iter().for_each(|m| xor(d, &m)),
        Value::ZSet(z, _) => {
            for (m, score) in z.iter() {
                let mut el = [0u8; 20];
                mix(&mut el, m);
                mix(
                    &mut el,
                    crate::protocol::reply::format_double(score).as_bytes(),
                );
                xor(d, &el);
            }
        }
        Value::Hash(h, _) => {
            for (f, v) in h.iter() {
                let mut el = [0u8; 20];
                mix(&mut el, f);
                mix(&mut el, v);
                xor(d, &el);
            }
        }
        Value::Stream(s, _) => {
            use super::StreamId;
            for item in s.range(StreamId::MIN, StreamId::MAX, false) {
                mix(d, format!("{}.{}", item.id.ms, item.id.seq).as_bytes());
                for (f, v) in item.pairs {
                    mix(d, f);
                    mix(d, v);
                }
            }
        }
    }
    if e.expire != 0 {
        xor(d, b"!!expire!!");
    }
}

/// Adds database `index` to the dataset digest `fin` (start from zeros, add each database
/// in order): its index mixed in if it has keys, then each key's digest XOR-ed.
pub fn add_db<'a>(fin: &mut Sum, index: usize, keys: impl Iterator<Item = (&'a [u8], &'a Entry)>) {
    let mut keys = keys.peekable();
    if keys.peek().is_none() {
        return;
    }
    mix(fin, &(index as u32).to_be_bytes());
    for (k, e) in keys {
        xor(fin, &key(k, e));
    }
}

pub fn hex(d: &Sum) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
