//! From a loaded `pbx_spool_rs.conf` to the running spool's [`SpoolSettings`]: the node name on a shared
//! spool, the owners a call file may have, and the rules every visit applies. The few facts of the host
//! these decisions need (the user Asterisk runs as, its host name, `live_dangerously`, how a name becomes
//! a uid) are passed in, so every decision here is unit-tested. No I/O and no logging: problems come back
//! as sentences for the caller to log.

use std::sync::Arc;

use crate::attempt::VisitRules;
use crate::config::{self, SpoolConfig};
use crate::os::UidLookupError;
use crate::scheduler::SpoolSettings;

/// What the host says about itself, as the settings need it.
pub struct HostFacts<'a> {
    /// The effective uid Asterisk runs as: with root, the owners allowed when `allowed_owner` is not set.
    pub effective_uid: u32,
    /// Asterisk's host name, the node name of a shared spool when `node` is not set.
    pub host_name: Option<String>,
    /// Asterisk's process id, the node name's last resort.
    pub pid: u32,
    /// `live_dangerously` in asterisk.conf.
    pub live_dangerously: bool,
    /// A user name (or number) as a uid ([`crate::os::uid_of`] outside tests).
    pub uid_of: &'a dyn Fn(&str) -> Result<u32, UidLookupError>,
}

/// The settings for `config` on this host, and one sentence per `allowed_owner` that cannot be used
/// (the caller logs each as an ERROR naming the file).
pub fn spool_settings(config: &SpoolConfig, host: &HostFacts) -> (SpoolSettings, Vec<String>) {
    let config = with_node_name(config.clone(), host);
    let mut problems = Vec::new();
    let allowed_owners = config.owner_check.then(|| {
        if config.allowed_owners.is_empty() {
            vec![host.effective_uid, 0]
        } else {
            let (uids, unusable) = config::allowed_owner_uids(&config.allowed_owners, host.uid_of);
            problems = unusable;
            uids
        }
    });
    let campaigns = Arc::new(config.campaigns.clone());
    let campaign_lists: Vec<&[String]> = config.campaigns.iter().map(|campaign| campaign.dnc.as_slice()).collect();
    let dnc = Arc::new(crate::dnc::DncLists::new(&config.dnc, &campaign_lists));
    let rules = VisitRules {
        max_file_size: config.max_file_size,
        allowed_owners,
        policy: config.policy.clone(),
        live_dangerously: host.live_dangerously,
        node: config.shared.then(|| Arc::from(config.node.clone().unwrap_or_default().as_str())),
        campaigns: campaigns.clone(),
        dnc,
        retry_rules: Arc::new(config.retry_rules.clone()),
    };
    let settings = SpoolSettings {
        rules: Arc::new(rules),
        max_calls: config.max_calls,
        max_rate: config.max_rate,
        description: Arc::new(config::describe(&config)),
        watch: config.watch_mode(),
        scan_interval_ms: config.scan_interval_ms,
        campaigns,
    };
    (settings, problems)
}

/// On a shared spool, the node name in force: as configured, else the host name, else `pid-<pid>`.
fn with_node_name(mut config: SpoolConfig, host: &HostFacts) -> SpoolConfig {
    if config.shared && config.node.is_none() {
        config.node = Some(host.host_name.clone().unwrap_or_else(|| format!("pid-{}", host.pid)));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(uid_of: &'a dyn Fn(&str) -> Result<u32, UidLookupError>) -> HostFacts<'a> {
        HostFacts { effective_uid: 112, host_name: Some("pbx1".into()), pid: 4242, live_dangerously: false, uid_of }
    }

    fn no_users(name: &str) -> Result<u32, UidLookupError> {
        let _ = name;
        Err(UidLookupError::Unknown)
    }

    #[test]
    fn without_allowed_owner_asterisks_user_and_root_may_own_call_files() {
        let (settings, problems) = spool_settings(&SpoolConfig::default(), &facts(&no_users));
        assert_eq!(settings.rules.allowed_owners, Some(vec![112, 0]));
        assert!(problems.is_empty());
        assert_eq!(settings.rules.node, None, "not shared: no node name");
    }

    #[test]
    fn allowed_owner_names_become_uids_and_unusable_ones_are_reported() {
        let lookup = |name: &str| if name == "www-data" { Ok(33) } else { no_users(name) };
        let config =
            SpoolConfig { allowed_owners: vec!["www-data".into(), "nobody-here".into()], ..Default::default() };
        let (settings, problems) = spool_settings(&config, &facts(&lookup));
        assert_eq!(settings.rules.allowed_owners, Some(vec![33]));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("allowed_owner = nobody-here:"), "{problems:?}");
    }

    #[test]
    fn owner_check_off_allows_any_owner() {
        let config = SpoolConfig { owner_check: false, ..Default::default() };
        let (settings, _) = spool_settings(&config, &facts(&no_users));
        assert_eq!(settings.rules.allowed_owners, None);
    }

    #[test]
    fn a_shared_spools_node_is_the_configured_name_else_the_host_name_else_the_pid() {
        let shared = SpoolConfig { shared: true, ..Default::default() };
        let named = SpoolConfig { node: Some("east".into()), ..shared.clone() };
        let node = |config: &SpoolConfig, host: &HostFacts| spool_settings(config, host).0.rules.node.clone();
        assert_eq!(node(&named, &facts(&no_users)).as_deref(), Some("east"));
        assert_eq!(node(&shared, &facts(&no_users)).as_deref(), Some("pbx1"));
        let nameless = HostFacts { host_name: None, ..facts(&no_users) };
        assert_eq!(node(&shared, &nameless).as_deref(), Some("pid-4242"));
    }
}
