//! Shell-style patterns as libbpf matches function names: `*` (any run of characters) and
//! `?` (one character); everything else is literal.

/// Whether `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether `pattern` has wildcards (else it names one thing exactly).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_libbpf() {
        assert!(glob_match("do_*", "do_unlinkat"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*sys_*open*", "__x64_sys_openat"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("do_*", "undo_x"));
        assert!(glob_match("x*y*z", "xaaybbz"));
        assert!(!glob_match("x*y*z", "xaaybb"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(is_glob("a*") && is_glob("a?") && !is_glob("abc"));
    }
}
