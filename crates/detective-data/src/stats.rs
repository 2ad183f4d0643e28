//! `dataset info`: images and instances per split and class, image sizes, and box
//! sizes as COCO defines them (area in original pixels: small < 32², medium < 96²,
//! large otherwise).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::YoloDataset;
use crate::image_size::image_size;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoxSizes {
    pub small: usize,
    pub medium: usize,
    pub large: usize,
}

impl BoxSizes {
    fn add(&mut self, area: f64) {
        if area < 32.0 * 32.0 {
            self.small += 1
        } else if area < 96.0 * 96.0 {
            self.medium += 1
        } else {
            self.large += 1
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitStats {
    pub name: String,
    pub images: usize,
    /// Images without any box.
    pub background: usize,
    pub instances: usize,
    /// Instances per class, indexed like `names`.
    pub per_class: Vec<usize>,
    /// Images per class (images holding at least one box of the class).
    pub images_per_class: Vec<usize>,
    pub box_sizes: BoxSizes,
    /// Images whose header could not be read (their boxes are not sized).
    pub unreadable: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeStats {
    pub min_width: u32,
    pub max_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    /// Most common sizes, `(width, height, images)`, at most five.
    pub most_common: Vec<(u32, u32, usize)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    pub root: String,
    pub names: Vec<String>,
    pub splits: Vec<SplitStats>,
    pub sizes: Option<SizeStats>,
}

impl DatasetStats {
    pub fn total_images(&self) -> usize {
        self.splits.iter().map(|s| s.images).sum()
    }

    pub fn total_instances(&self) -> usize {
        self.splits.iter().map(|s| s.instances).sum()
    }
}

/// Computes the statistics, reading only image headers.
pub fn dataset_stats(ds: &YoloDataset) -> DatasetStats {
    let nc = ds.names().len();
    let mut size_counts: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    let mut splits = Vec::new();
    for split in &ds.splits {
        let mut st = SplitStats {
            name: split.name.clone(),
            images: split.samples.len(),
            background: 0,
            instances: 0,
            per_class: vec![0; nc],
            images_per_class: vec![0; nc],
            box_sizes: BoxSizes::default(),
            unreadable: 0,
        };
        for s in &split.samples {
            if s.labels.is_empty() {
                st.background += 1;
            }
            st.instances += s.labels.len();
            let mut classes_here = vec![false; nc];
            for l in &s.labels {
                if let Some(c) = st.per_class.get_mut(l.class as usize) {
                    *c += 1;
                    classes_here[l.class as usize] = true;
                }
            }
            for (c, here) in classes_here.iter().enumerate() {
                st.images_per_class[c] += *here as usize;
            }
            match image_size(&s.image) {
                Ok((w, h)) => {
                    *size_counts.entry((w, h)).or_default() += 1;
                    for l in &s.labels {
                        st.box_sizes.add(l.w * w as f64 * l.h * h as f64);
                    }
                }
                Err(_) => st.unreadable += 1,
            }
        }
        splits.push(st);
    }
    let sizes = (!size_counts.is_empty()).then(|| {
        let mut common: Vec<(u32, u32, usize)> = size_counts.iter().map(|(&(w, h), &n)| (w, h, n)).collect();
        common.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        common.truncate(5);
        SizeStats {
            min_width: size_counts.keys().map(|k| k.0).min().unwrap_or(0),
            max_width: size_counts.keys().map(|k| k.0).max().unwrap_or(0),
            min_height: size_counts.keys().map(|k| k.1).min().unwrap_or(0),
            max_height: size_counts.keys().map(|k| k.1).max().unwrap_or(0),
            most_common: common,
        }
    });
    DatasetStats {
        root: ds.yaml.root.display().to_string(),
        names: ds.names().to_vec(),
        splits,
        sizes,
    }
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dataset {}  ({} classes, {} images, {} boxes)",
            self.root,
            self.names.len(),
            self.total_images(),
            self.total_instances()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<8} {:>7} {:>11} {:>9} {:>7} {:>7} {:>7}",
            "split", "images", "background", "boxes", "small", "medium", "large"
        )?;
        for s in &self.splits {
            writeln!(
                f,
                "{:<8} {:>7} {:>11} {:>9} {:>7} {:>7} {:>7}",
                s.name, s.images, s.background, s.instances, s.box_sizes.small, s.box_sizes.medium, s.box_sizes.large
            )?;
        }
        writeln!(f)?;
        let w = self.names.iter().map(|n| n.len()).max().unwrap_or(5).max(5);
        write!(f, "{:<w$}", "class")?;
        for s in &self.splits {
            write!(f, " {:>16}", format!("{} boxes/imgs", s.name))?;
        }
        writeln!(f)?;
        for (c, name) in self.names.iter().enumerate() {
            write!(f, "{name:<w$}")?;
            for s in &self.splits {
                write!(f, " {:>16}", format!("{}/{}", s.per_class[c], s.images_per_class[c]))?;
            }
            writeln!(f)?;
        }
        if let Some(sz) = &self.sizes {
            writeln!(f)?;
            writeln!(
                f,
                "image width {}..{}, height {}..{}",
                sz.min_width, sz.max_width, sz.min_height, sz.max_height
            )?;
            let common: Vec<String> = sz
                .most_common
                .iter()
                .map(|(w, h, n)| format!("{w}×{h} ({n})"))
                .collect();
            writeln!(f, "most common sizes: {}", common.join(", "))?;
        }
        let unreadable: usize = self.splits.iter().map(|s| s.unreadable).sum();
        if unreadable > 0 {
            writeln!(f, "unreadable images: {unreadable} (run `detective dataset check`)")?;
        }
        Ok(())
    }
}
