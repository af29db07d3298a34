//! The command line and the config file, read as redis-server 7.0 reads them (`main` and
//! `loadServerConfigFromString` in Redis's server.c and config.c): an optional file name
//! first, `-` for standard input, then `--name value ...` options that become lines appended
//! to the file's text; every line is split like `sdssplitargs`, `include` reads another file,
//! and the first bad line stops everything with Redis's `*** FATAL CONFIG FILE ERROR ***`.

use super::table::MULTI_ARG_CONFIG;
use super::{lookup, Config, DEFAULT_DATABASES};
use crate::protocol::inline::split_args;

/// Directives Redis 7.0 still takes and ignores (`deprecated_configs`), with their argument
/// counts.
const DEPRECATED: &[(&str, usize, usize)] = &[
    ("list-max-ziplist-entries", 1, 1),
    ("list-max-ziplist-value", 1, 1),
    ("lua-replicate-commands", 1, 1),
];

/// What the command line asks for, before any file is read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// The config file (made absolute, as Redis does).
    pub file: Option<String>,
    /// `-`: the configuration also comes from standard input.
    pub stdin: bool,
    /// The options as config lines (`--port 7000` → `port "7000"`).
    pub options: String,
}

/// Redis's `sdscatrepr`: `s` in double quotes, with escapes for what `sdssplitargs` reads
/// back.
pub fn repr(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    crate::monitor::repr(&mut out, s.as_bytes());
    // Only ASCII comes out: every other byte is escaped.
    String::from_utf8_lossy(&out).into_owned()
}

/// Turns the arguments (after the program name) into a [`CommandLine`], as redis-server's
/// `main` does, including its `--save` special cases.
pub fn command_line(args: &[String]) -> CommandLine {
    let mut cl = CommandLine::default();
    let mut j = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            let path = std::path::Path::new(first);
            cl.file = Some(if path.is_absolute() {
                first.clone()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(path).to_string_lossy().into_owned())
                    .unwrap_or_else(|_| first.clone())
            });
            j = 1;
        }
    }
    let mut handled_last = true;
    while j < args.len() {
        let a = &args[j];
        if a == "-" && (j == 0 || j == args.len() - 1) {
            cl.stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !cl.options.is_empty() {
                cl.options.push('\n');
            }
            cl.options.push_str(&a[2..]);
            cl.options.push(' ');
            let words = split_args(a.as_bytes()).map_or(0, |w| w.len());
            if words == 1 {
                handled_last = false;
                let save = a.eq_ignore_ascii_case("--save");
                if save && j + 1 < args.len() && args[j + 1].starts_with("--") {
                    cl.options.push_str("\"\"");
                    handled_last = true;
                } else if save && j == args.len() - 1 {
                    cl.options.push_str("\"\"");
                }
            } else {
                handled_last = true;
            }
        } else {
            cl.options.push_str(&repr(a));
            cl.options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    cl
}

/// The fatal error block Redis prints for a bad line (or for an error with no line).
pub fn fatal(line: Option<(usize, &str)>, reason: &str) -> String {
    let mut out = format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\n",
        crate::REDIS_VERSION
    );
    if let Some((n, text)) = line {
        out.push_str(&format!(
            "Reading the configuration file, at line {n}\n>>> '{text}'\n"
        ));
    }
    out.push_str(reason);
    out.push('\n');
    out
}

/// State kept across the lines of one load: `save` lines add up (the first one read
/// replaces the default), as in Redis.
#[derive(Default)]
pub struct Loader {
    save: Option<String>,
    /// Files being included, to stop an include loop.
    depth: usize,
}

impl Loader {
    /// Applies the text of a config file (or of the options) to `cfg`. The error is the
    /// whole fatal block.
    pub fn load_string(&mut self, cfg: &mut Config, text: &str) -> Result<(), String> {
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = Some((i + 1, line));
            let Some(argv) = split_args(line.as_bytes()) else {
                return Err(fatal(at, "Unbalanced quotes in configuration line"));
            };
            if argv.is_empty() {
                continue;
            }
            let argv: Vec<String> = argv
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            let name = argv[0].to_ascii_lowercase();
            if name == "include" && argv.len() == 2 {
                // A failure inside the included file is reported at its own line.
                self.include(cfg, &argv[1]).map_err(|e| match e {
                    Included::Open(why) => fatal(at, &why),
                    Included::Inner(block) => block,
                })?;
                continue;
            }
            self.directive(cfg, &name, &argv[1..])
                .map_err(|e| fatal(at, &e))?;
        }
        Ok(())
    }

    fn directive(&mut self, cfg: &mut Config, name: &str, args: &[String]) -> Result<(), String> {
        if let Some(d) = lookup(name) {
            let multi = d.has(MULTI_ARG_CONFIG);
            if !multi && args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            let value = if multi && args.len() == 1 && !args[0].is_empty() {
                // `--save "900 1"`: one argument holding several.
                split_args(args[0].as_bytes())
                    .ok_or("Unbalanced quotes in configuration line")?
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                args.join(" ")
            };
            return match d.name {
                "databases" => {
                    let n = d.parse(&value)?;
                    cfg.databases = n.parse().unwrap_or(DEFAULT_DATABASES);
                    Ok(())
                }
                "save" => {
                    // Checked alone first, for its error text.
                    let probe = Config::default();
                    probe.set_param(d, &value, true)?;
                    let acc = match (&self.save, value.is_empty()) {
                        (_, true) | (None, _) => value,
                        (Some(prev), false) if prev.is_empty() => value,
                        (Some(prev), false) => format!("{prev} {value}"),
                    };
                    cfg.set_param(d, &acc, true)?;
                    self.save = Some(acc);
                    Ok(())
                }
                _ => cfg.set_param(d, &value, true),
            };
        }
        if DEPRECATED
            .iter()
            .any(|&(n, lo, hi)| n == name && (lo..=hi).contains(&args.len()))
        {
            return Ok(());
        }
        match (name, args.len()) {
            ("worker-idle-ms", 1) => {
                cfg.worker_idle = args[0]
                    .parse()
                    .map(std::time::Duration::from_millis)
                    .map_err(|_| format!("invalid worker-idle-ms '{}'", args[0]))?;
                Ok(())
            }
            ("any-port", 1) => {
                cfg.any_port = match args[0].to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err("argument must be 'yes' or 'no'".into()),
                };
                Ok(())
            }
            ("rename-command", 2) => {
                cfg.renames.push((args[0].clone(), args[1].clone()));
                // Checked now, for the error at this line.
                crate::command::check_renames(&cfg.renames)
            }
            _ => Err("Bad directive or wrong number of arguments".into()),
        }
    }

    /// `include path`: that file's lines, here.
    fn include(&mut self, cfg: &mut Config, path: &str) -> Result<(), Included> {
        if self.depth >= 16 {
            return Err(Included::Open(format!(
                "Too many nested includes at '{path}'"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Included::Open(format!(
                "Fatal error, can't open config file '{path}': {}",
                crate::os::strerror(&e)
            ))
        })?;
        self.depth += 1;
        let r = self.load_string(cfg, &text);
        self.depth -= 1;
        r.map_err(Included::Inner)
    }
}

/// How an `include` failed: the file could not be read, or one of its lines is bad (the
/// whole fatal block, naming that line).
enum Included {
    Open(String),
    Inner(String),
}

/// Reads the configuration the command line names (file, standard input, options) into a
/// fresh [`Config`]. The error is what redis-server prints before exiting with status 1.
pub fn load(cl: &CommandLine) -> Result<Config, String> {
    let mut text = String::new();
    if let Some(f) = &cl.file {
        text = std::fs::read_to_string(f).map_err(|e| {
            format!(
                "Fatal error, can't open config file '{f}': {}",
                crate::os::strerror(&e)
            )
        })?;
    }
    if cl.stdin {
        use std::io::Read;
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("Fatal error, can't read config from stdin: {e}"))?;
        text.push_str(&s);
    }
    if !cl.options.is_empty() {
        text.push('\n');
        text.push_str(&cl.options);
    }
    let mut cfg = Config::default();
    Loader::default().load_string(&mut cfg, &text)?;
    cfg.config_file = cl.file.clone();
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cl(args: &[&str]) -> CommandLine {
        command_line(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_become_lines() {
        assert_eq!(cl(&["--port", "7000"]).options, "port \"7000\" ");
        assert_eq!(
            cl(&["--save", "900", "1", "--appendonly", "yes"]).options,
            "save \"900\" \"1\" \nappendonly \"yes\" "
        );
        assert_eq!(
            cl(&["--save", "--port", "1"]).options,
            "save \"\"\nport \"1\" "
        );
        assert_eq!(cl(&["--save"]).options, "save \"\"");
        assert_eq!(cl(&["--port 7000"]).options, "port 7000 ");
        let c = cl(&["/etc/redis.conf", "--dir", "--weird"]);
        assert_eq!(c.file.as_deref(), Some("/etc/redis.conf"));
        assert_eq!(c.options, "dir \"--weird\" ");
        assert!(cl(&["-"]).stdin);
    }

    #[test]
    fn lines_apply_and_errors_name_the_line() {
        let mut cfg = Config::default();
        let mut l = Loader::default();
        l.load_string(
            &mut cfg,
            "# comment\n  port 7001  \nsave 900 1\nsave 300 10\nlist-max-ziplist-entries 5\n",
        )
        .unwrap();
        assert_eq!(cfg.port(), 7001);
        assert_eq!(cfg.get(lookup("save").unwrap()), "900 1 300 10");
        let err = Loader::default()
            .load_string(&mut cfg, "port 1\nfoo bar\n")
            .unwrap_err();
        assert_eq!(
            err,
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments\n"
        );
        let err = Loader::default()
            .load_string(&mut cfg, "appendonly maybe")
            .unwrap_err();
        assert!(err.ends_with("argument must be 'yes' or 'no'\n"), "{err}");
        let err = Loader::default()
            .load_string(&mut cfg, "port \"1")
            .unwrap_err();
        assert!(
            err.ends_with("Unbalanced quotes in configuration line\n"),
            "{err}"
        );
    }
}
