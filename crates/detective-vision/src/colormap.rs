//! colormap (being written).
