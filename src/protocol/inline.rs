//! Inline requests as typed in telnet, split like Redis's `sdssplitargs`.

/// C's `isspace`, which `sdssplitargs` uses to skip blanks between arguments.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits one request line into arguments. `"..."` understands `\n \r \t \b \a \\ \" \xHH`;
/// `'...'` understands `\'`. A closing quote must be followed by a blank or the end.
/// Returns `None` for unbalanced quotes. A NUL byte ends the line, as in C.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let end = line.iter().position(|&c| c == 0).unwrap_or(line.len());
    let line = &line[..end];
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let (mut in_dq, mut in_sq) = (false, false);
        let mut cur = Vec::new();
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => cur.push(c),
                }
            }
            p += 1;
        }
        args.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn plain_words() {
        assert_eq!(
            split("SET key1 hello"),
            Some(vec!["SET".into(), "key1".into(), "hello".into()])
        );
        assert_eq!(split("  a\t\tb  "), Some(vec!["a".into(), "b".into()]));
        assert_eq!(split(""), Some(vec![]));
        assert_eq!(split("   "), Some(vec![]));
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(split(r#"set k "a b""#).unwrap()[2], "a b");
        assert_eq!(
            split_args(br#""\x41\x4a\n\r\t\b\a\\\"z""#).unwrap()[0],
            b"AJ\n\r\t\x08\x07\\\"z"
        );
        assert_eq!(split_args(br#""\xZZ""#).unwrap()[0], b"xZZ");
        assert_eq!(split(r#""""#), Some(vec!["".into()]));
        assert_eq!(
            split(r#"a"b c"d"#),
            None,
            "closing quote followed by a letter"
        );
        assert_eq!(split(r#"a"b c" d"#).unwrap(), vec!["ab c", "d"]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(split(r"'it\'s' x").unwrap(), vec!["it's", "x"]);
        assert_eq!(split(r"'a\nb'").unwrap(), vec![r"a\nb"]);
    }

    #[test]
    fn unbalanced() {
        assert_eq!(split(r#"set "abc"#), None);
        assert_eq!(split("set 'abc"), None);
        assert_eq!(split(r#"set "abc\"#), None);
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(
            split_args(b"a b\0c").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }
}
