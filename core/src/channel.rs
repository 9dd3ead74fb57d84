//! Channels as Asterisk reads them: `Tech/Dest` split where the core splits it, Local channels taken
//! apart the way `core_local.c` does (options after the LAST `/`, context after the first `@`,
//! `default` when none), and dial lists (`A&B&C`) split as Dial and Page split them. Rules are judged
//! on this reading, never on the raw text alone.
//!
//! Pure: bytes in, a description out. No I/O, no FFI. Never panics.

use crate::app_data;

/// A channel as the core and its driver will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The technology as written (Asterisk finds it case-insensitively).
    pub tech: Vec<u8>,
    /// The destination as written, everything after the first `/`.
    pub dest: Vec<u8>,
    /// For a Local channel: what `core_local.c` will run.
    pub local: Option<LocalTarget>,
}

/// `Local/exten@context/options` as `core_local.c` parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTarget {
    pub exten: Vec<u8>,
    /// `default` when the destination names none.
    pub context: Vec<u8>,
    /// Whether an `@` was written (an empty context after it is Asterisk's error).
    pub context_written: bool,
    /// The Local options Asterisk acts on, in a fixed order (`n`, `j`, `m`, `b`): any other byte after
    /// the last `/` is ignored by Asterisk, so it is ignored here too.
    pub options: Vec<u8>,
}

/// The Local options `core_local.c` looks for (`strchr(opts, ...)`), in the order they are shown.
const LOCAL_OPTIONS: &[u8] = b"njmb";

impl Channel {
    /// Splits `tech/dest` as a call file's `Channel:` line (or a Dial argument) is split: at the first
    /// `/`. A Local channel's destination is parsed as Asterisk will parse it.
    pub fn parse(text: &[u8]) -> Channel {
        match text.iter().position(|&byte| byte == b'/') {
            Some(at) => Channel::from_parts(&text[..at], &text[at + 1..]),
            None => Channel::from_parts(text, b""),
        }
    }

    /// From a technology and destination already split.
    pub fn from_parts(tech: &[u8], dest: &[u8]) -> Channel {
        // Asterisk finds channel technologies with strcasecmp, so `local/` is a Local channel too.
        let local = tech.eq_ignore_ascii_case(b"Local").then(|| LocalTarget::parse(dest));
        Channel { tech: tech.to_vec(), dest: dest.to_vec(), local }
    }

    /// The text allow/deny patterns are matched against: for a Local channel
    /// `Local/<exten>@<context>[/<options>]` with the context Asterisk will use and only the options
    /// it acts on; for any other channel `Tech/Dest` as written. Its first [`Channel::tech_len`]
    /// bytes are the technology.
    pub fn judged_text(&self) -> Vec<u8> {
        let mut text = self.tech.clone();
        text.push(b'/');
        match &self.local {
            Some(local) => {
                text.extend_from_slice(&local.exten);
                text.push(b'@');
                text.extend_from_slice(&local.context);
                if !local.options.is_empty() {
                    text.push(b'/');
                    text.extend_from_slice(&local.options);
                }
            }
            None => text.extend_from_slice(&self.dest),
        }
        text
    }

    /// Bytes of [`Channel::judged_text`] that are the technology (compared case-insensitively).
    pub fn tech_len(&self) -> usize {
        self.tech.len()
    }

    /// `Tech/Dest` exactly as written, for messages.
    pub fn written(&self) -> Vec<u8> {
        let mut text = self.tech.clone();
        text.push(b'/');
        text.extend_from_slice(&self.dest);
        text
    }
}

impl LocalTarget {
    /// `core_local.c`'s `local_alloc`: options after the last `/`, then the context after the first `@`.
    fn parse(dest: &[u8]) -> LocalTarget {
        let (target, raw_options) = match dest.iter().rposition(|&byte| byte == b'/') {
            Some(at) => (&dest[..at], &dest[at + 1..]),
            None => (dest, &b""[..]),
        };
        let options = LOCAL_OPTIONS.iter().copied().filter(|option| raw_options.contains(option)).collect();
        match target.iter().position(|&byte| byte == b'@') {
            Some(at) => {
                let context = &target[at + 1..];
                LocalTarget {
                    exten: target[..at].to_vec(),
                    // S_OR(context, "default"): an empty context is the default one to Asterisk.
                    context: if context.is_empty() { b"default".to_vec() } else { context.to_vec() },
                    context_written: true,
                    options,
                }
            }
            None => {
                LocalTarget { exten: target.to_vec(), context: b"default".to_vec(), context_written: false, options }
            }
        }
    }

    /// A Local channel that runs an extension: a non-empty extension, and when `@` is written, a
    /// non-empty context after it (`Local/1@` is a mistake, not a wish for `default`).
    pub fn is_well_formed(&self, dest: &[u8]) -> bool {
        if self.exten.is_empty() {
            return false;
        }
        if !self.context_written {
            return true;
        }
        // The written context is empty exactly when the text between `@` and the options is.
        let target = match dest.iter().rposition(|&byte| byte == b'/') {
            Some(at) => &dest[..at],
            None => dest,
        };
        !target.ends_with(b"@")
    }
}

/// The channels in a dial list as Dial and Page read it: split at every `&` (`strsep`), each entry
/// stripped of Asterisk's blanks (`ast_strip`: `Local/1@ctx ` is `Local/1@ctx`), then split at its
/// first `/`.
pub fn dial_list(list: &[u8]) -> Vec<Channel> {
    list.split(|&byte| byte == b'&').map(|entry| Channel::parse(app_data::strip(entry))).collect()
}

/// An application's arguments as `AST_STANDARD_APP_ARGS` separates them, with at most `max_args`
/// arguments ([`app_data::standard_args`]).
pub fn app_args(data: &[u8], max_args: usize) -> Vec<Vec<u8>> {
    app_data::standard_args(data, max_args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(text: &[u8]) -> String {
        String::from_utf8_lossy(&Channel::parse(text).judged_text()).into_owned()
    }

    #[test]
    fn local_channels_are_judged_as_core_local_reads_them() {
        let table: &[(&[u8], &str)] = &[
            (b"Local/s@ctx", "Local/s@ctx"),
            (b"Local/s@ctx/n", "Local/s@ctx/n"),
            // Options after the LAST slash: this runs s@other, with the options "@campaign" (n and m act).
            (b"Local/s@other/@campaign", "Local/s@other/nm"),
            (b"Local/123", "Local/123@default"),
            (b"Local/123@", "Local/123@default"),
            (b"local/1@2@ctx", "local/1@2@ctx"),
            (b"Local/a/b@c/nj", "Local/a/b@c/nj"),
            (b"Local/s@ctx/xyz", "Local/s@ctx"),
            (b"Local/s@ctx/bmjn", "Local/s@ctx/njmb"),
            (b"PJSIP/100@trunk", "PJSIP/100@trunk"),
            (b"PJSIP", "PJSIP/"),
        ];
        for (text, expected) in table {
            assert_eq!(judged(text), *expected, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn well_formed_local_targets() {
        for (dest, well_formed) in [
            (&b"s@ctx"[..], true),
            (b"s", true),
            (b"s@ctx/n", true),
            (b"@ctx", false),
            (b"s@", false),
            (b"s@/n", false),
            (b"/n", false),
            (b"", false),
            (b"s@other/@campaign", true),
        ] {
            let local = LocalTarget::parse(dest);
            assert_eq!(local.is_well_formed(dest), well_formed, "{}", String::from_utf8_lossy(dest));
        }
    }

    #[test]
    fn dial_lists_split_at_every_ampersand() {
        let channels = dial_list(b"Local/1@a&PJSIP/100&IAX2/host/5&");
        let written: Vec<String> =
            channels.iter().map(|channel| String::from_utf8_lossy(&channel.written()).into_owned()).collect();
        assert_eq!(written, ["Local/1@a", "PJSIP/100", "IAX2/host/5", "/"]);
        assert_eq!(channels[2].dest, b"host/5");
    }

    #[test]
    fn app_args_are_separated_as_asterisk_separates_them() {
        let args = |data: &[u8], max| -> Vec<String> {
            app_args(data, max).iter().map(|arg| String::from_utf8_lossy(arg).into_owned()).collect()
        };
        assert_eq!(args(b"a,b,c", 10), ["a", "b", "c"]);
        assert_eq!(args(b"a,b(c,d),e", 10), ["a", "b(c,d)", "e"]);
        assert_eq!(args(b"\"a,b\",c", 10), ["a,b", "c"]);
        assert_eq!(args(b"a\\,b,c", 10), ["a,b", "c"]);
        assert_eq!(args(b"a,", 10), ["a", ""]);
        assert_eq!(args(b"", 10), Vec::<String>::new());
        assert_eq!(args(b",", 10), ["", ""]);
        assert_eq!(args(b"a,b,c,d", 2), ["a", "b,c,d"]);
        assert_eq!(args(b"a,\"b,c\",d", 2), ["a", "\"b,c\",d"]);
        assert_eq!(args(b"[a,b],c", 10), ["[a,b]", "c"]);
        assert_eq!(args(b"a)b,c", 10), ["a)b", "c"]);
        assert_eq!(args(b"x\\", 10), ["x"]);
        assert_eq!(args(b"a,\"\"", 10), ["a", "", ""]);
    }

    #[test]
    fn dial_list_entries_lose_blanks_as_ast_strip_removes_them() {
        let channels = dial_list(b"Local/1@secret \t& PJSIP/100");
        assert_eq!(channels[0].judged_text(), b"Local/1@secret");
        assert_eq!(channels[1].written(), b"PJSIP/100");
    }
}
