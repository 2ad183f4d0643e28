//! features (being written).
