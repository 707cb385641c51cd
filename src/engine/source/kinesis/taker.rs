//! The KCL's lease taker, as pure logic: which leases a worker takes in one round.
//!
//! A lease is free when it has no owner, or when its `leaseCounter` has not moved for the
//! failover time as this worker saw it (its owner stopped renewing: dead or cut off). A worker
//! aims at an even share, `ceil(leases / workers)`: it takes free leases up to that share, and
//! when none is free, at most one lease per round from the most-loaded worker if that worker
//! holds more than the share. The conditional write of a take (on the counter seen) makes
//! sure two workers never both own a shard.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

/// A lease as the table holds it (the parts the taker needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    pub owner: Option<String>,
    pub counter: Option<i64>,
}

/// A lease to take: the shard, and the counter its conditional write expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Take {
    pub shard: String,
    pub counter: Option<i64>,
    /// Taken from a live worker (balancing), not a free lease.
    pub stolen: bool,
}

pub struct Taker {
    failover: Duration,
    /// Each lease's counter and when this worker first saw it with that counter.
    seen: HashMap<String, (Option<i64>, Instant)>,
}

impl Taker {
    pub fn new(failover: Duration) -> Taker {
        Taker {
            failover,
            seen: HashMap::new(),
        }
    }

    /// The leases to take now among `eligible` shards (readable: not finished, parents
    /// finished), given the table's `leases` (missing: never leased).
    pub fn choose(
        &mut self,
        now: Instant,
        me: &str,
        eligible: &[String],
        leases: &HashMap<String, LeaseView>,
    ) -> Vec<Take> {
        let none = LeaseView {
            owner: None,
            counter: None,
        };
        let mut free = Vec::new();
        let mut by_owner: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for shard in eligible {
            let lease = leases.get(shard).unwrap_or(&none);
            let entry = self
                .seen
                .entry(shard.clone())
                .or_insert((lease.counter, now));
            if entry.0 != lease.counter {
                *entry = (lease.counter, now);
            }
            match lease.owner.as_deref() {
                None | Some("") => free.push(shard),
                Some(owner) if owner == me => by_owner.entry(owner).or_default().push(shard),
                Some(owner) => {
                    if now.duration_since(entry.1) >= self.failover {
                        free.push(shard);
                    } else {
                        by_owner.entry(owner).or_default().push(shard);
                    }
                }
            }
        }
        self.seen.retain(|k, _| eligible.contains(k));
        let mine = by_owner.get(me).map_or(0, Vec::len);
        let workers = by_owner.len() + usize::from(!by_owner.contains_key(me));
        let target = eligible.len().div_ceil(workers.max(1));
        if mine >= target {
            return Vec::new();
        }
        let take = |shard: &String, stolen: bool| Take {
            shard: shard.clone(),
            counter: leases.get(shard).and_then(|l| l.counter),
            stolen,
        };
        if !free.is_empty() {
            return free
                .into_iter()
                .take(target - mine)
                .map(|s| take(s, false))
                .collect();
        }
        let most = by_owner
            .iter()
            .filter(|(owner, _)| **owner != me)
            .max_by_key(|(_, shards)| shards.len());
        match most {
            Some((_, shards)) if shards.len() > target => vec![take(shards[0], true)],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("shardId-{i:012}")).collect()
    }

    fn owned(pairs: &[(&str, &str, i64)]) -> HashMap<String, LeaseView> {
        pairs
            .iter()
            .map(|(s, o, c)| {
                (
                    s.to_string(),
                    LeaseView {
                        owner: Some(o.to_string()),
                        counter: Some(*c),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_lone_worker_takes_every_free_lease() {
        let mut t = Taker::new(Duration::from_secs(10));
        let got = t.choose(Instant::now(), "a", &shards(4), &HashMap::new());
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|g| g.counter.is_none() && !g.stolen));
    }

    #[test]
    fn a_new_worker_steals_one_lease_per_round_up_to_its_share() {
        let s = shards(4);
        let mut leases = owned(&[
            (&s[0], "a", 5),
            (&s[1], "a", 5),
            (&s[2], "a", 5),
            (&s[3], "a", 5),
        ]);
        let mut t = Taker::new(Duration::from_secs(10));
        let now = Instant::now();
        let got = t.choose(now, "b", &s, &leases);
        assert_eq!(
            got,
            vec![Take {
                shard: s[0].clone(),
                counter: Some(5),
                stolen: true
            }]
        );
        leases.insert(
            s[0].clone(),
            LeaseView {
                owner: Some("b".into()),
                counter: Some(6),
            },
        );
        let got = t.choose(now, "b", &s, &leases);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].shard, s[1]);
        leases.insert(
            s[1].clone(),
            LeaseView {
                owner: Some("b".into()),
                counter: Some(6),
            },
        );
        // Two each: balanced, nothing more for either.
        assert!(t.choose(now, "b", &s, &leases).is_empty());
        assert!(Taker::new(Duration::from_secs(10))
            .choose(now, "a", &s, &leases)
            .is_empty());
    }

    #[test]
    fn a_lease_whose_counter_stood_still_for_the_failover_time_is_free() {
        let s = shards(2);
        let mut leases = owned(&[(&s[0], "a", 1), (&s[1], "b", 1)]);
        let mut t = Taker::new(Duration::from_secs(10));
        let start = Instant::now();
        assert!(t.choose(start, "b", &s, &leases).is_empty());
        // a renews: never free.
        leases.get_mut(&s[0]).unwrap().counter = Some(2);
        let later = start + Duration::from_secs(9);
        assert!(t.choose(later, "b", &s, &leases).is_empty());
        assert!(t
            .choose(later + Duration::from_secs(9), "b", &s, &leases)
            .is_empty());
        // a stops renewing: free after 10 s from when b saw the counter last move.
        let got = t.choose(later + Duration::from_secs(10), "b", &s, &leases);
        assert_eq!(
            got,
            vec![Take {
                shard: s[0].clone(),
                counter: Some(2),
                stolen: false
            }]
        );
    }

    #[test]
    fn nothing_is_stolen_from_a_worker_at_its_share() {
        let s = shards(5);
        let leases = owned(&[
            (&s[0], "a", 1),
            (&s[1], "a", 1),
            (&s[2], "a", 1),
            (&s[3], "b", 1),
            (&s[4], "b", 1),
        ]);
        let mut t = Taker::new(Duration::from_secs(10));
        assert!(t.choose(Instant::now(), "b", &s, &leases).is_empty());
        // A third worker: share 2, a holds 3: one from a.
        let got = t.choose(Instant::now(), "c", &s, &leases);
        assert_eq!(got.len(), 1);
        assert!(got[0].stolen && [&s[0], &s[1], &s[2]].contains(&&got[0].shard));
    }
}
