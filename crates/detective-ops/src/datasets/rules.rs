//! The rules every way of making a dataset checks: how many images a version
//! may hold and what class names may be.

use crate::OpsError;

/// Most images in one dataset version built through the API.
pub const MAX_ITEMS: usize = 100_000;

/// Class names: a non-empty list of 1..64 characters each, no control characters.
pub(crate) fn check_classes(classes: &[String]) -> Result<(), OpsError> {
    if classes.is_empty()
        || classes
            .iter()
            .any(|c| c.is_empty() || c.len() > 64 || c.chars().any(char::is_control))
    {
        return Err(OpsError::invalid(
            "classes must be a non-empty list of names (1..64 characters)",
        ));
    }
    Ok(())
}
