//! Building components before serving them, as `spin build` would.
//!
//! A component with a `[component.<id>.build]` table is rebuilt when its `.wasm` file is
//! missing or older than any file matched by its `watch` globs. The build commands run
//! through `sh -c` in the build's working directory (the manifest's directory unless
//! `workdir` says otherwise), with their output going straight to the terminal.
//!
//! Running this from inside `cargo run` or `cargo test` works: the components build for
//! `wasm32-wasip2` with their own profile, in other directories (and under other locks)
//! than the native build that is running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context as _, bail};

use crate::manifest::{BuildDecl, ComponentDecl, Manifest};

/// Builds every component of the manifest at `manifest_path` that is missing or stale.
pub fn build_components(manifest_path: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    for component in manifest.components.values() {
        let Some(build) = &component.build else {
            if !component.source.exists() {
                bail!(
                    "component `{}`: {} does not exist and the manifest has no build command \
                     for it",
                    component.id,
                    component.source.display()
                );
            }
            continue;
        };
        let Some(reason) = stale_reason(component, build)? else {
            continue;
        };
        tracing::info!(component = %component.id, reason = %reason, "building component");
        run_build(component, build)?;
        if !component.source.exists() {
            bail!(
                "component `{}`: the build succeeded but {} is still missing; check `source` \
                 in the manifest",
                component.id,
                component.source.display()
            );
        }
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Why the component needs building, or `None` when it is up to date.
fn stale_reason(component: &ComponentDecl, build: &BuildDecl) -> anyhow::Result<Option<String>> {
    let Some(built) = modified(&component.source) else {
        return Ok(Some(format!(
            "{} does not exist",
            component.source.display()
        )));
    };
    for pattern in &build.watch {
        let full = build.workdir.join(pattern);
        let full = full.to_str().with_context(|| {
            format!(
                "component `{}`: watch pattern {pattern:?} is not UTF-8",
                component.id
            )
        })?;
        let paths = glob::glob(full).with_context(|| {
            format!(
                "component `{}`: watch pattern {pattern:?} is invalid",
                component.id
            )
        })?;
        for path in paths.filter_map(Result::ok) {
            if modified(&path).is_some_and(|changed| changed > built) {
                let shown = path.strip_prefix(&build.workdir).unwrap_or(&path);
                return Ok(Some(format!("{} changed", shown.display())));
            }
        }
    }
    Ok(None)
}

fn run_build(component: &ComponentDecl, build: &BuildDecl) -> anyhow::Result<()> {
    for command in &build.commands {
        eprintln!("hayon-host: building `{}`: {command}", component.id);
        let status = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&build.workdir)
            .status()
            .with_context(|| format!("cannot run the build command of `{}`", component.id))?;
        if !status.success() {
            bail!(
                "building component `{}` failed ({status}); the command was `{command}` in {}",
                component.id,
                build.workdir.display()
            );
        }
    }
    Ok(())
}

/// The `.wasm` files the manifest names, for messages.
pub(crate) fn missing_sources(manifest: &Manifest) -> Vec<(String, PathBuf)> {
    manifest
        .components
        .values()
        .filter(|c| !c.source.exists())
        .map(|c| (c.id.clone(), c.source.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write_manifest(dir: &Path, command: &str) -> PathBuf {
        let text = format!(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[component.c]
source = "out/c.wasm"
[component.c.build]
command = "{command}"
watch = ["src/**/*.rs"]
"#
        );
        let path = dir.join("spin.toml");
        fs::write(&path, text).unwrap();
        fs::create_dir_all(dir.join("src/nested")).unwrap();
        fs::write(dir.join("src/nested/lib.rs"), "// source").unwrap();
        path
    }

    fn count_runs(dir: &Path) -> usize {
        fs::read_to_string(dir.join("runs")).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn builds_when_missing_then_only_when_a_watched_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(
            dir.path(),
            "mkdir -p out && touch out/c.wasm && echo run >> runs",
        );

        build_components(&manifest).unwrap();
        assert_eq!(count_runs(dir.path()), 1);

        build_components(&manifest).unwrap();
        assert_eq!(
            count_runs(dir.path()),
            1,
            "an up-to-date component is not rebuilt"
        );

        // Make the source newer than the output.
        let source = dir.path().join("src/nested/lib.rs");
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        fs::File::options()
            .write(true)
            .open(&source)
            .unwrap()
            .set_modified(later)
            .unwrap();
        build_components(&manifest).unwrap();
        assert_eq!(count_runs(dir.path()), 2);
    }

    #[test]
    fn a_failing_build_names_the_component() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(dir.path(), "exit 3");
        let err = build_components(&manifest).unwrap_err().to_string();
        assert!(err.contains("`c`") && err.contains("exit 3"), "{err}");
    }

    #[test]
    fn a_build_that_produces_nothing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(dir.path(), "true");
        let err = build_components(&manifest).unwrap_err().to_string();
        assert!(err.contains("still missing"), "{err}");
    }
}
