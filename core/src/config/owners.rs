//! `allowed_owner` names (or uids) turned into uids, through a lookup the caller passes, with a
//! sentence for each name that cannot be used.
//!
//! No lookup of its own: the caller decides where names resolve (the system's user database outside
//! tests).

/// The `allowed_owner` names (or uids) as uids, with one sentence per name that cannot be used, for the
/// admin (an ERROR each: a name that silently resolves to nothing makes owner_check reject call files
/// with no word of why). `lookup` is [`crate::os::uid_of`] outside tests.
pub fn allowed_owner_uids(
    names: &[String],
    lookup: impl Fn(&str) -> Result<u32, crate::os::UidLookupError>,
) -> (Vec<u32>, Vec<String>) {
    let mut uids = Vec::new();
    let mut unusable = Vec::new();
    for name in names {
        match lookup(name) {
            Ok(uid) => uids.push(uid),
            Err(why) => unusable.push((name, why)),
        }
    }
    let consequence =
        if uids.is_empty() { "no allowed_owner is usable, so owner_check rejects every call file" } else { "ignored" };
    let problems = unusable.into_iter().map(|(name, why)| format!("allowed_owner = {name}: {why}; {consequence}"));
    (uids, problems.collect())
}
