//! Reading `spin.toml` (Spin application manifest, version 2).
//!
//! The host reads the same manifest Spin does: `[variables]`, `[[trigger.http]]` routes and
//! `[component.<id>]` tables with their `source`, `key_value_stores`,
//! `allowed_outbound_hosts`, `[component.<id>.variables]` and `[component.<id>.build]`.
//! Everything that Spin would refuse (bad variable names, malformed routes or templates,
//! references to undeclared variables or components) is refused here too, with a message
//! naming the culprit. Manifest features this host does not implement (such as `files`)
//! are refused rather than silently ignored, so nobody deploys something that behaves
//! differently than it reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::outbound::allow_list::{AllowListError, AllowedHost};
use crate::routes::{Route, RouteError, RouteTable};
use crate::template::{Template, TemplateError, is_variable_name};

/// Why the manifest was refused.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read the manifest {path}: {source}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the manifest's shape.
    #[error("the manifest is not a valid Spin manifest: {0}")]
    Syntax(#[from] toml::de::Error),
    /// Not a version 2 manifest.
    #[error("spin_manifest_version must be 2")]
    Version,
    /// A variable name is not valid.
    #[error(
        "variable {0:?} has an invalid name: use lower-case letters, digits and `_`, \
         starting with a letter"
    )]
    VariableName(String),
    /// A variable is both required and has a default.
    #[error("variable {0:?} is required and also has a default; keep one of the two")]
    RequiredWithDefault(String),
    /// A component id is not valid.
    #[error("component id {0:?} is invalid: use lower-case letters, digits, `-` and `_`")]
    ComponentId(String),
    /// A template could not be parsed.
    #[error("in {place}: {source}")]
    Template {
        /// Where the template is.
        place: String,
        /// What is wrong with it.
        source: TemplateError,
    },
    /// A template names a variable that `[variables]` does not declare.
    #[error("{place} refers to variable {name:?}, which [variables] does not declare")]
    UndeclaredVariable {
        /// Where the reference is.
        place: String,
        /// The undeclared name.
        name: String,
    },
    /// A component config key is not valid.
    #[error("component {component:?}: config key {key:?} is invalid (use [a-z][a-z0-9_]*)")]
    ConfigKey {
        /// The component id.
        component: String,
        /// The key.
        key: String,
    },
    /// A route is malformed or duplicated.
    #[error("trigger route: {0}")]
    Route(#[from] RouteError),
    /// A trigger names a component that does not exist.
    #[error("route {route:?} names component {component:?}, which is not declared")]
    UnknownComponent {
        /// The route.
        route: String,
        /// The missing component id.
        component: String,
    },
    /// An `allowed_outbound_hosts` entry is malformed.
    #[error("component {component:?}: allowed_outbound_hosts: {source}")]
    AllowedHost {
        /// The component id.
        component: String,
        /// What is wrong with the entry.
        source: AllowListError,
    },
    /// The manifest uses something this host does not implement.
    #[error("{0} is not supported by hayon-host")]
    Unsupported(String),
}

/// A declared application variable (`[variables]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// The default value, if any.
    pub default: Option<String>,
    /// Whether start-up fails when no value is given.
    pub required: bool,
    /// Whether the value must never be shown.
    pub secret: bool,
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDecl {
    /// Shell commands, run one after another.
    pub commands: Vec<String>,
    /// Directory the commands run in (absolute).
    pub workdir: PathBuf,
    /// Glob patterns, relative to `workdir`, of the files the build depends on.
    pub watch: Vec<String>,
}

/// `[component.<id>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDecl {
    /// The component id.
    pub id: String,
    /// The component's `.wasm` file (absolute).
    pub source: PathBuf,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// `allowed_outbound_hosts` entries, possibly templated.
    pub allowed_outbound_hosts: Vec<Template>,
    /// `[component.<id>.variables]`: config key → template over application variables.
    pub config: BTreeMap<String, Template>,
    /// Environment variables given to the component.
    pub environment: BTreeMap<String, String>,
    /// How to build the component, if the manifest says.
    pub build: Option<BuildDecl>,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding the manifest; relative paths are resolved against it.
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[variables]`.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` routes.
    pub routes: RouteTable,
    /// `[component.<id>]` tables by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        Self::parse(&text, &dir)
    }

    /// Parses and validates manifest text; `dir` is the directory it came from.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            return Err(ManifestError::Version);
        }

        let variables = parse_variables(raw.variables)?;
        let declared: BTreeSet<&str> = variables.keys().map(String::as_str).collect();

        let mut components = BTreeMap::new();
        for (id, component) in raw.component {
            let component = parse_component(&id, component, dir, &declared)?;
            components.insert(id, component);
        }

        let routes = parse_triggers(raw.trigger, &components)?;

        Ok(Self {
            dir: dir.to_owned(),
            name: raw.application.name,
            variables,
            routes,
            components,
        })
    }
}

fn parse_variables(
    raw: BTreeMap<String, RawVariable>,
) -> Result<BTreeMap<String, VariableDecl>, ManifestError> {
    let mut out = BTreeMap::new();
    for (name, decl) in raw {
        if !is_variable_name(&name) {
            return Err(ManifestError::VariableName(name));
        }
        if decl.required && decl.default.is_some() {
            return Err(ManifestError::RequiredWithDefault(name));
        }
        out.insert(
            name,
            VariableDecl {
                default: decl.default,
                required: decl.required,
                secret: decl.secret,
            },
        );
    }
    Ok(out)
}

fn parse_template(
    place: impl Fn() -> String,
    source: &str,
    declared: &BTreeSet<&str>,
) -> Result<Template, ManifestError> {
    let template = Template::parse(source).map_err(|source| ManifestError::Template {
        place: place(),
        source,
    })?;
    if let Some(name) = template.variables().find(|name| !declared.contains(name)) {
        return Err(ManifestError::UndeclaredVariable {
            place: place(),
            name: name.to_owned(),
        });
    }
    Ok(template)
}

fn is_component_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

fn parse_component(
    id: &str,
    raw: RawComponent,
    dir: &Path,
    declared: &BTreeSet<&str>,
) -> Result<ComponentDecl, ManifestError> {
    if !is_component_id(id) {
        return Err(ManifestError::ComponentId(id.to_owned()));
    }
    if raw.files.is_some() {
        return Err(ManifestError::Unsupported(format!(
            "component {id:?}: `files`"
        )));
    }
    let source = match raw.source {
        RawSource::Path(path) => dir.join(path),
        RawSource::Remote(_) => {
            return Err(ManifestError::Unsupported(format!(
                "component {id:?}: a remote `source` (url + digest)"
            )));
        }
    };

    let mut allowed_outbound_hosts = Vec::new();
    for entry in &raw.allowed_outbound_hosts {
        let place = || format!("component {id:?} allowed_outbound_hosts {entry:?}");
        let template = parse_template(place, entry, declared)?;
        if template.variables().next().is_none() {
            // A literal entry can be checked now; templated ones are checked at start-up.
            AllowedHost::parse(entry).map_err(|source| ManifestError::AllowedHost {
                component: id.to_owned(),
                source,
            })?;
        }
        allowed_outbound_hosts.push(template);
    }

    let mut config = BTreeMap::new();
    for (key, value) in &raw.variables {
        if !is_variable_name(key) {
            return Err(ManifestError::ConfigKey {
                component: id.to_owned(),
                key: key.clone(),
            });
        }
        let place = || format!("component {id:?} variable {key:?}");
        config.insert(key.clone(), parse_template(place, value, declared)?);
    }

    let build = raw.build.map(|build| {
        let workdir = match &build.workdir {
            Some(workdir) => dir.join(workdir),
            None => dir.to_owned(),
        };
        let commands = match build.command {
            RawCommand::One(command) => vec![command],
            RawCommand::Many(commands) => commands,
        };
        BuildDecl {
            commands,
            workdir,
            watch: build.watch,
        }
    });

    Ok(ComponentDecl {
        id: id.to_owned(),
        source,
        key_value_stores: raw.key_value_stores,
        allowed_outbound_hosts,
        config,
        environment: raw.environment,
        build,
    })
}

fn parse_triggers(
    raw: RawTriggers,
    components: &BTreeMap<String, ComponentDecl>,
) -> Result<RouteTable, ManifestError> {
    if let Some(other) = raw.other.keys().next() {
        return Err(ManifestError::Unsupported(format!(
            "trigger type {other:?}"
        )));
    }
    let mut routes = Vec::new();
    for trigger in raw.http {
        let component = match trigger.component {
            RawComponentRef::Id(id) => id,
            RawComponentRef::Inline(_) => {
                return Err(ManifestError::Unsupported(
                    "an inline component in [[trigger.http]]".to_owned(),
                ));
            }
        };
        let route = match trigger.route {
            RawRoute::Path(route) => route,
            // A private component has no HTTP route: nothing to serve.
            RawRoute::Private { .. } => continue,
        };
        if !components.contains_key(&component) {
            return Err(ManifestError::UnknownComponent { route, component });
        }
        routes.push((Route::parse(&route)?, component));
    }
    Ok(RouteTable::new(routes)?)
}

// The manifest's TOML shape. Fields Spin accepts but that do not change how this host
// serves (descriptions, `exclude_files`, `dependencies_inherit_configuration`, ...) are
// ignored; see `parse_component` for the ones that are refused.

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: i64,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    #[allow(dead_code, reason = "accepted for Spin compatibility; not used")]
    description: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: RawComponentRef,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private {
        #[allow(dead_code, reason = "only its presence matters")]
        private: bool,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawComponentRef {
    Id(String),
    Inline(#[allow(dead_code, reason = "only the variant matters")] toml::Table),
}

#[derive(Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    files: Option<toml::Value>,
    build: Option<RawBuild>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Remote(#[allow(dead_code, reason = "only the variant matters")] toml::Table),
}

#[derive(Deserialize)]
struct RawBuild {
    command: RawCommand,
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommand {
    One(String),
    Many(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2

[application]
name = "test-app"

[variables]
secret_key = { required = true, secret = true }
service_url = { default = "https://bsky.social" }
pds_hosts = { default = "https://*:443" }

[[trigger.http]]
route = "/api/platform/bluesky/..."
component = "bluesky"

[component.bluesky]
source = "target/bluesky.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["{{ service_url }}", "{{pds_hosts}}", "https://plc.directory"]
[component.bluesky.variables]
secret_key = "{{ secret_key }}"
greeting = "hello {{ service_url }}"
[component.bluesky.build]
command = "cargo build"
watch = ["src/**/*.rs"]
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("/app"))
    }

    #[test]
    fn reads_a_complete_manifest() {
        let manifest = parse(GOOD).unwrap();
        assert_eq!(manifest.name, "test-app");
        assert!(manifest.variables["secret_key"].required);
        assert!(manifest.variables["secret_key"].secret);
        assert_eq!(
            manifest.variables["service_url"].default.as_deref(),
            Some("https://bsky.social")
        );

        let bluesky = &manifest.components["bluesky"];
        assert_eq!(bluesky.source, Path::new("/app/target/bluesky.wasm"));
        assert_eq!(bluesky.key_value_stores, ["default"]);
        assert_eq!(bluesky.allowed_outbound_hosts.len(), 3);
        assert_eq!(
            bluesky.config["greeting"].source(),
            "hello {{ service_url }}"
        );
        let build = bluesky.build.as_ref().unwrap();
        assert_eq!(build.commands, ["cargo build"]);
        assert_eq!(build.workdir, Path::new("/app"));
        assert_eq!(build.watch, ["src/**/*.rs"]);

        let found = manifest
            .routes
            .lookup("/api/platform/bluesky/status")
            .unwrap();
        assert_eq!(found.component, "bluesky");
        assert_eq!(found.path_info, "/status");
    }

    #[test]
    fn refuses_a_bad_variable_name() {
        let text = GOOD.replace("pds_hosts = {", "PDS_hosts = {");
        assert!(matches!(parse(&text), Err(ManifestError::VariableName(n)) if n == "PDS_hosts"));
    }

    #[test]
    fn refuses_required_with_default() {
        let text = GOOD.replace(
            "secret_key = { required = true, secret = true }",
            "secret_key = { required = true, default = \"x\" }",
        );
        assert!(matches!(
            parse(&text),
            Err(ManifestError::RequiredWithDefault(_))
        ));
    }

    #[test]
    fn refuses_a_template_naming_an_undeclared_variable() {
        let text = GOOD.replace("\"{{ service_url }}\", ", "\"{{ nowhere }}\", ");
        let err = parse(&text).unwrap_err();
        assert!(
            matches!(&err, ManifestError::UndeclaredVariable { name, .. } if name == "nowhere"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_malformed_template() {
        let text = GOOD.replace("hello {{ service_url }}", "hello {{ service_url");
        assert!(matches!(parse(&text), Err(ManifestError::Template { .. })));
    }

    #[test]
    fn refuses_a_bad_route() {
        let text = GOOD.replace("/api/platform/bluesky/...", "api/platform/bluesky/...");
        assert!(matches!(parse(&text), Err(ManifestError::Route(_))));
        let text = GOOD.replace("/api/platform/bluesky/...", "/api/.../bluesky");
        assert!(matches!(parse(&text), Err(ManifestError::Route(_))));
    }

    #[test]
    fn refuses_a_route_to_an_unknown_component() {
        let text = GOOD.replace("component = \"bluesky\"", "component = \"tumblr\"");
        assert!(matches!(
            parse(&text),
            Err(ManifestError::UnknownComponent { .. })
        ));
    }

    #[test]
    fn refuses_a_literal_allowed_host_without_scheme() {
        let text = GOOD.replace("\"https://plc.directory\"", "\"plc.directory\"");
        assert!(matches!(
            parse(&text),
            Err(ManifestError::AllowedHost { .. })
        ));
    }

    #[test]
    fn refuses_a_bad_config_key() {
        let text = GOOD.replace("greeting = ", "Greeting = ");
        assert!(matches!(parse(&text), Err(ManifestError::ConfigKey { .. })));
    }

    #[test]
    fn refuses_unsupported_features() {
        let text = GOOD.replace("key_value_stores", "files = [\"a\"]\nkey_value_stores");
        assert!(matches!(parse(&text), Err(ManifestError::Unsupported(_))));
        let text = format!("{GOOD}\n[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"bluesky\"\n");
        assert!(matches!(parse(&text), Err(ManifestError::Unsupported(_))));
    }

    #[test]
    fn refuses_other_manifest_versions() {
        let text = GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(matches!(parse(&text), Err(ManifestError::Version)));
    }

    #[test]
    fn private_routes_are_not_served() {
        let text = GOOD.replace(
            "route = \"/api/platform/bluesky/...\"",
            "route = { private = true }",
        );
        let manifest = parse(&text).unwrap();
        assert!(
            manifest
                .routes
                .lookup("/api/platform/bluesky/status")
                .is_none()
        );
    }

    #[test]
    fn reads_the_project_manifest() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
        let manifest = Manifest::load(&path).unwrap();
        assert!(manifest.components.contains_key("bluesky"));
        assert!(manifest.variables["access_token_secret"].secret);
    }
}
