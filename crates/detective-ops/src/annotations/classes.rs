//! A project's class list: the names annotators pick from (by number), each
//! with a colour and an icon so classes stay apart on any image and for people
//! who do not tell colours apart. Classes are indices into this list, so a list
//! may grow, be renamed and recoloured, but not shrink while images carry labels.

use detective_core::names::check_segment;
use detective_store::Db;
use detective_store::annotations::{self, ProjectClass};

use crate::OpsError;

/// Most classes of one project.
pub const MAX_CLASSES: usize = 100;

/// The icons the dashboard draws (shapes, no font needed).
pub const ICONS: [&str; 8] = [
    "circle", "square", "triangle", "diamond", "cross", "star", "ring", "bar",
];

/// Colours given to classes that name none, in order (distinct for people
/// with the common colour-vision deficiencies: the Okabe–Ito palette).
const PALETTE: [&str; 8] = [
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#999999",
];

/// A class as a request names it: colour and icon may be left to the defaults.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    pub name: String,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
}

fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
}

/// Checks a list and fills in missing colours and icons by position.
pub fn check(specs: &[ClassSpec]) -> Result<Vec<ProjectClass>, OpsError> {
    if specs.is_empty() || specs.len() > MAX_CLASSES {
        return Err(OpsError::invalid(format!("a project needs 1 to {MAX_CLASSES} classes")));
    }
    let mut out: Vec<ProjectClass> = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let name = s.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(OpsError::invalid(format!(
                "class {i}: a name is 1 to 64 printable characters"
            )));
        }
        if out.iter().any(|c| c.name == name) {
            return Err(OpsError::invalid(format!("class {name:?} is listed twice")));
        }
        let color = s
            .color
            .clone()
            .unwrap_or_else(|| PALETTE[i % PALETTE.len()].to_string())
            .to_ascii_lowercase();
        if !is_hex_colour(&color) {
            return Err(OpsError::invalid(format!(
                "class {name:?}: colour {color:?} is not #rrggbb"
            )));
        }
        let icon = s.icon.clone().unwrap_or_else(|| ICONS[i % ICONS.len()].to_string());
        if !ICONS.contains(&icon.as_str()) {
            return Err(OpsError::invalid(format!(
                "class {name:?}: icon {icon:?} is not one of {}",
                ICONS.join(", ")
            )));
        }
        out.push(ProjectClass {
            name: name.to_string(),
            color,
            icon,
        });
    }
    Ok(out)
}

/// The class list of `project` (empty: none set yet).
pub async fn get(db: &Db, project: &str) -> Result<Vec<ProjectClass>, OpsError> {
    check_segment("project", project)?;
    Ok(annotations::classes(db, project).await?)
}

/// Sets the class list of `project`. Removing classes is refused while any
/// image of the project is labelled (its labels would change meaning).
pub async fn put(db: &Db, project: &str, specs: &[ClassSpec]) -> Result<Vec<ProjectClass>, OpsError> {
    check_segment("project", project)?;
    let classes = check(specs)?;
    let old = annotations::classes(db, project).await?;
    if classes.len() < old.len() {
        let labelled: i64 = annotations::status_counts(db, project)
            .await?
            .iter()
            .filter(|(s, _)| s != "unlabelled")
            .map(|(_, n)| n)
            .sum();
        if labelled > 0 {
            return Err(OpsError::Conflict(format!(
                "project {project} has {labelled} labelled images: classes may be renamed or added, not removed \
                 ({} → {})",
                old.len(),
                classes.len()
            )));
        }
    }
    annotations::set_classes(db, project, &classes).await?;
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ClassSpec {
        ClassSpec {
            name: name.into(),
            color: None,
            icon: None,
        }
    }

    #[test]
    fn missing_colours_and_icons_are_given_by_position() {
        let c = check(&[spec("scratch"), spec("dent")]).unwrap();
        assert_eq!(c[0].color, PALETTE[0]);
        assert_eq!(c[1].icon, ICONS[1]);
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(check(&[]).is_err());
        assert!(check(&[spec("a"), spec("a")]).is_err());
        assert!(check(&[spec(" ")]).is_err());
        let bad_colour = ClassSpec {
            color: Some("red".into()),
            ..spec("a")
        };
        assert!(check(&[bad_colour]).is_err());
        let bad_icon = ClassSpec {
            icon: Some("skull".into()),
            ..spec("a")
        };
        assert!(check(&[bad_icon]).is_err());
    }
}
