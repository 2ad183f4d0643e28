//! overlay (being written).
