//! An incoming request reduced to what the double's rules look at: the routed path and
//! Rails-style parameters (query string merged with a form or JSON body, the body winning).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, Method, header};

/// A parameter value: one string, or a list (`name[]=…` in a form, an array in JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamValue {
    One(String),
    Many(Vec<String>),
}

/// How the body was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    None,
    Form,
    Json,
    /// A JSON body that does not parse: Rails answers 400 before any controller runs.
    Malformed,
    /// A body of another type, which Rails does not read.
    Ignored,
}

/// A parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub method: Method,
    /// The path as sent (for the request log).
    pub raw_path: String,
    /// The path Rails routes on: repeated slashes squeezed, trailing slash dropped.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<(String, String)>,
    pub body_kind: BodyKind,
    pub headers: HeaderMap,
    params: BTreeMap<String, ParamValue>,
}

impl Incoming {
    /// Parses a request.
    pub(crate) fn parse(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: HeaderMap,
        body: &[u8],
    ) -> Self {
        let query: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let mut params = BTreeMap::new();
        for (name, value) in &query {
            insert_param(&mut params, name, value.clone());
        }

        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let (body_kind, body_pairs) = if body.is_empty() {
            (BodyKind::None, Vec::new())
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            (
                BodyKind::Form,
                form_urlencoded::parse(body).into_owned().collect(),
            )
        } else if content_type.starts_with("application/json") {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(fields)) => (BodyKind::Json, json_pairs(&fields)),
                Ok(_) => (BodyKind::Json, Vec::new()),
                Err(_) => (BodyKind::Malformed, Vec::new()),
            }
        } else {
            (BodyKind::Ignored, Vec::new())
        };

        // Body parameters override query parameters of the same name, as in Rails.
        let mut body_params = BTreeMap::new();
        for (name, value) in &body_pairs {
            insert_param(&mut body_params, name, value.clone());
        }
        if body_kind == BodyKind::Json {
            // A JSON array arrives as a list without the `[]` suffix.
            for (name, values) in json_lists(body) {
                body_params.insert(name, ParamValue::Many(values));
            }
        }
        params.extend(body_params);

        Self {
            method,
            raw_path: path.to_owned(),
            path: route_path(path),
            query,
            body: body_pairs,
            body_kind,
            headers,
            params,
        }
    }

    /// A single-valued parameter, as sent (possibly blank).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        match self.params.get(name) {
            Some(ParamValue::One(value)) => Some(value),
            _ => None,
        }
    }

    /// A single-valued parameter that is not blank (Rails' `present?`).
    pub(crate) fn present(&self, name: &str) -> Option<&str> {
        self.param(name).filter(|v| !v.trim().is_empty())
    }

    /// A parameter that may be a list or a single string.
    pub(crate) fn value(&self, name: &str) -> Option<&ParamValue> {
        self.params.get(name)
    }

    /// A request header as a string.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn insert_param(params: &mut BTreeMap<String, ParamValue>, name: &str, value: String) {
    if let Some(list_name) = name.strip_suffix("[]") {
        match params.get_mut(list_name) {
            Some(ParamValue::Many(values)) => values.push(value),
            _ => {
                params.insert(list_name.to_owned(), ParamValue::Many(vec![value]));
            }
        }
    } else {
        params.insert(name.to_owned(), ParamValue::One(value));
    }
}

/// Scalar JSON fields as name/value pairs; each array element as its own `name[]` pair.
fn json_pairs(fields: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (name, value) in fields {
        match value {
            serde_json::Value::Array(items) => {
                for item in items.iter().filter_map(scalar) {
                    pairs.push((format!("{name}[]"), item));
                }
            }
            other => {
                if let Some(text) = scalar(other) {
                    pairs.push((name.clone(), text));
                }
            }
        }
    }
    pairs
}

/// Lists from a JSON body, so that an empty array still reads as a (blank) list.
fn json_lists(body: &[u8]) -> Vec<(String, Vec<String>)> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter_map(|(name, value)| match value {
            serde_json::Value::Array(items) => {
                Some((name, items.iter().filter_map(scalar).collect()))
            }
            _ => None,
        })
        .collect()
}

fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Rails' path normalisation: `//oauth//token/` routes like `/oauth/token`.
fn route_path(path: &str) -> String {
    let mut squeezed = String::with_capacity(path.len() + 1);
    for ch in format!("/{path}").chars() {
        if !(ch == '/' && squeezed.ends_with('/')) {
            squeezed.push(ch);
        }
    }
    if squeezed.len() > 1 && squeezed.ends_with('/') {
        squeezed.pop();
    }
    squeezed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: Option<&str>, content_type: &str, body: &str) -> Incoming {
        let mut headers = HeaderMap::new();
        if let Ok(value) = content_type.parse() {
            headers.insert(header::CONTENT_TYPE, value);
        }
        Incoming::parse(
            Method::POST,
            "/oauth/token",
            query,
            headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn body_parameters_override_the_query() {
        let req = request(
            Some("code=fromquery&state=s"),
            "application/x-www-form-urlencoded",
            "code=frombody",
        );
        assert_eq!(req.param("code"), Some("frombody"));
        assert_eq!(req.param("state"), Some("s"));
    }

    #[test]
    fn json_bodies_give_strings_and_lists() {
        let req = request(
            None,
            "application/json; charset=utf-8",
            r#"{"client_name":"x","redirect_uris":["a","b"],"n":3,"z":null}"#,
        );
        assert_eq!(req.body_kind, BodyKind::Json);
        assert_eq!(req.param("client_name"), Some("x"));
        assert_eq!(req.param("n"), Some("3"));
        assert_eq!(req.param("z"), None);
        let expected = ParamValue::Many(vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(req.value("redirect_uris"), Some(&expected));
    }

    #[test]
    fn form_lists_use_the_bracket_suffix() {
        let req = request(
            None,
            "application/x-www-form-urlencoded",
            "r%5B%5D=a&r%5B%5D=b",
        );
        let expected = ParamValue::Many(vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(req.value("r"), Some(&expected));
    }

    #[test]
    fn malformed_json_and_unread_types_are_flagged() {
        assert_eq!(
            request(None, "application/json", "{nope").body_kind,
            BodyKind::Malformed
        );
        assert_eq!(request(None, "text/plain", "code=x").param("code"), None);
    }

    #[test]
    fn blank_values_are_not_present() {
        let req = request(None, "application/x-www-form-urlencoded", "code=%20&state=");
        assert_eq!(req.param("code"), Some(" "));
        assert_eq!(req.present("code"), None);
        assert_eq!(req.present("state"), None);
    }

    #[test]
    fn paths_are_normalised_like_rails() {
        assert_eq!(route_path("//oauth//token/"), "/oauth/token");
        assert_eq!(route_path("/"), "/");
        assert_eq!(route_path(""), "/");
    }
}
