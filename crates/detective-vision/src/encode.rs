//! encode (being written).
