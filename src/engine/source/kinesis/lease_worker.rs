//! The receiver's lease worker: the KCL's lease coordination on the application's DynamoDB
//! table, running beside the reading loop in each session.
//!
//! Every round (a third of the failover time, as the KCL renews) it lists the shards, reads
//! the table, renews the leases this worker holds (a conditional write on owner and counter:
//! a failed one means the lease was taken over, and the shard is no longer read here), takes
//! free or expired leases of readable shards (not finished, parents finished) up to an even
//! share, or one lease of the most-loaded worker ([`super::taker`]), and every
//! `checkpointInterval` writes the positions of completed batches of the shards it still owns
//! (conditional on owner).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_kinesis::Client;
use tokio::time::Instant;

use super::describe;
use super::leases::{Lease, SHARD_END};
use super::receiver::{Clients, Held, KinesisReceiver, ShardState};
use super::seq_le;
use super::taker::{LeaseView, Taker};
use super::InitialPosition;
use crate::engine::source::receiver::BlockSink;

type Result<T> = std::result::Result<T, String>;

impl KinesisReceiver {
    /// The shards of the stream with their parents and whether they are closed.
    pub(super) async fn list_shards(
        &self,
        client: &Client,
    ) -> Result<Vec<(String, Vec<String>, bool)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = client.list_shards();
            call = match &token {
                Some(t) => call.next_token(t),
                None => call.stream_name(&self.config.stream_name),
            };
            let page = call.send().await.map_err(|e| {
                describe(
                    format!("listing the shards of {}", self.config.target()),
                    &e,
                )
            })?;
            for s in page.shards() {
                let parents: Vec<String> = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_string)
                    .collect();
                let closed = s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_some();
                out.push((s.shard_id().to_string(), parents, closed));
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// Note the listed shards and what the table says of them; the readable shards: not
    /// finished, whose parents (those still listed) are finished or were read to their end.
    fn plan(
        &self,
        listed: &[(String, Vec<String>, bool)],
        leases: &HashMap<String, Lease>,
    ) -> Vec<String> {
        let mut shards = self.shards.lock();
        for (shard, lease) in leases {
            if lease.checkpoint.as_deref() == Some(SHARD_END) {
                let state = shards.entry(shard.clone()).or_default();
                state.finished = true;
                state.read = true;
            }
        }
        let listed_ids: HashSet<&str> = listed.iter().map(|(id, _, _)| id.as_str()).collect();
        for (id, parents, closed) in listed {
            let state = shards.entry(id.clone()).or_default();
            state.parents.clone_from(parents);
            // LATEST: a closed shard never read has nothing at the latest position.
            if *closed
                && !state.read
                && state.position.is_none()
                && !leases
                    .get(id)
                    .is_some_and(|l| l.checkpoint.is_some() || l.owner.is_some())
                && self.config.initial_position == InitialPosition::Latest
            {
                state.finished = true;
            }
        }
        let done = |id: &str, shards: &BTreeMap<String, ShardState>| {
            !listed_ids.contains(id)
                || shards
                    .get(id)
                    .is_some_and(|s| s.finished || s.ended.is_some())
        };
        listed
            .iter()
            .filter(|(id, parents, _)| {
                !shards.get(id).is_some_and(|s| s.finished)
                    && parents.iter().all(|p| done(p, &shards))
            })
            .map(|(id, _, _)| id.clone())
            .collect()
    }

    /// Keeps this worker's leases until the session ends.
    pub(super) async fn lease_loop(&self, clients: &Clients, sink: &BlockSink) -> Result<()> {
        let mut taker = Taker::new(self.config.failover);
        let round = self.config.failover / 3;
        let mut checkpoint_at = Instant::now() + self.config.checkpoint_interval;
        loop {
            if let Err(e) = self.lease_round(clients, &mut taker).await {
                log::warn!("{e}; tried again in {} ms", round.as_millis());
                sink.report_error(&e);
            }
            if Instant::now() >= checkpoint_at {
                if let Err(e) = self.flush(clients).await {
                    log::warn!("{e}; retried at the next checkpoint");
                    sink.report_error(&e);
                }
                checkpoint_at = Instant::now() + self.config.checkpoint_interval;
            }
            let next = (Instant::now() + round).min(checkpoint_at);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.wake.notified() => {}
                _ = sink.stopping() => return Ok(()),
            }
        }
    }

    /// One round: renew, note losses, take.
    async fn lease_round(&self, clients: &Clients, taker: &mut Taker) -> Result<()> {
        let listed = self.list_shards(&clients.kinesis).await?;
        let leases = clients.leases.scan().await?;
        let eligible = self.plan(&listed, &leases);
        // Renew what this worker holds (finished shards are let go: nothing more to read).
        let held: Vec<(String, Held)> = self
            .owned
            .lock()
            .iter()
            .map(|(s, h)| (s.clone(), h.clone()))
            .collect();
        for (shard, h) in held {
            let lease = leases.get(&shard);
            if lease.and_then(|l| l.checkpoint.as_deref()) == Some(SHARD_END) {
                self.owned.lock().remove(&shard);
                continue;
            }
            let renewed = if lease.and_then(|l| l.owner.as_deref()) == Some(self.owner.as_str()) {
                clients.leases.renew(&shard, h.counter).await?
            } else {
                None
            };
            match renewed {
                Some(counter) => self.note_counter(&shard, h.ordinal, counter),
                None => self.lost(&shard),
            }
        }
        let views: HashMap<String, LeaseView> = leases
            .iter()
            .map(|(s, l)| {
                let view = LeaseView {
                    owner: l.owner.clone(),
                    counter: l.counter,
                };
                (s.clone(), view)
            })
            .collect();
        for take in taker.choose(Instant::now(), &self.owner, &eligible, &views) {
            let Some(counter) = clients.leases.take(&take.shard, take.counter).await? else {
                log::debug!(
                    "Kinesis: another worker took the lease of {} first",
                    take.shard
                );
                continue;
            };
            let checkpoint = leases.get(&take.shard).and_then(|l| l.checkpoint.clone());
            log::info!(
                "Kinesis: worker {} took the lease of {} of {}{} (checkpoint {})",
                self.owner,
                take.shard,
                self.config.stream_name,
                if take.stolen {
                    " to balance the load"
                } else {
                    ""
                },
                checkpoint.as_deref().unwrap_or("none")
            );
            self.acquired(&take.shard, counter, checkpoint);
        }
        Ok(())
    }

    fn note_counter(&self, shard: &str, ordinal: i64, counter: i64) {
        self.owned.lock().insert(
            shard.to_string(),
            Held {
                ordinal,
                counter: Some(counter),
            },
        );
    }

    /// The lease of `shard` is this worker's now: read on from the table's checkpoint (or
    /// from the position a recovered checkpoint directory restored, which may be behind).
    fn acquired(&self, shard: &str, counter: i64, checkpoint: Option<String>) {
        let ordinal = self.new_ordinal(shard);
        let restored = {
            let mut shards = self.shards.lock();
            let state = shards.entry(shard.to_string()).or_default();
            let restored = std::mem::take(&mut state.restored);
            if !restored {
                state.position.clone_from(&checkpoint);
            }
            if state.position.is_some() {
                state.read = true;
            }
            state.ended = None;
            restored
        };
        // What the table holds completed (restore() noted a restored position itself): a shard
        // read to its end with nothing new since is checkpointed SHARD_END.
        if !restored {
            let mut completed = self.completed.lock();
            match &checkpoint {
                Some(c) => completed.insert(shard.to_string(), c.clone()),
                None => completed.remove(shard),
            };
        }
        match checkpoint {
            Some(c) => self.written.lock().insert(shard.to_string(), c),
            None => self.written.lock().remove(shard),
        };
        self.owned.lock().insert(
            shard.to_string(),
            Held {
                ordinal,
                counter: Some(counter),
            },
        );
    }

    /// Another worker took the lease of `shard`: nothing more of it is read or batched here.
    pub(super) fn lost(&self, shard: &str) {
        if self.owned.lock().remove(shard).is_some() {
            log::info!(
                "Kinesis: worker {} lost the lease of {} of {}; no longer reading it",
                self.owner,
                shard,
                self.config.stream_name
            );
        }
        let mut shards = self.shards.lock();
        if let Some(state) = shards.get_mut(shard) {
            state.position = None;
            state.ended = None;
        }
    }

    /// Write the positions of completed batches (and `SHARD_END` for shards read to their end
    /// whose last records completed) of the shards this worker owns, when the table does not
    /// hold them (or holds a later one).
    pub(super) async fn flush(&self, clients: &Clients) -> Result<()> {
        let due = self.checkpoint_map();
        let todo: Vec<(String, String, Vec<String>, Held)> = {
            let written = self.written.lock();
            let shards = self.shards.lock();
            let owned = self.owned.lock();
            due.into_iter()
                .filter_map(|(shard, c)| {
                    let held = owned.get(&shard)?.clone();
                    let ahead = match written.get(&shard) {
                        None => true,
                        Some(w) if w == SHARD_END => false,
                        Some(w) => c == SHARD_END || (w != &c && seq_le(w, &c)),
                    };
                    if !ahead {
                        return None;
                    }
                    let parents = shards
                        .get(&shard)
                        .map(|s| s.parents.clone())
                        .unwrap_or_default();
                    Some((shard, c, parents, held))
                })
                .collect()
        };
        for (shard, checkpoint, parents, held) in todo {
            match clients
                .leases
                .checkpoint(&shard, &checkpoint, &parents)
                .await?
            {
                Some(counter) => {
                    log::debug!("Kinesis: checkpointed {shard} at {checkpoint}");
                    self.written.lock().insert(shard.clone(), checkpoint);
                    self.note_counter(&shard, held.ordinal, counter);
                }
                None => self.lost(&shard),
            }
        }
        Ok(())
    }

    /// A program that stops gives its leases up (after its last checkpoint), so another
    /// worker need not wait for the failover time.
    pub(super) async fn release_all(&self, clients: &Clients) -> Result<()> {
        let held: Vec<String> = self.owned.lock().drain().map(|(s, _)| s).collect();
        for shard in held {
            clients.leases.release(&shard).await?;
        }
        Ok(())
    }
}
