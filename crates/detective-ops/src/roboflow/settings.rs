//! The Roboflow settings an admin sets: workspace, project, API key, and the
//! local project pulled versions land in. The key is a secret: stored in the
//! database (where every replica reads it), never logged, never given back;
//! what the API shows is [`Shown`], with the key masked.

use detective_store::Db;
use serde::{Deserialize, Serialize};

use crate::OpsError;

const KEY: &str = "integrations.roboflow";

/// What is stored.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoboflowSettings {
    pub workspace: String,
    pub project: String,
    pub api_key: String,
    /// Our project that pushed images come from and pulled versions go to.
    pub local_project: String,
}

/// Never prints the key.
impl std::fmt::Debug for RoboflowSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoboflowSettings")
            .field("workspace", &self.workspace)
            .field("project", &self.project)
            .field("api_key", &mask(&self.api_key))
            .field("local_project", &self.local_project)
            .finish()
    }
}

/// What an admin sends: a field left out keeps its value (so the key need not
/// be sent again to change the project).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    pub workspace: Option<String>,
    pub project: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub api_key: Option<String>,
    pub local_project: Option<String>,
}

/// What the API answers: the key only as `••••` and its last four characters.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shown {
    pub workspace: String,
    pub project: String,
    pub local_project: String,
    pub api_key_set: bool,
    pub api_key: String,
}

/// `••••` and the last 4 characters of a key long enough to keep 8 hidden.
pub fn mask(key: &str) -> String {
    if key.is_empty() {
        return String::new();
    }
    let n = key.chars().count();
    let tail: String = if n >= 12 {
        key.chars().skip(n - 4).collect()
    } else {
        String::new()
    };
    format!("••••{tail}")
}

impl RoboflowSettings {
    pub fn shown(&self) -> Shown {
        Shown {
            workspace: self.workspace.clone(),
            project: self.project.clone(),
            local_project: self.local_project.clone(),
            api_key_set: !self.api_key.is_empty(),
            api_key: mask(&self.api_key),
        }
    }

    /// Fails with what is missing when the integration cannot run yet.
    pub fn ready(&self) -> Result<(), OpsError> {
        let missing: Vec<&str> = [
            ("workspace", &self.workspace),
            ("project", &self.project),
            ("API key", &self.api_key),
            ("local project", &self.local_project),
        ]
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(k, _)| *k)
        .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(OpsError::invalid(format!(
                "Roboflow is not set up: no {} (Settings → Roboflow, or PUT /api/integrations/roboflow/settings)",
                missing.join(", no ")
            )))
        }
    }
}

/// A Roboflow workspace or project id: what its URLs hold.
fn check_slug(what: &str, v: &str) -> Result<(), OpsError> {
    let ok = !v.is_empty() && v.len() <= 100 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(OpsError::invalid(format!(
            "{what} must be Roboflow's id of it (letters, digits, '-', '_'), e.g. my-workspace"
        )))
    }
}

/// The stored settings (empty fields when none are set).
pub async fn get(db: &Db) -> Result<RoboflowSettings, OpsError> {
    match detective_store::settings::get(db, KEY).await? {
        Some(v) => serde_json::from_value(v).map_err(|e| OpsError::Io(format!("stored Roboflow settings: {e}"))),
        None => Ok(RoboflowSettings::default()),
    }
}

/// Changes the fields `req` names; returns what is stored now.
pub async fn put(db: &Db, req: PutSettings) -> Result<RoboflowSettings, OpsError> {
    let mut s = get(db).await?;
    if let Some(w) = req.workspace {
        check_slug("workspace", &w)?;
        s.workspace = w;
    }
    if let Some(p) = req.project {
        check_slug("project", &p)?;
        s.project = p;
    }
    if let Some(k) = req.api_key {
        let k = k.trim().to_string();
        if k.is_empty() || k.len() > 200 || !k.chars().all(|c| c.is_ascii_graphic()) {
            return Err(OpsError::invalid("api_key must be 1 to 200 printable characters"));
        }
        s.api_key = k;
    }
    if let Some(p) = req.local_project {
        detective_core::names::check_segment("local project", &p)?;
        s.local_project = p;
    }
    let v = serde_json::to_value(&s).map_err(|e| OpsError::Io(e.to_string()))?;
    detective_store::settings::set(db, KEY, &v).await?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_shown_masked_and_never_debug_printed() {
        let s = RoboflowSettings {
            workspace: "w".into(),
            project: "p".into(),
            api_key: "SECRETKEY12345678".into(),
            local_project: "steel".into(),
        };
        assert_eq!(s.shown().api_key, "••••5678");
        assert!(s.shown().api_key_set);
        assert!(!format!("{s:?}").contains("SECRETKEY"));
        assert_eq!(mask("short"), "••••");
    }

    #[test]
    fn missing_settings_are_named() {
        let err = RoboflowSettings::default().ready().unwrap_err().to_string();
        assert!(err.contains("workspace") && err.contains("API key"), "{err}");
    }

    #[test]
    fn slugs_are_checked() {
        assert!(check_slug("workspace", "my-ws_2").is_ok());
        assert!(check_slug("workspace", "../x").is_err());
        assert!(check_slug("workspace", "").is_err());
    }
}
