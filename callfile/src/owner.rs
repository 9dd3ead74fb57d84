//! `owner_check` offline: whether the owner a submitted file will have is one pbx_spool_rs accepts, and
//! the passwd lookup that turns `allowed_owner` names into uids.
//!
//! Reads the user database only; never writes, never touches the spool's files.

use pbx_spool_core::config::SpoolConfig;
use pbx_spool_core::os::uid_of;

use crate::error::Error;
use crate::spool::Spool;

/// owner_check offline: a refusal when the file's owner is certainly not allowed, a note when it is
/// probably not (the default allows Asterisk's own user, assumed to own `outgoing/`, and root).
pub fn owner_verdict(rules: &SpoolConfig, spool: &Spool) -> Result<Option<String>, Error> {
    if !rules.owner_check {
        return Ok(None);
    }
    let owner = spool.file_owner();
    if rules.allowed_owners.is_empty() {
        if owner == 0 || owner == spool.outgoing_owner() {
            return Ok(None);
        }
        return Ok(Some(format!(
            "owner_check is on and the file will belong to uid {owner}; Asterisk accepts only its own user \
             (probably uid {}, the owner of {}) and root",
            spool.outgoing_owner(),
            spool.outgoing().display()
        )));
    }
    if rules.allowed_owners.iter().filter_map(|name| uid_of(name).ok()).any(|uid| uid == owner) {
        return Ok(None);
    }
    Err(Error::refused(format!(
        "The call file would belong to uid {owner}, which owner_check rejects (allowed_owners: {})",
        rules.allowed_owners.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
    use crate::test_support::{rules, TempDir};

    #[test]
    fn owner_check_refuses_owners_it_certainly_rejects() {
        let dir = TempDir::spool("owner");
        let spool = Spool::open(&dir.0).unwrap();
        let owner = spool.file_owner();
        let checked = |allowed: &[&str]| SpoolConfig {
            owner_check: true,
            allowed_owners: allowed.iter().map(|name| name.to_string()).collect(),
            ..rules()
        };
        assert_eq!(owner_verdict(&rules(), &spool), Ok(None));
        assert_eq!(owner_verdict(&checked(&[&owner.to_string()]), &spool), Ok(None));
        let other = owner.wrapping_add(12_345).to_string();
        assert_eq!(owner_verdict(&checked(&[&other, "no-such-user-here"]), &spool).unwrap_err().exit, Exit::Refused);
        // Default list: the outgoing directory's owner (our own here) and root are accepted.
        assert_eq!(owner_verdict(&checked(&[]), &spool), Ok(None));
    }
}
