//! The demand series a trace is evaluated on: its total, each of its columns (pairs), or the load
//! of each directed link when every pair is routed over a network: the Abilene backbone, or the
//! user's own ([`Topology`]).
//!
//! Links: a column named `SRC->DST` whose ends are nodes of the topology (by default Abilene's
//! routers, `prescient_sim::topology::ABILENE_NODES`, the names SNDlib's Abilene matrices use) is
//! carried on one shortest path by hop count (ties broken by petgraph's A* in the order links are
//! listed), and adds its demand to every directed link `A->B` on that path; a pair whose ends
//! are not connected is refused, not dropped (its demand would vanish from every link). A pair from a router to itself uses no
//! link. Empty cells of SNDlib matrices are zero demand (SNDlib omits zero entries), except rows
//! in which every cell is empty where the matrix is too dense for a quiet interval: snapshots
//! missing from the source ([`Trace::fill_empty_as_zero`]); elsewhere an empty cell is unknown, and
//! a sum with an unknown term is unknown; `evaluate --missing` says otherwise for a trace whose
//! empty cells mean something else. A negative cell is unknown too: demand cannot be negative, and such a cell is a glitch of the source (a counter reset read
//! as a rate, a sign error) that a capacity policy must neither size for nor be scored against.

use std::collections::BTreeMap;
use std::str::FromStr;

use prescient_predict::Trace;

use super::topology::Topology;
use super::EvalError;

/// Which series of a trace are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// The sum of all columns, one series.
    Total,
    /// Each column (origin-destination pair) on its own.
    Pairs,
    /// Each directed link of the topology (Abilene unless given), loaded by the pairs routed
    /// over it.
    Links,
}

impl SeriesKind {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            SeriesKind::Total => "total",
            SeriesKind::Pairs => "pairs",
            SeriesKind::Links => "links",
        }
    }
}

impl FromStr for SeriesKind {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "total" => Ok(SeriesKind::Total),
            "pairs" => Ok(SeriesKind::Pairs),
            "links" => Ok(SeriesKind::Links),
            other => Err(EvalError::invalid(
                "series",
                other,
                "expected total, pairs or links",
            )),
        }
    }
}

/// Named demand series, all of the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// One name per series.
    pub names: Vec<String>,
    /// `columns[series][row]`; `None` where demand is unknown.
    pub columns: Vec<Vec<Option<f64>>>,
}

/// Whether the trace is an SNDlib-style matrix (pair columns, empty cells meaning zero demand).
pub fn is_matrix(trace: &Trace) -> bool {
    !trace.names.is_empty() && trace.names.iter().all(|n| n.contains("->"))
}

/// Cells of `trace` holding a negative number: read as unknown demand by [`demand`].
pub fn negative_cells(trace: &Trace) -> usize {
    trace
        .columns
        .iter()
        .flatten()
        .filter(|v| v.is_some_and(|v| v < 0.0))
        .count()
}

/// What an empty cell means (`--missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyCells {
    /// Unknown demand (`skip`).
    Unknown,
    /// No demand (`zero`), every one.
    Zero,
    /// As SNDlib means them: no demand, except rows in which every cell is empty where the
    /// matrix is too dense for a quiet interval ([`Trace::fill_empty_as_zero`]; `auto` on a
    /// matrix).
    Omitted,
}

impl EmptyCells {
    /// What `--missing` (skip, zero or auto) makes of `trace`'s empty cells: auto is
    /// [`EmptyCells::Omitted`] in an SNDlib-style matrix ([`is_matrix`]) and unknown elsewhere.
    pub fn parse(arg: &str, trace: &Trace) -> Result<Self, EvalError> {
        match arg {
            "skip" => Ok(EmptyCells::Unknown),
            "zero" => Ok(EmptyCells::Zero),
            "auto" if is_matrix(trace) => Ok(EmptyCells::Omitted),
            "auto" => Ok(EmptyCells::Unknown),
            other => Err(EvalError::invalid(
                "missing",
                other,
                "expected skip, zero or auto",
            )),
        }
    }

    /// How `trace`'s empty cells read by default (`auto`).
    pub fn default_for(trace: &Trace) -> Self {
        if is_matrix(trace) {
            EmptyCells::Omitted
        } else {
            EmptyCells::Unknown
        }
    }

    /// `trace` with its empty cells read this way: zeros filled in, the unknown left empty;
    /// and how many all-empty rows were kept unknown as missing snapshots.
    pub fn apply(self, trace: &mut Trace) -> usize {
        match self {
            EmptyCells::Unknown => 0,
            EmptyCells::Omitted => trace.fill_empty_as_zero(),
            EmptyCells::Zero => {
                trace
                    .columns
                    .iter_mut()
                    .flatten()
                    .for_each(|v| _ = v.get_or_insert(0.0));
                0
            }
        }
    }
}

/// The series of `kind` in `trace`, links over the Abilene backbone, empty cells read by
/// default ([`EmptyCells::default_for`]).
pub fn demand(trace: &Trace, kind: SeriesKind) -> Result<Demand, EvalError> {
    let abilene = Topology::abilene();
    demand_on(
        trace,
        kind,
        &abilene,
        "the Abilene backbone",
        EmptyCells::default_for(trace),
    )
}

/// The series of `kind` in `trace`, links over `topology` (called `named` in errors), empty
/// cells read as `empty` says.
pub fn demand_on(
    trace: &Trace,
    kind: SeriesKind,
    topology: &Topology,
    named: &str,
    empty: EmptyCells,
) -> Result<Demand, EvalError> {
    let filled;
    let trace = if empty == EmptyCells::Unknown {
        trace
    } else {
        let mut t = trace.clone();
        empty.apply(&mut t);
        filled = t;
        &filled
    };
    let cell = |v: Option<f64>| v.filter(|v| *v >= 0.0);
    let rows = trace.rows();
    match kind {
        SeriesKind::Pairs => Ok(Demand {
            names: trace.names.clone(),
            columns: trace
                .columns
                .iter()
                .map(|c| c.iter().map(|&v| cell(v)).collect())
                .collect(),
        }),
        SeriesKind::Total => {
            let total = (0..rows)
                .map(|r| {
                    trace
                        .columns
                        .iter()
                        .map(|c| cell(c.get(r).copied().flatten()))
                        .sum::<Option<f64>>()
                })
                .collect();
            Ok(Demand {
                names: vec!["total".to_string()],
                columns: vec![total],
            })
        }
        SeriesKind::Links => links(trace, rows, cell, topology, named),
    }
}

fn links(
    trace: &Trace,
    rows: usize,
    cell: impl Fn(Option<f64>) -> Option<f64>,
    topology: &Topology,
    named: &str,
) -> Result<Demand, EvalError> {
    let refuse = |why: String| Err(EvalError::invalid("series", "links", &why));
    let router = topology.router();
    let mut load: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (name, col) in trace.names.iter().zip(&trace.columns) {
        let ends = name
            .split_once("->")
            .and_then(|(s, d)| Some((topology.index(s.trim())?, topology.index(d.trim())?)));
        let Some((s, d)) = ends else {
            // A column that is no pair at all (`traffic`, `cell-00`) is not fixed by another
            // topology, and a topology already given is not fixed by `--topology`.
            let hint = if !name.contains("->") {
                "a trace whose columns are not pairs has no links to route onto: evaluate it \
                 with `--series total` or `--series pairs`"
            } else if *topology == Topology::abilene() {
                "per-link series need a traffic matrix of its nodes (`--topology FILE` gives \
                 another network)"
            } else {
                "per-link series need a traffic matrix of its nodes"
            };
            return refuse(format!(
                "column {name:?} is not SRC->DST of nodes of {named} ({}); {hint}",
                topology.describe()
            ));
        };
        let Some(path) = router.path(s, d) else {
            return refuse(format!(
                "column {name:?}: {} and {} are not connected in {named}",
                topology.nodes[s], topology.nodes[d]
            ));
        };
        for hop in path.windows(2) {
            let key = format!("{}->{}", topology.nodes[hop[0]], topology.nodes[hop[1]]);
            let sum = load.entry(key).or_insert_with(|| vec![Some(0.0); rows]);
            for (acc, v) in sum.iter_mut().zip(col) {
                *acc = match (*acc, cell(*v)) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
        }
    }
    let (names, columns) = load.into_iter().unzip();
    Ok(Demand { names, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(names: &[&str], columns: Vec<Vec<Option<f64>>>) -> Trace {
        Trace {
            names: names.iter().map(|s| s.to_string()).collect(),
            times: None,
            columns,
        }
    }

    #[test]
    fn pairs_route_over_abilene_links_in_their_direction() {
        let t = trace(
            &["ATLAM5->HSTNng", "NYCMng->WASHng", "WASHng->WASHng"],
            vec![
                vec![Some(1.0), None],
                vec![Some(10.0), Some(20.0)],
                vec![Some(5.0), Some(5.0)],
            ],
        );
        let d = demand(&t, SeriesKind::Links).expect("abilene pairs");
        let get = |n: &str| {
            let i = d.names.iter().position(|x| x == n).expect(n);
            d.columns[i].clone()
        };
        // ATLAM5 -> ATLAng -> HSTNng; the empty cell of a matrix is zero demand.
        assert_eq!(get("ATLAM5->ATLAng"), vec![Some(1.0), Some(0.0)]);
        assert_eq!(get("ATLAng->HSTNng"), vec![Some(1.0), Some(0.0)]);
        assert_eq!(get("NYCMng->WASHng"), vec![Some(10.0), Some(20.0)]);
        assert!(!d.names.iter().any(|n| n == "WASHng->NYCMng"));
        assert_eq!(d.names.len(), 3);
        let total = demand(&t, SeriesKind::Total).expect("total");
        assert_eq!(total.columns, vec![vec![Some(16.0), Some(25.0)]]);
    }

    #[test]
    fn links_need_abilene_pair_names() {
        let t = trace(&["value"], vec![vec![Some(1.0)]]);
        let e = demand(&t, SeriesKind::Links).expect_err("not a matrix");
        assert!(e.to_string().contains("value"), "{e}");
        // A single series: an empty cell is unknown, and so is the total.
        let total = demand(
            &trace(&["v"], vec![vec![Some(1.0), None]]),
            SeriesKind::Total,
        )
        .expect("total");
        assert_eq!(total.columns, vec![vec![Some(1.0), None]]);
    }

    #[test]
    fn pairs_route_over_a_given_topology_and_the_abilene_default_is_unchanged() {
        let topo = Topology::parse("x,y\ny,z\nz,x\nz,w\n", "t").expect("topology");
        let t = trace(
            &["x->w", "w->y"],
            vec![vec![Some(1.0), Some(2.0)], vec![Some(10.0), None]],
        );
        let d = demand_on(&t, SeriesKind::Links, &topo, "t", EmptyCells::Omitted).expect("routed");
        // x->w: x -> z -> w (two hops round the triangle's short side); w->y: w -> z -> y.
        assert_eq!(d.names, ["w->z", "x->z", "z->w", "z->y"]);
        // Empty cells of a matrix are zero demand, as with Abilene.
        assert_eq!(d.columns[0], vec![Some(10.0), Some(0.0)]);
        assert_eq!(d.columns[1], vec![Some(1.0), Some(2.0)]);
        let abilene = trace(&["ATLAM5->HSTNng"], vec![vec![Some(1.0)]]);
        assert_eq!(
            demand(&abilene, SeriesKind::Links),
            demand_on(
                &abilene,
                SeriesKind::Links,
                &Topology::abilene(),
                "Abilene",
                EmptyCells::Omitted
            )
        );
    }

    #[test]
    fn a_matrix_whose_empty_cells_are_unknown_has_unknown_totals_and_links_there() {
        // A matrix whose exporter leaves unknown cells empty: with `--missing skip` they are
        // unknown, neither sized for nor scored, and so are the totals and links they are in.
        let t = trace(
            &["ATLAM5->HSTNng", "NYCMng->WASHng"],
            vec![
                vec![Some(1.0), None, Some(2.0)],
                vec![Some(4.0), Some(6.0), None],
            ],
        );
        let abilene = Topology::abilene();
        let read = |kind, missing| demand_on(&t, kind, &abilene, "Abilene", missing);
        let total = read(SeriesKind::Total, EmptyCells::Unknown).expect("total");
        assert_eq!(total.columns, vec![vec![Some(5.0), None, None]]);
        let total = read(SeriesKind::Total, EmptyCells::Omitted).expect("total");
        assert_eq!(total.columns, vec![vec![Some(5.0), Some(6.0), Some(2.0)]]);
        assert_eq!(
            read(SeriesKind::Total, EmptyCells::Omitted),
            demand(&t, SeriesKind::Total)
        );
        let pairs = read(SeriesKind::Pairs, EmptyCells::Unknown).expect("pairs");
        assert_eq!(pairs.columns[1], vec![Some(4.0), Some(6.0), None]);
        let links = read(SeriesKind::Links, EmptyCells::Unknown).expect("links");
        let i = links.names.iter().position(|n| n == "ATLAM5->ATLAng");
        assert_eq!(
            links.columns[i.expect("routed")],
            vec![Some(1.0), None, Some(2.0)]
        );
        // Twelve dense pairs with one row empty throughout: a snapshot missing from the source,
        // unknown by default too, not the whole network falling silent.
        let names: Vec<String> = (0..12).map(|j| format!("ATLAM5->N{j}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let column = |j: usize| {
            (0..8)
                .map(|r| (r != 5 && r != j % 4).then_some(3.0))
                .collect()
        };
        let dense = trace(&names, (0..12).map(column).collect());
        let total = demand(&dense, SeriesKind::Total).expect("total");
        assert_eq!(total.columns[0][5], None);
        assert!(total.columns[0][1].is_some_and(|v| v > 0.0));
        let abilene = Topology::abilene();
        let zero = demand_on(&dense, SeriesKind::Total, &abilene, "A", EmptyCells::Zero);
        assert_eq!(
            zero.expect("total").columns[0][5],
            Some(0.0),
            "asked for zeros"
        );
        // A single series with `--missing zero`: its gaps are no demand.
        let v = trace(&["v"], vec![vec![Some(1.0), None]]);
        let total = demand_on(&v, SeriesKind::Total, &abilene, "Abilene", EmptyCells::Zero);
        assert_eq!(
            total.expect("total").columns,
            vec![vec![Some(1.0), Some(0.0)]]
        );
    }

    #[test]
    fn negative_cells_are_unknown_demand_even_in_a_matrix() {
        let t = trace(
            &["ATLAM5->HSTNng", "NYCMng->WASHng"],
            vec![vec![Some(-3.0), None, Some(2.0)], vec![Some(1.0); 3]],
        );
        assert_eq!(negative_cells(&t), 1);
        let pairs = demand(&t, SeriesKind::Pairs).expect("pairs");
        // The glitch is unknown; the matrix's empty cell is still zero demand.
        assert_eq!(pairs.columns[0], vec![None, Some(0.0), Some(2.0)]);
        let total = demand(&t, SeriesKind::Total).expect("total");
        assert_eq!(total.columns, vec![vec![None, Some(1.0), Some(3.0)]]);
        let links = demand(&t, SeriesKind::Links).expect("links");
        let i = links.names.iter().position(|n| n == "ATLAM5->ATLAng");
        assert_eq!(links.columns[i.expect("routed")][0], None);
    }
}
