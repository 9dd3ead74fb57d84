//! Application data split exactly as Asterisk splits it, so that the policy judges the arguments an
//! application will see and not a look-alike: `__ast_app_separate_args` (main/app.c: arguments at a
//! delimiter outside parentheses, brackets and double quotes, quotes and backslashes removed, the last
//! argument left as it is), `parse_options` (main/app.c: option letters taken modulo 128, arguments in
//! parentheses with their own quoting and escaping), `ast_strsep` (main/utils.c: quote-aware fields,
//! as Originate splits its `v()` variables) and `ast_strip` (Asterisk's blanks). Each function mirrors
//! the C step by step, including its corner cases (`a,""` has three arguments), and the differential
//! test (`spool check args`) compares them with the running Asterisk's own.
//!
//! Pure: bytes in, bytes out. No I/O, no FFI. Never panics.

use crate::text::trim_blanks;

/// C strings end at the first NUL: what Asterisk sees of `data`.
fn as_c_string(data: &[u8]) -> &[u8] {
    match data.iter().position(|&byte| byte == 0) {
        Some(at) => &data[..at],
        None => data,
    }
}

/// The byte at `at`, or NUL past the end (the C string's terminator, repeated).
fn byte_at(buffer: &[u8], at: usize) -> u8 {
    buffer.get(at).copied().unwrap_or(0)
}

/// The C string starting at `start` in `buffer` (up to the next NUL or the end).
fn c_string_at(buffer: &[u8], start: usize) -> Vec<u8> {
    as_c_string(buffer.get(start..).unwrap_or_default()).to_vec()
}

/// `__ast_app_separate_args(buf, delim, remove_chars, array, arraylen)`: at most `arraylen`
/// arguments; the last one, once `arraylen - 1` were separated, is the rest of the text untouched.
pub fn separate_args(data: &[u8], delim: u8, remove_chars: bool, arraylen: usize) -> Vec<Vec<u8>> {
    if arraylen == 0 {
        return Vec::new();
    }
    let mut buffer = as_c_string(data).to_vec();
    let mut starts = Vec::new();
    let mut scan = 0usize;
    let mut was_delim: Option<usize> = None;
    let (mut paren, mut bracket, mut quote) = (0usize, 0usize, false);
    while byte_at(&buffer, scan) != 0 && starts.len() < arraylen - 1 {
        starts.push(scan);
        loop {
            let byte = byte_at(&buffer, scan);
            if byte == 0 {
                break;
            }
            if byte == b'(' {
                paren += 1;
            } else if byte == b')' {
                paren = paren.saturating_sub(1);
            } else if byte == b'[' {
                bracket += 1;
            } else if byte == b']' {
                bracket = bracket.saturating_sub(1);
            } else if byte == b'"' && delim != b'"' {
                quote = !quote;
                if remove_chars {
                    // memmove over the quote, then `scan--; scan++`: the next byte is looked at here.
                    buffer.remove(scan);
                    continue;
                }
            } else if byte == b'\\' {
                if remove_chars {
                    // The backslash goes; the byte after it is stepped over below, unparsed.
                    buffer.remove(scan);
                } else {
                    scan += 1;
                }
            } else if byte == delim && paren == 0 && !quote && bracket == 0 {
                was_delim = Some(scan);
                buffer[scan] = 0;
                scan += 1;
                break;
            }
            scan += 1;
        }
    }
    // A delimiter as the last byte separated one more (empty) argument.
    if byte_at(&buffer, scan) != 0 || (scan > 0 && was_delim == Some(scan - 1)) {
        starts.push(scan);
    }
    starts.into_iter().map(|start| c_string_at(&buffer, start)).collect()
}

/// `AST_STANDARD_APP_ARGS`: `,`-separated, quotes and backslashes removed, `max_args` fields.
pub fn standard_args(data: &[u8], max_args: usize) -> Vec<Vec<u8>> {
    separate_args(data, b',', true, max_args)
}

/// An options string as `ast_app_parse_options` leaves it: for each of the 128 option letters
/// (a byte's low seven bits), whether it was given and the argument Asterisk stores for it (the last
/// one written; `""` for a letter given without parentheses after one with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Indexed by letter: `None` when not given, `Some(argument)` when given (`""` without one).
    pub letters: Vec<Option<Vec<u8>>>,
    /// False when an argument lacked its `)`: Asterisk stopped there (and most applications fail).
    pub complete: bool,
}

impl Options {
    /// Whether the option `letter` was given.
    pub fn has(&self, letter: u8) -> bool {
        self.letters.get(usize::from(letter & 0x7f)).is_some_and(Option::is_some)
    }

    /// The argument Asterisk stores for `letter`, when it was given.
    pub fn argument(&self, letter: u8) -> Option<&[u8]> {
        self.letters.get(usize::from(letter & 0x7f)).and_then(|argument| argument.as_deref())
    }

    /// The letters given, in ascending order.
    pub fn given(&self) -> impl Iterator<Item = u8> + '_ {
        self.letters.iter().enumerate().filter(|(_, argument)| argument.is_some()).map(|(letter, _)| letter as u8)
    }
}

/// `parse_options` in main/app.c, with every letter taking an argument slot.
pub fn parse_options(optstr: &[u8]) -> Options {
    let mut letters: Vec<Option<Vec<u8>>> = vec![None; 128];
    let mut buffer = as_c_string(optstr).to_vec();
    let mut s = 0usize;
    let mut complete = true;
    while byte_at(&buffer, s) != 0 {
        let letter = usize::from(byte_at(&buffer, s) & 0x7f);
        s += 1;
        if byte_at(&buffer, s) != b'(' {
            letters[letter] = Some(Vec::new());
            continue;
        }
        let mut paren = 1usize;
        let mut quote = false;
        let parse_quotes = byte_at(&buffer, s + 1) == b'"';
        s += 1;
        let argument_start = s;
        while byte_at(&buffer, s) != 0 {
            let byte = byte_at(&buffer, s);
            if byte == b'(' && !quote {
                paren += 1;
            } else if byte == b')' && !quote {
                paren -= 1;
            } else if byte == b'"' && parse_quotes {
                quote = !quote;
                // ast_copy_string(s, s + 1) then `s--; s++`: the next byte is looked at in this place.
                buffer.remove(s);
                if paren == 0 {
                    break;
                }
                continue;
            } else if byte == b'\\' {
                if !quote || byte_at(&buffer, s + 1) == b'"' {
                    // Outside quotes, or before a quote inside them: the backslash goes and the
                    // byte after it is stepped over below.
                    buffer.remove(s);
                } else {
                    s += 1;
                }
            }
            if paren == 0 {
                break;
            }
            s += 1;
        }
        // strchr(s, ')'): the closing parenthesis found above, or the next one, or none.
        let from = s.min(buffer.len());
        match buffer[from..].iter().position(|&byte| byte == b')') {
            Some(offset) => {
                let close = from + offset;
                buffer[close] = 0;
                letters[letter] = Some(c_string_at(&buffer, argument_start));
                s = close + 1;
            }
            None => {
                complete = false;
                break;
            }
        }
    }
    Options { letters, complete }
}

/// `ast_strsep(&text, sep, 0)` applied until the text is used up: fields at `sep` outside single
/// and double quotes, a backslash stepping over the next byte, nothing removed. `None` where
/// Asterisk gives up (quotes nested eight deep).
pub fn strsep_fields(text: &[u8], sep: u8) -> Option<Vec<Vec<u8>>> {
    let text = as_c_string(text);
    let mut fields = Vec::new();
    let mut rest = Some(text);
    while let Some(current) = rest {
        if current.is_empty() {
            // ast_strsep returns the empty string once, then NULL.
            fields.push(Vec::new());
            break;
        }
        let mut stack: Vec<u8> = Vec::new();
        let mut at = 0usize;
        let mut end = None;
        while at < current.len() {
            if current[at] == b'\\' {
                at += 1;
                if at >= current.len() {
                    break;
                }
                at += 1;
                if at >= current.len() {
                    break;
                }
            }
            let byte = current[at];
            if byte == b'\'' || byte == b'"' {
                if stack.last() == Some(&byte) {
                    stack.pop();
                } else {
                    if stack.len() + 1 >= 8 {
                        return None;
                    }
                    stack.push(byte);
                }
            }
            if byte == sep && stack.is_empty() {
                end = Some(at);
                break;
            }
            at += 1;
        }
        match end {
            Some(at) => {
                fields.push(current[..at].to_vec());
                // "a^": ast_strsep returns "a", then the empty string.
                rest = Some(&current[at + 1..]);
            }
            None => {
                fields.push(current.to_vec());
                rest = None;
            }
        }
    }
    Some(fields)
}

/// `ast_strip`: Asterisk's blanks removed at both ends.
pub fn strip(text: &[u8]) -> &[u8] {
    trim_blanks(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(data: &str, max: usize) -> Vec<String> {
        standard_args(data.as_bytes(), max).iter().map(|arg| String::from_utf8_lossy(arg).into_owned()).collect()
    }

    #[test]
    fn arguments_separate_as_main_app_c_separates_them() {
        assert_eq!(args("a,b,c", 10), ["a", "b", "c"]);
        assert_eq!(args("a,b(c,d),e", 10), ["a", "b(c,d)", "e"]);
        assert_eq!(args("\"a,b\",c", 10), ["a,b", "c"]);
        assert_eq!(args("a\\,b,c", 10), ["a,b", "c"]);
        assert_eq!(args("a,", 10), ["a", ""]);
        assert_eq!(args("", 10), Vec::<String>::new());
        assert_eq!(args(",", 10), ["", ""]);
        assert_eq!(args("a,b,c,d", 2), ["a", "b,c,d"]);
        assert_eq!(args("a,\"b,c\",d", 2), ["a", "\"b,c\",d"]);
        assert_eq!(args("[a,b],c", 10), ["[a,b]", "c"]);
        assert_eq!(args("a)b,c", 10), ["a)b", "c"]);
        assert_eq!(args("x\\", 10), ["x"]);
        // Removed quotes right after the last delimiter leave one argument more, as in C.
        assert_eq!(args("a,\"", 10), ["a", "", ""]);
        assert_eq!(args("a,\"\"", 10), ["a", "", ""]);
        assert_eq!(args("a,\\", 10), ["a", ""]);
        assert_eq!(args("a\0,b", 10), ["a"]);
        assert_eq!(args("a,b", 1), ["a,b"]);
        assert!(standard_args(b"a", 0).is_empty());
    }

    fn option_argument(options: &str, letter: u8) -> Option<String> {
        parse_options(options.as_bytes())
            .argument(letter)
            .map(|argument| String::from_utf8_lossy(argument).into_owned())
    }

    #[test]
    fn options_parse_as_main_app_c_parses_them() {
        assert_eq!(option_argument("tTv(A=1)", b'v').as_deref(), Some("A=1"));
        assert_eq!(option_argument("v(a(b)c)", b'v').as_deref(), Some("a(b)c"));
        assert_eq!(option_argument("v(GLOB\\AL(X)=1)", b'v').as_deref(), Some("GLOBAL(X)=1"));
        assert_eq!(option_argument("v(a\\)b)", b'v').as_deref(), Some("a)b"));
        assert_eq!(option_argument("v(\"a)b\")", b'v').as_deref(), Some("a)b"));
        assert_eq!(option_argument("v(\"a\\\"b\")", b'v').as_deref(), Some("a\"b"));
        assert_eq!(option_argument("v(\"a\\xb\")", b'v').as_deref(), Some("a\\xb"));
        // A byte's low seven bits are the letter: 0xf6 is `v`.
        assert_eq!(parse_options(b"\xf6(GLOBAL(X)=1)").argument(b'v'), Some(&b"GLOBAL(X)=1"[..]));
        // The last one written wins, and a bare letter stores "".
        assert_eq!(option_argument("v(a)v(b)", b'v').as_deref(), Some("b"));
        assert_eq!(option_argument("v(a)v", b'v').as_deref(), Some(""));
        let unclosed = parse_options(b"tv(a");
        assert!(!unclosed.complete && unclosed.has(b't') && !unclosed.has(b'v'));
        assert!(parse_options(b"").letters.iter().all(Option::is_none));
        assert_eq!(parse_options(b"ab").given().collect::<Vec<_>>(), [b'a', b'b']);
    }

    fn fields(text: &str) -> Option<Vec<String>> {
        strsep_fields(text.as_bytes(), b'^')
            .map(|fields| fields.iter().map(|field| String::from_utf8_lossy(field).into_owned()).collect())
    }

    #[test]
    fn fields_separate_as_ast_strsep_separates_them() {
        assert_eq!(fields("A=1^B=2").unwrap(), ["A=1", "B=2"]);
        assert_eq!(fields("A=\"1^2\"^B").unwrap(), ["A=\"1^2\"", "B"]);
        assert_eq!(fields("A\\^B^C").unwrap(), ["A\\^B", "C"]);
        assert_eq!(fields("A^").unwrap(), ["A", ""]);
        assert_eq!(fields("").unwrap(), [""]);
        assert_eq!(fields("'\"'\"'\"'\"^x"), None);
    }

    #[test]
    fn odd_inputs_never_panic() {
        for data in
            [&b""[..], b"\\", b"\"", b"(", b")", b"\\\"", b"\"\\", b"((\"", b"v(\"", b"v(\\", b"\xff(", b"a(\"\\"]
        {
            for max in [0, 1, 2, 9, usize::MAX] {
                let _ = separate_args(data, b',', true, max);
                let _ = separate_args(data, b'^', false, max);
            }
            let _ = parse_options(data);
            let _ = strsep_fields(data, b'^');
        }
    }
}
