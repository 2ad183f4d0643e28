//! decode (being written).
