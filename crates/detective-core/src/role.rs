//! Who may do what: the four API-key roles and the role matrix of the API.
//!
//! `device` may only log predictions, ask for predictions and fetch the model it
//! should run; `viewer` only reads;
//! `operator` also labels, trains and promotes; `admin` may do everything,
//! including managing keys and settings.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The role an API key (or a dashboard session) carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Device,
    Viewer,
}

/// What a request wants to do; each route needs exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read lists, reports, health, metrics.
    Read,
    /// `POST /api/log` from an edge agent.
    Log,
    /// Run the model on an image.
    Predict,
    /// Ask which model is in Production and download its files (edge agents).
    FetchModel,
    /// Upload images, build datasets.
    ManageData,
    /// Label, train, promote, roll back.
    Operate,
    /// API keys, settings, cameras.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Device, Role::Viewer];

    /// The role matrix.
    pub fn may(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Operator => !matches!(action, Action::Admin),
            Role::Device => matches!(action, Action::Log | Action::Predict | Action::FetchModel),
            Role::Viewer => matches!(action, Action::Read | Action::FetchModel),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Device => "device",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "device" => Ok(Role::Device),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!(
                "unknown role {other:?}: expected admin, operator, device or viewer"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_may_only_log_predict_and_fetch_its_model() {
        assert!(Role::Device.may(Action::Log));
        assert!(Role::Device.may(Action::Predict));
        assert!(Role::Device.may(Action::FetchModel));
        assert!(!Role::Device.may(Action::Read));
        assert!(!Role::Device.may(Action::ManageData));
    }

    #[test]
    fn viewer_only_reads_and_operator_is_not_admin() {
        assert!(Role::Viewer.may(Action::Read));
        assert!(!Role::Viewer.may(Action::Predict));
        assert!(Role::Operator.may(Action::Operate));
        assert!(!Role::Operator.may(Action::Admin));
        assert!(Role::Admin.may(Action::Admin));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
