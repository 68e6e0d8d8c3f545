//! Weighted ridge least squares by Cholesky factorisation of the normal equations: the only linear
//! algebra the regression model needs. Feature counts are small (tens), so the normal equations are
//! well within `f64` precision once a ridge term is added.

/// Accumulates `XᵀWX` and `XᵀWy` row by row, then solves for the coefficients.
///
/// `XᵀWX` is symmetric and the Cholesky solve reads only its lower triangle, so only that is
/// kept, row after row (`n (n + 1) / 2` values, not `n²`), followed by `XᵀWy`, in one
/// allocation ([`packed_len`]). Model `auto` keeps one such system per forecast step of every
/// series, in a slice of its own state: [`add`], [`scale`] and [`solve_into`] work on that.
#[derive(Debug, Clone)]
pub struct NormalEquations {
    n: usize,
    /// The lower triangle of `XᵀWX` (element `(i, j)`, `j <= i`, at [`tri`]`(i) + j`), then
    /// `XᵀWy`.
    v: Vec<f64>,
}

/// Index of row `i`'s first element in a packed lower triangle.
fn tri(i: usize) -> usize {
    i * (i + 1) / 2
}

/// Values a packed system of `n` features holds: the lower triangle of `XᵀWX`, then `XᵀWy`.
pub(crate) fn packed_len(n: usize) -> usize {
    tri(n) + n
}

/// Adds one observation `y ≈ x·β` with weight `w` to the packed system `v` of `n` features.
pub(crate) fn add(v: &mut [f64], n: usize, x: &[f64], y: f64, w: f64) {
    let (xtx, xty) = v.split_at_mut(tri(n).min(v.len()));
    for (i, &xi) in x.iter().enumerate().take(n) {
        let wxi = w * xi;
        // The same products as the whole matrix's row, up to its diagonal.
        if let Some(row) = xtx.get_mut(tri(i)..tri(i + 1)) {
            for (slot, &xj) in row.iter_mut().zip(x) {
                *slot += wxi * xj;
            }
        }
        if let Some(slot) = xty.get_mut(i) {
            *slot += wxi * y;
        }
    }
}

/// Rows [`NormalEquations::add_rows`] takes in one sweep over the triangle.
pub(crate) const BATCH: usize = 4;

/// Adds [`BATCH`] observations to the packed system `v` of `n` features, each `x` holding `n`
/// values: every sum gets the same products in the same order as [`add`] of each row in turn
/// (bit for bit), but the triangle is read and written once per four rows, not once per row (a
/// pooled fit's triangle of 300 features is 360 KB, past the L1 and L2 caches).
fn add_batch(v: &mut [f64], n: usize, x: [&[f64]; BATCH], y: [f64; BATCH], w: [f64; BATCH]) {
    let (xtx, xty) = v.split_at_mut(tri(n).min(v.len()));
    let [x0, x1, x2, x3] = x;
    let cols = x0.iter().zip(x1).zip(x2).zip(x3).take(n);
    for (i, (((&a0, &a1), &a2), &a3)) in cols.enumerate() {
        let (w0, w1, w2, w3) = (w[0] * a0, w[1] * a1, w[2] * a2, w[3] * a3);
        if let Some(row) = xtx.get_mut(tri(i)..tri(i + 1)) {
            let js = x0.iter().zip(x1).zip(x2).zip(x3);
            for (slot, (((&b0, &b1), &b2), &b3)) in row.iter_mut().zip(js) {
                // One addition at a time, in row order: `add`'s rounding exactly.
                let mut s = *slot;
                s += w0 * b0;
                s += w1 * b1;
                s += w2 * b2;
                s += w3 * b3;
                *slot = s;
            }
        }
        if let Some(slot) = xty.get_mut(i) {
            let mut s = *slot;
            s += w0 * y[0];
            s += w1 * y[1];
            s += w2 * y[2];
            s += w3 * y[3];
            *slot = s;
        }
    }
}

/// Multiplies everything a packed system accumulated by `factor` (exponential forgetting).
pub(crate) fn scale(v: &mut [f64], factor: f64) {
    for x in v.iter_mut() {
        *x *= factor;
    }
}

/// Solves the packed system `v` of `n` features, `(XᵀWX + λ·mean(diag)·I) β = XᵀWy`, into
/// `beta` (`n` values); false, leaving `beta` unspecified, if the system is degenerate.
pub(crate) fn solve_into(v: &[f64], n: usize, ridge: f64, beta: &mut [f64]) -> bool {
    let (xtx, xty) = v.split_at(tri(n).min(v.len()));
    cholesky_solve(xtx, xty, n, ridge, beta).is_some() && beta.iter().all(|b| b.is_finite())
}

fn cholesky_solve(xtx: &[f64], xty: &[f64], n: usize, ridge: f64, z: &mut [f64]) -> Option<()> {
    let mean_diag = (0..n)
        .map(|i| xtx.get(tri(i) + i).copied().unwrap_or(0.0))
        .sum::<f64>()
        / n.max(1) as f64;
    let mut a = xtx.to_vec();
    for i in 0..n {
        if let Some(d) = a.get_mut(tri(i) + i) {
            *d += ridge * mean_diag.max(1e-12);
        }
    }
    // In-place Cholesky: a = L Lᵀ, L stored in the lower triangle.
    for j in 0..n {
        let mut d = a.get(tri(j) + j).copied()?;
        for k in 0..j {
            let l = a.get(tri(j) + k).copied()?;
            d -= l * l;
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        *a.get_mut(tri(j) + j)? = d;
        for i in j + 1..n {
            let mut s = a.get(tri(i) + j).copied()?;
            for k in 0..j {
                s -= a.get(tri(i) + k).copied()? * a.get(tri(j) + k).copied()?;
            }
            *a.get_mut(tri(i) + j)? = s / d;
        }
    }
    // Forward then backward substitution.
    if z.len() < n || xty.len() < n {
        return None;
    }
    z[..n].copy_from_slice(&xty[..n]);
    for i in 0..n {
        let mut s = z.get(i).copied()?;
        for k in 0..i {
            s -= a.get(tri(i) + k).copied()? * z.get(k).copied()?;
        }
        *z.get_mut(i)? = s / a.get(tri(i) + i).copied()?;
    }
    for i in (0..n).rev() {
        let mut s = z.get(i).copied()?;
        for k in i + 1..n {
            s -= a.get(tri(k) + i).copied()? * z.get(k).copied()?;
        }
        *z.get_mut(i)? = s / a.get(tri(i) + i).copied()?;
    }
    Some(())
}

impl NormalEquations {
    /// Empty system for `n` features.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            v: vec![0.0; packed_len(n)],
        }
    }

    /// Adds one observation `y ≈ x·β` with weight `w`.
    pub fn add(&mut self, x: &[f64], y: f64, w: f64) {
        add(&mut self.v, self.n, x, y, w);
    }

    /// Adds the observations of `xs` (`n` values a row, row after row), `ys` and `ws` (one a
    /// row), exactly as [`NormalEquations::add`] of each row in turn, in less time.
    pub fn add_rows(&mut self, xs: &[f64], ys: &[f64], ws: &[f64]) {
        let n = self.n;
        let rows = xs.chunks_exact(n.max(1)).zip(ys).zip(ws);
        let mut rows = rows.map(|((x, &y), &w)| (x, y, w));
        loop {
            match (rows.next(), rows.next(), rows.next(), rows.next()) {
                (Some(r0), Some(r1), Some(r2), Some(r3)) => add_batch(
                    &mut self.v,
                    n,
                    [r0.0, r1.0, r2.0, r3.0],
                    [r0.1, r1.1, r2.1, r3.1],
                    [r0.2, r1.2, r2.2, r3.2],
                ),
                (r0, r1, r2, _) => {
                    for (x, y, w) in [r0, r1, r2].into_iter().flatten() {
                        self.add(x, y, w);
                    }
                    return;
                }
            }
        }
    }

    /// Solves `(XᵀWX + λ·mean(diag)·I) β = XᵀWy`; `None` if the system is degenerate.
    pub fn solve(&self, ridge: f64) -> Option<Vec<f64>> {
        let mut beta = vec![0.0; self.n];
        solve_into(&self.v, self.n, ridge, &mut beta).then_some(beta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_coefficients() {
        let mut ne = NormalEquations::new(3);
        for i in 0..50 {
            let x = [1.0, i as f64, ((i * 7) % 11) as f64];
            ne.add(&x, 2.0 + 0.5 * x[1] - 3.0 * x[2], 1.0);
        }
        let b = ne.solve(1e-12).expect("well-posed");
        assert!(
            (b[0] - 2.0).abs() < 1e-6 && (b[1] - 0.5).abs() < 1e-8 && (b[2] + 3.0).abs() < 1e-8
        );
        assert_eq!(NormalEquations::new(2).solve(0.0), None);
    }

    #[test]
    fn rows_added_by_fours_sum_bit_for_bit_as_one_at_a_time() {
        // Seven rows: one batch of four and a remainder of three; weights and values whose
        // sums round differently in another order.
        let n = 5;
        let xs: Vec<f64> = (0..7 * n)
            .map(|k| ((k * 7919) % 113) as f64 / 7.0 - 8.0 + 1e-9 * k as f64)
            .collect();
        let ys: Vec<f64> = (0..7).map(|r| 1e8 / (r as f64 + 3.0)).collect();
        let ws: Vec<f64> = (0..7).map(|r| 1.0 / (r as f64 + 1.3)).collect();
        let mut one = NormalEquations::new(n);
        for ((x, &y), &w) in xs.chunks(n).zip(&ys).zip(&ws) {
            one.add(x, y, w);
        }
        for rows in [7, 4, 3, 0] {
            let mut by_rows = NormalEquations::new(n);
            by_rows.add_rows(&xs[..rows * n], &ys[..rows], &ws[..rows]);
            by_rows.add_rows(&xs[rows * n..], &ys[rows..], &ws[rows..]);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&by_rows.v), bits(&one.v), "split after {rows} rows");
        }
    }

    #[test]
    fn scaling_forgets_old_rows() {
        // A packed system in a caller's slice, as model `auto` keeps one per step.
        let mut v = vec![0.0; packed_len(1)];
        for i in 1..=50 {
            add(&mut v, 1, &[i as f64], i as f64, 1.0);
        }
        scale(&mut v, 1e-3);
        for i in 1..=50 {
            add(&mut v, 1, &[i as f64], 2.0 * i as f64, 1.0);
        }
        let mut b = [0.0];
        assert!(solve_into(&v, 1, 0.0, &mut b), "solvable");
        // Old rows (slope 1) now weigh a thousandth of the new ones (slope 2).
        assert!((b[0] - 2.0).abs() < 2e-3, "{b:?}");
    }
}
