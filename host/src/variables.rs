//! Resolving the manifest's `[variables]` to values, and each component's config from them.
//!
//! For every declared variable the first value found wins:
//! 1. an explicit override ([`VariableSources::overrides`], e.g. from a test),
//! 2. the environment, when enabled: `SPIN_VARIABLE_<NAME>` then `<NAME>` (upper case),
//! 3. a fallback ([`VariableSources::fallbacks`], e.g. `--dev` secrets),
//! 4. the manifest default.
//!
//! A required variable without a value stops start-up; the error names every missing
//! variable and the environment names that would set it. Values of secret variables are
//! kept in [`SecretValue`], whose `Debug` redacts, and are never logged.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use crate::manifest::{ComponentDecl, Manifest};
use crate::outbound::allow_list::{AllowList, AllowListError, AllowedHost};

/// A value that must not be shown: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself; only for handing it to the component.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why variables could not be resolved.
#[derive(Debug, Error)]
pub enum VariableError {
    /// Required variables have no value.
    #[error("{}", missing_message(.0))]
    Missing(Vec<String>),
    /// A rendered `allowed_outbound_hosts` entry is malformed.
    #[error(
        "component {component:?}: allowed_outbound_hosts entry {template:?} \
         (after variables were applied): {source}"
    )]
    AllowedHost {
        /// The component id.
        component: String,
        /// The entry as written in the manifest.
        template: String,
        /// What is wrong with the rendered entry.
        source: AllowListError,
    },
}

fn missing_message(names: &[String]) -> String {
    let list = names
        .iter()
        .map(|name| {
            let upper = name.to_ascii_uppercase();
            format!("`{name}` (set {upper} or SPIN_VARIABLE_{upper})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (noun, pronoun) = if names.len() == 1 {
        ("variable is", "it")
    } else {
        ("variables are", "them")
    };
    format!(
        "required {noun} not set: {list}. Set {pronoun} in the environment (to try the \
         host locally, `hayon-host --dev` generates the secrets and local URLs)"
    )
}

/// Where variable values come from, besides the manifest defaults.
#[derive(Debug, Clone, Default)]
pub struct VariableSources {
    /// Values that win over everything else, by lower-case name.
    pub overrides: BTreeMap<String, String>,
    /// Whether to read `SPIN_VARIABLE_<NAME>` and `<NAME>` from the process environment.
    pub use_process_env: bool,
    /// Values used when neither an override nor the environment gives one.
    pub fallbacks: BTreeMap<String, String>,
}

/// The resolved value of every declared variable that has one.
#[derive(Debug, Clone)]
pub struct ResolvedVariables {
    values: BTreeMap<String, SecretValue>,
}

impl ResolvedVariables {
    /// Resolves every variable of `manifest` from `sources`.
    pub fn resolve(manifest: &Manifest, sources: &VariableSources) -> Result<Self, VariableError> {
        Self::resolve_with(manifest, sources, |name| std::env::var(name).ok())
    }

    /// Like [`Self::resolve`] with an injectable environment (for tests).
    pub fn resolve_with(
        manifest: &Manifest,
        sources: &VariableSources,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, VariableError> {
        for name in sources.overrides.keys() {
            if !manifest.variables.contains_key(name) {
                tracing::warn!(variable = %name, "ignoring a value for an undeclared variable");
            }
        }

        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &manifest.variables {
            let from_env = || {
                if !sources.use_process_env {
                    return None;
                }
                let upper = name.to_ascii_uppercase();
                env(&format!("SPIN_VARIABLE_{upper}")).or_else(|| env(&upper))
            };
            let value = sources
                .overrides
                .get(name)
                .cloned()
                .or_else(from_env)
                .or_else(|| sources.fallbacks.get(name).cloned())
                .or_else(|| decl.default.clone());
            match value {
                Some(value) => {
                    values.insert(name.clone(), SecretValue::new(value));
                }
                None if decl.required => missing.push(name.clone()),
                None => {}
            }
        }
        if !missing.is_empty() {
            return Err(VariableError::Missing(missing));
        }
        Ok(Self { values })
    }

    /// The value of one variable.
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.values.get(name)
    }

    fn plain(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_owned()))
            .collect()
    }

    /// The component's config (`[component.<id>.variables]`) rendered from these values.
    /// A key whose template names a variable without a value is left out.
    pub fn component_config(&self, component: &ComponentDecl) -> BTreeMap<String, String> {
        let values = self.plain();
        component
            .config
            .iter()
            .filter_map(|(key, template)| Some((key.clone(), template.render(&values)?)))
            .collect()
    }

    /// The component's `allowed_outbound_hosts`, rendered and parsed. An entry whose
    /// template names a variable without a value is left out.
    pub fn allow_list(&self, component: &ComponentDecl) -> Result<AllowList, VariableError> {
        let values = self.plain();
        let mut entries = Vec::new();
        for template in &component.allowed_outbound_hosts {
            let Some(entry) = template.render(&values) else {
                continue;
            };
            let entry =
                AllowedHost::parse(&entry).map_err(|source| VariableError::AllowedHost {
                    component: component.id.clone(),
                    template: template.source().to_owned(),
                    source,
                })?;
            entries.push(entry);
        }
        Ok(AllowList::new(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
access_token_secret = { required = true, secret = true }
frontend_url = { required = true }
service_url = { default = "https://bsky.social" }
[component.c]
source = "c.wasm"
allowed_outbound_hosts = ["{{ service_url }}"]
[component.c.variables]
access_token_secret = "{{ access_token_secret }}"
callback = "{{ frontend_url }}/settings"
"#;

    fn manifest() -> Manifest {
        Manifest::parse(MANIFEST, Path::new("/app")).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn overrides_then_env_then_fallback_then_default() {
        let sources = VariableSources {
            overrides: map(&[("access_token_secret", "from-override")]),
            use_process_env: true,
            fallbacks: map(&[("frontend_url", "http://fallback"), ("service_url", "x")]),
        };
        let env = |name: &str| match name {
            "ACCESS_TOKEN_SECRET" => Some("from-env".to_owned()),
            "SPIN_VARIABLE_FRONTEND_URL" => Some("http://spin-env".to_owned()),
            "FRONTEND_URL" => Some("http://plain-env".to_owned()),
            _ => None,
        };
        let resolved = ResolvedVariables::resolve_with(&manifest(), &sources, env).unwrap();
        assert_eq!(
            resolved.get("access_token_secret").unwrap().expose(),
            "from-override"
        );
        assert_eq!(
            resolved.get("frontend_url").unwrap().expose(),
            "http://spin-env"
        );
        assert_eq!(resolved.get("service_url").unwrap().expose(), "x");

        let sources = VariableSources {
            use_process_env: true,
            ..VariableSources::default()
        };
        let resolved = ResolvedVariables::resolve_with(&manifest(), &sources, env).unwrap();
        assert_eq!(
            resolved.get("access_token_secret").unwrap().expose(),
            "from-env"
        );
        assert_eq!(
            resolved.get("service_url").unwrap().expose(),
            "https://bsky.social"
        );
    }

    #[test]
    fn process_env_is_ignored_unless_enabled() {
        let env = |_: &str| Some("from-env".to_owned());
        let err = ResolvedVariables::resolve_with(&manifest(), &VariableSources::default(), env)
            .unwrap_err();
        assert!(matches!(err, VariableError::Missing(_)));
    }

    #[test]
    fn missing_required_variables_are_named_with_their_env_names() {
        let err =
            ResolvedVariables::resolve_with(&manifest(), &VariableSources::default(), |_: &str| {
                None
            })
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`access_token_secret`"), "{message}");
        assert!(message.contains("ACCESS_TOKEN_SECRET"), "{message}");
        assert!(message.contains("SPIN_VARIABLE_FRONTEND_URL"), "{message}");
    }

    #[test]
    fn renders_component_config_and_allow_list() {
        let sources = VariableSources {
            overrides: map(&[
                ("access_token_secret", "s3cret"),
                ("frontend_url", "http://front"),
                ("service_url", "http://127.0.0.1:4000"),
            ]),
            ..VariableSources::default()
        };
        let manifest = manifest();
        let resolved = ResolvedVariables::resolve_with(&manifest, &sources, |_| None).unwrap();
        let component = &manifest.components["c"];
        let config = resolved.component_config(component);
        assert_eq!(config["callback"], "http://front/settings");
        assert_eq!(config["access_token_secret"], "s3cret");
        let allow = resolved.allow_list(component).unwrap();
        assert!(allow.allows_uri(&"http://127.0.0.1:4000/x".parse().unwrap()));
        assert!(!allow.allows_uri(&"https://bsky.social/x".parse().unwrap()));
    }

    #[test]
    fn a_bad_rendered_allowed_host_is_refused() {
        let sources = VariableSources {
            overrides: map(&[
                ("access_token_secret", "s"),
                ("frontend_url", "f"),
                ("service_url", "bsky.social"),
            ]),
            ..VariableSources::default()
        };
        let manifest = manifest();
        let resolved = ResolvedVariables::resolve_with(&manifest, &sources, |_| None).unwrap();
        let err = resolved.allow_list(&manifest.components["c"]).unwrap_err();
        assert!(err.to_string().contains("{{ service_url }}"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let value = SecretValue::new("hunter2");
        assert_eq!(format!("{value:?} {value}"), "[redacted] [redacted]");
        let sources = VariableSources {
            overrides: map(&[("access_token_secret", "hunter2"), ("frontend_url", "f")]),
            ..VariableSources::default()
        };
        let resolved = ResolvedVariables::resolve_with(&manifest(), &sources, |_| None).unwrap();
        assert!(!format!("{resolved:?}").contains("hunter2"));
    }
}
