//! Where an agent may work: an existing directory, canonicalized (so a symlink cannot smuggle
//! in a system directory), and never one of the system directories themselves.

use std::path::{Path, PathBuf};

/// System directories an agent must not be started in (their subdirectories are fine).
pub const BLOCKED_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/etc",
    "/var",
    "/tmp",
    "/dev",
    "/proc",
    "/sys",
    "/root",
    "/boot",
    "/lib",
    "/lib64",
];

/// Why a working directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    /// It does not exist (or cannot be resolved).
    #[error(
        "working directory {path} does not exist or cannot be opened ({source}); pass an existing directory"
    )]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    /// It exists but is a file.
    #[error("working directory {0} is not a directory")]
    NotADirectory(PathBuf),
    /// It is a system directory.
    #[error(
        "working directory {path} resolves to the system directory {resolved}, where agents may not run; use a project directory instead"
    )]
    Blocked { path: PathBuf, resolved: PathBuf },
}

/// Validates and canonicalizes a working directory.
pub fn validate(path: &Path) -> Result<PathBuf, WorkdirError> {
    let resolved = path
        .canonicalize()
        .map_err(|source| WorkdirError::Missing {
            path: path.to_path_buf(),
            source,
        })?;
    if !resolved.is_dir() {
        return Err(WorkdirError::NotADirectory(path.to_path_buf()));
    }
    if BLOCKED_DIRS.iter().any(|b| resolved == Path::new(b)) {
        return Err(WorkdirError::Blocked {
            path: path.to_path_buf(),
            resolved,
        });
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_dirs_are_refused_but_not_their_children() {
        assert!(matches!(
            validate(Path::new("/etc")),
            Err(WorkdirError::Blocked { .. })
        ));
        assert!(matches!(
            validate(Path::new("/")),
            Err(WorkdirError::Blocked { .. })
        ));
        assert!(validate(Path::new("/usr")).is_ok());
    }

    #[test]
    fn symlink_into_blocked_dir_is_refused() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let link = dir.path().join("etc-link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        assert!(matches!(validate(&link), Err(WorkdirError::Blocked { .. })));
    }

    #[test]
    fn missing_and_file_are_refused() {
        assert!(matches!(
            validate(Path::new("/no/such/dir")),
            Err(WorkdirError::Missing { .. })
        ));
        assert!(matches!(
            validate(Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/Cargo.toml"
            ))),
            Err(WorkdirError::NotADirectory(_))
        ));
    }
}
