//! Values for dynamically built SQL (filters, multi-row inserts): collected in
//! order, then bound to `$1, $2, …` of the same statement.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

/// One bind value.
#[derive(Debug, Clone)]
pub enum Arg {
    I64(i64),
    F64(f64),
    Str(String),
    OptStr(Option<String>),
}

/// The values of one statement, numbered as they are pushed.
#[derive(Debug, Default)]
pub struct Args(Vec<Arg>);

impl Args {
    /// Adds a value; returns its placeholder (`$N`).
    pub fn push(&mut self, a: Arg) -> String {
        self.0.push(a);
        format!("${}", self.0.len())
    }

    /// Binds every value to `q` in order.
    pub fn bind_all<'q>(self, mut q: Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>> {
        for a in self.0 {
            q = match a {
                Arg::I64(v) => q.bind(v),
                Arg::F64(v) => q.bind(v),
                Arg::Str(v) => q.bind(v),
                Arg::OptStr(v) => q.bind(v),
            };
        }
        q
    }
}

/// `text` as a LIKE pattern that matches it literally (with `ESCAPE '\'`).
pub fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
