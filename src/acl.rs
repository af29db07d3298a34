//! ACL users, as Redis 7.0 has them: flags, passwords (SHA-256), and selectors (the root one
//! and any added with `(...)`), each with its allowed commands, key patterns (`~`, `%R~`,
//! `%W~`) and channel patterns (`&`); the rules of ACL SETUSER, the description ACL LIST and
//! GETUSER show, the permission check dispatch makes, and the ACL LOG.
//!
//! A client holds its user as an `Arc<UserCell>`; ACL SETUSER changes the cell in place, so
//! authenticated clients see new rules at their next command. The default user with every
//! permission (the common case) is one atomic load per command.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};

use crate::command::{acl_commands, AclCommand};
use crate::store::glob;

const READ: u8 = 1;
const WRITE: u8 = 2;
const ALL: u8 = READ | WRITE;

/// Why a command was refused (Redis's `ACL_DENIED_*`, in its order of relevance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key,
    Channel,
    Auth,
}

impl Denied {
    fn reason(self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key => "key",
            Denied::Channel => "channel",
            Denied::Auth => "auth",
        }
    }
}

/// Where a refusal happened (ACL LOG's `context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    /// A `redis.call` inside a script.
    Lua,
}

/// What a command touches, for the check: its id, arguments, keys with their key-spec flags,
/// and channels (position, is a pattern, is a subscribe or publish).
pub struct Request<'a> {
    pub id: usize,
    pub argv: &'a [Vec<u8>],
    /// The command's first argument position for first-arg rules (2 for a subcommand).
    pub firstarg_at: usize,
    pub keys: Option<Vec<(usize, u16)>>,
    pub channels: Vec<(usize, bool)>,
}

#[derive(Clone)]
struct KeyPattern {
    pattern: Vec<u8>,
    flags: u8,
}

impl KeyPattern {
    /// As Redis's `sdsCatPatternString` writes it (bytes: a pattern need not be UTF-8).
    fn describe(&self) -> Vec<u8> {
        let prefix: &[u8] = match self.flags {
            ALL => b"~",
            READ => b"%R~",
            _ => b"%W~",
        };
        [prefix, &self.pattern].concat()
    }
}

/// A set of permissions: commands, keys and channels.
#[derive(Clone)]
struct Selector {
    all_keys: bool,
    all_channels: bool,
    all_commands: bool,
    /// Set by `+@all` only: may run commands added later (decides `+@all`/`-@all` first).
    future: bool,
    allowed: Vec<u64>,
    /// First arguments allowed for an otherwise refused command, by command id.
    firstargs: BTreeMap<usize, Vec<String>>,
    keys: Vec<KeyPattern>,
    channels: Vec<Vec<u8>>,
}

/// The errors of Redis's `ACLSetUserStringError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    Unknown,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

fn trim_bytes<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// Redis's `ACLStringHasSpaces`: C's `isspace` (vertical tab included) or a NUL.
fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c.is_ascii_whitespace() || c == 0x0b || c == 0)
}

impl Selector {
    fn new(all_channels: bool) -> Self {
        Selector {
            all_keys: false,
            all_channels,
            all_commands: false,
            future: false,
            allowed: vec![0; acl_commands().len().div_ceil(64)],
            firstargs: BTreeMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Redis's `ACLChangeSelectorPerm`: a container command carries its subcommands along.
    fn change(&mut self, cmd: &AclCommand, allow: bool) {
        self.set_bit(cmd.id, allow);
        self.firstargs.remove(&cmd.id);
        for &sub in &cmd.subs {
            self.set_bit(sub, allow);
        }
    }

    fn change_category(&mut self, cat: u32, allow: bool) {
        for cmd in acl_commands() {
            if cmd.cats & cat != 0 {
                self.change(cmd, allow);
            }
        }
    }

    /// One rule of a selector (Redis's `ACLSetSelector`).
    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.allowed.iter_mut().for_each(|w| *w = u64::MAX);
            self.all_commands = true;
            self.future = true;
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed.iter_mut().for_each(|w| *w = 0);
            self.all_commands = false;
            self.future = false;
            self.firstargs.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::KeysAfterAll);
            }
            let (flags, offset) = if op[0] == b'%' {
                let mut flags = 0;
                let mut offset = 1;
                loop {
                    match op.get(offset).map(u8::to_ascii_uppercase) {
                        Some(b'R') if flags & READ == 0 => flags |= READ,
                        Some(b'W') if flags & WRITE == 0 => flags |= WRITE,
                        Some(b'~') => {
                            offset += 1;
                            break;
                        }
                        // Redis runs off the end here with `offset == oplen` and no `~`:
                        // the pattern is empty.
                        None => break,
                        _ => return Err(RuleError::Syntax),
                    }
                    offset += 1;
                }
                if flags == 0 {
                    return Err(RuleError::Syntax);
                }
                (flags, offset)
            } else {
                (ALL, 1)
            };
            let pattern = &op[offset.min(op.len())..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => k.flags |= flags,
                None => self.keys.push(KeyPattern {
                    pattern: pattern.to_vec(),
                    flags,
                }),
            }
            self.all_keys = false;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let cat = category_bit(&op[2..]).ok_or(RuleError::Unknown)?;
            self.change_category(cat, op[0] == b'+');
        } else if op[0] == b'+' {
            let name = String::from_utf8_lossy(&op[1..]).to_ascii_lowercase();
            match name.rsplit_once('|') {
                None => {
                    let cmd = find_command(&name).ok_or(RuleError::Unknown)?;
                    self.change(cmd, true);
                }
                Some((base, sub)) => {
                    let cmd = find_command(base).ok_or(RuleError::Unknown)?;
                    if cmd.parent.is_some() {
                        return Err(RuleError::SubcommandFirstArg);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !cmd.subs.is_empty() {
                        let sub = find_command(&name).ok_or(RuleError::Unknown)?;
                        self.change(sub, true);
                    } else {
                        log::warn!("Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{name})");
                        let args = self.firstargs.entry(cmd.id).or_default();
                        if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            args.push(sub.to_string());
                        }
                    }
                }
            }
        } else if op[0] == b'-' {
            let name = String::from_utf8_lossy(&op[1..]).to_ascii_lowercase();
            let cmd = find_command(&name).ok_or(RuleError::Unknown)?;
            self.change(cmd, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// Redis's `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, then the categories
    /// that fit best, then single commands, replayed on a scratch selector until it matches.
    fn describe_commands(&self) -> String {
        let mut rules = Vec::new();
        let mut fake = Selector::new(false);
        let additive = !self.future;
        rules.push(if additive { "-@all" } else { "+@all" }.to_string());
        let _ = fake.apply(rules[0].as_bytes());
        let mut temp = self.clone();
        let mut applied = [false; 21];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let name = crate::command::CATEGORIES[j];
            fake.change_category(1 << j, additive);
            temp.change_category(1 << j, !additive);
            rules.push(format!("{}@{name}", if additive { '+' } else { '-' }));
            applied[j] = true;
        }
        for cmd in acl_commands() {
            let (mine, theirs) = (self.bit(cmd.id), fake.bit(cmd.id));
            if mine != theirs {
                rules.push(format!("{}{}", if mine { '+' } else { '-' }, cmd.name));
                fake.change(cmd, mine);
            }
            if !mine {
                if let Some(args) = self.firstargs.get(&cmd.id) {
                    for a in args {
                        rules.push(format!("+{}|{a}", cmd.name));
                    }
                }
            }
        }
        rules.join(" ")
    }

    fn count_category(&self, cat: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for cmd in acl_commands() {
            if cmd.cats & cat != 0 {
                if self.bit(cmd.id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let keys: Vec<Vec<u8>> = self.keys.iter().map(KeyPattern::describe).collect();
        keys.join(&b' ')
    }

    fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let ch: Vec<Vec<u8>> = self
            .channels
            .iter()
            .map(|c| [&b"&"[..], c].concat())
            .collect();
        ch.join(&b' ')
    }

    /// Redis's `ACLDescribeSelector`: keys, channels, commands.
    fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for k in &self.keys {
                out.extend_from_slice(&k.describe());
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
        out
    }

    /// Redis's `ACLSelectorCheckCmd`.
    fn check(&self, req: &Request, no_auth: bool) -> Result<(), (Denied, usize)> {
        if !self.all_commands && !no_auth && !self.bit(req.id) {
            let allowed = self.firstargs.get(&req.id).is_some_and(|args| {
                req.argv
                    .get(req.firstarg_at)
                    .is_some_and(|a| args.iter().any(|x| a.eq_ignore_ascii_case(x.as_bytes())))
            });
            if !allowed {
                return Err((Denied::Command, 0));
            }
        }
        if !self.all_keys {
            if let Some(keys) = &req.keys {
                for &(pos, flags) in keys {
                    if !self.key_allowed(&req.argv[pos], flags) {
                        return Err((Denied::Key, pos));
                    }
                }
            }
        }
        if !self.all_channels {
            for &(pos, pattern) in &req.channels {
                if !channel_allowed(&self.channels, &req.argv[pos], pattern) {
                    return Err((Denied::Channel, pos));
                }
            }
        }
        Ok(())
    }

    fn key_allowed(&self, key: &[u8], spec_flags: u16) -> bool {
        use crate::command::keyspec::flags as kf;
        let mut want = 0;
        if spec_flags & kf::ACCESS != 0 {
            want |= READ;
        }
        if spec_flags & (kf::INSERT | kf::DELETE | kf::UPDATE) != 0 {
            want |= WRITE;
        }
        self.keys
            .iter()
            .any(|p| p.flags & want == want && glob::matches(&p.pattern, key, false))
    }
}

/// Redis's `ACLCheckChannelAgainstList`: a PSUBSCRIBE pattern must equal an ACL pattern; a
/// channel matches one.
fn channel_allowed(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p == channel
        } else {
            glob::matches(p, channel, false)
        }
    })
}

fn category_bit(name: &[u8]) -> Option<u32> {
    crate::command::CATEGORIES
        .iter()
        .position(|c| name.eq_ignore_ascii_case(c.as_bytes()))
        .map(|i| 1 << i)
}

/// A command or subcommand by its ACL name (`get`, `config|get`).
fn find_command(name: &str) -> Option<&'static AclCommand> {
    if name.matches('|').count() > 1 {
        return None;
    }
    acl_commands().iter().find(|c| c.name == name)
}

/// A user's state.
#[derive(Clone)]
pub struct User {
    enabled: bool,
    nopass: bool,
    /// `None`, or `Some(true)` for sanitize-payload, `Some(false)` for skip-sanitize-payload.
    sanitize: Option<bool>,
    /// SHA-256 hex digests.
    passwords: Vec<String>,
    /// The root selector first.
    selectors: Vec<Selector>,
}

pub fn hash_password(p: &[u8]) -> String {
    let digest = Sha256::digest(p);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64
        && h.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

impl User {
    fn new(all_channels: bool) -> Self {
        User {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(all_channels)],
        }
    }

    /// One rule of ACL SETUSER (Redis's `ACLSetUser`).
    fn apply(&mut self, op: &[u8], pubsub_default_all: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                if !valid_hash(&op[1..]) {
                    return Err(RuleError::BadHash);
                }
                String::from_utf8_lossy(&op[1..]).into_owned()
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                if !valid_hash(&op[1..]) {
                    return Err(RuleError::BadHash);
                }
                String::from_utf8_lossy(&op[1..]).into_owned()
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(pubsub_default_all);
            // Unbalanced quotes split into nothing, as `sdssplitargs` fails: an empty selector.
            let parts = crate::protocol::inline::split_args(&op[1..op.len() - 1]);
            for part in parts.unwrap_or_default() {
                s.apply(&part)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            root.all_keys = false;
            root.keys.clear();
            root.all_channels = pubsub_default_all;
            root.channels.clear();
            self.enabled = false;
            self.sanitize = Some(true);
            self.selectors.truncate(1);
            let _ = self.selectors[0].apply(b"-@all");
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Redis's `ACLDescribeUser`: flags, passwords, then the selectors.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.flag_names() {
            out.extend_from_slice(f.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(&s.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe());
                out.push(b')');
            }
        }
        out
    }

    fn flag_names(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// Every selector may run anything: no check is needed.
    fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.all_commands && s.all_keys && s.all_channels)
    }

    /// Redis's `ACLCheckAllUserCommandPerm`: some selector must allow it; otherwise the most
    /// relevant refusal (a key or channel over a command, the later position).
    pub fn check(&self, req: &Request, no_auth: bool) -> Result<(), (Denied, usize)> {
        let mut relevant = (Denied::Command, 0);
        for s in &self.selectors {
            match s.check(req, no_auth) {
                Ok(()) => return Ok(()),
                Err((d, pos)) => {
                    if d > relevant.0 || (d == relevant.0 && pos > relevant.1) {
                        relevant = (d, pos);
                    }
                }
            }
        }
        Err(relevant)
    }

    /// Redis's `ACLUserCheckCmdWithUnrestrictedKeyAccess` for reads: some selector allows
    /// the command and reads of every key (SORT's BY and GET patterns need it).
    pub fn may_read_every_key(&self, req: &Request, no_auth: bool) -> bool {
        self.selectors.iter().any(|s| {
            s.check(req, no_auth).is_ok()
                && (s.all_keys
                    || s.keys
                        .iter()
                        .any(|p| p.flags & READ != 0 && p.pattern == b"*"))
        })
    }

    /// Channels and patterns a subscriber may keep after a change: false if one it holds is
    /// no longer allowed.
    pub fn allows_subscriptions(&self, channels: &[&[u8]], patterns: &[&[u8]]) -> bool {
        if self.selectors.iter().any(|s| s.all_channels) {
            return true;
        }
        let all: Vec<Vec<u8>> = self
            .selectors
            .iter()
            .flat_map(|s| s.channels.iter().cloned())
            .collect();
        channels.iter().all(|c| channel_allowed(&all, c, false))
            && patterns.iter().all(|p| channel_allowed(&all, p, true))
    }

    /// ACL GETUSER's fields beyond flags and passwords: (commands, keys, channels) of a
    /// selector.
    pub fn selector_fields(&self) -> Vec<[Vec<u8>; 3]> {
        self.selectors
            .iter()
            .map(|s| {
                [
                    s.describe_commands().into_bytes(),
                    s.describe_keys(),
                    s.describe_channels(),
                ]
            })
            .collect()
    }

    pub fn flags(&self) -> Vec<&'static str> {
        self.flag_names()
    }

    pub fn passwords(&self) -> &[String] {
        &self.passwords
    }
}

/// A user as clients hold it.
pub struct UserCell {
    pub name: Vec<u8>,
    state: RwLock<User>,
    /// Cached `User::unrestricted`, so that the default user costs one load per command.
    open: AtomicBool,
    /// ACL DELUSER removed it: its clients are being closed.
    pub deleted: AtomicBool,
    /// Off, or with a password: connections of this (default) user must AUTH (Redis's
    /// `authRequired`, read by dispatch for clients that have not authenticated).
    requires_auth: AtomicBool,
}

impl UserCell {
    fn new(name: &[u8], user: User) -> Self {
        let open = user.unrestricted();
        let requires_auth = !user.nopass || !user.enabled;
        UserCell {
            name: name.to_vec(),
            state: RwLock::new(user),
            open: AtomicBool::new(open),
            deleted: AtomicBool::new(false),
            requires_auth: AtomicBool::new(requires_auth),
        }
    }

    pub fn unrestricted(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, User> {
        self.state.read()
    }

    fn replace(&self, user: User) {
        let open = user.unrestricted();
        let requires_auth = !user.nopass || !user.enabled;
        *self.state.write() = user;
        self.open.store(open, Ordering::Release);
        self.requires_auth.store(requires_auth, Ordering::Release);
    }

    /// Redis's `authRequired` for a connection that has not authenticated.
    pub fn requires_auth(&self) -> bool {
        self.requires_auth.load(Ordering::Acquire)
    }

    /// Needs AUTH before its connections may run commands (Redis's `authRequired` on new
    /// connections of this user).
    pub fn needs_password(&self) -> bool {
        let u = self.state.read();
        !u.nopass || !u.enabled
    }

    /// Flagged `nopass` (protected mode refuses remote clients while the default user is).
    pub fn nopass(&self) -> bool {
        self.state.read().nopass
    }

    /// ACL LIST's line: `user <name> <description>`.
    pub fn list_line(&self) -> Vec<u8> {
        [&b"user "[..], &self.name, b" ", &self.read().describe()].concat()
    }

    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub created_ms: i64,
    pub client_info: String,
}

/// Every user, and the ACL LOG.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<UserCell>>>,
    default: Arc<UserCell>,
    log: Mutex<VecDeque<LogEntry>>,
}

impl Default for Acl {
    fn default() -> Self {
        let mut u = User::new(false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes(), false);
        }
        let default = Arc::new(UserCell::new(b"default", u));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), Arc::clone(&default));
        Acl {
            users: RwLock::new(users),
            default,
            log: Mutex::new(VecDeque::new()),
        }
    }
}

/// Redis's `ACLMergeSelectorArguments`: a selector given across several arguments is
/// joined back into one.
fn merge_selectors(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    let mut out = Vec::new();
    let mut open: Option<(Vec<u8>, usize)> = None;
    for (i, a) in args.iter().enumerate() {
        // A new `(` without its `)` starts a selector again, even inside an open one.
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((a.clone(), i));
            continue;
        }
        if let Some((sel, _)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.push(open.take().map(|(s, _)| s).unwrap_or_default());
            }
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((_, i)) => Err(args[i].clone()),
        None => Ok(out),
    }
}

/// The outcome of ACL SETUSER for the caller: clients of the user to close (their
/// subscriptions are no longer allowed).
pub type SubscriberCheck<'a> = &'a dyn Fn(&Arc<UserCell>, &dyn Fn(&[&[u8]], &[&[u8]]) -> bool);

impl Acl {
    /// Redis's `authRequired` for a connection that has not authenticated: the default user
    /// is off or has a password now.
    pub fn default_requires_auth(&self) -> bool {
        self.default.requires_auth()
    }

    pub fn default_user(&self) -> Arc<UserCell> {
        Arc::clone(&self.default)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<UserCell>> {
        self.users.read().get(name).cloned()
    }

    /// The users in name order.
    pub fn users(&self) -> Vec<Arc<UserCell>> {
        self.users.read().values().cloned().collect()
    }

    /// ACL SETUSER: every rule is checked on a copy, and only if all hold is the user
    /// created or changed. `pubsub_default_all`: `acl-pubsub-default allchannels`.
    /// `kill_subscribers` is called with the user and a test of what it may still hold.
    pub fn set_user(
        &self,
        name: &[u8],
        rules: &[Vec<u8>],
        pubsub_default_all: bool,
        kill_subscribers: SubscriberCheck,
    ) -> Result<(), String> {
        let merged = merge_selectors(rules).map_err(|at| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&at)
            )
        })?;
        let mut users = self.users.write();
        let existing = users.get(name).cloned();
        let mut staged = match &existing {
            Some(cell) => cell.read().clone(),
            None => User::new(pubsub_default_all),
        };
        for op in &merged {
            staged.apply(op, pubsub_default_all).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(op),
                    e.text()
                )
            })?;
        }
        match existing {
            Some(cell) => {
                let before_all = cell.read().selectors.iter().any(|s| s.all_channels);
                let now_all = staged.selectors.iter().any(|s| s.all_channels);
                let narrowed = !now_all
                    && (before_all || {
                        let old = cell.read();
                        old.selectors
                            .iter()
                            .flat_map(|s| s.channels.iter())
                            .any(|c| {
                                !staged
                                    .selectors
                                    .iter()
                                    .any(|s| s.channels.iter().any(|n| n == c))
                            })
                    });
                let check = staged.clone();
                cell.replace(staged);
                if narrowed {
                    kill_subscribers(&cell, &|ch, pats| check.allows_subscriptions(ch, pats));
                }
            }
            None => {
                users.insert(name.to_vec(), Arc::new(UserCell::new(name, staged)));
            }
        }
        Ok(())
    }

    /// ACL DELUSER: the removed users (their clients are to be closed by the caller).
    pub fn delete(&self, names: &[Vec<u8>]) -> Vec<Arc<UserCell>> {
        let mut users = self.users.write();
        let mut gone = Vec::new();
        for n in names {
            if let Some(cell) = users.remove(n.as_slice()) {
                cell.deleted.store(true, Ordering::Release);
                gone.push(cell);
            }
        }
        gone
    }

    /// ACL LOAD (and the `aclfile` at startup), as Redis's `ACLLoadFromFile`: every line
    /// `user <name> <rule> ...`; all or nothing. The default user keeps its cell (its clients
    /// stay); every other user is replaced by a new one, and the old ones are returned for
    /// their clients to be closed. `shown` is the file name the errors give.
    pub fn load_file(
        &self,
        path: &str,
        pubsub_default_all: bool,
    ) -> Result<Vec<Arc<UserCell>>, String> {
        let text = std::fs::read(path).map_err(|e| {
            format!(
                "Error loading ACLs, opening file '{path}': {}",
                crate::os::strerror(&e)
            )
        })?;
        let mut errors = String::new();
        let mut loaded: BTreeMap<Vec<u8>, User> = BTreeMap::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = trim_bytes(raw, b" \t\r\n");
            let linenum = i + 1;
            if line.is_empty() {
                continue;
            }
            // Plain single-space splitting, as Redis's sdssplitlen does here.
            let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            if argv[0] != b"user" || argv.len() < 2 {
                errors.push_str(&format!(
                    "{path}:{linenum} should start with user keyword followed by the username. "
                ));
                continue;
            }
            let name = argv[1];
            if has_spaces(name) {
                errors.push_str(&format!(
                    "'{path}:{linenum}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            if loaded.contains_key(name) {
                errors.push_str(&format!(
                    "WARNING: Duplicate user '{}' found on line {linenum}. ",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            let mut user = User::new(pubsub_default_all);
            let rules: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.to_vec()).collect();
            let merged = match merge_selectors(&rules) {
                Ok(m) => m,
                Err(_) => {
                    errors.push_str(&format!(
                        "{path}:{linenum}: Unmatched parenthesis in selector definition."
                    ));
                    Vec::new()
                }
            };
            let mut syntax_error = false;
            for op in &merged {
                let op = trim_bytes(op, b"\t\r\n");
                if let Err(e) = user.apply(op, pubsub_default_all) {
                    if e == RuleError::Unknown {
                        errors.push_str(&format!(
                            "{path}:{linenum}: Error in applying operation '{}': {}. ",
                            String::from_utf8_lossy(op),
                            e.text()
                        ));
                    } else if !syntax_error {
                        errors.push_str(&format!("{path}:{linenum}: {}. ", e.text()));
                        syntax_error = true;
                    }
                }
            }
            loaded.insert(name.to_vec(), user);
        }
        if !errors.is_empty() {
            errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
            return Err(errors);
        }
        let mut users = self.users.write();
        let new_default = loaded.remove(&b"default"[..]).unwrap_or_else(|| {
            let mut u = User::new(false);
            for op in ["+@all", "~*", "&*", "on", "nopass"] {
                let _ = u.apply(op.as_bytes(), false);
            }
            u
        });
        self.default.replace(new_default);
        let old = std::mem::take(&mut *users);
        users.insert(b"default".to_vec(), Arc::clone(&self.default));
        for (name, user) in loaded {
            users.insert(name.clone(), Arc::new(UserCell::new(&name, user)));
        }
        let replaced: Vec<Arc<UserCell>> = old
            .into_iter()
            .filter(|(n, _)| n != b"default")
            .map(|(_, cell)| {
                cell.deleted.store(true, Ordering::Release);
                cell
            })
            .collect();
        Ok(replaced)
    }

    /// ACL SAVE, as Redis's `ACLSaveToFile`: every user in ACL LIST's form, written to a
    /// temporary file renamed over `path`.
    pub fn save_file(&self, path: &str, now_ms: i64) -> std::io::Result<()> {
        let mut text = Vec::new();
        for u in self.users() {
            text.extend_from_slice(&u.list_line());
            text.push(b'\n');
        }
        let tmp = format!("{path}.tmp-{}-{now_ms}", std::process::id());
        let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// AUTH: the user, if the name and password are right and the user is enabled.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<UserCell>> {
        let cell = self.get(name)?;
        {
            let u = cell.read();
            if !u.enabled {
                return None;
            }
            if !u.nopass {
                let h = hash_password(password);
                // Compared in full whatever the first difference, as Redis does.
                let ok = u.passwords.iter().fold(false, |ok, p| {
                    ok | (p.bytes().zip(h.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0)
                });
                if !ok {
                    return None;
                }
            }
        }
        Some(cell)
    }

    /// `requirepass`: the default user's password, or `nopass` for an empty one.
    pub fn set_default_password(&self, password: &[u8]) {
        // Under the users lock, so that a concurrent ACL SETUSER default is not undone.
        let _users = self.users.write();
        let mut u = self.default.read().clone();
        let _ = u.apply(b"resetpass", false);
        if password.is_empty() {
            let _ = u.apply(b"nopass", false);
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(password);
            let _ = u.apply(&op, false);
        }
        self.default.replace(u);
    }

    /// Adds a refusal to the ACL LOG, folding it into a like entry of the last 60 s among
    /// the 10 newest.
    #[allow(clippy::too_many_arguments)]
    pub fn log(
        &self,
        reason: Denied,
        context: Context,
        object: Vec<u8>,
        username: Vec<u8>,
        now_ms: i64,
        client_info: String,
        max_len: usize,
    ) {
        let context = match context {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        };
        let reason = reason.reason();
        let mut log = self.log.lock();
        let found = log.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && (e.created_ms - now_ms).abs() <= 60_000
                && e.object == object
                && e.username == username
        });
        if let Some(i) = found {
            if let Some(mut e) = log.remove(i) {
                e.count += 1;
                e.created_ms = now_ms;
                e.client_info = client_info;
                log.push_front(e);
            }
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            created_ms: now_ms,
            client_info,
        });
        log.truncate(max_len);
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }

    /// The newest `count` entries.
    pub fn log_entries<R>(&self, count: usize, f: impl FnMut(&LogEntry) -> R) -> Vec<R> {
        self.log.lock().iter().take(count).map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl User {
        fn describe_text(&self) -> String {
            String::from_utf8_lossy(&self.describe()).into_owned()
        }
    }

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        u
    }

    #[test]
    fn descriptions_read_as_redis_writes_them() {
        assert_eq!(user(&[]).describe_text(), "off resetchannels -@all");
        assert_eq!(
            user(&["on", "nopass", "~*", "&*", "+@all"]).describe_text(),
            "on nopass ~* &* +@all"
        );
        assert_eq!(
            user(&["on", ">secret", "%R~r*", "~k*", "&ch", "+get"]).describe_text(),
            format!(
                "on #{} %R~r* ~k* resetchannels &ch -@all +get",
                hash_password(b"secret")
            )
        );
        assert_eq!(
            user(&["+@all", "-get"]).describe_text(),
            "off resetchannels +@all -get"
        );
    }

    #[test]
    fn bad_rules_get_redis_errors() {
        let mut u = User::new(false);
        assert_eq!(u.apply(b"+nosuch", false), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"+@nosuch", false), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"bogus", false), Err(RuleError::Syntax));
        assert_eq!(
            u.apply(b"+config|get|x", false),
            Err(RuleError::SubcommandFirstArg)
        );
        assert_eq!(u.apply(b"+get|", false), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"#abc", false), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"<nope", false), Err(RuleError::NoSuchPassword));
        u.apply(b"~*", false).unwrap();
        assert_eq!(u.apply(b"~foo", false), Err(RuleError::KeysAfterAll));
    }

    #[test]
    fn selectors_merge_across_arguments() {
        let args: Vec<Vec<u8>> = ["on", "(~a", "+get)", "x"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(
            merge_selectors(&args).unwrap(),
            vec![b"on".to_vec(), b"(~a +get)".to_vec(), b"x".to_vec()]
        );
        assert!(merge_selectors(&args[..2]).is_err());
    }
}
