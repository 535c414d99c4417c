//! Finding profiles: the places cao looks, in order, and what it finds there.
//!
//! A profile's name is its file name: `NAME.md` (or, in a CLI or extra directory, also
//! `NAME.agent.md`, Copilot's spelling, or `NAME/agent.md`). The `name` in the front matter
//! must agree, so what `cao profiles` lists is exactly what `load` finds. The first file
//! for a name wins even when it is broken: a broken installed profile is reported, never
//! silently replaced by a built-in one of the same name.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{BUILT_IN, Profile, ProfileError, ProfileSource, installed_dir, parse, validate_name};
use crate::config::{Config, Origin};

/// Most directory entries looked at in one place (a profile directory holds a handful).
const MAX_ENTRIES: usize = 4096;

/// A profile found, with the exact text it was parsed from (what `cao install` copies).
#[derive(Debug, Clone)]
pub struct Found {
    /// The parsed profile.
    pub profile: Profile,
    /// Its Markdown source.
    pub text: String,
}

/// Everything found in one pass over all places.
#[derive(Debug, Default)]
pub struct Scan {
    /// Usable profiles, first match per name, in lookup order.
    pub profiles: Vec<Profile>,
    /// Files that could not be used, each error naming the file.
    pub problems: Vec<ProfileError>,
}

#[derive(Debug, Clone)]
enum Kind {
    Installed,
    Provider(String),
    Extra,
}

#[derive(Debug, Clone)]
struct Place {
    dir: PathBuf,
    kind: Kind,
    /// Where the directory's setting comes from (shown by `cao config`).
    origin: Origin,
}

impl Place {
    fn source(&self, path: PathBuf) -> ProfileSource {
        match &self.kind {
            Kind::Installed => ProfileSource::Installed(path),
            Kind::Provider(p) => ProfileSource::ProviderDir {
                provider: p.clone(),
                path,
            },
            Kind::Extra => ProfileSource::ExtraDir(path),
        }
    }

    /// Files that would hold profile `name` here, in preference order.
    fn candidates(&self, name: &str) -> Vec<PathBuf> {
        match self.kind {
            Kind::Installed => vec![self.dir.join(format!("{name}.md"))],
            _ => vec![
                self.dir.join(format!("{name}.md")),
                self.dir.join(format!("{name}.agent.md")),
                self.dir.join(name).join("agent.md"),
            ],
        }
    }

    /// `(name, file)` for every profile-looking entry, sorted by name.
    fn entries(&self) -> Vec<(String, PathBuf)> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in read.flatten().take(MAX_ENTRIES) {
            let path = entry.path();
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let nested = !matches!(self.kind, Kind::Installed);
            let name = if path.is_dir() {
                if nested && path.join("agent.md").is_file() {
                    out.push((file_name.to_string(), path.join("agent.md")));
                }
                continue;
            } else if let Some(stem) = file_name.strip_suffix(".agent.md").filter(|_| nested) {
                stem
            } else if let Some(stem) = file_name.strip_suffix(".md") {
                stem
            } else {
                continue;
            };
            out.push((name.to_string(), path));
        }
        out.sort();
        out
    }
}

/// The ordered places cao looks for profiles.
#[derive(Debug, Clone)]
pub struct Discovery {
    places: Vec<Place>,
}

impl Discovery {
    /// The places for a configuration: installed, every CLI agent dir, the extra dirs.
    pub fn new(config: &Config) -> Discovery {
        let mut places = vec![Place {
            dir: installed_dir(&config.home),
            kind: Kind::Installed,
            origin: Origin::Env(crate::env::CAO_HOME.into()),
        }];
        for (provider, dir) in config.agent_dirs() {
            places.push(Place {
                dir: dir.value,
                kind: Kind::Provider(provider),
                origin: dir.origin,
            });
        }
        for dir in &config.profile_dirs {
            places.push(Place {
                dir: dir.value.clone(),
                kind: Kind::Extra,
                origin: dir.origin.clone(),
            });
        }
        Discovery { places }
    }

    /// The directories searched, in order, with the label `cao profiles` shows for each.
    pub fn dirs(&self) -> Vec<(String, PathBuf)> {
        self.lookup()
            .into_iter()
            .map(|(label, dir, _)| (label, dir))
            .collect()
    }

    /// [`Discovery::dirs`] with where each directory's setting comes from; built-in
    /// profiles come after all of them.
    pub fn lookup(&self) -> Vec<(String, PathBuf, Origin)> {
        self.places
            .iter()
            .map(|p| {
                let label = match &p.kind {
                    Kind::Installed => "installed".to_string(),
                    Kind::Provider(name) => name.clone(),
                    Kind::Extra => "extra".to_string(),
                };
                (label, p.dir.clone(), p.origin.clone())
            })
            .collect()
    }

    /// The first profile called `name`, with its source text.
    pub fn find(&self, name: &str) -> Result<Found, ProfileError> {
        validate_name(name)?;
        for place in &self.places {
            for path in place.candidates(name) {
                if path.is_file() {
                    return read_profile(place, name, &path);
                }
            }
        }
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            let profile = parse(text, &format!("built-in:{name}"), ProfileSource::BuiltIn)?;
            return Ok(Found {
                profile,
                text: text.to_string(),
            });
        }
        let scan = self.scan();
        Err(ProfileError::NotFound {
            name: name.to_string(),
            available: scan
                .profiles
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Every profile in lookup order (first per name) and every file that could not be used.
    pub fn scan(&self) -> Scan {
        let mut scan = Scan::default();
        let mut taken = BTreeSet::new();
        for place in &self.places {
            for (name, path) in place.entries() {
                if validate_name(&name).is_err() || taken.contains(&name) {
                    continue;
                }
                taken.insert(name.clone());
                match read_profile(place, &name, &path) {
                    Ok(found) => scan.profiles.push(found.profile),
                    Err(e) => scan.problems.push(e),
                }
            }
        }
        for (name, text) in BUILT_IN {
            if taken.insert(name.to_string()) {
                match parse(text, &format!("built-in:{name}"), ProfileSource::BuiltIn) {
                    Ok(p) => scan.profiles.push(p),
                    Err(e) => scan.problems.push(e),
                }
            }
        }
        scan
    }
}

fn read_profile(place: &Place, name: &str, path: &Path) -> Result<Found, ProfileError> {
    let origin = path.display().to_string();
    let text = read_capped(path)?;
    let profile = parse(&text, &origin, place.source(path.to_path_buf()))?;
    if profile.name != name {
        return Err(ProfileError::Invalid {
            origin,
            line: None,
            key: Some("name".into()),
            reason: format!(
                "the front matter says `name: {}` but the file is for '{name}'; make them the same",
                profile.name
            ),
        });
    }
    Ok(Found { profile, text })
}

/// Reads a profile file of at most [`super::MAX_PROFILE_BYTES`] bytes of UTF-8.
pub(crate) fn read_capped(path: &Path) -> Result<String, ProfileError> {
    let io = |source| ProfileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |reason: String| ProfileError::Invalid {
        origin: path.display().to_string(),
        line: None,
        key: None,
        reason,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(invalid(
            "it is not a regular file; give the path of a .md file".into(),
        ));
    }
    let max = super::MAX_PROFILE_BYTES;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > max {
        return Err(invalid(format!(
            "it is over the {max}-byte limit for a profile; keep the system prompt shorter"
        )));
    }
    String::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8 text; save it as UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, name: &str, description: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            format!(
                "---\nname: {name}\ndescription: {description}\n---\nPrompt of {description}.\n"
            ),
        )
        .unwrap();
    }

    struct Setup {
        dir: tempfile::TempDir,
        config: Config,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("cao");
        let user = dir.path().join("user");
        let mut config = Config::load_from(&home, Some(user), &[], None).unwrap();
        config.profile_dirs.push(crate::config::Setting {
            value: dir.path().join("extra"),
            origin: crate::config::Origin::Default,
        });
        Setup { dir, config }
    }

    #[test]
    fn lookup_order_is_installed_provider_extra_built_in() {
        let s = setup();
        let d = s.dir.path();
        for (path, name, description) in [
            ("cao/profiles/developer.md", "developer", "installed"),
            ("user/.claude/agents/developer.md", "developer", "claude"),
            ("user/.claude/agents/reviewer.md", "reviewer", "claude"),
            ("user/.kiro/agents/reviewer.md", "reviewer", "kiro"),
            ("extra/reviewer.md", "reviewer", "extra"),
            ("extra/code_supervisor.md", "code_supervisor", "extra"),
            ("user/.copilot/agents/cop.agent.md", "cop", "copilot"),
            ("extra/nested/agent.md", "nested", "nested"),
        ] {
            write(&d.join(path), name, description);
        }
        let disc = Discovery::new(&s.config);
        let desc = |n: &str| disc.find(n).unwrap().profile.description;
        assert_eq!(desc("developer"), "installed");
        assert_eq!(desc("reviewer"), "kiro");
        assert_eq!(desc("code_supervisor"), "extra");
        assert_eq!(desc("cop"), "copilot");
        assert_eq!(desc("nested"), "nested");
        let scan = disc.scan();
        let got: Vec<(String, String)> = scan
            .profiles
            .iter()
            .map(|p| (p.name.clone(), p.source.label().to_string()))
            .collect();
        let want = [
            ("developer", "installed"),
            ("reviewer", "kiro_cli"),
            ("cop", "copilot_cli"),
            ("code_supervisor", "extra"),
            ("nested", "extra"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        assert!(matches!(
            disc.find("nope"),
            Err(ProfileError::NotFound { .. })
        ));
    }

    #[test]
    fn broken_first_match_is_reported_not_skipped() {
        let s = setup();
        std::fs::create_dir_all(s.dir.path().join("cao/profiles")).unwrap();
        std::fs::write(
            s.dir.path().join("cao/profiles/developer.md"),
            "---\nname: developer\n---\n",
        )
        .unwrap();
        let disc = Discovery::new(&s.config);
        assert!(matches!(
            disc.find("developer"),
            Err(ProfileError::Invalid { .. })
        ));
        let scan = disc.scan();
        assert!(!scan.profiles.iter().any(|p| p.name == "developer"));
        assert_eq!(scan.problems.len(), 1);
    }

    #[test]
    fn file_name_and_front_matter_name_must_agree() {
        let s = setup();
        write(&s.dir.path().join("extra/alias.md"), "other", "x");
        let err = Discovery::new(&s.config)
            .find("alias")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `name`") && err.contains("alias"), "{err}");
    }
}
