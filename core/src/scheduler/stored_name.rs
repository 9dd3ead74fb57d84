//! A file name as the file table keeps it, in 24 bytes: a name of up to [`INLINE`] bytes (most call files'
//! names: `callback-5551234.call` is 21) lives inside it, a longer one in a box of its own. The table
//! keeps one per file it follows, so a short name costs no allocation of its own (glibc rounds a 12-byte
//! name's box up to a 32-byte chunk).
//!
//! Plain data: no I/O. Unix only, like the rest of the spooler: a name is its bytes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// The longest name kept inline: what fits beside its length byte and the enum's tag in 24 bytes.
pub(super) const INLINE: usize = 22;

pub(super) enum StoredName {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<OsStr>),
}

impl StoredName {
    pub(super) fn new(name: &OsStr) -> StoredName {
        let bytes = name.as_bytes();
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut inline = [0; INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                StoredName::Inline { len, bytes: inline }
            }
            _ => StoredName::Boxed(Box::from(name)),
        }
    }

    pub(super) fn as_os_str(&self) -> &OsStr {
        match self {
            StoredName::Inline { len, bytes } => OsStr::from_bytes(&bytes[..usize::from(*len)]),
            StoredName::Boxed(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_reads_back_as_it_was_stored_inline_up_to_22_bytes_and_boxed_beyond() {
        for len in [0, 1, 12, INLINE, INLINE + 1, 255, 256, 4096] {
            let name: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let stored = StoredName::new(OsStr::from_bytes(&name));
            assert_eq!(stored.as_os_str().as_bytes(), &name[..], "{len} bytes");
            assert_eq!(matches!(stored, StoredName::Inline { .. }), len <= INLINE, "{len} bytes");
        }
        // Not UTF-8: a name is its bytes.
        let odd = OsStr::from_bytes(b"f\xff\xfe.call");
        assert_eq!(StoredName::new(odd).as_os_str(), odd);
    }

    #[test]
    fn a_stored_name_takes_24_bytes_and_leaves_a_niche_for_a_free_slot() {
        use std::mem::size_of;
        assert_eq!(size_of::<StoredName>(), 24);
        assert_eq!(size_of::<Option<StoredName>>(), 24);
    }
}
