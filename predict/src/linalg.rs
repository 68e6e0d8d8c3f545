//! Weighted ridge least squares by Cholesky factorisation of the normal equations: the only linear
//! algebra the regression model needs. Feature counts are small (tens), so the normal equations are
//! well within `f64` precision once a ridge term is added.

/// Accumulates `XᵀWX` and `XᵀWy` row by row, then solves for the coefficients.
///
/// `XᵀWX` is symmetric and the Cholesky solve reads only its lower triangle, so only that is
/// kept, row after row (`n (n + 1) / 2` values, not `n²`): model `auto` keeps one of these per
/// forecast step of every series, 12 per series, tens of thousands of series on a large network.
#[derive(Debug, Clone)]
pub struct NormalEquations {
    n: usize,
    /// Lower triangle of `XᵀWX`: element `(i, j)`, `j <= i`, at [`tri`]`(i) + j`.
    xtx: Vec<f64>,
    xty: Vec<f64>,
    rows: usize,
}

/// Index of row `i`'s first element in a packed lower triangle.
fn tri(i: usize) -> usize {
    i * (i + 1) / 2
}

impl NormalEquations {
    /// Empty system for `n` features.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            xtx: vec![0.0; tri(n)],
            xty: vec![0.0; n],
            rows: 0,
        }
    }

    /// Adds one observation `y ≈ x·β` with weight `w`.
    pub fn add(&mut self, x: &[f64], y: f64, w: f64) {
        for (i, &xi) in x.iter().enumerate().take(self.n) {
            let wxi = w * xi;
            // The same products as the whole matrix's row, up to its diagonal.
            if let Some(row) = self.xtx.get_mut(tri(i)..tri(i + 1)) {
                for (slot, &xj) in row.iter_mut().zip(x) {
                    *slot += wxi * xj;
                }
            }
            if let Some(slot) = self.xty.get_mut(i) {
                *slot += wxi * y;
            }
        }
        self.rows += 1;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        (self.xtx.capacity() + self.xty.capacity()) * std::mem::size_of::<f64>()
    }

    /// Multiplies everything accumulated so far by `factor` (exponential forgetting).
    pub fn scale(&mut self, factor: f64) {
        for v in self.xtx.iter_mut().chain(self.xty.iter_mut()) {
            *v *= factor;
        }
    }

    /// Solves `(XᵀWX + λ·mean(diag)·I) β = XᵀWy`; `None` if the system is degenerate.
    pub fn solve(&self, ridge: f64) -> Option<Vec<f64>> {
        let n = self.n;
        let mean_diag = (0..n)
            .map(|i| self.xtx.get(tri(i) + i).copied().unwrap_or(0.0))
            .sum::<f64>()
            / n.max(1) as f64;
        let mut a = self.xtx.clone();
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
        let mut z = self.xty.clone();
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
        z.iter().all(|v| v.is_finite()).then_some(z)
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
    fn scaling_forgets_old_rows() {
        let mut ne = NormalEquations::new(1);
        for i in 1..=50 {
            ne.add(&[i as f64], i as f64, 1.0);
        }
        ne.scale(1e-3);
        for i in 1..=50 {
            ne.add(&[i as f64], 2.0 * i as f64, 1.0);
        }
        let b = ne.solve(0.0).expect("solvable");
        // Old rows (slope 1) now weigh a thousandth of the new ones (slope 2).
        assert!((b[0] - 2.0).abs() < 2e-3, "{b:?}");
    }
}
