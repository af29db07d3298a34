//! Who is subscribed to what (Redis's `pubsub.c`), apart from the keyspace: channels,
//! patterns and shard channels, each mapped to its subscribers in the order they subscribed.
//!
//! A publisher holds the registry's read lock while it hands the message to each subscriber's
//! [outbox](crate::outbox), which never blocks; (un)subscribing takes the write lock and
//! queues its confirmation under it, so a subscriber sees its confirmation before any message
//! of the channel, and none after leaving it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockWriteGuard};

use crate::config::Config;
use crate::protocol::{encode, Reply};
use crate::state::ClientInfo;
use crate::store::glob;
use crate::store::notify::Sink;

type Subscribers = Vec<Arc<ClientInfo>>;

/// The three namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Default)]
pub struct Registry {
    channels: HashMap<Box<[u8]>, Subscribers>,
    /// Patterns in the order first subscribed (PUBLISH tries them in that order).
    patterns: Vec<(Box<[u8]>, Subscribers)>,
    shard: HashMap<Box<[u8]>, Subscribers>,
}

#[derive(Default)]
pub struct PubSub {
    registry: RwLock<Registry>,
}

impl PubSub {
    /// Sends `message` to the subscribers of `channel` and of the patterns it matches; the
    /// number of clients it was handed to (Redis's `pubsubPublishMessage`).
    pub fn publish(&self, config: &Config, channel: &[u8], message: &[u8]) -> usize {
        let mut plain = Frames::new(vec![b"message", channel, message]);
        let registry = self.registry.read();
        let mut by_pattern: Vec<(&[u8], Frames)> = Vec::new();
        registry.each_receiver(channel, |client, pattern| {
            let resp = client.resp.load(Ordering::Relaxed);
            match pattern {
                None => {
                    client.deliver(plain.get(resp), config);
                }
                Some(p) => {
                    let i = match by_pattern.iter().position(|(q, _)| *q == p) {
                        Some(i) => i,
                        None => {
                            by_pattern
                                .push((p, Frames::new(vec![b"pmessage", p, channel, message])));
                            by_pattern.len() - 1
                        }
                    };
                    client.deliver(by_pattern[i].1.get(resp), config);
                }
            }
        })
    }

    /// Sends `message` to the subscribers of shard channel `channel` (SPUBLISH).
    pub fn spublish(&self, config: &Config, channel: &[u8], message: &[u8]) -> usize {
        let mut frames = Frames::new(vec![b"smessage", channel, message]);
        let registry = self.registry.read();
        let receivers = registry.shard_receivers(channel);
        for client in receivers {
            let resp = client.resp.load(Ordering::Relaxed);
            client.deliver(frames.get(resp), config);
        }
        receivers.len()
    }

    /// The registry, for (un)subscribing.
    pub fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write()
    }

    /// Runs `f` with the registry read-locked (PUBLISH, PUBSUB).
    pub fn read<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        f(&self.registry.read())
    }
}

impl Registry {
    /// Adds `client` to `name`'s subscribers; false if it was already there.
    pub fn add(&mut self, kind: Kind, name: &[u8], client: &Arc<ClientInfo>) -> bool {
        let subs = match kind {
            Kind::Channel => self.channels.entry(Box::from(name)).or_default(),
            Kind::Shard => self.shard.entry(Box::from(name)).or_default(),
            Kind::Pattern => match self.patterns.iter().position(|(p, _)| **p == *name) {
                Some(i) => &mut self.patterns[i].1,
                None => {
                    self.patterns.push((Box::from(name), Vec::new()));
                    let last = self.patterns.len() - 1;
                    &mut self.patterns[last].1
                }
            },
        };
        if subs.iter().any(|c| c.id == client.id) {
            return false;
        }
        subs.push(Arc::clone(client));
        true
    }

    /// Takes client `id` off `name`; false if it was not there.
    pub fn remove(&mut self, kind: Kind, name: &[u8], id: u64) -> bool {
        fn take(subs: &mut Subscribers, id: u64) -> bool {
            let before = subs.len();
            subs.retain(|c| c.id != id);
            subs.len() != before
        }
        match kind {
            Kind::Channel | Kind::Shard => {
                let map = if kind == Kind::Channel {
                    &mut self.channels
                } else {
                    &mut self.shard
                };
                let Some(subs) = map.get_mut(name) else {
                    return false;
                };
                let removed = take(subs, id);
                if subs.is_empty() {
                    map.remove(name);
                }
                removed
            }
            Kind::Pattern => {
                let Some(i) = self.patterns.iter().position(|(p, _)| **p == *name) else {
                    return false;
                };
                let removed = take(&mut self.patterns[i].1, id);
                if self.patterns[i].1.is_empty() {
                    self.patterns.remove(i);
                }
                removed
            }
        }
    }

    /// Calls `deliver` for each subscriber of `channel` (`None`), then for each subscriber
    /// of each matching pattern (`Some(pattern)`); returns how many it called.
    pub fn each_receiver<'r>(
        &'r self,
        channel: &[u8],
        mut deliver: impl FnMut(&'r Arc<ClientInfo>, Option<&'r [u8]>),
    ) -> usize {
        let mut n = 0;
        if let Some(subs) = self.channels.get(channel) {
            for c in subs {
                deliver(c, None);
                n += 1;
            }
        }
        for (pattern, subs) in &self.patterns {
            if glob::matches(pattern, channel, false) {
                for c in subs {
                    deliver(c, Some(pattern));
                    n += 1;
                }
            }
        }
        n
    }

    /// The subscribers of shard channel `channel`.
    pub fn shard_receivers(&self, channel: &[u8]) -> &[Arc<ClientInfo>] {
        self.shard.get(channel).map_or(&[], |s| s.as_slice())
    }

    /// Active channels (with at least one subscriber) matching `pattern` (all if `None`).
    pub fn channel_names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let map = if kind == Kind::Shard {
            &self.shard
        } else {
            &self.channels
        };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .map(|c| c.to_vec())
            .collect()
    }

    /// Subscribers of a channel.
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        match kind {
            Kind::Channel => self.channels.get(name).map_or(0, Vec::len),
            Kind::Shard => self.shard.get(name).map_or(0, Vec::len),
            Kind::Pattern => self
                .patterns
                .iter()
                .find(|(p, _)| **p == *name)
                .map_or(0, |(_, s)| s.len()),
        }
    }

    /// What client `id` is subscribed to: channels and shard channels, and patterns (an ACL
    /// change checks them against the user's new channel rules).
    pub fn subscriptions_of(&self, id: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let has = |subs: &Subscribers| subs.iter().any(|c| c.id == id);
        let channels = self
            .channels
            .iter()
            .chain(self.shard.iter())
            .filter(|(_, s)| has(s))
            .map(|(n, _)| n.to_vec())
            .collect();
        let patterns = self
            .patterns
            .iter()
            .filter(|(_, s)| has(s))
            .map(|(n, _)| n.to_vec())
            .collect();
        (channels, patterns)
    }

    /// Distinct channels, patterns and shard channels with subscribers (INFO, PUBSUB NUMPAT).
    pub fn totals(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
}

/// A message frame, encoded once per protocol version and reused for every subscriber.
struct Frames<'a> {
    parts: Vec<&'a [u8]>,
    encoded: [Option<Vec<u8>>; 2],
}

impl<'a> Frames<'a> {
    fn new(parts: Vec<&'a [u8]>) -> Self {
        Frames {
            parts,
            encoded: [None, None],
        }
    }

    fn get(&mut self, resp: u8) -> &[u8] {
        let i = usize::from(resp >= 3);
        let parts = &self.parts;
        self.encoded[i].get_or_insert_with(|| {
            let reply = Reply::Push(parts.iter().map(|p| Reply::bulk(*p)).collect());
            let mut out = Vec::new();
            encode(&reply, resp, &mut out);
            out
        })
    }
}

/// Keyspace events, published by the store through the server's pub/sub.
pub struct KeyspaceEvents {
    pub pubsub: Arc<PubSub>,
    pub config: Arc<Config>,
}

impl Sink for KeyspaceEvents {
    fn publish(&self, channel: &[u8], message: &[u8]) {
        self.pubsub.publish(&self.config, channel, message);
    }
}
