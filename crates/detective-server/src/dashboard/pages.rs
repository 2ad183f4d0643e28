//! The pages. Each renders its template with the header (navigation, user) and
//! what it knows on the server; live figures come from the JSON API in the
//! page's ES module.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use detective_core::Action;

use super::PageUser;
use crate::state::AppState;

/// The header every page shares.
pub struct Nav {
    pub active: &'static str,
    pub user: String,
    pub role: String,
    /// Dashboard served with `--insecure-no-auth` (no logout).
    pub open: bool,
}

/// (path, label) of the pages, in the navigation's order.
pub const PAGES: [(&str, &str); 14] = [
    ("/", "Overview"),
    ("/live", "Live"),
    ("/inspections", "Inspections"),
    ("/analytics", "Analytics"),
    ("/drift", "Drift"),
    ("/segmentation", "Segmentation"),
    ("/labeling", "Labeling"),
    ("/annotate", "Annotate"),
    ("/check", "Check"),
    ("/datasets", "Datasets"),
    ("/training", "Training"),
    ("/models", "Models"),
    ("/health", "Health"),
    ("/settings", "Settings"),
];

impl Nav {
    fn new(active: &'static str, user: &PageUser, st: &AppState) -> Nav {
        let open = st.settings.insecure_no_auth;
        Nav {
            active,
            user: if open {
                "open access, no keys".to_string()
            } else {
                user.name().to_string()
            },
            role: user.role().to_string(),
            open,
        }
    }

    pub fn pages(&self) -> &'static [(&'static str, &'static str)] {
        &PAGES
    }

    pub fn is_active(&self, href: &str) -> bool {
        self.active == href
    }
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    nav: Nav,
}

pub async fn overview(State(st): State<AppState>, user: PageUser) -> Response {
    render(Overview {
        nav: Nav::new("/", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "live.html")]
struct Live {
    nav: Nav,
    /// The role may send its camera to `/api/stream`.
    may_predict: bool,
    /// A detector is loaded.
    has_model: bool,
    conf: f32,
    band_low: f32,
    band_high: f32,
}

pub async fn live(State(st): State<AppState>, user: PageUser) -> Response {
    let t = st.thresholds().await;
    render(Live {
        may_predict: user.may(Action::Predict),
        has_model: st.served.pool().is_some(),
        conf: t.conf,
        band_low: t.uncertain_low,
        band_high: t.uncertain_high,
        nav: Nav::new("/live", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "inspections.html")]
struct Inspections {
    nav: Nav,
}

pub async fn inspections(State(st): State<AppState>, user: PageUser) -> Response {
    render(Inspections {
        nav: Nav::new("/inspections", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "models.html")]
struct Models {
    nav: Nav,
    may_operate: bool,
}

pub async fn models(State(st): State<AppState>, user: PageUser) -> Response {
    render(Models {
        may_operate: user.may(Action::Operate),
        nav: Nav::new("/models", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "drift.html")]
struct Drift {
    nav: Nav,
}

pub async fn drift(State(st): State<AppState>, user: PageUser) -> Response {
    render(Drift {
        nav: Nav::new("/drift", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "labeling.html")]
struct Labeling {
    nav: Nav,
    may_operate: bool,
}

pub async fn labeling(State(st): State<AppState>, user: PageUser) -> Response {
    render(Labeling {
        may_operate: user.may(Action::Operate),
        nav: Nav::new("/labeling", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "annotate.html")]
struct Annotate {
    nav: Nav,
    may_operate: bool,
    may_manage: bool,
}

pub async fn annotate(State(st): State<AppState>, user: PageUser) -> Response {
    render(Annotate {
        may_operate: user.may(Action::Operate),
        may_manage: user.may(Action::ManageData),
        nav: Nav::new("/annotate", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "check.html")]
struct Check {
    nav: Nav,
    may_predict: bool,
    may_manage: bool,
}

pub async fn check(State(st): State<AppState>, user: PageUser) -> Response {
    render(Check {
        may_predict: user.may(Action::Predict),
        may_manage: user.may(Action::ManageData),
        nav: Nav::new("/check", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "training.html")]
struct Training {
    nav: Nav,
    may_operate: bool,
}

pub async fn training(State(st): State<AppState>, user: PageUser) -> Response {
    render(Training {
        may_operate: user.may(Action::Operate),
        nav: Nav::new("/training", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "health.html")]
struct Health {
    nav: Nav,
}

pub async fn health(State(st): State<AppState>, user: PageUser) -> Response {
    render(Health {
        nav: Nav::new("/health", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "datasets.html")]
struct Datasets {
    nav: Nav,
    /// The role may upload images and build datasets.
    may_manage: bool,
    max_files: usize,
}

pub async fn datasets(State(st): State<AppState>, user: PageUser) -> Response {
    render(Datasets {
        may_manage: user.may(Action::ManageData),
        max_files: st.settings.max_files,
        nav: Nav::new("/datasets", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "settings.html")]
struct Settings {
    nav: Nav,
    is_admin: bool,
    /// Signed in as a user account (which has a password to change).
    has_password: bool,
    may_operate: bool,
    conf: f32,
    band_low: f32,
    band_high: f32,
    max_bytes: u64,
    max_pixels: u64,
}

pub async fn settings(State(st): State<AppState>, user: PageUser) -> Response {
    let t = st.thresholds().await;
    render(Settings {
        is_admin: user.may(Action::Admin),
        may_operate: user.may(Action::Operate),
        has_password: user.0.user_id.is_some(),
        conf: t.conf,
        band_low: t.uncertain_low,
        band_high: t.uncertain_high,
        max_bytes: st.settings.limits.max_bytes,
        max_pixels: st.settings.limits.max_pixels,
        nav: Nav::new("/settings", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct Analytics {
    nav: Nav,
}

pub async fn analytics(State(st): State<AppState>, user: PageUser) -> Response {
    render(Analytics {
        nav: Nav::new("/analytics", &user, &st),
    })
}

#[derive(Template)]
#[template(path = "segmentation.html")]
struct SegmentationLab {
    nav: Nav,
    /// The role may run models (compare needs it).
    may_predict: bool,
    runs_dir: String,
}

pub async fn segmentation(State(st): State<AppState>, user: PageUser) -> Response {
    render(SegmentationLab {
        may_predict: user.may(Action::Predict),
        runs_dir: st.settings.segment_runs.display().to_string(),
        nav: Nav::new("/segmentation", &user, &st),
    })
}
