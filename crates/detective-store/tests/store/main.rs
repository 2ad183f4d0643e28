//! The storage integration tests of `detective-store`, as one test binary with a
//! module per former test file: every test binary links the whole dependency
//! tree, so one binary instead of 3 saves that link each time.
//! Run one file's tests with `cargo test -p detective-store --test store <module>::`.

#[macro_use]
mod common;

mod analytics;
mod objects;
mod repositories;
mod retention;
mod training_jobs;
mod users;
