//! The image integration tests of `detective-vision`, as one test binary with a
//! module per former test file: every test binary links the whole dependency
//! tree, so one binary instead of 2 saves that link each time.
//! Run one file's tests with `cargo test -p detective-vision --test vision <module>::`.

#[macro_use]
mod common;

mod decode_formats;
mod opencv_resize;
