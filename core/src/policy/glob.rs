//! The glob that channel rules, contexts, conferences and campaign matches use: `*` any run, `?` one
//! character, with the first bytes (a channel technology) compared case-insensitively when asked.
//!
//! Matching only, in bounded steps and without recursion, whatever the input.

/// Matches `pattern` against `candidate`, whose first `case_insensitive_len` bytes (the channel
/// technology) compare ASCII case-insensitively.
///
/// Iterative with single-star backtracking, so it needs no stack and at most
/// pattern × candidate steps, whatever the input.
pub(crate) fn glob_matches(pattern: &[u8], candidate: &[u8], case_insensitive_len: usize) -> bool {
    let mut pattern_at = 0;
    let mut candidate_at = 0;
    // After the latest `*`: where the pattern resumes, and where in the candidate the `*`'s
    // run currently ends.
    let mut last_star: Option<(usize, usize)> = None;

    while let Some(&byte) = candidate.get(candidate_at) {
        match pattern.get(pattern_at) {
            Some(b'*') => {
                pattern_at += 1;
                last_star = Some((pattern_at, candidate_at));
                continue;
            }
            Some(b'?') => {
                pattern_at += 1;
                candidate_at += char_width(candidate, candidate_at);
                continue;
            }
            Some(&literal) => {
                let same = if candidate_at < case_insensitive_len {
                    literal.eq_ignore_ascii_case(&byte)
                } else {
                    literal == byte
                };
                if same {
                    pattern_at += 1;
                    candidate_at += 1;
                    continue;
                }
            }
            None => {}
        }
        let Some((resume_at, run_end)) = last_star else {
            return false;
        };
        let longer_run_end = run_end + char_width(candidate, run_end);
        last_star = Some((resume_at, longer_run_end));
        pattern_at = resume_at;
        candidate_at = longer_run_end;
    }
    pattern.get(pattern_at..).unwrap_or_default().iter().all(|&byte| byte == b'*')
}

/// Bytes of the character starting at `at`: a whole UTF-8 sequence when one starts there,
/// otherwise the single byte, so `?` matches one character of text and one byte of anything else.
fn char_width(bytes: &[u8], at: usize) -> usize {
    let rest = bytes.get(at..).unwrap_or_default();
    (1..=4).find(|&width| rest.get(..width).is_some_and(|sequence| std::str::from_utf8(sequence).is_ok())).unwrap_or(1)
}
