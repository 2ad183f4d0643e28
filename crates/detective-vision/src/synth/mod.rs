//! Synthetic metal-surface defect generator (being written).
