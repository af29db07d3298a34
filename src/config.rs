//! Server settings: the command-line flags and, later, CONFIG GET/SET.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Redis's default `maxclients`.
pub const DEFAULT_MAXCLIENTS: usize = 10000;
pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_DATABASES: usize = 16;

#[derive(Debug)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub databases: usize,
    maxclients: AtomicUsize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            bind: "127.0.0.1".into(),
            databases: DEFAULT_DATABASES,
            maxclients: AtomicUsize::new(DEFAULT_MAXCLIENTS),
        }
    }
}

impl Config {
    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    pub fn set_maxclients(&self, n: usize) {
        self.maxclients.store(n, Ordering::Relaxed);
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
}
