//! Spin's `{{ variable }}` templates.
//!
//! A manifest value such as `"{{ bluesky_service_url }}"` or `"https://{{ host }}:443"` is a
//! template: literal text with references to application variables. Templates are parsed
//! once when the manifest is read (so a typo is a start-up error, not a runtime one) and
//! rendered once the variables are resolved.

use std::collections::BTreeMap;

use thiserror::Error;

/// Why a template or a variable name was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{` without a matching `}}`.
    #[error("`{{{{` is not closed by `}}}}` in {0:?}")]
    Unclosed(String),
    /// `}}` without an opening `{{`.
    #[error("`}}}}` has no opening `{{{{` in {0:?}")]
    Unopened(String),
    /// The name between the braces is not a valid variable name.
    #[error(
        "{name:?} in {template:?} is not a variable name: use lower-case letters, digits \
         and `_`, starting with a letter"
    )]
    BadName {
        /// The offending name.
        name: String,
        /// The whole template.
        template: String,
    },
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// A parsed template: literal text and variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `source`, checking every referenced name with [`is_variable_name`].
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            let literal = &rest[..open];
            if literal.contains("}}") {
                return Err(TemplateError::Unopened(source.to_owned()));
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let after_open = &rest[open + 2..];
            let close = after_open
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(source.to_owned()))?;
            let name = after_open[..close].trim();
            if !is_variable_name(name) {
                return Err(TemplateError::BadName {
                    name: name.to_owned(),
                    template: source.to_owned(),
                });
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &after_open[close + 2..];
        }
        if rest.contains("}}") {
            return Err(TemplateError::Unopened(source.to_owned()));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written in the manifest.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The names of the variables the template refers to.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template; `None` when a referenced variable has no value.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(values.get(name)?),
            }
        }
        Some(out)
    }
}

/// Whether `name` is a valid Spin variable (or component config key) name:
/// `[a-z][a-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn renders_literals_and_variables() {
        let template = Template::parse("https://{{ host }}:{{port}}/").unwrap();
        assert_eq!(template.variables().collect::<Vec<_>>(), ["host", "port"]);
        let rendered = template.render(&values(&[("host", "example.com"), ("port", "8443")]));
        assert_eq!(rendered.as_deref(), Some("https://example.com:8443/"));
    }

    #[test]
    fn plain_text_is_a_template_without_variables() {
        let template = Template::parse("https://bsky.social").unwrap();
        assert_eq!(template.variables().count(), 0);
        assert_eq!(
            template.render(&BTreeMap::new()).as_deref(),
            Some("https://bsky.social")
        );
    }

    #[test]
    fn missing_value_renders_to_none() {
        let template = Template::parse("{{ absent }}").unwrap();
        assert_eq!(template.render(&BTreeMap::new()), None);
    }

    #[test]
    fn refuses_malformed_templates() {
        assert!(matches!(
            Template::parse("{{ open"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("close }}"),
            Err(TemplateError::Unopened(_))
        ));
        assert!(matches!(
            Template::parse("{{ Upper }}"),
            Err(TemplateError::BadName { .. })
        ));
        assert!(matches!(
            Template::parse("{{ }}"),
            Err(TemplateError::BadName { .. })
        ));
        assert!(matches!(
            Template::parse("{{ a-b }}"),
            Err(TemplateError::BadName { .. })
        ));
    }

    #[test]
    fn variable_names_follow_spin() {
        assert!(is_variable_name("access_token_secret"));
        assert!(is_variable_name("a1"));
        assert!(!is_variable_name(""));
        assert!(!is_variable_name("1a"));
        assert!(!is_variable_name("_a"));
        assert!(!is_variable_name("Access"));
        assert!(!is_variable_name("a-b"));
    }
}
