//! Redis's glob (`stringmatchlen` in util.c) for KEYS, SCAN MATCH and CONFIG GET:
//! `*`, `?`, `[abc]`, `[^a-z]`, and `\` to escape.
//!
//! Iterative, with one backtrack point per `*`, so no pattern can exhaust a worker's stack.

/// Does `string` match `pattern`? `nocase` folds ASCII case, as Redis's `nocase` flag does.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // Redis's loop never runs for an empty string, so only an empty pattern matches it.
    if string.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut s) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while s < string.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            backtrack = Some((p, s));
            continue;
        }
        if p < pattern.len() {
            let (ok, next) = match_one(pattern, p, string[s], nocase);
            if ok {
                p = next;
                s += 1;
                continue;
            }
        }
        match backtrack {
            Some((bp, bs)) => {
                backtrack = Some((bp, bs + 1));
                p = bp;
                s = bs + 1;
            }
            None => return false,
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Matches the single-character token at `pattern[p]` against `c`; returns the result and the
/// index after the token.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> (bool, usize) {
    let eq = |a: u8, b: u8| fold(a, nocase) == fold(b, nocase);
    match pattern[p] {
        b'?' => (true, p + 1),
        b'\\' if p + 1 < pattern.len() => (eq(pattern[p + 1], c), p + 2),
        b'[' => {
            let mut i = p + 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            loop {
                let remaining = pattern.len().saturating_sub(i);
                if remaining == 0 {
                    break;
                }
                if pattern[i] == b'\\' && remaining >= 2 {
                    i += 1;
                    if eq(pattern[i], c) {
                        matched = true;
                    }
                } else if pattern[i] == b']' {
                    i += 1;
                    break;
                } else if remaining >= 3 && pattern[i + 1] == b'-' {
                    // C's `char` is signed here, so bytes over 0x7f sort below ASCII.
                    let signed = |b: u8| i32::from(fold(b, nocase) as i8);
                    let (mut lo, mut hi) = (signed(pattern[i]), signed(pattern[i + 2]));
                    if lo > hi {
                        std::mem::swap(&mut lo, &mut hi);
                    }
                    let ch = signed(c);
                    if ch >= lo && ch <= hi {
                        matched = true;
                    }
                    i += 2;
                } else if eq(pattern[i], c) {
                    matched = true;
                }
                i += 1;
            }
            (matched != negate, i)
        }
        other => (eq(other, c), p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, s: &str) -> bool {
        matches(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn redis_glob() {
        assert!(
            !m("*", ""),
            "as in Redis: only KEYS * itself lists the empty key"
        );
        assert!(m("", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m(r"h\*llo", "h*llo"));
        assert!(!m(r"h\*llo", "hello"));
        assert!(m("*a*b*c", "xxaxxbxxc"));
        assert!(!m("*a*b*c", "xxaxxbxx"));
        assert!(m("a*", "a"));
        assert!(m("[abc", "b"), "unterminated class");
        assert!(m("key:*", "key:1"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(m(r"\", r"\"));
        assert!(matches(b"MAXMEM*", b"maxmemory", true));
    }

    #[test]
    fn many_stars_do_not_recurse() {
        let pattern = "*a".repeat(100_000);
        assert!(!m(&pattern, &"a".repeat(1000)));
    }
}
