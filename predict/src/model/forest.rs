//! The boosted trees smartcore fitted, held as flat node arrays for prediction.
//!
//! smartcore's `XGRegressor::predict` copies the row into a new `Vec` through a boxed iterator
//! once per tree (60 copies and 60 allocations per one-row prediction), which took half of a
//! backtest's time in the boosted trees' forecasts. Its trees are private, but smartcore's
//! `serde` feature exports a fitted model (the form it offers for saving one), so the forest
//! is read from that export once per fit; `serde_json` keeps every `f64` exact. Prediction then
//! follows smartcore's arithmetic step for step, bit for bit: `p = base_score; p +=
//! learning_rate * leaf` per tree, going left where `x[feature] <= threshold`. An export that
//! does not read as expected (another smartcore's) gives `None`, and the caller keeps
//! smartcore's own predict.

use serde::Deserialize;

/// One node: a leaf (no children) or a split.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// The leaf's output (unused for a split).
    value: f64,
    /// Go left where the feature is at most this.
    threshold: f64,
    /// The feature compared.
    feature: usize,
    /// Indices of the children in the forest's node array, `None` for a leaf.
    children: Option<(u32, u32)>,
}

/// Every tree of a boosted model, as flat node arrays.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Forest {
    nodes: Vec<Node>,
    /// Root node of each tree, in boosting order.
    roots: Vec<u32>,
    base: f64,
    rate: f64,
}

impl Forest {
    /// Reads the trees of a fitted smartcore model from its serde export; `None` if the export
    /// is not of the expected form.
    pub(super) fn from_model<M: serde::Serialize>(model: &M) -> Option<Self> {
        let value = serde_json::to_value(model).ok()?;
        let exported = Exported::deserialize(value).ok()?;
        let mut forest = Self {
            nodes: Vec::new(),
            roots: Vec::new(),
            base: exported.parameters.base_score,
            rate: exported.parameters.learning_rate,
        };
        for tree in &exported.regressors {
            let root = forest.push(tree)?;
            forest.roots.push(root);
        }
        Some(forest)
    }

    /// Appends `tree`'s nodes, its subtrees first; returns the index of its root.
    fn push(&mut self, tree: &ExportedTree) -> Option<u32> {
        let children = match (&tree.left, &tree.right) {
            (Some(l), Some(r)) => Some((self.push(l)?, self.push(r)?)),
            (None, None) => None,
            // smartcore reads a node with a left child as a split: it always has both.
            _ => return None,
        };
        self.nodes.push(Node {
            value: tree.value,
            threshold: tree.threshold,
            feature: tree.split_feature_idx,
            children,
        });
        u32::try_from(self.nodes.len() - 1).ok()
    }

    /// The prediction for one row of features, as smartcore computes it; `None` where a split
    /// reads a feature the row does not have.
    pub(super) fn predict(&self, x: &[f64]) -> Option<f64> {
        let mut p = self.base;
        for &root in &self.roots {
            let mut node = self.nodes.get(root as usize)?;
            while let Some((left, right)) = node.children {
                let next = if *x.get(node.feature)? <= node.threshold {
                    left
                } else {
                    right
                };
                node = self.nodes.get(next as usize)?;
            }
            p += self.rate * node.value;
        }
        Some(p)
    }
}

/// The parts of smartcore's `XGRegressor` export prediction reads (other fields are skipped).
#[derive(Deserialize)]
struct Exported {
    parameters: ExportedParameters,
    regressors: Vec<ExportedTree>,
}

/// The parameters prediction reads.
#[derive(Deserialize)]
struct ExportedParameters {
    base_score: f64,
    learning_rate: f64,
}

/// One exported tree node: a leaf (no children) or a split.
#[derive(Deserialize)]
struct ExportedTree {
    left: Option<Box<ExportedTree>>,
    right: Option<Box<ExportedTree>>,
    value: f64,
    threshold: f64,
    split_feature_idx: usize,
}
