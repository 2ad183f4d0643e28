//! preprocess (being written).
