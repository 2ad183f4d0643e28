//! `data.yaml`, read and written as Ultralytics does.
//!
//! - `path`: dataset root; relative paths resolve against the yaml's folder; absent
//!   means the yaml's folder.
//! - `train` / `val` / `test`: a folder, a list of folders, or a `.txt` file listing
//!   image paths. Relative entries resolve against the root; an entry starting with
//!   `../` that does not exist there is retried without it (Roboflow exports write
//!   `train: ../train/images` next to `train/`), as Ultralytics does.
//! - In a `.txt` list, lines starting with `./` resolve against the list's folder,
//!   other relative lines against the root.
//! - `names`: a list or a map `{index: name}` (indices must be 0..n-1); `nc`, when
//!   present, must equal the number of names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::DataError;

/// Split names in their canonical order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// Where the images of one split come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitSource {
    Dir(PathBuf),
    List(PathBuf),
    /// Named in the yaml but found neither as given nor with `../` stripped.
    Missing(PathBuf),
}

/// A parsed and resolved `data.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataYaml {
    /// The yaml file itself.
    pub yaml_path: PathBuf,
    /// Resolved dataset root.
    pub root: PathBuf,
    pub names: Vec<String>,
    /// Split name → sources, for the splits the yaml names (train, val, test).
    pub splits: BTreeMap<String, Vec<SplitSource>>,
}

fn yaml_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Yaml {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl DataYaml {
    /// Reads `path`, or `path/data.yaml` when `path` is a folder.
    pub fn load(path: &Path) -> Result<DataYaml, DataError> {
        let yaml_path = if path.is_dir() {
            path.join("data.yaml")
        } else {
            path.to_path_buf()
        };
        if !yaml_path.is_file() {
            return Err(DataError::NotFound { path: yaml_path });
        }
        let text = std::fs::read_to_string(&yaml_path).map_err(DataError::io(&yaml_path))?;
        DataYaml::parse(&text, &yaml_path)
    }

    /// Parses yaml text as if it were the file at `yaml_path`.
    pub fn parse(text: &str, yaml_path: &Path) -> Result<DataYaml, DataError> {
        let doc: Value = serde_norway::from_str(text).map_err(|e| yaml_err(yaml_path, e.to_string()))?;
        let map = doc
            .as_mapping()
            .ok_or_else(|| yaml_err(yaml_path, "top level is not a mapping"))?;
        let get = |k: &str| map.get(Value::String(k.into()));
        let yaml_dir = yaml_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = match get("path") {
            None | Some(Value::Null) => clean(&yaml_dir),
            Some(Value::String(p)) => {
                let p = PathBuf::from(p);
                clean(&if p.is_absolute() { p } else { yaml_dir.join(p) })
            }
            Some(_) => return Err(yaml_err(yaml_path, "`path` must be a string")),
        };
        let names = parse_names(get("names"), yaml_path)?;
        match get("nc") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let nc = v
                    .as_u64()
                    .ok_or_else(|| yaml_err(yaml_path, "`nc` must be a non-negative integer"))?;
                if nc as usize != names.len() {
                    return Err(yaml_err(
                        yaml_path,
                        format!("`nc` is {nc} but {} names are given", names.len()),
                    ));
                }
            }
        }
        let mut splits = BTreeMap::new();
        for split in SPLITS {
            let entries: Vec<String> = match get(split) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Sequence(seq)) => seq
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| yaml_err(yaml_path, format!("`{split}` entries must be strings")))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(yaml_err(
                        yaml_path,
                        format!("`{split}` must be a path or a list of paths"),
                    ));
                }
            };
            let sources = entries.iter().map(|e| resolve_source(&root, e)).collect();
            splits.insert(split.to_string(), sources);
        }
        if splits.is_empty() {
            return Err(yaml_err(yaml_path, "no `train`, `val` or `test` split is given"));
        }
        Ok(DataYaml {
            yaml_path: yaml_path.to_path_buf(),
            root,
            names,
            splits,
        })
    }

    /// Writes a standard `data.yaml` into `dir`: `path: .`, `images/{split}` per split.
    pub fn write(dir: &Path, names: &[String], splits: &[&str]) -> Result<PathBuf, DataError> {
        let text = DataYaml::text(names, splits);
        let path = dir.join("data.yaml");
        std::fs::write(&path, text).map_err(DataError::io(&path))?;
        Ok(path)
    }

    /// The text of a standard `data.yaml`: `path: .`, `images/{split}` per split, names.
    pub fn text(names: &[String], splits: &[&str]) -> String {
        let mut text = String::from("path: .\n");
        for s in splits {
            text.push_str(&format!("{s}: images/{s}\n"));
        }
        text.push_str(&format!("nc: {}\nnames:\n", names.len()));
        for (i, n) in names.iter().enumerate() {
            text.push_str(&format!("  {i}: {}\n", yaml_scalar(n)));
        }
        text
    }
}

/// Quotes a name when YAML would otherwise read it as something else.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' ' | '.'))
        && !s.starts_with([' ', '-', '.'])
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "null" | "on" | "off" | "~"
        );
    if plain { s.to_string() } else { format!("{s:?}") }
}

/// Drops `.` components (lexically; `..` is kept, links are not resolved).
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn resolve_source(root: &Path, entry: &str) -> SplitSource {
    let p = PathBuf::from(entry);
    let mut candidate = clean(&if p.is_absolute() { p.clone() } else { root.join(&p) });
    if !candidate.exists()
        && let Some(stripped) = entry.strip_prefix("../")
    {
        candidate = clean(&root.join(stripped));
    }
    if candidate.is_dir() {
        SplitSource::Dir(candidate)
    } else if candidate.is_file() && candidate.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) {
        SplitSource::List(candidate)
    } else {
        SplitSource::Missing(clean(&if p.is_absolute() { p } else { root.join(entry) }))
    }
}

fn parse_names(v: Option<&Value>, yaml_path: &Path) -> Result<Vec<String>, DataError> {
    let name_of = |v: &Value| -> Result<String, DataError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(yaml_err(yaml_path, "class names must be strings")),
        }
    };
    match v {
        None | Some(Value::Null) => Err(yaml_err(yaml_path, "`names` is missing")),
        Some(Value::Sequence(seq)) => seq.iter().map(name_of).collect(),
        Some(Value::Mapping(m)) => {
            let mut by_index = BTreeMap::new();
            for (k, v) in m {
                let i = k
                    .as_u64()
                    .or_else(|| k.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| yaml_err(yaml_path, format!("`names` key {k:?} is not a class index")))?;
                by_index.insert(i as usize, name_of(v)?);
            }
            let names: Vec<String> = by_index.values().cloned().collect();
            if by_index.keys().enumerate().any(|(pos, &i)| pos != i) {
                return Err(yaml_err(yaml_path, "`names` indices must run 0, 1, 2, … without gaps"));
            }
            Ok(names)
        }
        Some(_) => Err(yaml_err(yaml_path, "`names` must be a list or a map")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DataYaml, DataError> {
        DataYaml::parse(text, Path::new("/nonexistent/ds/data.yaml"))
    }

    #[test]
    fn names_may_be_a_list_or_a_map() {
        let a = parse("train: images/train\nnames: [a, b]\n").unwrap();
        let b = parse("train: images/train\nnames:\n  0: a\n  1: b\n").unwrap();
        assert_eq!(a.names, vec!["a", "b"]);
        assert_eq!(a.names, b.names);
    }

    #[test]
    fn nc_disagreeing_with_names_is_an_error() {
        let e = parse("train: images/train\nnc: 3\nnames: [a, b]\n").unwrap_err();
        assert!(e.to_string().contains("`nc` is 3 but 2 names"), "{e}");
    }

    #[test]
    fn names_with_gaps_or_missing_are_errors() {
        assert!(parse("train: x\nnames:\n  0: a\n  2: c\n").is_err());
        assert!(parse("train: x\n").is_err());
        assert!(parse("names: [a]\n").unwrap_err().to_string().contains("no `train`"));
    }

    #[test]
    fn relative_path_resolves_against_the_yaml_folder() {
        let y = parse("path: ../other\ntrain: images/train\nnames: [a]\n").unwrap();
        assert_eq!(y.root, PathBuf::from("/nonexistent/ds/../other"));
        let y = parse("train: images/train\nnames: [a]\n").unwrap();
        assert_eq!(y.root, PathBuf::from("/nonexistent/ds"));
        assert_eq!(
            y.splits["train"],
            vec![SplitSource::Missing(PathBuf::from("/nonexistent/ds/images/train"))]
        );
    }

    #[test]
    fn written_yaml_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["scratch".to_string(), "true".to_string(), "rolled-in_scale".to_string()];
        std::fs::create_dir_all(dir.path().join("images/train")).unwrap();
        let p = DataYaml::write(dir.path(), &names, &["train", "val"]).unwrap();
        let y = DataYaml::load(&p).unwrap();
        assert_eq!(y.names, names);
        assert_eq!(
            y.splits["train"],
            vec![SplitSource::Dir(dir.path().join("images/train"))]
        );
        assert!(matches!(y.splits["val"][0], SplitSource::Missing(_)));
    }
}
