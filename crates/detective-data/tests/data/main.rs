//! The dataset integration tests of `detective-data`, as one test binary with a
//! module per former test file: every test binary links the whole dependency
//! tree, so one binary instead of 2 saves that link each time.
//! Run one file's tests with `cargo test -p detective-data --test data <module>::`.

mod fixtures;
mod shared_datasets;
