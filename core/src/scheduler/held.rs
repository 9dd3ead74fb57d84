//! The files that fell due but wait behind a limit (`maxcalls`, `maxrate`, a campaign's own limits, or
//! dispatch suspended beside the stock pbx_spool), in the order they were held: one queue per campaign
//! (and one for files in none), each ordered by a hold number that only grows, plus a name index.
//! Holding a file, taking one out by name and releasing a campaign's first file are O(log n); finding the
//! next file to start looks at one head per campaign, not at every held file, so a campaign of 100,000
//! files at its `maxrate` costs the same per start as a single file. Plain data: which file may start is
//! decided in `dispatch.rs`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::sync::Arc;

/// Which queue a held file waits in: its campaign's index in the configuration, `None` for no campaign.
pub(super) type CampaignIndex = Option<usize>;

/// The held files, by campaign, in the order they were held.
#[derive(Debug, Default)]
pub(super) struct HeldQueues {
    /// The next hold number: files held earlier have smaller numbers.
    next_order: u64,
    /// Per campaign with held files: its files by hold number. Empty queues are dropped, so looking at
    /// every queue's head costs the number of campaigns that hold files.
    queues: HashMap<CampaignIndex, BTreeMap<u64, Arc<OsStr>>>,
    /// Each held name's campaign and hold number.
    index: HashMap<Arc<OsStr>, (CampaignIndex, u64)>,
    /// Held entries looked at (queue heads read, entries taken out): lets a test prove that no
    /// operation walks the held files.
    #[cfg(test)]
    pub(super) looked_at: usize,
}

impl HeldQueues {
    /// How many files are held, in all campaigns.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Hold `name` behind every file held before it, in its campaign's queue. A name already held is
    /// moved to the back.
    pub(super) fn hold(&mut self, name: Arc<OsStr>, campaign: CampaignIndex) {
        self.remove(&name);
        let order = self.next_order;
        self.next_order += 1;
        self.queues.entry(campaign).or_default().insert(order, name.clone());
        self.index.insert(name, (campaign, order));
    }

    /// Take `name` out wherever it waits; false if it was not held.
    pub(super) fn remove(&mut self, name: &OsStr) -> bool {
        let Some((campaign, order)) = self.index.remove(name) else {
            return false;
        };
        self.note_looked_at(1);
        if let Some(queue) = self.queues.get_mut(&campaign) {
            queue.remove(&order);
            if queue.is_empty() {
                self.queues.remove(&campaign);
            }
        }
        true
    }

    /// Each campaign's first held file's hold number, in no particular order: the earliest of those whose
    /// campaign may start one is the file to start.
    pub(super) fn heads(&mut self) -> Vec<(CampaignIndex, u64)> {
        let heads: Vec<(CampaignIndex, u64)> = self
            .queues
            .iter()
            .filter_map(|(campaign, queue)| queue.keys().next().map(|order| (*campaign, *order)))
            .collect();
        self.note_looked_at(heads.len());
        heads
    }

    /// Take the first held file of `campaign`'s queue.
    pub(super) fn pop_first(&mut self, campaign: CampaignIndex) -> Option<Arc<OsStr>> {
        let queue = self.queues.get_mut(&campaign)?;
        let (_, name) = queue.pop_first()?;
        if queue.is_empty() {
            self.queues.remove(&campaign);
        }
        self.index.remove(&name);
        self.note_looked_at(1);
        Some(name)
    }

    pub(super) fn clear(&mut self) {
        self.queues.clear();
        self.index.clear();
    }

    #[cfg(test)]
    fn note_looked_at(&mut self, entries: usize) {
        self.looked_at += entries;
    }

    #[cfg(not(test))]
    fn note_looked_at(&mut self, _entries: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(i: usize) -> Arc<OsStr> {
        Arc::from(OsStr::new(&format!("f{i}.call")))
    }

    /// The next file the scheduler would start when every campaign may start one: the earliest head.
    fn release_earliest(held: &mut HeldQueues) -> Option<Arc<OsStr>> {
        let (campaign, _) = held.heads().into_iter().min_by_key(|&(_, order)| order)?;
        held.pop_first(campaign)
    }

    #[test]
    fn files_come_out_in_the_order_they_were_held_across_campaigns() {
        let mut held = HeldQueues::default();
        for (i, campaign) in [Some(0), None, Some(1), Some(0), None].into_iter().enumerate() {
            held.hold(name(i), campaign);
        }
        // Held again: to the back.
        held.hold(name(1), None);
        assert!(held.remove(&name(2)));
        assert!(!held.remove(&name(2)));
        let order: Vec<Arc<OsStr>> = std::iter::from_fn(|| release_earliest(&mut held)).collect();
        assert_eq!(order, [name(0), name(3), name(4), name(1)]);
        assert!(held.is_empty());
        assert!(held.queues.is_empty(), "empty queues are dropped");
    }

    #[test]
    fn a_blocked_campaign_does_not_hold_back_another_and_keeps_its_order() {
        let mut held = HeldQueues::default();
        held.hold(name(0), Some(0));
        held.hold(name(1), Some(0));
        held.hold(name(2), Some(1));
        // Campaign 0 at its limit: the first file campaign 1 may start is the one to go.
        let open = |heads: Vec<(CampaignIndex, u64)>| heads.into_iter().filter(|&(c, _)| c != Some(0)).min();
        let (campaign, _) = open(held.heads()).unwrap();
        assert_eq!(held.pop_first(campaign), Some(name(2)));
        assert_eq!(open(held.heads()), None);
        assert_eq!(release_earliest(&mut held), Some(name(0)));
        assert_eq!(release_earliest(&mut held), Some(name(1)));
    }

    /// 100,000 files of one campaign held at once (a calling window opening on a campaign at its
    /// maxrate), and a few of another: every release and every removal by name looks at a number of
    /// entries bounded by the campaigns holding files, never at the other held files. A list walked per
    /// operation would look at about n²/2 = 5·10⁹ entries here.
    #[test]
    fn holding_releasing_and_removing_100_000_files_never_walks_the_queue() {
        const FILES: usize = 100_000;
        let mut held = HeldQueues::default();
        for i in 0..FILES {
            held.hold(name(i), Some(0));
        }
        held.hold(name(FILES), None);
        held.hold(name(FILES + 1), Some(1));
        assert_eq!(held.len(), FILES + 2);
        held.looked_at = 0;
        // Every third file goes away by name (cancelled, touched, removed); the rest are released.
        for i in (0..FILES).step_by(3) {
            assert!(held.remove(&name(i)));
        }
        let removed = FILES.div_ceil(3);
        let mut released = Vec::with_capacity(FILES);
        while let Some(next) = release_earliest(&mut held) {
            released.push(next);
        }
        assert_eq!(released.len(), FILES + 2 - removed);
        // In hold order: campaign 0's survivors first (held first), then the other two.
        let expected: Vec<Arc<OsStr>> = (0..FILES).filter(|i| i % 3 != 0).chain([FILES, FILES + 1]).map(name).collect();
        assert_eq!(released, expected);
        // Each removal and each release reads one entry; each release also reads at most 3 queue heads.
        let bound = removed + released.len() * (1 + 3) + 3;
        assert!(held.looked_at <= bound, "looked at {} entries, bound {bound}", held.looked_at);
        assert!(held.is_empty() && held.queues.is_empty());
    }
}
