//! cao's config file: a small TOML file for the settings a user wants to keep rather than
//! export in every shell — the default provider, extra profile directories, and per-provider
//! overrides (where a CLI keeps its agents, which executable, which model).
//!
//! Two files are read, the first one found for each setting winning:
//! `CAO_HOME/config.toml` (per state directory), then `$XDG_CONFIG_HOME/cao/config.toml`
//! (default `~/.config/cao/config.toml`, per user). Lists (`profile_dirs`) are joined in that
//! order. `CAO_PROVIDER` in the environment beats both for the default provider.
//!
//! ```toml
//! default_provider = "claude_code"
//! profile_dirs = ["~/team-agents", "agents"]   # relative paths: next to the config file
//!
//! [providers.kiro_cli]
//! agents_dir = "~/.kiro/agents"
//! executable = "/opt/kiro/bin/kiro-cli"
//! model = "claude-sonnet-4"
//! args = ["--verbose"]
//!
//! [hosts.build1]                      # workers on another machine, over ssh (`host: build1`)
//! ssh = "me@build1"
//! ssh_args = ["-p", "2222"]
//! cao = "/usr/local/bin/cao"          # the remote cao (default: `cao` on its PATH)
//! workdir = "/srv/work"
//! env = { CAO_HOME = "/srv/cao" }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env;
use crate::provider_id::ProviderId;

/// Name of the config file in each config directory.
pub const FILE_NAME: &str = "config.toml";
/// Largest config file cao reads; a real one is a few hundred bytes.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Top-level keys the config file understands.
pub const KNOWN_KEYS: &[&str] = &["default_provider", "profile_dirs", "providers", "hosts"];
/// Keys of a `[providers.NAME]` table.
pub const PROVIDER_KEYS: &[&str] = &["agents_dir", "executable", "model", "args"];
/// Keys of a `[hosts.NAME]` table.
pub const HOST_KEYS: &[&str] = &["ssh", "ssh_args", "cao", "env", "workdir"];

/// What went wrong reading a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read config file {path}: {source}; check its permissions or remove it")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value has the wrong type.
    #[error("config file {path} line {line}: {reason}; fix it, then check with `cao config`")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What the TOML parser said.
        reason: String,
    },
    /// The file is far bigger than any real config.
    #[error(
        "config file {path} is {len} bytes, over the {MAX_CONFIG_BYTES}-byte limit; it should hold a few settings"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
}

/// Where an effective setting came from, so `cao config` can explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "from")]
pub enum Origin {
    /// cao's built-in default.
    Default,
    /// An environment variable.
    Env(String),
    /// A config file.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    /// The effective value.
    pub value: T,
    /// Its origin.
    pub origin: Origin,
}

/// Per-provider overrides from `[providers.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderSettings {
    /// Where this CLI keeps its agents (profile lookup and agent files).
    pub agents_dir: Option<Setting<PathBuf>>,
    /// The CLI's executable, instead of a `PATH` lookup.
    pub executable: Option<Setting<PathBuf>>,
    /// Model for profiles that name none.
    pub model: Option<Setting<String>>,
    /// Extra arguments for the CLI.
    pub args: Option<Setting<Vec<String>>>,
}

/// A machine workers can run on, from `[hosts.NAME]`: reached with the system's `ssh`, where
/// its own `cao` runs the workers in its own tmux.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostConfig {
    /// The ssh destination (`me@build1`, or a `Host` of the user's ssh config).
    pub ssh: String,
    /// Extra ssh arguments (a port, an identity file), before the destination.
    pub ssh_args: Vec<String>,
    /// The cao binary there.
    pub cao: String,
    /// Environment for the remote cao (its own `CAO_HOME`, `CAO_TMUX_SOCKET`, ...).
    pub env: BTreeMap<String, String>,
    /// Default working directory there (else the remote login's home).
    pub workdir: Option<String>,
    /// The file it came from.
    pub origin: Origin,
}

/// One config file cao looked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// Its path.
    pub path: PathBuf,
    /// Whether it existed and was read.
    pub loaded: bool,
}

/// The effective configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The state directory (`CAO_HOME`).
    pub home: PathBuf,
    /// The user's home directory (`HOME`), base of the CLIs' agent directories.
    pub user_home: Option<PathBuf>,
    /// The files consulted, highest precedence first.
    pub files: Vec<ConfigFile>,
    /// The provider for a terminal when nothing else decides.
    pub default_provider: Option<Setting<String>>,
    /// Extra profile directories, searched after the CLIs' agent directories.
    pub profile_dirs: Vec<Setting<PathBuf>>,
    /// Per-provider overrides.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// Machines workers can run on, by name.
    pub hosts: BTreeMap<String, HostConfig>,
    /// Things in the files that cao did not use (unknown keys or providers).
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    default_provider: Option<String>,
    profile_dirs: Option<Vec<String>>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    hosts: BTreeMap<String, RawHost>,
}

#[derive(Debug, Default, Deserialize)]
struct RawHost {
    ssh: Option<String>,
    #[serde(default)]
    ssh_args: Vec<String>,
    cao: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    workdir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawProvider {
    agents_dir: Option<String>,
    executable: Option<String>,
    model: Option<String>,
    args: Option<Vec<String>>,
}

/// The user's home directory: `HOME`, else the platform's notion of it.
pub fn user_home() -> Option<PathBuf> {
    env::non_empty(env::HOME)
        .map(PathBuf::from)
        .or_else(dirs::home_dir)
}

/// The per-user config file: `$XDG_CONFIG_HOME/cao/config.toml`, else `~/.config/cao/config.toml`.
pub fn user_config_path(user_home: Option<&Path>) -> Option<PathBuf> {
    let base = env::non_empty(env::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| user_home.map(|h| h.join(".config")))?;
    Some(base.join("cao").join(FILE_NAME))
}

impl Config {
    /// The configuration for this environment: `CAO_HOME`'s file, the user's file, and
    /// `CAO_PROVIDER`.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let user_home = user_home();
        let mut paths = vec![home.join(FILE_NAME)];
        paths.extend(user_config_path(user_home.as_deref()));
        Config::load_from(home, user_home, &paths, env::non_empty(env::CAO_PROVIDER))
    }

    /// Built-in defaults only (used when the files cannot be read and something must go on).
    pub fn defaults(home: &Path) -> Config {
        Config {
            home: home.to_path_buf(),
            user_home: user_home(),
            files: Vec::new(),
            default_provider: env::non_empty(env::CAO_PROVIDER).map(|value| Setting {
                value,
                origin: Origin::Env(env::CAO_PROVIDER.into()),
            }),
            profile_dirs: Vec::new(),
            providers: BTreeMap::new(),
            hosts: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Reads `paths` (highest precedence first) on top of the defaults.
    pub fn load_from(
        home: &Path,
        user_home: Option<PathBuf>,
        paths: &[PathBuf],
        env_provider: Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config {
            home: home.to_path_buf(),
            user_home,
            files: Vec::new(),
            default_provider: env_provider.map(|value| Setting {
                value,
                origin: Origin::Env(env::CAO_PROVIDER.into()),
            }),
            profile_dirs: Vec::new(),
            providers: BTreeMap::new(),
            hosts: BTreeMap::new(),
            warnings: Vec::new(),
        };
        for path in paths {
            let Some(text) = read_file(path)? else {
                config.files.push(ConfigFile {
                    path: path.clone(),
                    loaded: false,
                });
                continue;
            };
            config.files.push(ConfigFile {
                path: path.clone(),
                loaded: true,
            });
            config.merge(path, &text)?;
        }
        if let Some(p) = &config.default_provider {
            let known = ProviderId::names();
            if !known.contains(&p.value.as_str()) {
                config.warnings.push(format!(
                    "default_provider {:?} (from {}) is not a provider cao can run; valid: {}",
                    p.value,
                    p.origin,
                    known.join(", ")
                ));
            }
        }
        Ok(config)
    }

    fn merge(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1),
            reason: e.message().trim().to_string(),
        };
        let table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let raw: RawFile = toml::from_str(text).map_err(parse_err)?;
        let origin = Origin::File(path.to_path_buf());
        let line_of = |key: &str| {
            text.lines()
                .position(|l| {
                    l.trim_start()
                        .strip_prefix(key)
                        .is_some_and(|r| r.trim_start().starts_with('='))
                })
                .map(|i| format!(" line {}", i + 1))
                .unwrap_or_default()
        };
        for key in table.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            self.warnings.push(format!(
                "{}{}: unknown key `{key}` ignored; known keys: {}",
                path.display(),
                line_of(key),
                KNOWN_KEYS.join(", ")
            ));
        }
        if let Some(toml::Value::Table(providers)) = table.get("providers") {
            let names = ProviderId::names();
            for (name, value) in providers {
                if !names.contains(&name.as_str()) {
                    self.warnings.push(format!(
                        "{}: [providers.{name}] is not a provider cao knows; valid: {}",
                        path.display(),
                        names.join(", ")
                    ));
                }
                if let toml::Value::Table(t) = value {
                    for key in t.keys().filter(|k| !PROVIDER_KEYS.contains(&k.as_str())) {
                        self.warnings.push(format!(
                            "{}{}: unknown key `{key}` in [providers.{name}] ignored; known keys: {}",
                            path.display(),
                            line_of(key),
                            PROVIDER_KEYS.join(", ")
                        ));
                    }
                }
            }
        }
        if let Some(toml::Value::Table(hosts)) = table.get("hosts") {
            for (name, value) in hosts {
                if let toml::Value::Table(t) = value {
                    for key in t.keys().filter(|k| !HOST_KEYS.contains(&k.as_str())) {
                        self.warnings.push(format!(
                            "{}{}: unknown key `{key}` in [hosts.{name}] ignored; known keys: {}",
                            path.display(),
                            line_of(key),
                            HOST_KEYS.join(", ")
                        ));
                    }
                }
            }
        }
        for (name, h) in raw.hosts {
            if self.hosts.contains_key(&name) {
                continue;
            }
            if !valid_host_name(&name) {
                self.warnings.push(format!(
                    "{}: [hosts.{name}] ignored: a host name is letters, digits, '-' and '_'",
                    path.display()
                ));
                continue;
            }
            let Some(ssh) = h
                .ssh
                .filter(|d| !d.trim().is_empty() && !d.starts_with('-'))
            else {
                self.warnings.push(format!(
                    "{}: [hosts.{name}] ignored: it needs `ssh = \"user@machine\"` (the ssh destination)",
                    path.display()
                ));
                continue;
            };
            self.hosts.insert(
                name,
                HostConfig {
                    ssh,
                    ssh_args: h.ssh_args,
                    cao: h
                        .cao
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "cao".into()),
                    env: h.env,
                    workdir: h.workdir.filter(|w| !w.is_empty()),
                    origin: origin.clone(),
                },
            );
        }

        let base = path.parent().unwrap_or(Path::new("."));
        let setting = |value| Setting {
            value,
            origin: origin.clone(),
        };
        if self.default_provider.is_none() {
            self.default_provider = raw.default_provider.filter(|p| !p.is_empty()).map(setting);
        }
        for dir in raw.profile_dirs.unwrap_or_default() {
            let resolved = self.resolve_path(base, &dir);
            self.profile_dirs.push(Setting {
                value: resolved,
                origin: origin.clone(),
            });
        }
        for (name, p) in raw.providers {
            let agents_dir = p.agents_dir.map(|d| self.resolve_path(base, &d));
            let executable = p.executable.map(|d| self.resolve_path(base, &d));
            let entry = self.providers.entry(name).or_default();
            let keep = |slot: &mut Option<Setting<_>>, value: Option<_>| {
                if slot.is_none() {
                    *slot = value.map(|value| Setting {
                        value,
                        origin: origin.clone(),
                    });
                }
            };
            keep(&mut entry.agents_dir, agents_dir);
            keep(&mut entry.executable, executable);
            if entry.model.is_none() {
                entry.model = p.model.map(|value| Setting {
                    value,
                    origin: origin.clone(),
                });
            }
            if entry.args.is_none() {
                entry.args = p.args.map(|value| Setting {
                    value,
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }

    /// `~/x` against the user's home; a relative path against the config file's directory.
    fn resolve_path(&self, base: &Path, raw: &str) -> PathBuf {
        if raw == "~"
            && let Some(h) = &self.user_home
        {
            return h.clone();
        }
        if let Some(rest) = raw.strip_prefix("~/")
            && let Some(h) = &self.user_home
        {
            return h.join(rest);
        }
        let path = PathBuf::from(raw);
        if path.is_absolute() {
            path
        } else {
            base.join(path)
        }
    }

    /// The overrides for one provider, if any.
    pub fn provider(&self, name: &str) -> Option<&ProviderSettings> {
        self.providers.get(name)
    }

    /// Where `provider` keeps its agents: the config's override, else the CLI's own default
    /// under the user's home. `None` for a CLI without an agent directory (or no home).
    pub fn agents_dir(&self, provider: &str) -> Option<Setting<PathBuf>> {
        if let Some(s) = self.provider(provider).and_then(|p| p.agents_dir.clone()) {
            return Some(s);
        }
        let rel = provider.parse::<ProviderId>().ok()?.default_agents_dir()?;
        Some(Setting {
            value: self.user_home.as_ref()?.join(rel),
            origin: Origin::Default,
        })
    }

    /// Every CLI agent directory, in lookup order: the known CLIs first, then any other
    /// provider the config gives an `agents_dir`.
    pub fn agent_dirs(&self) -> Vec<(String, Setting<PathBuf>)> {
        let mut out: Vec<(String, Setting<PathBuf>)> = ProviderId::WITH_AGENT_DIRS
            .iter()
            .filter_map(|id| {
                self.agents_dir(id.name())
                    .map(|s| (id.name().to_string(), s))
            })
            .collect();
        for (name, p) in &self.providers {
            if let Some(dir) = &p.agents_dir
                && !out.iter().any(|(n, _)| n == name)
            {
                out.push((name.clone(), dir.clone()));
            }
        }
        out
    }
}

/// Whether `name` can name a host: it goes into tool arguments, `cao list` and file names.
pub fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads a config file; `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    std::fs::read_to_string(path).map(Some).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(
        files: &[(&str, &str)],
        env_provider: Option<&str>,
    ) -> (tempfile::TempDir, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        paths.push(dir.path().join("absent.toml"));
        let user_home = dir.path().join("home");
        let cfg = Config::load_from(
            dir.path(),
            Some(user_home),
            &paths,
            env_provider.map(String::from),
        );
        (dir, cfg)
    }

    #[test]
    fn first_file_wins_and_lists_join() {
        let (dir, cfg) = load(
            &[
                (
                    "a/config.toml",
                    "default_provider = \"fake\"\nprofile_dirs = [\"rel\"]\n[providers.kiro_cli]\nagents_dir = \"~/k\"\n",
                ),
                (
                    "b/config.toml",
                    "default_provider = \"other\"\nprofile_dirs = [\"/abs\"]\n[providers.kiro_cli]\nagents_dir = \"/x\"\nmodel = \"m\"\n",
                ),
            ],
            None,
        );
        let cfg = cfg.unwrap();
        let a = dir.path().join("a/config.toml");
        let b = dir.path().join("b/config.toml");
        assert_eq!(cfg.default_provider.as_ref().unwrap().value, "fake");
        assert_eq!(
            cfg.default_provider.as_ref().unwrap().origin,
            Origin::File(a.clone())
        );
        let dirs: Vec<_> = cfg.profile_dirs.iter().map(|s| s.value.clone()).collect();
        assert_eq!(dirs, [dir.path().join("a/rel"), PathBuf::from("/abs")]);
        let kiro = cfg.provider("kiro_cli").unwrap();
        assert_eq!(
            kiro.agents_dir.as_ref().unwrap().value,
            dir.path().join("home/k")
        );
        assert_eq!(kiro.model.as_ref().unwrap().origin, Origin::File(b));
        assert_eq!(cfg.files.iter().filter(|f| f.loaded).count(), 2);
        assert!(!cfg.files[2].loaded);
        assert_eq!(
            cfg.agents_dir("claude_code").unwrap().value,
            dir.path().join("home/.claude/agents")
        );
        assert_eq!(
            cfg.agents_dir("claude_code").unwrap().origin,
            Origin::Default
        );
    }

    #[test]
    fn env_beats_files_for_default_provider() {
        let (_dir, cfg) = load(&[("c.toml", "default_provider = \"x\"\n")], Some("fake"));
        let p = cfg.unwrap().default_provider.unwrap();
        assert_eq!(
            (p.value.as_str(), p.origin),
            ("fake", Origin::Env("CAO_PROVIDER".into()))
        );
    }

    #[test]
    fn unknown_keys_warn_and_bad_types_fail_with_line() {
        let (_dir, cfg) = load(
            &[("c.toml", "colour = 1\n[providers.nope]\nspeed = 2\n")],
            None,
        );
        let w = cfg.unwrap().warnings.join("\n");
        assert!(
            w.contains("unknown key `colour`") && w.contains("line 1"),
            "{w}"
        );
        assert!(w.contains("[providers.nope] is not a provider"), "{w}");
        assert!(w.contains("unknown key `speed`"), "{w}");
        let (_dir, cfg) = load(&[("c.toml", "\n\nprofile_dirs = \"not a list\"\n")], None);
        match cfg {
            Err(ConfigError::Parse { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
        let (_dir, cfg) = load(&[("c.toml", "default_provider = \n")], None);
        assert!(matches!(cfg, Err(ConfigError::Parse { line: 1, .. })));
    }
}
