//! `cao install`: bring a profile into the installed store (`CAO_HOME/profiles/NAME.md`) from
//! a name cao can already find, a file, or an https URL, and write the agent file of a CLI that
//! needs one.
//!
//! The profile's name always comes from its front matter (validated), never from a file name
//! or URL path. Everything is checked before anything is written, so a refused install
//! changes nothing. Re-installing the same profile changes nothing; replacing a different
//! profile of the same name, or an agent file cao did not write, takes `--force`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::agent_files::{self, AgentFile, AgentFileError, FileAction, Manifest};
use super::discover::read_capped;
use super::fetch::{self, FetchError, FetchPolicy};
use super::review::Review;
use super::{Discovery, ProfileError, ProfileSource, installed_dir, parse, validate_name};
use crate::config::{self, Config};
use crate::provider_id::ProviderId;

/// What to install and how.
#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    /// A profile name, a file path or an https URL.
    pub source: String,
    /// The CLI to write an agent file for (default: the profile's `provider`, else the
    /// configured default provider).
    pub provider: Option<String>,
    /// Replace a different installed profile, or an agent file cao did not write.
    pub force: bool,
    /// Allow loopback URLs (and plain http to them), for local test servers.
    pub allow_http_loopback: bool,
}

/// The three kinds of SOURCE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum SourceKind {
    /// A profile cao can find (installed, CLI dirs, extra dirs, built-in).
    Name(String),
    /// A Markdown file.
    File(PathBuf),
    /// A URL.
    Url(String),
}

/// An agent file written (or found up to date).
#[derive(Debug, Clone, Serialize)]
pub struct AgentFileReport {
    /// The CLI.
    pub provider: String,
    /// The file.
    pub path: PathBuf,
    /// What happened to it.
    pub action: FileAction,
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// The profile's name (from its front matter).
    pub name: String,
    /// Where it came from.
    pub source: SourceKind,
    /// The exact file or URL it was read from (`built-in:NAME` for a built-in profile).
    pub origin: String,
    /// The installed file.
    pub stored: PathBuf,
    /// What happened to it.
    pub action: FileAction,
    /// The CLI agent file(s) written.
    pub agent_files: Vec<AgentFileReport>,
    /// Non-fatal findings (unknown keys, unknown provider).
    pub warnings: Vec<String>,
}

/// Why an install was refused or failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The profile is missing, malformed, or has a bad name.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The URL was refused or could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The CLI agent file could not be produced or is in the way.
    #[error(transparent)]
    AgentFile(#[from] AgentFileError),
    /// The config file is broken.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A path that does not exist.
    #[error("no file {}; check the path (a profile name has no '/' and no '.md')", .0.display())]
    NoSuchFile(PathBuf),
    /// `--provider` names no provider cao knows.
    #[error("unknown provider '{name}'; valid: {valid}")]
    UnknownProvider {
        /// What was given.
        name: String,
        /// The valid names.
        valid: String,
    },
    /// A different profile of the same name is installed.
    #[error("a different profile named '{name}' is already installed at {}; pass --force to replace it", .path.display())]
    Clash {
        /// The name.
        name: String,
        /// The installed file.
        path: PathBuf,
    },
    /// Writing the installed profile failed.
    #[error("cannot write {}: {source}; check that CAO_HOME is writable", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Tells a URL, a file path and a profile name apart.
pub fn classify_source(source: &str) -> Result<SourceKind, InstallError> {
    if let Some((scheme, _)) = source.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Ok(SourceKind::Url(source.to_string()));
    }
    let path = Path::new(source);
    if path.is_file() {
        return Ok(SourceKind::File(path.to_path_buf()));
    }
    if source.contains(['/', '\\']) || source.ends_with(".md") {
        return Err(InstallError::NoSuchFile(path.to_path_buf()));
    }
    validate_name(source)?;
    Ok(SourceKind::Name(source.to_string()))
}

/// An install checked and ready to write: nothing is written until [`InstallPlan::apply`].
#[derive(Debug)]
pub struct InstallPlan {
    /// What the profile grants.
    pub review: Review,
    /// What the installed profile it replaces granted, when there is one and it differs.
    pub previous: Option<Review>,
    /// The profile's text.
    text: String,
    report: InstallReport,
    planned: Vec<(AgentFile, FileAction)>,
    manifest: Manifest,
}

impl InstallPlan {
    /// Whether a person should read the review and agree before it is written: any profile
    /// text new to the installed store, except a built-in one (part of cao itself). Writing
    /// the agent file of an installed profile grants nothing new.
    pub fn needs_confirmation(&self) -> bool {
        let built_in = matches!(self.report.source, SourceKind::Name(_))
            && self.report.origin.starts_with("built-in:");
        !built_in && self.report.action != FileAction::Unchanged
    }

    /// Where the profile comes from.
    pub fn source(&self) -> &SourceKind {
        &self.report.source
    }

    /// The exact file or URL it was read from.
    pub fn origin(&self) -> &str {
        &self.report.origin
    }

    /// Writes the profile and its agent files.
    pub fn apply(self) -> Result<InstallReport, InstallError> {
        let InstallPlan {
            text,
            mut report,
            planned,
            mut manifest,
            ..
        } = self;
        if report.action != FileAction::Unchanged {
            agent_files::write_atomic(&report.stored, text.as_bytes()).map_err(|source| {
                InstallError::Io {
                    path: report.stored.clone(),
                    source,
                }
            })?;
        }
        for (file, file_action) in planned {
            if file_action != FileAction::Unchanged {
                manifest.write(&file)?;
            }
            report.agent_files.push(AgentFileReport {
                provider: file.provider,
                path: file.path,
                action: file_action,
            });
        }
        Ok(report)
    }
}

/// Installs a profile (see the module docs) without asking: [`plan`] then apply.
pub fn install(config: &Config, req: &InstallRequest) -> Result<InstallReport, InstallError> {
    plan(config, req)?.apply()
}

/// Reads and checks everything an install needs, writing nothing.
pub fn plan(config: &Config, req: &InstallRequest) -> Result<InstallPlan, InstallError> {
    if let Some(p) = &req.provider {
        let valid = ProviderId::names();
        if !valid.contains(&p.as_str()) {
            return Err(InstallError::UnknownProvider {
                name: p.clone(),
                valid: valid.join(", "),
            });
        }
    }
    let source = classify_source(&req.source)?;
    let (text, origin) = match &source {
        SourceKind::Name(name) => {
            let found = Discovery::new(config).find(name)?;
            let origin = match &found.profile.source {
                ProfileSource::BuiltIn => format!("built-in:{name}"),
                other => other
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            };
            (found.text, origin)
        }
        SourceKind::File(path) => (read_capped(path)?, path.display().to_string()),
        SourceKind::Url(url) => {
            let policy = FetchPolicy {
                allow_http_loopback: req.allow_http_loopback,
                ..FetchPolicy::default()
            };
            let fetched = fetch::fetch(url, &policy)?;
            (fetched.text, fetched.url)
        }
    };
    let mut profile = parse(&text, &origin, ProfileSource::BuiltIn)?;
    let stored = installed_dir(&config.home).join(format!("{}.md", profile.name));
    profile.source = ProfileSource::Installed(stored.clone());

    let action = match std::fs::read(&stored) {
        Ok(existing) if existing == text.as_bytes() => FileAction::Unchanged,
        Ok(_) if req.force => FileAction::Overwrite,
        Ok(_) => {
            return Err(InstallError::Clash {
                name: profile.name.clone(),
                path: stored,
            });
        }
        Err(_) => FileAction::Create,
    };

    let target = req
        .provider
        .clone()
        .or_else(|| {
            profile
                .provider
                .clone()
                .filter(|p| ProviderId::names().contains(&p.as_str()))
        })
        .or_else(|| config.default_provider.as_ref().map(|s| s.value.clone()));
    let manifest = Manifest::load(&config.home);
    let mut planned = Vec::new();
    if let Some(provider) = &target
        && let Some(file) = agent_files::render(provider, &profile, &stored, config)?
    {
        let file_action = manifest.plan(&file, req.force)?;
        planned.push((file, file_action));
    }
    let review = Review::of(&profile);
    let previous = std::fs::read_to_string(&stored)
        .ok()
        .filter(|old| *old != text)
        .and_then(|old| parse(&old, &stored.display().to_string(), ProfileSource::BuiltIn).ok())
        .map(|old| Review::of(&old));
    Ok(InstallPlan {
        review,
        previous,
        text,
        report: InstallReport {
            name: profile.name,
            source,
            origin,
            stored,
            action,
            agent_files: Vec::new(),
            warnings: profile.warnings,
        },
        planned,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.md");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(
            classify_source("https://h/a.md").unwrap(),
            SourceKind::Url("https://h/a.md".into())
        );
        assert_eq!(
            classify_source("ftp://h/a.md").unwrap(),
            SourceKind::Url("ftp://h/a.md".into())
        );
        assert_eq!(
            classify_source(file.to_str().unwrap()).unwrap(),
            SourceKind::File(file.clone())
        );
        assert_eq!(
            classify_source("developer").unwrap(),
            SourceKind::Name("developer".into())
        );
        assert!(matches!(
            classify_source("./missing.md"),
            Err(InstallError::NoSuchFile(_))
        ));
        assert!(matches!(
            classify_source("bad name"),
            Err(InstallError::Profile(ProfileError::InvalidName(_)))
        ));
    }

    fn config(dir: &Path) -> Config {
        Config::load_from(&dir.join("cao"), Some(dir.join("user")), &[], None).unwrap()
    }

    #[test]
    fn install_is_idempotent_and_clash_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let src = dir.path().join("mine.md");
        std::fs::write(&src, "---\nname: mine\ndescription: one\n---\nA\n").unwrap();
        let req = InstallRequest {
            source: src.display().to_string(),
            ..Default::default()
        };
        assert_eq!(install(&cfg, &req).unwrap().action, FileAction::Create);
        assert_eq!(install(&cfg, &req).unwrap().action, FileAction::Unchanged);
        std::fs::write(&src, "---\nname: mine\ndescription: two\n---\nB\n").unwrap();
        assert!(matches!(
            install(&cfg, &req),
            Err(InstallError::Clash { .. })
        ));
        let forced = InstallRequest { force: true, ..req };
        assert_eq!(
            install(&cfg, &forced).unwrap().action,
            FileAction::Overwrite
        );
        assert_eq!(
            super::super::Discovery::new(&cfg)
                .find("mine")
                .unwrap()
                .profile
                .description,
            "two"
        );
    }

    #[test]
    fn refused_install_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let kiro = dir.path().join("user/.kiro/agents/mine.json");
        std::fs::create_dir_all(kiro.parent().unwrap()).unwrap();
        std::fs::write(&kiro, "{\"user\": true}").unwrap();
        let src = dir.path().join("mine.md");
        std::fs::write(&src, "---\nname: mine\ndescription: one\n---\nA\n").unwrap();
        let req = InstallRequest {
            source: src.display().to_string(),
            provider: Some("kiro_cli".into()),
            ..Default::default()
        };
        assert!(matches!(
            install(&cfg, &req),
            Err(InstallError::AgentFile(AgentFileError::NotOurs { .. }))
        ));
        assert!(!installed_dir(&cfg.home).join("mine.md").exists());
        assert_eq!(std::fs::read_to_string(&kiro).unwrap(), "{\"user\": true}");
    }
}
