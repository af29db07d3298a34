//! Server settings: the command-line flags, and the parameter table behind CONFIG GET/SET
//! (like Redis's `static_configs` in config.c: name, default, mutability, validation).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;

/// Redis's default `maxclients`.
pub const DEFAULT_MAXCLIENTS: usize = 10000;
pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_DATABASES: usize = 16;

/// How a parameter's value is checked.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Int(i64, i64),
    /// Bytes, with Redis's `1gb`/`100mb`/`10k` suffixes.
    Memory,
    Bool,
    Enum(&'static [&'static str]),
    Str,
}

/// One row of the parameter table.
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub mutable: bool,
}

/// The settings CONFIG GET/SET know. Each one either takes effect (maxclients, maxmemory, hz,
/// proto-max-bulk-len) or truthfully reports how Spindle runs (save, appendonly: no
/// persistence; maxmemory-policy: noeviction is the only policy).
pub static PARAMS: &[Param] = &[
    Param {
        name: "port",
        kind: Kind::Int(0, 65535),
        mutable: false,
    },
    Param {
        name: "bind",
        kind: Kind::Str,
        mutable: false,
    },
    Param {
        name: "databases",
        kind: Kind::Int(1, i32::MAX as i64),
        mutable: false,
    },
    Param {
        name: "maxclients",
        kind: Kind::Int(1, u32::MAX as i64),
        mutable: true,
    },
    Param {
        name: "maxmemory",
        kind: Kind::Memory,
        mutable: true,
    },
    Param {
        name: "maxmemory-policy",
        kind: Kind::Enum(&["noeviction"]),
        mutable: true,
    },
    Param {
        name: "maxmemory-samples",
        kind: Kind::Int(1, 64),
        mutable: true,
    },
    Param {
        name: "maxmemory-eviction-tenacity",
        kind: Kind::Int(0, 100),
        mutable: true,
    },
    Param {
        name: "maxmemory-clients",
        kind: Kind::Memory,
        mutable: true,
    },
    Param {
        name: "hz",
        kind: Kind::Int(1, 500),
        mutable: true,
    },
    Param {
        name: "proto-max-bulk-len",
        kind: Kind::Memory,
        mutable: true,
    },
    Param {
        name: "client-query-buffer-limit",
        kind: Kind::Memory,
        mutable: false,
    },
    Param {
        name: "save",
        kind: Kind::Enum(&[""]),
        mutable: true,
    },
    Param {
        name: "appendonly",
        kind: Kind::Enum(&["no"]),
        mutable: true,
    },
    Param {
        name: "protected-mode",
        kind: Kind::Enum(&["no"]),
        mutable: true,
    },
    Param {
        name: "io-threads",
        kind: Kind::Int(1, 1),
        mutable: false,
    },
    Param {
        name: "timeout",
        kind: Kind::Int(0, 0),
        mutable: true,
    },
    Param {
        name: "tcp-keepalive",
        kind: Kind::Int(0, 0),
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-user-del",
        kind: Kind::Bool,
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-user-flush",
        kind: Kind::Bool,
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-expire",
        kind: Kind::Bool,
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-server-del",
        kind: Kind::Bool,
        mutable: true,
    },
];

#[derive(Debug)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub databases: usize,
    maxclients: AtomicUsize,
    maxmemory: AtomicU64,
    hz: AtomicUsize,
    proto_max_bulk_len: AtomicU64,
    /// Every parameter's current value as CONFIG GET shows it.
    values: RwLock<BTreeMap<&'static str, String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            bind: "127.0.0.1".into(),
            databases: DEFAULT_DATABASES,
            maxclients: AtomicUsize::new(DEFAULT_MAXCLIENTS),
            maxmemory: AtomicU64::new(0),
            hz: AtomicUsize::new(10),
            proto_max_bulk_len: AtomicU64::new(crate::protocol::PROTO_MAX_BULK_LEN as u64),
            values: RwLock::new(BTreeMap::new()),
        }
    }
}

/// Parses `100`, `10k`, `10kb`, `1mb`, `2gb` like Redis's `memtoull`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

impl Config {
    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    pub fn set_maxclients(&self, n: usize) {
        self.maxclients.store(n, Ordering::Relaxed);
        self.values.write().insert("maxclients", n.to_string());
    }

    /// 0: no limit.
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub fn hz(&self) -> usize {
        self.hz.load(Ordering::Relaxed)
    }

    /// The largest bulk argument, and the largest string a command may create.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    /// The value CONFIG GET shows for `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.values.read().get(name) {
            return Some(v.clone());
        }
        Some(match name {
            "port" => self.port.to_string(),
            "bind" => self.bind.clone(),
            "databases" => self.databases.to_string(),
            "maxclients" => self.maxclients().to_string(),
            "maxmemory" => self.maxmemory().to_string(),
            "maxmemory-policy" => "noeviction".into(),
            "maxmemory-samples" => "5".into(),
            "maxmemory-eviction-tenacity" => "10".into(),
            "maxmemory-clients" => "0".into(),
            "hz" => self.hz().to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len().to_string(),
            "client-query-buffer-limit" => crate::protocol::QUERY_BUF_LIMIT.to_string(),
            "save" => String::new(),
            "appendonly" | "protected-mode" => "no".into(),
            "io-threads" => "1".into(),
            "timeout" | "tcp-keepalive" => "0".into(),
            n if n.starts_with("lazyfree-") => "no".into(),
            _ => return None,
        })
    }

    /// Validates and applies one CONFIG SET pair; the error is Redis's reason text.
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        let param = PARAMS
            .iter()
            .find(|p| p.name == name)
            .ok_or("Unknown option")?;
        if !param.mutable {
            return Err("can't set immutable config".into());
        }
        let canonical = match param.kind {
            Kind::Int(min, max) => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if n < min || n > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                n.to_string()
            }
            Kind::Memory => parse_memory(value)
                .ok_or_else(|| "argument must be a memory value".to_string())?
                .to_string(),
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                v @ ("yes" | "no") => v.to_string(),
                _ => return Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::Enum(options) => {
                let v = value.to_ascii_lowercase();
                if !options.contains(&v.as_str()) {
                    return Err("argument(s) must be one of the following: ".to_string()
                        + &options.join(", "));
                }
                v
            }
            Kind::Str => value.to_string(),
        };
        match name {
            "maxclients" => self
                .maxclients
                .store(canonical.parse().unwrap_or(1), Ordering::Relaxed),
            "maxmemory" => self
                .maxmemory
                .store(canonical.parse().unwrap_or(0), Ordering::Relaxed),
            "hz" => self
                .hz
                .store(canonical.parse().unwrap_or(10), Ordering::Relaxed),
            "proto-max-bulk-len" => self.proto_max_bulk_len.store(
                canonical
                    .parse()
                    .unwrap_or(crate::protocol::PROTO_MAX_BULK_LEN as u64),
                Ordering::Relaxed,
            ),
            _ => {}
        }
        self.values.write().insert(param.name, canonical);
        Ok(())
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Cli {
    Run(Config),
    Help,
    Version,
}

pub const USAGE: &str = "\
Usage: spindle [OPTIONS]

A Redis-compatible in-memory data server.

Options:
  --port N          TCP port to listen on (default 6379; 0 picks a free one)
  --bind ADDR       address to listen on (default 127.0.0.1)
  --maxclients N    connections served at once (default 10000)
  --databases N     number of databases (default 16)
  -h, --help        print this help
  -v, --version     print the version

Logging follows RUST_LOG (default: info).";

/// Parses `redis-server`-style flags (`--port 6380`, also `--port=6380`).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut cfg = Config::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-v" | "--version" => return Ok(Cli::Version),
            "--port" | "--bind" | "--maxclients" | "--databases" => {
                let value = match inline_value.or_else(|| it.next()) {
                    Some(v) => v,
                    None => return Err(format!("{flag} needs a value")),
                };
                match flag.as_str() {
                    "--port" => {
                        cfg.port = value
                            .parse()
                            .map_err(|_| format!("invalid port '{value}'"))?
                    }
                    "--bind" => cfg.bind = value,
                    "--maxclients" => {
                        let n: usize = value
                            .parse()
                            .ok()
                            .filter(|&n| n >= 1)
                            .ok_or_else(|| format!("invalid maxclients '{value}'"))?;
                        cfg.set_maxclients(n);
                    }
                    _ => {
                        cfg.databases = value
                            .parse()
                            .ok()
                            .filter(|&n| (1..=1_000_000).contains(&n))
                            .ok_or_else(|| format!("invalid databases '{value}'"))?
                    }
                }
            }
            other => return Err(format!("unknown option '{other}' (try --help)")),
        }
    }
    Ok(Cli::Run(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse_args(args.iter().map(|s| s.to_string()))? {
            Cli::Run(c) => Ok(c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn flags() {
        let c = run(&["--port", "7000", "--bind", "0.0.0.0", "--maxclients=5"]).unwrap();
        assert_eq!(
            (c.port, c.bind.as_str(), c.maxclients()),
            (7000, "0.0.0.0", 5)
        );
        assert!(run(&["--port", "x"]).is_err());
        assert!(run(&["--port"]).is_err());
        assert!(run(&["--maxclients", "0"]).is_err());
        assert!(run(&["--nope"]).is_err());
        assert!(matches!(
            parse_args(vec!["--help".to_string()]),
            Ok(Cli::Help)
        ));
    }

    #[test]
    fn config_set_validates_and_applies() {
        let c = Config::default();
        assert!(c.set("maxclients", "50").is_ok());
        assert_eq!(c.maxclients(), 50);
        assert_eq!(c.get("maxclients").as_deref(), Some("50"));
        assert!(c.set("maxclients", "x").is_err());
        assert!(c.set("databases", "4").unwrap_err().contains("immutable"));
        assert!(c.set("maxmemory", "1mb").is_ok());
        assert_eq!(c.maxmemory(), 1024 * 1024);
        assert!(c.set("maxmemory-policy", "allkeys-lru").is_err());
        assert!(c.set("nope", "1").is_err());
        assert_eq!(parse_memory("10kb"), Some(10240));
        assert_eq!(parse_memory("x"), None);
    }
}
