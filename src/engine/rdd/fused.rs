//! Fused chains of native steps over a dataset's partitions, and the map side of shuffles
//! that read them.

use super::{Node, Partition, Rdd};
use crate::engine::block::Data;
use crate::engine::error::{EngineError, Result};
use crate::engine::shuffle::SharedFetch;
use crate::engine::step::{Combined, NativeKind};

impl Rdd {
    /// The fused chain ending at this native step: this node and the native steps right
    /// above it (not cached, no combine before the last), first step first, and the node it
    /// reads (the first one not in the chain).
    fn fused_chain(&self) -> (Vec<&Rdd>, &Rdd) {
        let mut chain: Vec<&Rdd> = vec![self];
        let mut base: &Rdd = self;
        while let Node::Narrow { parent, .. } = &base.node {
            let next: &Rdd = parent;
            let fusable = match &next.node {
                Node::Narrow { step, .. } => matches!(
                    step.native(),
                    Some((kind, _)) if kind != NativeKind::Combine
                ),
                _ => false,
            };
            base = next;
            if !fusable || next.is_cached() {
                break;
            }
            chain.push(next);
        }
        chain.reverse();
        (chain, base)
    }

    /// A native step and the native steps right above it run as one fused pass per record;
    /// if a record needs Python, the steps run one by one instead, each with its own fallback.
    pub(super) fn compute_fused(&self, i: usize) -> Result<Partition> {
        let (chain, base) = self.fused_chain();
        let steps = native_steps(&chain);
        // Read from a shuffle: its partition is shared, not copied, and a combine right after
        // a hash shuffle uses the keys' hashes the shuffle handed over.
        if let Some(fetched) = base.shuffle_output_shared(i)? {
            if let (Some(hashes), [(NativeKind::Combine, reducer)]) = (&fetched.hashes, &steps[..])
            {
                let values = fetched.values.as_deref().map(Vec::as_slice);
                if let Ok(out) =
                    crate::engine::step::combine_hashed(reducer, &fetched.records, values, hashes)
                {
                    return Ok(out);
                }
            } else if fetched.values.is_some() {
                // Keyed columns for other steps: as pairs.
                return run_chain_fused(i, chain, &steps, fetched.into_rows());
            } else if let Ok(out) = crate::engine::step::run_fused(&steps, &fetched.records) {
                return Ok(out);
            }
            return run_chain(i, chain, fetched.into_rows());
        }
        match base.compute_data(i)? {
            // A native block feeds the steps from its buffers; one whose records do not fit
            // them becomes rows (and, when a record needs Python, runs step by step below).
            Data::Block(block) => match crate::engine::step::run_fused_block(&steps, &block) {
                Some(Ok(out)) => Ok(out),
                Some(Err(_)) => run_chain(i, chain, (*block).into_values()),
                None => run_chain_fused(i, chain, &steps, (*block).into_values()),
            },
            Data::Rows(rows) => run_chain_fused(i, chain, &steps, rows),
        }
    }

    /// Partition `i` of this shuffle's output, shared with the shuffle (with the keys' hashes
    /// when it kept them); None when this is not an uncached shuffle.
    pub fn shuffle_output_shared(&self, i: usize) -> Result<Option<SharedFetch>> {
        let Node::Shuffle { output, .. } = &self.node else {
            return Ok(None);
        };
        if self.is_cached() {
            return Ok(None);
        }
        if output.get().is_none() {
            self.prepare()?;
        }
        match output.get() {
            Some(reader) => reader.fetch_shared(i).map(Some),
            None => Err(EngineError::Internal("shuffle output missing".into())),
        }
    }

    /// Partition `i` as the map side of a shuffle computes it: when this node ends a fused
    /// native chain with a combine, or (when the shuffle's readers take keyed `columns`) with
    /// a map that builds pairs, as keyed columns with their keys' portable hashes (and, when
    /// `partial` because the shuffle's reader combines again, the combine may pass records on
    /// uncombined); as [`Rdd::compute`] otherwise.
    pub(super) fn compute_map_side(
        &self,
        i: usize,
        partial: bool,
        columns: bool,
    ) -> Result<MapOutput> {
        let keyed = match &self.node {
            Node::Narrow { step, .. } => match step.native() {
                Some((NativeKind::Combine, _)) => true,
                Some((NativeKind::Map, map)) => columns && map.pair_parts().is_some(),
                _ => false,
            },
            _ => false,
        };
        if !keyed || self.is_cached() {
            return self.compute(i).map(MapOutput::Rows);
        }
        let (chain, base) = self.fused_chain();
        let steps = native_steps(&chain);
        let mut input = base.compute_data(i)?;
        if matches!(input, Data::Block(_)) {
            match crate::engine::step::run_fused_map_side(&steps, &input, partial) {
                Some(Ok(out)) => return Ok(MapOutput::Hashed(out)),
                Some(Err(_)) => return run_chain(i, chain, input.into_rows()).map(MapOutput::Rows),
                // A block the chain cannot read in place: as rows.
                None => input = Data::Rows(input.into_rows()),
            }
        }
        match crate::engine::step::run_fused_map_side(&steps, &input, partial) {
            Some(Ok(out)) => Ok(MapOutput::Hashed(out)),
            // A record needs Python: step by step.
            Some(Err(_)) | None => run_chain(i, chain, input.into_rows()).map(MapOutput::Rows),
        }
    }
}

/// A map task's output: records, or `(key, value)` records with their keys' portable hashes.
pub(super) enum MapOutput {
    Rows(Partition),
    Hashed(Combined),
}

/// The native steps of a fused chain, first step first.
fn native_steps<'r>(chain: &[&'r Rdd]) -> Vec<(NativeKind, &'r crate::engine::expr::Expr)> {
    chain
        .iter()
        .filter_map(|r| match &r.node {
            Node::Narrow { step, .. } => step.native(),
            _ => None,
        })
        .collect()
}

/// The chain fused over rows; step by step when a record needs Python.
fn run_chain_fused(
    i: usize,
    chain: Vec<&Rdd>,
    steps: &[(NativeKind, &crate::engine::expr::Expr)],
    input: Partition,
) -> Result<Partition> {
    if let Ok(out) = crate::engine::step::run_fused(steps, &input) {
        return Ok(out);
    }
    run_chain(i, chain, input)
}

/// The chain's steps one by one, each with its own fallback.
fn run_chain(i: usize, chain: Vec<&Rdd>, input: Partition) -> Result<Partition> {
    let mut data = input;
    for r in chain {
        if let Node::Narrow { step, .. } = &r.node {
            data = step.apply(i, data)?;
        }
    }
    Ok(data)
}
