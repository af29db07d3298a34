//! Pub/sub commands (Redis's `pubsub.c`): SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.
//!
//! Messages reach subscribers through their [outboxes](crate::outbox), from the publisher's
//! thread, without waiting on any of them. A subscription's confirmation is queued under the
//! registry's write lock, before any message of the channel can be. The connection loop puts
//! a client's output on its outbox before the first SUBSCRIBE runs (see `client.rs`).

use std::sync::atomic::Ordering;

use super::args::{Args, CmdResult};
use super::Ctx;
use crate::protocol::{encode, Reply};
use crate::pubsub::{Kind, Registry};
use crate::state::{ClientState, Shared};

/// Which subscribe command, by namespace.
fn names(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

/// The count a (un)subscribe confirmation carries: channels plus patterns, or shard
/// channels for the shard commands (Redis's `clientSubscriptionsCount` and
/// `clientShardSubscriptionsCount`).
fn count(client: &ClientState, kind: Kind) -> i64 {
    let s = &client.subscriptions;
    match kind {
        Kind::Shard => s.shard.len() as i64,
        _ => (s.channels.len() + s.patterns.len()) as i64,
    }
}

fn confirmation(word: &'static str, name: Option<&[u8]>, n: i64) -> Reply {
    Reply::Push(vec![
        Reply::bulk(word),
        name.map_or(Reply::Nil, Reply::bulk),
        Reply::Int(n),
    ])
}

/// Keeps CLIENT LIST's `sub psub ssub` in step with the client's own sets.
fn publish_counts(client: &ClientState) {
    let s = &client.subscriptions;
    let info = &client.info;
    info.subs[0].store(s.channels.len(), Ordering::Relaxed);
    info.subs[1].store(s.patterns.len(), Ordering::Relaxed);
    info.subs[2].store(s.shard.len(), Ordering::Relaxed);
}

/// Adds `name` to the client's own set; false if it was there.
fn add_own(client: &mut ClientState, kind: Kind, name: &[u8]) -> bool {
    let s = &mut client.subscriptions;
    match kind {
        Kind::Channel => s.channels.insert(Box::from(name)),
        Kind::Shard => s.shard.insert(Box::from(name)),
        Kind::Pattern => {
            if s.patterns.iter().any(|p| **p == *name) {
                false
            } else {
                s.patterns.push(Box::from(name));
                true
            }
        }
    }
}

fn remove_own(client: &mut ClientState, kind: Kind, name: &[u8]) -> bool {
    let s = &mut client.subscriptions;
    match kind {
        Kind::Channel => s.channels.remove(name),
        Kind::Shard => s.shard.remove(name),
        Kind::Pattern => match s.patterns.iter().position(|p| **p == *name) {
            Some(i) => {
                s.patterns.remove(i);
                true
            }
            None => false,
        },
    }
}

fn subscribe_generic(ctx: &mut Ctx, args: &Args, kind: Kind) -> CmdResult {
    let (word, _) = names(kind);
    let in_exec = ctx.held.is_some();
    let (server, client) = (ctx.server, &mut *ctx.client);
    let mut registry = server.pubsub.write();
    let mut replies = Vec::new();
    for name in args.from(1) {
        if add_own(client, kind, name) {
            registry.add(kind, name, &client.info);
        }
        publish_counts(client);
        let reply = confirmation(word, Some(name), count(client, kind));
        if in_exec {
            replies.push(reply);
        } else {
            // Queued before the lock is released: ahead of any message of the channel.
            let mut frame = Vec::new();
            encode(&reply, client.resp, &mut frame);
            client.info.deliver_own(&frame, &server.config);
        }
    }
    // An ACL SETUSER may have revoked these channels between this command's permission
    // check and its registration: checked again now, under the registry lock, so that either
    // this check or SETUSER's scan of the subscribers sees the other (and the client goes, as
    // SETUSER would have closed it).
    if !client.user.unrestricted() {
        let names: Vec<&[u8]> = args.from(1).iter().map(Vec::as_slice).collect();
        let allowed = match kind {
            Kind::Pattern => client.user.read().allows_subscriptions(&[], &names),
            _ => client.user.read().allows_subscriptions(&names, &[]),
        };
        if !allowed {
            client.close_after_reply = true;
            client.info.close();
        }
    }
    drop(registry);
    Ok(if in_exec {
        Reply::Raw(encode_all(&replies, client.resp).into())
    } else {
        Reply::none()
    })
}

fn encode_all(replies: &[Reply], resp: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for r in replies {
        encode(r, resp, &mut out);
    }
    out
}

/// Leaves `names` (every subscription of the kind if empty); one confirmation each, or one
/// with a null name if there was nothing to leave.
fn unsubscribe_generic(ctx: &mut Ctx, args: &Args, kind: Kind) -> CmdResult {
    let (_, word) = names(kind);
    let client = &mut *ctx.client;
    let names: Vec<Box<[u8]>> = if args.len() > 1 {
        args.from(1).iter().map(|n| Box::from(&n[..])).collect()
    } else {
        own_names(client, kind)
    };
    if names.is_empty() {
        let frame = encode_all(
            &[confirmation(word, None, count(client, kind))],
            client.resp,
        );
        if client.outbox_active && ctx.held.is_none() {
            // A push: sent even under CLIENT REPLY OFF.
            client.info.deliver_own(&frame, &ctx.server.config);
            return Ok(Reply::none());
        }
        return Ok(Reply::Raw(frame.into()));
    }
    let mut registry = ctx.server.pubsub.write();
    let mut replies = Vec::with_capacity(names.len());
    for name in &names {
        if remove_own(client, kind, name) {
            registry.remove(kind, name, client.id);
        }
        replies.push(confirmation(word, Some(name), count(client, kind)));
    }
    publish_counts(client);
    let frames = encode_all(&replies, client.resp);
    if client.outbox_active && ctx.held.is_none() {
        // Straight to the outbox, as a push: sent even under CLIENT REPLY OFF.
        client.info.deliver_own(&frames, &ctx.server.config);
        return Ok(Reply::none());
    }
    Ok(Reply::Raw(frames.into()))
}

fn own_names(client: &ClientState, kind: Kind) -> Vec<Box<[u8]>> {
    let s = &client.subscriptions;
    match kind {
        Kind::Channel => s.channels.iter().cloned().collect(),
        Kind::Pattern => s.patterns.clone(),
        Kind::Shard => s.shard.iter().cloned().collect(),
    }
}

/// Drops every subscription of the client without confirmations (RESET, disconnect).
pub fn forget_all(server: &Shared, client: &mut ClientState) {
    if !client.info.is_subscribed() {
        return;
    }
    let mut registry = server.pubsub.write();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in own_names(client, kind) {
            registry.remove(kind, &name, client.id);
        }
    }
    drop(registry);
    client.subscriptions = Default::default();
    publish_counts(client);
}

/// SUBSCRIBE channel [channel ...]
pub fn subscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Channel)
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Pattern)
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
pub fn ssubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Shard)
}

/// UNSUBSCRIBE [channel ...]
pub fn unsubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Channel)
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Pattern)
}

/// SUNSUBSCRIBE [shardchannel ...]
pub fn sunsubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Shard)
}

/// PUBLISH channel message
pub fn publish(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = ctx
        .server
        .pubsub
        .publish(&ctx.server.config, args.get(1), args.get(2));
    Ok(Reply::Int(n as i64))
}

/// SPUBLISH shardchannel message
pub fn spublish(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (channel, message) = (args.get(1), args.get(2));
    let n = ctx
        .server
        .pubsub
        .spublish(&ctx.server.config, channel, message);
    Ok(Reply::Int(n as i64))
}

/// PUBSUB CHANNELS [pattern]
pub fn pubsub_channels(ctx: &mut Ctx, args: &Args) -> CmdResult {
    channel_list(ctx, args, Kind::Channel)
}

/// PUBSUB SHARDCHANNELS [pattern]
pub fn pubsub_shardchannels(ctx: &mut Ctx, args: &Args) -> CmdResult {
    channel_list(ctx, args, Kind::Shard)
}

fn channel_list(ctx: &mut Ctx, args: &Args, kind: Kind) -> CmdResult {
    if args.len() > 3 {
        return Err(super::subcommand_syntax_error(args));
    }
    let pattern = (args.len() == 3).then(|| args.get(2));
    let names = ctx.server.pubsub.read(|r| r.channel_names(kind, pattern));
    Ok(Reply::bulks(names))
}

/// PUBSUB NUMSUB [channel ...]
pub fn pubsub_numsub(ctx: &mut Ctx, args: &Args) -> CmdResult {
    numsub(ctx, args, Kind::Channel)
}

/// PUBSUB SHARDNUMSUB [shardchannel ...]
pub fn pubsub_shardnumsub(ctx: &mut Ctx, args: &Args) -> CmdResult {
    numsub(ctx, args, Kind::Shard)
}

fn numsub(ctx: &mut Ctx, args: &Args, kind: Kind) -> CmdResult {
    let items = ctx.server.pubsub.read(|r| {
        args.from(2)
            .iter()
            .flat_map(|c| {
                [
                    Reply::bulk(c.as_slice()),
                    Reply::Int(r.count(kind, c) as i64),
                ]
            })
            .collect()
    });
    Ok(Reply::Array(items))
}

/// PUBSUB NUMPAT
pub fn pubsub_numpat(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let (_, patterns, _) = ctx.server.pubsub.read(Registry::totals);
    Ok(Reply::Int(patterns as i64))
}

/// PUBSUB HELP
pub fn pubsub_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    ))
}

/// Is this client subscribed to anything? (Shared state through its info.)
pub fn subscribed(client: &ClientState) -> bool {
    client.info.is_subscribed()
}
