//! font (being written).
