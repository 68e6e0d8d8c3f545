//! The network a matrix's pairs are routed over for per-link series: the Abilene backbone
//! (`prescient_sim::topology`, the names SNDlib's Abilene matrices use) unless the user gives
//! their own as an edge list (`prescient evaluate --series links --topology FILE`), so that any
//! operator's matrix of `SRC->DST` columns can be evaluated per link, not only Abilene's.
//!
//! Edge list: one undirected link a line, its two node names separated by a comma, semicolon, tab
//! or spaces (`a,b`, `a b`); further fields (a capacity, a weight: what edge lists exported from
//! tools carry) are read past, since pairs take shortest paths by hop count as on Abilene. Blank
//! lines and lines starting with `#` are skipped; so is a first line `src,dst` (or
//! `source,target`, `from,to`, `node1,node2`): a header. A link listed twice, in either direction, is one link.

use std::collections::BTreeSet;

use petgraph::graph::{NodeIndex, UnGraph};
use prescient_sim::topology::{ABILENE_LINKS, ABILENE_NODES};

use super::EvalError;

/// Node names and undirected links; pairs route over it by hop count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Node names, in the order first listed.
    pub nodes: Vec<String>,
    /// Undirected links as indices into `nodes`, in the order first listed (ties between equal
    /// shortest paths are broken by this order).
    pub links: Vec<(usize, usize)>,
}

/// Header lines an edge list exported by a tool may start with.
const HEADERS: [(&str, &str); 4] = [
    ("src", "dst"),
    ("source", "target"),
    ("from", "to"),
    ("node1", "node2"),
];

/// A [`Topology`]'s links as a graph, for shortest paths.
#[derive(Debug, Clone)]
pub struct Router {
    graph: UnGraph<usize, ()>,
    ids: Vec<NodeIndex>,
}

impl Router {
    /// The nodes of one shortest path (by hop count) from `src` to `dst`, both ends included;
    /// `None` when they are not connected.
    pub fn path(&self, src: usize, dst: usize) -> Option<Vec<usize>> {
        let (from, to) = (self.ids[src], self.ids[dst]);
        petgraph::algo::astar(&self.graph, from, |n| n == to, |_| 1u32, |_| 0)
            .map(|(_, p)| p.into_iter().map(|n| self.graph[n]).collect())
    }
}

impl Topology {
    /// The Abilene backbone.
    pub fn abilene() -> Self {
        let nodes: Vec<String> = ABILENE_NODES.iter().map(|n| n.to_string()).collect();
        let index = |name: &str| ABILENE_NODES.iter().position(|n| *n == name);
        let links = ABILENE_LINKS
            .iter()
            .filter_map(|(a, b)| Some((index(a)?, index(b)?)))
            .collect();
        Topology { nodes, links }
    }

    /// Reads an edge list (see the module docs); `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, EvalError> {
        let bad = |line: usize, why: String| {
            EvalError::invalid("topology", source, &format!("line {line}: {why}"))
        };
        let mut topo = Topology {
            nodes: Vec::new(),
            links: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        let mut first = true;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line
                .split([',', ';', '\t', ' '])
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect();
            let (a, b) = match fields.as_slice() {
                [a, b, ..] => (*a, *b),
                _ => {
                    return Err(bad(
                        i + 1,
                        format!("{line:?} is not a link: expected two node names, e.g. `a,b`"),
                    ))
                }
            };
            let is_header = HEADERS
                .iter()
                .any(|(x, y)| a.eq_ignore_ascii_case(x) && b.eq_ignore_ascii_case(y));
            if std::mem::take(&mut first) && is_header {
                continue;
            }
            // No column `SRC->DST` could name such a node (pairs split at `->`): a file whose
            // fields are pair names is a traffic matrix given in the topology's place.
            if let Some(pair) = [a, b].into_iter().find(|f| f.contains("->")) {
                return Err(bad(
                    i + 1,
                    format!(
                        "{pair:?} is a pair name, not a node: this looks like a traffic matrix, \
                         not an edge list of links"
                    ),
                ));
            }
            if a == b {
                return Err(bad(i + 1, format!("{a:?} is linked to itself")));
            }
            let (a, b) = (topo.node(a), topo.node(b));
            if seen.insert((a.min(b), a.max(b))) {
                topo.links.push((a, b));
            }
        }
        if topo.links.is_empty() {
            return Err(EvalError::invalid("topology", source, "it lists no link"));
        }
        Ok(topo)
    }

    /// Index of node `name`, added when new.
    fn node(&mut self, name: &str) -> usize {
        match self.nodes.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.nodes.push(name.to_string());
                self.nodes.len() - 1
            }
        }
    }

    /// Index of node `name`, if it is one.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n == name)
    }

    /// The graph pairs are routed on, built once for every pair of a matrix.
    pub fn router(&self) -> Router {
        let mut graph = UnGraph::<usize, ()>::new_undirected();
        let ids: Vec<NodeIndex> = (0..self.nodes.len()).map(|i| graph.add_node(i)).collect();
        for &(a, b) in &self.links {
            graph.add_edge(ids[a], ids[b], ());
        }
        Router { graph, ids }
    }

    /// The node names, for error messages (the first few when there are many).
    pub fn describe(&self) -> String {
        const SHOWN: usize = 12;
        let mut s = self.nodes[..self.nodes.len().min(SHOWN)].join(", ");
        if self.nodes.len() > SHOWN {
            s.push_str(&format!(", ... ({} nodes)", self.nodes.len()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_list_reads_with_any_separator_header_comments_and_weights() {
        let text = "\u{feff}source,target,capacity_gbps\n# a ring of four\na,b,10\nb c 10\nc;d\n\nd\ta\nb,a\n";
        let t = Topology::parse(text, "ring.csv").expect("an edge list");
        assert_eq!(t.nodes, ["a", "b", "c", "d"]);
        // b,a is a,b again.
        assert_eq!(t.links, [(0, 1), (1, 2), (2, 3), (3, 0)]);
        // Two hops either way round from a to c: the first listed way wins.
        assert_eq!(t.router().path(0, 2), Some(vec![0, 1, 2]));
        assert_eq!(t.router().path(0, 3), Some(vec![0, 3]));
    }

    #[test]
    fn bad_edge_lists_say_which_line_and_why() {
        let e = Topology::parse("a,b\nlonely\n", "t.csv").expect_err("one name");
        assert!(
            e.to_string().contains("t.csv") && e.to_string().contains("line 2"),
            "{e}"
        );
        let e = Topology::parse("a,a\n", "t.csv").expect_err("a loop");
        assert!(e.to_string().contains("itself"), "{e}");
        let e = Topology::parse("# nothing\nsrc,dst\n", "t.csv").expect_err("empty");
        assert!(e.to_string().contains("no link"), "{e}");
    }

    #[test]
    fn disconnected_nodes_have_no_path() {
        let t = Topology::parse("a,b\nc,d\n", "two.csv").expect("two islands");
        assert_eq!(t.router().path(0, 2), None);
        assert_eq!(t.router().path(2, 3), Some(vec![2, 3]));
    }

    #[test]
    fn the_default_is_the_abilene_backbone() {
        let t = Topology::abilene();
        assert_eq!(t.nodes.len(), ABILENE_NODES.len());
        assert_eq!(t.links.len(), ABILENE_LINKS.len());
    }
}
