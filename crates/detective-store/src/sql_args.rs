//! Values for dynamically built SQL (filters, multi-row inserts): collected in
//! order, then bound to `$1, $2, …` of the same statement.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::Backend;

/// One bind value.
#[derive(Debug, Clone)]
pub enum Arg {
    I64(i64),
    F64(f64),
    Str(String),
    OptStr(Option<String>),
    OptI64(Option<i64>),
}

/// The values of one statement, in placeholder order.
#[derive(Debug)]
pub struct Args {
    values: Vec<Arg>,
    numbered: bool,
}

impl Args {
    /// Placeholders for `backend`.
    pub fn new(backend: Backend) -> Args {
        Args {
            values: Vec::new(),
            numbered: backend == Backend::Postgres,
        }
    }

    /// Adds a value; returns its placeholder. Each use of a value needs its own push.
    pub fn push(&mut self, a: Arg) -> String {
        self.values.push(a);
        if self.numbered {
            format!("${}", self.values.len())
        } else {
            String::from("?")
        }
    }

    /// Binds every value to `q` in order.
    pub fn bind_all<'q>(self, mut q: Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>> {
        for a in self.values {
            q = match a {
                Arg::I64(v) => q.bind(v),
                Arg::F64(v) => q.bind(v),
                Arg::Str(v) => q.bind(v),
                Arg::OptStr(v) => q.bind(v),
                Arg::OptI64(v) => q.bind(v),
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
