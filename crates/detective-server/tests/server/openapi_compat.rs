//! The API's OpenAPI document keeps every path, operation, parameter and
//! schema of the document as it was before the application layer moved into
//! `detective-ops` (`fixtures/openapi-63d0fb8.json`, written by commit
//! 63d0fb8). The one change allowed: a string that names a state may become an
//! enum of strings (inline, or a `$ref` to an enum schema).

use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("../fixtures/openapi-63d0fb8.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn current() -> Value {
    serde_json::to_value(detective_server::openapi::document()).expect("the document serialises")
}

/// `schema` after following one `$ref` into `doc`'s components.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .and_then(|name| doc["components"]["schemas"].get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// A string schema, or an enum of strings (nullable or not).
fn is_string_like(schema: &Value) -> bool {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.contains(&"string") {
        return true;
    }
    // An optional enum: oneOf [null, $ref] or [$ref, null].
    schema["oneOf"]
        .as_array()
        .is_some_and(|alts| alts.iter().any(|a| a.get("$ref").is_some()))
}

/// Where `old` and `new` differ in a way clients would notice; `at` names the place.
fn schema_changes(old_doc: &Value, old: &Value, new_doc: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
    let (old, new) = (resolved(old_doc, old), resolved(new_doc, new));
    if old == new {
        return;
    }
    if old["type"] == "string" && old.get("enum").is_none() {
        let new_plain = resolved(new_doc, new);
        if is_string_like(new_plain) || new_plain.get("enum").is_some() {
            return;
        }
        out.push(format!("{at}: was a string, is now {new_plain}"));
        return;
    }
    if let Some(props) = old["properties"].as_object() {
        for (name, p) in props {
            match new["properties"].get(name) {
                Some(q) => schema_changes(old_doc, p, new_doc, q, &format!("{at}.{name}"), out),
                None => out.push(format!("{at}: property {name} is gone")),
            }
        }
        for r in old["required"].as_array().into_iter().flatten() {
            let still = new["required"].as_array().is_some_and(|n| n.contains(r));
            if !still {
                out.push(format!("{at}: {r} is no longer required"));
            }
        }
        return;
    }
    if old.get("items").is_some() {
        schema_changes(old_doc, &old["items"], new_doc, &new["items"], &format!("{at}[]"), out);
        return;
    }
    if old["type"] != new["type"] {
        out.push(format!("{at}: type {} became {}", old["type"], new["type"]));
    }
}

#[test]
fn the_openapi_document_keeps_every_path_and_schema_of_the_document_before_the_move() {
    let (old, new) = (fixture(), current());
    let mut changes = Vec::new();
    let old_paths = old["paths"].as_object().expect("paths");
    for (path, ops) in old_paths {
        let Some(new_ops) = new["paths"].get(path) else {
            changes.push(format!("path {path} is gone"));
            continue;
        };
        for (method, op) in ops.as_object().into_iter().flatten() {
            let Some(new_op) = new_ops.get(method) else {
                changes.push(format!("{method} {path} is gone"));
                continue;
            };
            for p in op["parameters"].as_array().into_iter().flatten() {
                let same = new_op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|q| q["name"] == p["name"] && q["in"] == p["in"]);
                if !same {
                    changes.push(format!("{method} {path}: parameter {} is gone", p["name"]));
                }
            }
            for (status, _) in op["responses"].as_object().into_iter().flatten() {
                if new_op["responses"].get(status).is_none() {
                    changes.push(format!("{method} {path}: response {status} is gone"));
                }
            }
            let old_body = &op["requestBody"]["content"];
            for (ctype, body) in old_body.as_object().into_iter().flatten() {
                match new_op["requestBody"]["content"].get(ctype) {
                    Some(b) => schema_changes(
                        &old,
                        &body["schema"],
                        &new,
                        &b["schema"],
                        &format!("{method} {path} body"),
                        &mut changes,
                    ),
                    None => changes.push(format!("{method} {path}: request body {ctype} is gone")),
                }
            }
        }
    }
    for (name, schema) in old["components"]["schemas"].as_object().into_iter().flatten() {
        match new["components"]["schemas"].get(name) {
            Some(s) => schema_changes(&old, schema, &new, s, name, &mut changes),
            None => changes.push(format!("schema {name} is gone")),
        }
    }
    assert!(changes.is_empty(), "the API changed:\n{}", changes.join("\n"));
    assert!(old_paths.len() >= 40, "the fixture holds the whole document");
}

#[test]
fn a_string_that_becomes_an_enum_passes_and_a_lost_property_does_not() {
    let doc = serde_json::json!({"components": {"schemas": {
        "Outcome": {"type": "string", "enum": ["stored", "duplicate"]}}}});
    let old =
        serde_json::json!({"type": "object", "properties": {"status": {"type": "string"}, "id": {"type": "integer"}}});
    let as_enum = serde_json::json!({"type": "object", "properties": {"status": {"$ref": "#/components/schemas/Outcome"}, "id": {"type": "integer"}}});
    let mut out = Vec::new();
    schema_changes(&doc, &old, &doc, &as_enum, "R", &mut out);
    assert!(out.is_empty(), "{out:?}");
    let lost = serde_json::json!({"type": "object", "properties": {"status": {"type": "string"}}});
    schema_changes(&doc, &old, &doc, &lost, "R", &mut out);
    assert_eq!(out, ["R: property id is gone"]);
}

#[test]
fn every_path_parameter_and_error_answer_is_documented() {
    let doc = current();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let names: Vec<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for n in &names {
                if !declared.contains(n) {
                    missing.push(format!("{method} {path}: path parameter {n}"));
                }
            }
            for range in ["4XX", "5XX"] {
                let answer = &op["responses"][range]["content"]["application/problem+json"]["schema"]["$ref"];
                if answer != "#/components/schemas/Problem" {
                    missing.push(format!("{method} {path}: {range} problem answer"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
