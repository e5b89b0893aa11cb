//! The OpenAPI 3.1 document of the whole API, built from the functions' route tables:
//! every route's method, path, guard (as security requirements) and [`Doc`] (request
//! body, query and answer as JSON Schemas of the handlers' own types), plus the one
//! error envelope every failure answers with. Nothing here is written by hand per
//! route, so the document cannot drift from the code: the local stack's `openapi`
//! command prints it, docs/openapi.json is that output, and a test compares the two.

use schemars::{SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::{
    access::Permission,
    route::{Answer, Doc, Guard, Route},
};

/// One route of one function, whatever the function's state type.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub function: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub guard: Guard,
    pub doc: Doc,
}

/// The operations of a function's table.
pub fn operations<S>(function: &'static str, routes: &[Route<S>]) -> Vec<Operation> {
    routes
        .iter()
        .map(|route| Operation {
            function,
            method: route.method,
            path: route.path,
            guard: route.guard,
            doc: route.doc,
        })
        .collect()
}

/// The document, its operations in the order given.
pub fn document(version: &str, operations: &[Operation]) -> Value {
    let mut generator = SchemaGenerator::new(
        SchemaSettings::draft2020_12()
            .with(|s| s.definitions_path = "#/components/schemas/".into()),
    );
    let mut paths = Map::new();
    for operation in operations {
        let item = paths
            .entry(operation.path.to_owned())
            .or_insert_with(|| json!({}));
        item[operation.method.to_ascii_lowercase()] = describe(operation, &mut generator);
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "bianxian",
            "version": version,
            "description": "The backend of AI变现之路: content (Strapi v5 REST), members, admin. \
                Every failure answers with the error envelope `Error` and a 4xx or 5xx status.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "staffSession": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A staff session from POST /admin/login (or the bx_admin_session cookie).",
                },
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (bxt_…) minted at POST /admin/tokens.",
                },
                "memberSession": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A member session from POST /auth/login (or the bx_session cookie).",
                },
            },
        },
    })
}

fn describe(operation: &Operation, generator: &mut SchemaGenerator) -> Value {
    let doc = &operation.doc;
    let mut parameters: Vec<Value> = path_parameters(operation.path);
    if let Some(query) = doc.query {
        parameters.extend(query_parameters(query(generator).to_value()));
    }
    let mut responses = Map::new();
    let (status, answer) = match doc.answer {
        Answer::Data(status, data) => (
            status,
            content("Success", envelope(data(generator).to_value())),
        ),
        Answer::Raw(status, data) => (status, content("Success", data(generator).to_value())),
        Answer::Text(status, media_type, text) => (
            status,
            json!({ "description": "Success", "content": { media_type: { "schema": text(generator).to_value() } } }),
        ),
        Answer::Empty(status) => (status, json!({ "description": "Success, no body" })),
        Answer::Redirect => (
            302,
            json!({
                "description": "Go on at Location",
                "headers": { "Location": { "required": true, "schema": { "type": "string", "format": "uri" } } },
            }),
        ),
    };
    if let Some(also) = doc.also {
        responses.insert(also.to_string(), answer.clone());
    }
    responses.insert(status.to_string(), answer);
    responses.insert(
        "default".into(),
        match doc.failure {
            Some(failure) => content(
                "The failure, with a 4xx or 5xx status",
                failure(generator).to_value(),
            ),
            None => content(
                "The error envelope, with a 4xx or 5xx status",
                json!({ "$ref": "#/components/schemas/Error" }),
            ),
        },
    );
    let mut described = json!({
        "operationId": operation_id(operation),
        "summary": doc.summary,
        "tags": [operation.function],
        "parameters": parameters,
        "responses": responses,
    });
    let (security, permissions) = security(operation.guard);
    described["security"] = security;
    if !permissions.is_empty() {
        described["x-permissions"] = json!(permissions);
    }
    if let Some(body) = doc.body {
        described["requestBody"] = json!({
            "required": true,
            "content": { doc.body_type: { "schema": body(generator).to_value() } },
        });
    }
    described
}

/// `admin.patch.admin-users-documentId`: unique, stable, readable.
fn operation_id(operation: &Operation) -> String {
    let path: String = operation
        .path
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| part.trim_matches(|c| c == '{' || c == '}'))
        .collect::<Vec<_>>()
        .join("-");
    format!(
        "{}.{}.{path}",
        operation.function,
        operation.method.to_ascii_lowercase()
    )
}

fn content(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// `{"data": …}`, and the `meta` content reads add.
fn envelope(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "properties": { "data": data, "meta": { "type": "object" } },
        "additionalProperties": false,
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "Strapi v5's error envelope; a 500 says only \"Internal Server Error\".",
        "required": ["data", "error"],
        "properties": {
            "data": { "type": "null" },
            "error": {
                "type": "object",
                "required": ["status", "name", "message", "details"],
                "properties": {
                    "status": { "type": "integer", "minimum": 400, "maximum": 599 },
                    "name": { "type": "string" },
                    "message": { "type": "string" },
                    "details": { "type": "object" },
                },
                "additionalProperties": false,
            },
        },
        "additionalProperties": false,
    })
}

/// Who may call: the schemes a guard accepts, and the permissions it needs.
fn security(guard: Guard) -> (Value, Vec<&'static str>) {
    match guard {
        Guard::Public => (json!([]), Vec::new()),
        Guard::Member => (json!([{ "memberSession": [] }]), Vec::new()),
        Guard::Staff => (
            json!([{ "staffSession": [] }, { "apiToken": [] }]),
            Vec::new(),
        ),
        Guard::Any(permissions) => (
            json!([{ "staffSession": [] }, { "apiToken": [] }]),
            permissions.iter().map(|p: &Permission| p.scope()).collect(),
        ),
    }
}

/// `{documentId}` and `{revision}` as required path parameters.
fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = match name {
                "revision" => json!({ "type": "integer", "minimum": 1, "maximum": 2147483647 }),
                _ => json!({ "type": "string", "minLength": 1, "maxLength": 64 }),
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

/// One query parameter per property of the query's object schema; objects are sent
/// the way Strapi's `qs` sends them (`filters[title][$eq]=…`).
fn query_parameters(query: Value) -> Vec<Value> {
    let Some(properties) = query.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut parameter =
                json!({ "name": name, "in": "query", "required": false, "schema": schema });
            if schema.get("type") == Some(&json!("object")) {
                parameter["style"] = json!("deepObject");
                parameter["explode"] = json!(true);
            }
            parameter
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_named_and_typed() {
        let parameters =
            path_parameters("/admin/articles/{documentId}/revisions/{revision}/restore");
        let names: Vec<_> = parameters.iter().map(|p| p["name"].clone()).collect();
        assert_eq!(names, [json!("documentId"), json!("revision")]);
        assert_eq!(parameters[1]["schema"]["type"], "integer");
    }

    #[test]
    fn operation_ids_are_distinct_per_method_and_path() {
        let doc = Doc::empty("x");
        let id = |method, path| {
            operation_id(&Operation {
                function: "admin",
                method,
                path,
                guard: Guard::Public,
                doc,
            })
        };
        assert_eq!(
            id("PATCH", "/admin/users/{documentId}"),
            "admin.patch.admin-users-documentId"
        );
        assert_ne!(id("GET", "/admin/users"), id("POST", "/admin/users"));
    }
}
