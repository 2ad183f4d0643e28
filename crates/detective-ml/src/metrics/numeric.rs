//! Small numeric routines that reproduce numpy's floating-point behaviour
//! (`linspace`, `interp`, pairwise `sum`/`mean`, `trapezoid`, `searchsorted`),
//! so that the detection metrics computed here agree with Ultralytics and
//! pycocotools to the last bits wherever that is practical.

/// `numpy.linspace(start, stop, num)` (endpoint included): `i * step + start`,
/// with the last value set to `stop` exactly, as numpy computes it.
pub(crate) fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (num - 1) as f64;
            let mut values: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
            values[num - 1] = stop;
            values
        }
    }
}

/// `numpy.interp(x, xp, fp, left, right)` for one `x`, with numpy's rules for
/// repeated `xp` values: the segment used starts at the last `xp[j] <= x`, an
/// exact hit returns `fp[j]`, and `x == xp[last]` returns `fp[last]`.
/// `xp` must be non-decreasing and as long as `fp`; empty input gives `left`.
pub(crate) fn interp(x: f64, xp: &[f64], fp: &[f64], left: f64, right: f64) -> f64 {
    let n = xp.len().min(fp.len());
    if n == 0 {
        return left;
    }
    if x < xp[0] {
        return left;
    }
    if x > xp[n - 1] {
        return right;
    }
    // Last index with xp[j] <= x (x is within [xp[0], xp[n-1]] here).
    let j = xp[..n].partition_point(|&v| v <= x).saturating_sub(1);
    if j == n - 1 || xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let value = slope * (x - xp[j]) + fp[j];
    if value.is_nan() {
        let other = slope * (x - xp[j + 1]) + fp[j + 1];
        if other.is_nan() && fp[j] == fp[j + 1] {
            return fp[j];
        }
        return other;
    }
    value
}

/// numpy's pairwise summation of a float64 array (what `np.sum`, `np.mean`
/// and `np.add.reduce` do along a 1-D run): 8 accumulators for blocks of up to
/// 128 values, recursive halving above that.
pub(crate) fn pairwise_sum(values: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        let mut sum = 0.0;
        for &v in values {
            sum += v;
        }
        sum
    } else if n <= BLOCK {
        let mut acc = [0.0f64; 8];
        acc.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (k, a) in acc.iter_mut().enumerate() {
                *a += values[i + k];
            }
            i += 8;
        }
        let mut sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for &v in &values[whole..] {
            sum += v;
        }
        sum
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// `np.mean` of a 1-D float64 array; 0 for an empty one (where the callers
/// in Ultralytics and pycocotools guard against the empty case themselves).
pub(crate) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        pairwise_sum(values) / values.len() as f64
    }
}

/// `np.trapezoid(y, x)`: `sum(diff(x) * (y[1:] + y[:-1]) / 2)`.
pub(crate) fn trapezoid(y: &[f64], x: &[f64]) -> f64 {
    let n = y.len().min(x.len());
    if n < 2 {
        return 0.0;
    }
    let terms: Vec<f64> = (0..n - 1)
        .map(|i| (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0)
        .collect();
    pairwise_sum(&terms)
}

/// `np.searchsorted(sorted, value, side="left")`: the first index whose value
/// is not less than `value`.
pub(crate) fn searchsorted_left(sorted: &[f64], value: f64) -> usize {
    sorted.partition_point(|&v| v < value)
}

/// Index of the first maximum (`np.argmax`); NaN values are never chosen
/// unless all values are NaN (then 0). Empty input gives 0.
pub(crate) fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_ends_exactly_on_stop_and_steps_like_numpy() {
        let v = linspace(0.5, 0.95, 10);
        assert_eq!(v.len(), 10);
        assert_eq!(v[0], 0.5);
        assert_eq!(v[9], 0.95);
        // numpy: 5 * ((0.95 - 0.5) / 9) + 0.5 == 0.75 exactly (pycocotools relies on it).
        assert_eq!(v[5], 0.75);
        let r = linspace(0.0, 1.0, 101);
        assert_eq!(r[37], 37.0 * 0.01);
        assert_eq!(r[100], 1.0);
    }

    #[test]
    fn interp_uses_the_last_of_repeated_sample_points() {
        // np.interp([0, 0.5, 1], [0, 0, 0, 1], [1, 0, 0, 0]) == [0, 0, 0]
        let xp = [0.0, 0.0, 0.0, 1.0];
        let fp = [1.0, 0.0, 0.0, 0.0];
        assert_eq!(interp(0.0, &xp, &fp, 9.0, 9.0), 0.0);
        assert_eq!(interp(0.5, &xp, &fp, 9.0, 9.0), 0.0);
        assert_eq!(interp(1.0, &xp, &fp, 9.0, 9.0), 0.0);
        assert_eq!(interp(-0.1, &xp, &fp, 9.0, 8.0), 9.0);
        assert_eq!(interp(1.1, &xp, &fp, 9.0, 8.0), 8.0);
        assert_eq!(interp(0.25, &[0.0, 1.0], &[0.0, 2.0], 0.0, 0.0), 0.5);
    }

    #[test]
    fn pairwise_sum_differs_from_naive_sum_as_numpy_does() {
        // 1e16 followed by many ones: a naive left-to-right sum loses every 1,
        // numpy's 8-accumulator blocks keep some of them.
        let mut values = vec![1e16];
        values.extend(std::iter::repeat_n(1.0, 15));
        let naive: f64 = values.iter().fold(0.0, |a, &b| a + b);
        assert_eq!(naive, 1e16);
        // acc[0] = 1e16 + 1 (lost) ; acc[1..8] = 2 each -> 14 ; plus the rest.
        assert_eq!(pairwise_sum(&values), 1e16 + 14.0);
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(mean(&[]), 0.0);
    }

    #[test]
    fn trapezoid_of_a_unit_step_ending_at_one_is_0_995() {
        let x = linspace(0.0, 1.0, 101);
        let mut y = vec![1.0; 101];
        y[100] = 0.0;
        assert!((trapezoid(&y, &x) - 0.995).abs() < 1e-12);
    }

    #[test]
    fn searchsorted_left_and_argmax_pick_first_positions() {
        assert_eq!(searchsorted_left(&[0.1, 0.2, 0.2, 0.5], 0.2), 1);
        assert_eq!(searchsorted_left(&[0.1, 0.2], 0.9), 2);
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[f64::NAN, 0.3]), 1);
    }
}
