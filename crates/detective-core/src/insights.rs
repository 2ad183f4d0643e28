//! Analytics of the prediction log, as pure functions: defect rate over time
//! (by hour, day or shift), by class, camera, line and shift, the confidence
//! histogram, and the "root cause" comparison — which camera, line, shift or
//! class got worse against the previous period, by a two-proportion z-test.
//!
//! Conventions: times are UTC milliseconds; shifts are A 06–14, B 14–22, C 22–06
//! (UTC); a camera's line is its id up to the last `-` (`line1-cam2` → `line1`),
//! the whole id when it has none.

use std::collections::BTreeMap;

use serde::Serialize;

/// Predictions that share an hour, a camera and a set of classes: the unit
/// analytics are computed from. The database aggregates the prediction log to
/// cells, so a summary's memory grows with hours × cameras × class sets, not
/// with the number of predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Start (UTC ms) of the hour; every bucket and shift boundary is on a whole hour.
    pub hour_ms: i64,
    pub camera_id: String,
    /// Class names present (empty: nothing detected).
    pub classes: Vec<String>,
    pub total: u64,
    pub defective: u64,
    pub uncertain: u64,
}

/// Bins of the confidence histogram over 0..1.
pub const CONFIDENCE_BINS: usize = 20;

/// The histogram bin of a highest confidence: `floor(c × 20)`, clamped to 0..=19.
pub fn confidence_bin(c: f64) -> usize {
    ((c.clamp(0.0, 1.0) * CONFIDENCE_BINS as f64) as usize).min(CONFIDENCE_BINS - 1)
}

/// Time buckets of the rate series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Shift,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "shift" => Some(Bucket::Shift),
            _ => None,
        }
    }

    /// The start (ms) of the bucket holding `t`.
    fn start(self, t: i64) -> i64 {
        const H: i64 = 3_600_000;
        match self {
            Bucket::Hour => t.div_euclid(H) * H,
            Bucket::Day => t.div_euclid(24 * H) * 24 * H,
            // Shifts start at 06, 14 and 22 h.
            Bucket::Shift => (t - 6 * H).div_euclid(8 * H) * 8 * H + 6 * H,
        }
    }
}

/// The shift (A 06–14, B 14–22, C 22–06 UTC) of a time.
pub fn shift_of(t: i64) -> &'static str {
    match t.div_euclid(3_600_000).rem_euclid(24) {
        6..=13 => "A (06–14)",
        14..=21 => "B (14–22)",
        _ => "C (22–06)",
    }
}

/// The line of a camera id: up to its last `-`.
pub fn line_of(camera: &str) -> &str {
    camera
        .rsplit_once('-')
        .map(|(l, _)| l)
        .filter(|l| !l.is_empty())
        .unwrap_or(camera)
}

/// Predictions and defective ones in a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub total: u64,
    pub defective: u64,
    pub rate: f64,
}

/// One bucket of the rate series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub start_ms: i64,
    pub total: u64,
    pub defective: u64,
    pub rate: f64,
}

/// What the analytics page shows for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub total: u64,
    pub defective: u64,
    pub uncertain: u64,
    pub defect_rate: f64,
    pub series: Vec<Point>,
    /// Predictions in which each class appears, most frequent first.
    pub by_class: Vec<Group>,
    pub by_camera: Vec<Group>,
    pub by_line: Vec<Group>,
    pub by_shift: Vec<Group>,
    /// Highest confidence of predictions with detections, 20 bins over 0..1.
    pub confidence_histogram: Vec<u64>,
}

fn rate(defective: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        defective as f64 / total as f64
    }
}

fn groups(map: BTreeMap<String, (u64, u64)>) -> Vec<Group> {
    let mut v: Vec<Group> = map
        .into_iter()
        .map(|(key, (total, defective))| Group {
            rate: rate(defective, total),
            key,
            total,
            defective,
        })
        .collect();
    v.sort_by(|a, b| {
        b.rate
            .total_cmp(&a.rate)
            .then(b.total.cmp(&a.total))
            .then(a.key.cmp(&b.key))
    });
    v
}

/// Summarises the `cells` of `[from_ms, to_ms)` with buckets of `bucket` (empty
/// buckets kept, at most 2000); `histogram` is the period's confidence histogram.
pub fn summarize(cells: &[Cell], histogram: Vec<u64>, from_ms: i64, to_ms: i64, bucket: Bucket) -> Summary {
    let mut series: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut t = bucket.start(from_ms);
    while t < to_ms && series.len() < 2000 {
        series.insert(t, (0, 0));
        t = bucket.start(
            t + match bucket {
                Bucket::Hour => 3_600_000,
                Bucket::Day => 86_400_000,
                Bucket::Shift => 8 * 3_600_000,
            },
        );
    }
    let (mut cams, mut lines, mut shifts) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut classes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut total, mut defective, mut uncertain) = (0u64, 0u64, 0u64);
    for c in cells {
        let (n, d) = (c.total, c.defective);
        total += n;
        defective += d;
        uncertain += c.uncertain;
        let e = series.entry(bucket.start(c.hour_ms)).or_insert((0, 0));
        e.0 += n;
        e.1 += d;
        for (map, key) in [
            (&mut cams, c.camera_id.as_str()),
            (&mut lines, line_of(&c.camera_id)),
            (&mut shifts, shift_of(c.hour_ms)),
        ] {
            let e = map.entry(key.to_string()).or_insert((0u64, 0u64));
            e.0 += n;
            e.1 += d;
        }
        for class in &c.classes {
            let e = classes.entry(class.clone()).or_insert((0, 0));
            e.0 += n;
            e.1 += d;
        }
    }
    let mut by_class: Vec<Group> = classes
        .into_iter()
        .map(|(key, (n, d))| Group {
            rate: rate(n, total),
            key,
            total: n,
            defective: d,
        })
        .collect();
    by_class.sort_by(|a, b| b.total.cmp(&a.total).then(a.key.cmp(&b.key)));
    let mut confidence_histogram = histogram;
    confidence_histogram.resize(CONFIDENCE_BINS, 0);
    Summary {
        total,
        defective,
        uncertain,
        defect_rate: rate(defective, total),
        series: series
            .into_iter()
            .map(|(start_ms, (total, defective))| Point {
                start_ms,
                total,
                defective,
                rate: rate(defective, total),
            })
            .collect(),
        by_class,
        by_camera: groups(cams),
        by_line: groups(lines),
        by_shift: groups(shifts),
        confidence_histogram,
    }
}

/// A group whose rate rose against the previous period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rise {
    /// `camera`, `line`, `shift` or `class`.
    pub dimension: &'static str,
    pub key: String,
    pub rate_now: f64,
    pub rate_before: f64,
    pub n_now: u64,
    pub n_before: u64,
    /// Two-proportion z statistic (pooled); ≥ 1.96 is significant at 5 % (two-sided).
    pub z: f64,
    pub significant: bool,
}

/// Two-proportion z statistic of `x1/n1` against `x0/n0` (0 when undefined).
pub fn two_proportion_z(x1: u64, n1: u64, x0: u64, n0: u64) -> f64 {
    if n1 == 0 || n0 == 0 {
        return 0.0;
    }
    let (p1, p0) = (x1 as f64 / n1 as f64, x0 as f64 / n0 as f64);
    let p = (x1 + x0) as f64 / (n1 + n0) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n0 as f64)).sqrt();
    if se == 0.0 { 0.0 } else { (p1 - p0) / se }
}

/// The groups whose defect rate (for classes: the share of predictions showing
/// the class) rose from `before` to `now`, largest z first; groups with fewer
/// than `min_n` predictions in either period are left out.
pub fn root_causes(now: &[Cell], before: &[Cell], min_n: u64) -> Vec<Rise> {
    type Counts = BTreeMap<(&'static str, String), (u64, u64)>;
    fn count(cells: &[Cell]) -> (Counts, u64) {
        let mut m: Counts = BTreeMap::new();
        let mut total = 0;
        for c in cells {
            total += c.total;
            for (dim, key) in [
                ("camera", c.camera_id.clone()),
                ("line", line_of(&c.camera_id).to_string()),
                ("shift", shift_of(c.hour_ms).to_string()),
            ] {
                let e = m.entry((dim, key)).or_insert((0, 0));
                e.0 += c.total;
                e.1 += c.defective;
            }
            for class in &c.classes {
                m.entry(("class", class.clone())).or_insert((0, 0)).1 += c.total;
            }
        }
        (m, total)
    }
    let (now_c, now_total) = count(now);
    let (before_c, before_total) = count(before);
    let mut out: Vec<Rise> = now_c
        .keys()
        .filter_map(|k| {
            let (n1, x1) = now_c.get(k).copied().unwrap_or_default();
            let (n0, x0) = before_c.get(k).copied().unwrap_or_default();
            // A class is counted against every prediction of the period.
            let (n1, n0) = if k.0 == "class" {
                (now_total, before_total)
            } else {
                (n1, n0)
            };
            if n1 < min_n || n0 < min_n {
                return None;
            }
            let z = two_proportion_z(x1, n1, x0, n0);
            (z > 0.0).then(|| Rise {
                dimension: k.0,
                key: k.1.clone(),
                rate_now: rate(x1, n1),
                rate_before: rate(x0, n0),
                n_now: n1,
                n_before: n0,
                z,
                significant: z >= 1.96,
            })
        })
        .collect();
    out.sort_by(|a, b| b.z.total_cmp(&a.z));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    /// One prediction at `t`, as the cell it makes alone.
    fn obs(t: i64, cam: &str, defective: bool, classes: &[&str]) -> Cell {
        Cell {
            hour_ms: t.div_euclid(H) * H,
            camera_id: cam.into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            total: 1,
            defective: u64::from(defective),
            uncertain: 0,
        }
    }

    #[test]
    fn lines_and_shifts_follow_the_conventions() {
        assert_eq!(line_of("line1-cam2"), "line1");
        assert_eq!(line_of("a-b-c"), "a-b");
        assert_eq!(line_of("cam"), "cam");
        assert_eq!(shift_of(6 * H), "A (06–14)");
        assert_eq!(shift_of(13 * H + 59 * 60_000), "A (06–14)");
        assert_eq!(shift_of(14 * H), "B (14–22)");
        assert_eq!(shift_of(23 * H), "C (22–06)");
        assert_eq!(shift_of(24 * H + 5 * H), "C (22–06)");
        assert_eq!(
            Bucket::Shift.start(5 * H),
            -2 * H,
            "05 h belongs to the shift that began at 22 h"
        );
        assert_eq!(Bucket::Shift.start(15 * H), 14 * H);
    }

    #[test]
    fn summary_counts_rates_per_bucket_group_and_histogram() {
        let o = vec![
            obs(H / 2, "l1-c1", true, &["scratch"]),
            obs(H / 2 + 1, "l1-c1", false, &[]),
            obs(H + 10, "l1-c2", true, &["scratch", "spot"]),
            obs(H + 20, "l2-c1", false, &["spot"]),
        ];
        let s = summarize(&o, vec![1, 2], 0, 3 * H, Bucket::Hour);
        assert_eq!((s.total, s.defective), (4, 2));
        assert_eq!(s.defect_rate, 0.5);
        let series: Vec<(i64, u64, u64)> = s.series.iter().map(|p| (p.start_ms, p.total, p.defective)).collect();
        assert_eq!(series, [(0, 2, 1), (H, 2, 1), (2 * H, 0, 0)], "empty hours are kept");
        assert_eq!(s.by_class[0].key, "scratch");
        assert_eq!((s.by_class[0].total, s.by_class[1].total), (2, 2));
        let l1 = s.by_line.iter().find(|g| g.key == "l1").unwrap();
        assert_eq!((l1.total, l1.defective), (3, 2));
        assert_eq!(s.by_camera[0].key, "l1-c2", "highest rate first");
        assert_eq!(
            s.confidence_histogram.len(),
            CONFIDENCE_BINS,
            "the histogram is padded to its bins"
        );
        assert_eq!(s.confidence_histogram[..3], [1, 2, 0]);
    }

    #[test]
    fn a_cell_of_many_predictions_counts_like_the_predictions_one_by_one() {
        let one_by_one: Vec<Cell> = (0..5).map(|i| obs(H + i, "l1-c1", i < 2, &["scratch"])).collect();
        let merged = Cell {
            total: 5,
            defective: 2,
            ..one_by_one[0].clone()
        };
        assert_eq!(
            summarize(&one_by_one, vec![], 0, 2 * H, Bucket::Shift),
            summarize(std::slice::from_ref(&merged), vec![], 0, 2 * H, Bucket::Shift)
        );
        let before: Vec<Cell> = (0..5).map(|i| obs(i, "l1-c1", false, &[])).collect();
        assert_eq!(root_causes(&one_by_one, &before, 1), root_causes(&[merged], &before, 1));
    }

    #[test]
    fn confidence_bins_are_twentieths_clamped_to_the_range() {
        assert_eq!(confidence_bin(0.0), 0);
        assert_eq!(confidence_bin(0.049), 0);
        assert_eq!(confidence_bin(0.05), 1);
        assert_eq!(confidence_bin(0.55), 11);
        assert_eq!(confidence_bin(0.999), 19);
        assert_eq!(confidence_bin(1.0), 19, "a certain detection is in the last bin");
        assert_eq!(confidence_bin(-0.5), 0);
        assert_eq!(confidence_bin(7.0), 19);
    }

    #[test]
    fn z_statistic_matches_a_worked_example() {
        // 30/100 against 15/100: pooled p = 0.225, se = 0.05905, z = 2.540.
        let z = two_proportion_z(30, 100, 15, 100);
        assert!((z - 2.540).abs() < 0.001, "{z}");
        assert_eq!(two_proportion_z(1, 0, 1, 10), 0.0);
        assert_eq!(two_proportion_z(0, 10, 0, 10), 0.0);
    }

    #[test]
    fn root_cause_names_the_camera_that_got_worse() {
        let mut before = Vec::new();
        let mut now = Vec::new();
        for i in 0..100 {
            before.push(obs(i, "l1-c1", i % 10 == 0, &[]));
            before.push(obs(i, "l1-c2", i % 10 == 0, &[]));
            now.push(obs(i, "l1-c1", i % 10 == 0, &[]));
            // c2 goes from 10 % to 40 % defective, all scratches.
            let bad = i % 10 < 4;
            now.push(obs(i, "l1-c2", bad, if bad { &["scratch"] } else { &[] }));
        }
        let r = root_causes(&now, &before, 20);
        // The new class rose most (0 → 20 % of predictions), then the camera it came from.
        assert_eq!((r[0].dimension, r[0].key.as_str()), ("class", "scratch"), "{r:?}");
        let top = &r[1];
        assert_eq!((top.dimension, top.key.as_str()), ("camera", "l1-c2"), "{r:?}");
        assert!(top.significant && (top.rate_now - 0.4).abs() < 1e-9 && (top.rate_before - 0.1).abs() < 1e-9);
        assert!(r.iter().all(|x| x.key != "l1-c1"), "an unchanged camera is not named");
        assert!(root_causes(&now, &before, 1000).is_empty(), "too few predictions");
    }
}
