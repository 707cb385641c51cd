//! Plan templates: a plan built once over placeholder inputs ([`Rdd::slot`]) and instantiated
//! with each batch's datasets by the engine, so that a DStream operation such as
//! `map(f).reduceByKey(g)` is planned when the stream is defined, not by the host every batch.
//!
//! Only plans whose shape does not depend on their inputs' size or data can be templates:
//! narrow steps, hash shuffles, keyed operations and unions between the root and a slot.
//! Nodes that do not read a slot (a static dataset joined with every batch) are shared by
//! every instance, cache included.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Node, Partitioner, Rdd};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};

/// The error of computing a slot: it only stands for the dataset of a batch.
pub(super) fn template_input() -> EngineError {
    EngineError::InvalidArgument(
        "a plan template's input has no data: the template is instantiated with a batch's \
         datasets before it runs"
            .into(),
    )
}

fn not_templatable(what: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "{what} depends on the data of its input, so it cannot be planned once for every batch"
    ))
}

/// Instances made so far, by template node id (`None`: the node reads no slot).
type Rebuilt = HashMap<u64, Option<Arc<Rdd>>>;

impl Rdd {
    /// Input `index` of a plan template: one partition without data while the template is
    /// planned (computing it is an error).
    pub fn slot(ctx: &Arc<EngineContext>, index: usize) -> Arc<Rdd> {
        Rdd::new(ctx.clone(), Node::Slot(index), 1)
    }

    /// Check that this plan, built over `slots` slots, can be instantiated for every batch.
    pub fn check_template(self: &Arc<Self>, slots: usize) -> Result<()> {
        let inputs: Vec<Arc<Rdd>> = (0..slots).map(|_| Rdd::empty(&self.ctx, 1)).collect();
        self.instantiate(&inputs).map(|_| ())
    }

    /// This template with slot `i` replaced by `inputs[i]`: the nodes that read a slot are
    /// planned again over the batch's datasets (partition counts and partitionings follow
    /// them; shuffles into a partitioning an input already has are skipped, as when the
    /// plan is built directly), the others are shared.
    pub fn instantiate(self: &Arc<Self>, inputs: &[Arc<Rdd>]) -> Result<Arc<Rdd>> {
        let mut rebuilt = Rebuilt::new();
        Ok(self
            .rebuild(inputs, &mut rebuilt)?
            .unwrap_or_else(|| self.clone()))
    }

    fn rebuild(
        self: &Arc<Self>,
        inputs: &[Arc<Rdd>],
        done: &mut Rebuilt,
    ) -> Result<Option<Arc<Rdd>>> {
        if let Some(known) = done.get(&self.id) {
            return Ok(known.clone());
        }
        let out = self.rebuild_node(inputs, done)?;
        if let Some(instance) = &out {
            if self.is_cached() {
                instance.persist();
            }
        }
        done.insert(self.id, out.clone());
        Ok(out)
    }

    fn rebuild_node(
        self: &Arc<Self>,
        inputs: &[Arc<Rdd>],
        done: &mut Rebuilt,
    ) -> Result<Option<Arc<Rdd>>> {
        Ok(match &self.node {
            Node::Slot(i) => Some(inputs.get(*i).cloned().ok_or_else(|| {
                EngineError::Internal(format!(
                    "plan template slot {i} instantiated with {} inputs",
                    inputs.len()
                ))
            })?),
            Node::Source(_) | Node::Lazy(_) | Node::TextFile(_) => None,
            Node::Narrow {
                parent,
                step,
                keeps,
            } => parent
                .rebuild(inputs, done)?
                .map(|p| p.with_step_keeping(step.clone(), *keeps)),
            Node::Shuffle {
                parent,
                partitioner,
                keep_hashes,
                keyed_columns,
                recombined,
                ..
            } => match parent.rebuild(inputs, done)? {
                None => None,
                Some(_) if matches!(partitioner, Partitioner::Range(_)) => {
                    return Err(not_templatable("a range partitioning (sortByKey)"))
                }
                Some(p) => {
                    let shuffled =
                        p.shuffle_read_by(self.num_partitions, partitioner.clone(), *recombined)?;
                    use std::sync::atomic::Ordering::Relaxed;
                    Some(if keyed_columns.load(Relaxed) {
                        shuffled.want_keyed_columns()
                    } else if keep_hashes.load(Relaxed) {
                        shuffled.want_key_hashes()
                    } else {
                        shuffled
                    })
                }
            },
            Node::Keyed { inputs: ins, op } => {
                let mut changed = false;
                let mut new_inputs = Vec::with_capacity(ins.len());
                for input in ins {
                    match input.rebuild(inputs, done)? {
                        Some(r) => {
                            changed = true;
                            new_inputs.push(r);
                        }
                        None => new_inputs.push(input.clone()),
                    }
                }
                if !changed {
                    return Ok(None);
                }
                let n = new_inputs[0].num_partitions;
                if new_inputs.iter().any(|r| r.num_partitions != n) {
                    return Err(EngineError::Internal(
                        "a keyed operation's inputs have different partition counts".into(),
                    ));
                }
                // A partitioning taken from the first input follows it; one set by the
                // operation's target stays.
                let partitioning = match &self.partitioning {
                    Some(p) if ins[0].partitioning.as_ref() == Some(p) => {
                        new_inputs[0].partitioning.clone()
                    }
                    other => other.clone(),
                };
                Some(Rdd::new_partitioned(
                    self.ctx.clone(),
                    Node::Keyed {
                        inputs: new_inputs,
                        op: *op,
                    },
                    n,
                    partitioning,
                ))
            }
            Node::Union(parts) => {
                let mut changed = false;
                let mut rdds = Vec::new();
                for (rdd, j) in parts {
                    if *j != 0 {
                        continue;
                    }
                    match rdd.rebuild(inputs, done)? {
                        Some(r) => {
                            changed = true;
                            rdds.push(r);
                        }
                        None => rdds.push(rdd.clone()),
                    }
                }
                changed.then(|| Rdd::union(&self.ctx, &rdds))
            }
            Node::Indexed { parent, .. } => {
                self.refuse_over(&[parent], "zipWithIndex", inputs, done)?
            }
            Node::Sample { parent, .. } => self.refuse_over(&[parent], "a sample", inputs, done)?,
            Node::Coalesce { parent, .. } => {
                self.refuse_over(&[parent], "coalesce", inputs, done)?
            }
            Node::Zip { left, right } => self.refuse_over(&[left, right], "zip", inputs, done)?,
            Node::Cartesian { left, right } => {
                self.refuse_over(&[left, right], "cartesian", inputs, done)?
            }
        })
    }

    /// `None` when none of `parents` reads a slot; an error naming `what` otherwise.
    fn refuse_over(
        &self,
        parents: &[&Arc<Rdd>],
        what: &str,
        inputs: &[Arc<Rdd>],
        done: &mut Rebuilt,
    ) -> Result<Option<Arc<Rdd>>> {
        for parent in parents {
            if parent.rebuild(inputs, done)?.is_some() {
                return Err(not_templatable(what));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ops::keyed::KeyOp;
    use crate::engine::value::Value;

    fn pairs(ctx: &Arc<EngineContext>, n: usize, parts: usize) -> Arc<Rdd> {
        let records: Vec<Value> = (0..n as i64)
            .map(|i| Value::pair(Value::Int(i % 3), Value::Int(i)))
            .collect();
        let chunk = n.div_ceil(parts).max(1);
        Rdd::from_partitions(ctx, records.chunks(chunk).map(<[Value]>::to_vec).collect())
    }

    #[test]
    fn a_keyed_template_follows_each_batch() {
        let ctx = EngineContext::new(2).unwrap();
        let slot = Rdd::slot(&ctx, 0);
        let target = crate::engine::rdd::Partitioning::Hash(2);
        let plan = Rdd::keyed(&[slot], KeyOp::GroupByKey, &target).unwrap();
        plan.check_template(1).unwrap();
        assert!(plan.compute_all().is_err(), "a template has no data");
        for (n, parts) in [(9, 3), (4, 1)] {
            let batch = plan.instantiate(&[pairs(&ctx, n, parts)]).unwrap();
            assert_eq!(batch.num_partitions(), 2);
            let records: usize = batch
                .collect()
                .unwrap()
                .iter()
                .map(|kv| match kv {
                    Value::Tuple(t) => match &t[1] {
                        Value::Group(vs) => vs.len(),
                        other => panic!("a group: {other:?}"),
                    },
                    other => panic!("a pair: {other:?}"),
                })
                .sum();
            assert_eq!(records, n);
        }
    }

    #[test]
    fn shared_nodes_stay_shared_and_data_dependent_nodes_are_refused() {
        let ctx = EngineContext::new(2).unwrap();
        let fixed = pairs(&ctx, 6, 2);
        let plan = Rdd::union(&ctx, &[Rdd::slot(&ctx, 0), fixed.clone()]);
        let batch = plan.instantiate(&[pairs(&ctx, 3, 3)]).unwrap();
        assert_eq!(batch.num_partitions(), 5);
        assert_eq!(batch.collect().unwrap().len(), 9);
        assert!(Rdd::slot(&ctx, 0).coalesce(1).is_ok());
        let indexed = Rdd::slot(&ctx, 0).zip_with_unique_id();
        let err = indexed.check_template(1).unwrap_err().to_string();
        assert!(err.contains("zipWithIndex"), "{err}");
        // A plan that reads no slot is its own instance.
        assert_eq!(fixed.instantiate(&[]).unwrap().id(), fixed.id());
    }
}
