//! The periodic side of alerts: conditions over time, evaluated for every
//! enabled rule — a defect rate above its p-chart control limit (per line,
//! camera, or class on a line), a camera gone silent, an edge spool filling
//! up, the newest drift report finding drift.

use std::collections::BTreeMap;

use detective_core::alerts::{Condition, RuleSpec, p_chart};
use detective_core::insights::{Cell, line_of};
use detective_store::Db;
use detective_store::alerts::AlertRule;
use serde_json::json;

use super::firing::{enabled, fire};
use crate::OpsError;

/// (defective, inspected) per group.
type Counts = BTreeMap<String, (u64, u64)>;

/// (defective, inspected) per group of `by` (`camera`, `line` or
/// `line_class`) over `cells`.
fn count(cells: &[Cell], by: &str) -> Counts {
    let mut c = Counts::new();
    let mut per_line: BTreeMap<&str, u64> = BTreeMap::new();
    let mut add = |key: String, d: u64, n: u64| {
        let e = c.entry(key).or_default();
        e.0 += d;
        e.1 += n;
    };
    for cell in cells {
        let line = line_of(&cell.camera_id);
        match by {
            "camera" => add(cell.camera_id.clone(), cell.defective, cell.total),
            // Every class seen on the line counts this cell's predictions as
            // defects of the classes they hold.
            "line_class" => {
                for class in &cell.classes {
                    add(format!("{line}/{class}"), cell.defective, cell.total);
                }
                *per_line.entry(line).or_default() += cell.total;
            }
            _ => add(line.to_string(), cell.defective, cell.total),
        }
    }
    // A class's rate is over every prediction of its line.
    for (k, e) in c.iter_mut() {
        if let Some((line, _)) = k.rsplit_once('/')
            && let Some(n) = per_line.get(line)
        {
            e.1 = *n;
        }
    }
    c
}

/// Rule `rule` watching the defect rate: fires for each group above its limit.
async fn defect_rate(db: &Db, rule: &AlertRule, spec: &RuleSpec, now: i64) -> Result<usize, OpsError> {
    let Condition::DefectRate {
        by,
        window_mins,
        history_hours,
        sigma,
        min_n,
    } = &spec.condition
    else {
        return Ok(0);
    };
    let window_from = now - i64::from(*window_mins) * 60_000;
    let history_from = window_from - i64::from(*history_hours) * 3_600_000;
    let (history, _) = crate::analytics::cells(db, history_from, window_from).await?;
    let (window, _) = crate::analytics::cells(db, window_from, now).await?;
    let (h, w) = (count(&history, by), count(&window, by));
    let mut fired = 0;
    for (key, now_counts) in &w {
        let before = h.get(key).copied().unwrap_or((0, 0));
        if let Some(b) = p_chart(before, *now_counts, *sigma, u64::from(*min_n)) {
            let title = format!(
                "Defect rate on {key}: {:.1} % of {} in the last {window_mins} min, above its control limit {:.1} % (usual {:.1} %)",
                100.0 * b.p,
                b.n,
                100.0 * b.ucl,
                100.0 * b.p_bar
            );
            let detail = json!({"group": key, "by": by, "rate": b.p, "ucl": b.ucl, "p_bar": b.p_bar, "n": b.n,
                                "window_mins": window_mins, "history_hours": history_hours});
            fired += fire(db, rule, spec, key, &title, detail).await?.is_some() as usize;
        }
    }
    Ok(fired)
}

/// Evaluates every enabled periodic rule at `now` (ms); how many events fired.
pub async fn evaluate(db: &Db, now: i64) -> Result<usize, OpsError> {
    let mut fired = 0;
    for (rule, spec) in enabled(db).await? {
        fired += match &spec.condition {
            Condition::DefectRate { .. } => defect_rate(db, &rule, &spec, now).await?,
            Condition::CameraSilent { minutes } => {
                let mut n = 0;
                for c in detective_store::predictions::stats(db).await?.cameras {
                    let seen = detective_store::clock::parse_rfc3339_ms(&c.last_seen)?;
                    let silent_ms = now - seen;
                    if silent_ms >= i64::from(*minutes) * 60_000 {
                        let title = format!("Camera {} silent for {} min", c.id, silent_ms / 60_000);
                        let detail = json!({"camera": c.id, "last_seen": c.last_seen, "minutes": silent_ms / 60_000});
                        n += fire(db, &rule, &spec, &c.id, &title, detail).await?.is_some() as usize;
                    }
                }
                n
            }
            Condition::SpoolFull { percent } => {
                let mut n = 0;
                for c in detective_store::predictions::stats(db).await?.cameras {
                    if let Some(p) = c.spool_percent.filter(|p| p > percent) {
                        let title = format!(
                            "Edge spool of camera {} is {p:.0} % full (alert above {percent:.0} %)",
                            c.id
                        );
                        let detail = json!({"camera": c.id, "spool_percent": p});
                        n += fire(db, &rule, &spec, &c.id, &title, detail).await?.is_some() as usize;
                    }
                }
                n
            }
            Condition::Drift => match detective_store::drift::latest(db).await? {
                Some(r) if r.dataset_drift => {
                    let title = format!(
                        "Drift: {:.0} % of the image features drifted ({} frames against {} of {})",
                        100.0 * r.drift_share,
                        r.n_current,
                        r.n_reference,
                        r.reference
                    );
                    let detail = json!({"report": r.id, "drift_share": r.drift_share});
                    fire(db, &rule, &spec, &format!("report:{}", r.id), &title, detail)
                        .await?
                        .is_some() as usize
                }
                _ => 0,
            },
            Condition::JobFailed | Condition::ModelPromoted => 0,
        };
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(camera: &str, defective: bool, classes: &[&str]) -> Cell {
        Cell {
            hour_ms: 0,
            camera_id: camera.into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            total: 1,
            defective: u64::from(defective),
            uncertain: 0,
        }
    }

    #[test]
    fn rates_count_per_line_camera_and_class_on_a_line() {
        let o = vec![
            obs("l1-cam1", true, &["crack"]),
            obs("l1-cam2", false, &[]),
            obs("l1-cam2", true, &["spot", "crack"]),
            obs("l2-cam1", false, &[]),
        ];
        let by_line = count(&o, "line");
        assert_eq!((by_line["l1"], by_line["l2"]), ((2, 3), (0, 1)));
        assert_eq!(count(&o, "camera")["l1-cam2"], (1, 2));
        let by_class = count(&o, "line_class");
        assert_eq!((by_class["l1/crack"], by_class["l1/spot"]), ((2, 3), (1, 3)));
        let merged = Cell {
            total: 3,
            defective: 2,
            ..obs("l1-cam1", false, &["crack"])
        };
        assert_eq!(
            count(&[merged], "line_class")["l1/crack"],
            (2, 3),
            "a cell counts as its predictions"
        );
    }
}
