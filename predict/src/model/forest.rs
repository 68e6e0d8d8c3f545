//! The boosted trees smartcore fitted, held as flat node arrays for prediction.
//!
//! smartcore's `XGRegressor::predict` copies the row into a new `Vec` through a boxed iterator
//! once per tree (60 copies and 60 allocations per one-row prediction), which took half of a
//! backtest's time in the boosted trees' forecasts. Its trees are private; their derived
//! `Debug` text is the only public view of them, so the forest is read from that text (every
//! `f64` printed shortest-round-trip, so read back exactly). Prediction then follows smartcore's
//! arithmetic step for step, bit for bit: `p = base; p += rate * leaf` per tree, going left
//! where `x[feature] <= threshold`. A text that does not read as expected gives `None`, and the
//! caller keeps smartcore's own predict.

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
    /// Reads the trees from the `Debug` text of a fitted `XGRegressor` whose base score and
    /// learning rate were `base` and `rate`; `None` if the text is not of the expected form.
    pub(super) fn from_debug(text: &str, base: f64, rate: f64) -> Option<Self> {
        let mut rest = text.split_once("regressors: Some([")?.1;
        let mut forest = Self {
            nodes: Vec::new(),
            roots: Vec::new(),
            base,
            rate,
        };
        loop {
            let root = forest.node(&mut rest)?;
            forest.roots.push(root);
            rest = match rest.strip_prefix(", ") {
                Some(more) => more,
                None => {
                    rest.strip_prefix("])")?;
                    break;
                }
            };
        }
        Some(forest)
    }

    /// Parses one `TreeRegressor { .. }` at the start of `rest`, its subtrees first; returns
    /// its index.
    fn node(&mut self, rest: &mut &str) -> Option<u32> {
        *rest = rest.strip_prefix("TreeRegressor { left: ")?;
        let left = self.child(rest)?;
        *rest = rest.strip_prefix(", right: ")?;
        let right = self.child(rest)?;
        let value = field(rest, ", value: ")?.parse().ok()?;
        let threshold = field(rest, ", threshold: ")?.parse().ok()?;
        let feature = field(rest, ", split_feature_idx: ")?.parse().ok()?;
        // The split score and phantom fields hold no braces: the node ends at the next one.
        let end = rest.find('}')?;
        *rest = rest.get(end + 1..)?;
        let children = match (left, right) {
            (Some(l), Some(r)) => Some((l, r)),
            (None, None) => None,
            // smartcore reads a node with a left child as a split: it always has both.
            _ => return None,
        };
        self.nodes.push(Node {
            value,
            threshold,
            feature,
            children,
        });
        u32::try_from(self.nodes.len() - 1).ok()
    }

    /// Parses `None` or `Some(TreeRegressor { .. })`.
    fn child(&mut self, rest: &mut &str) -> Option<Option<u32>> {
        if let Some(more) = rest.strip_prefix("None") {
            *rest = more;
            return Some(None);
        }
        *rest = rest.strip_prefix("Some(")?;
        let node = self.node(rest)?;
        *rest = rest.strip_prefix(')')?;
        Some(Some(node))
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

/// Reads the value after `name` up to the next `,` (consuming both).
fn field<'a>(rest: &mut &'a str, name: &str) -> Option<&'a str> {
    let after = rest.strip_prefix(name)?;
    let end = after.find(',')?;
    let (value, more) = after.split_at(end);
    *rest = more;
    Some(value)
}
