//! Workers on other machines. The engines are the ones users already trust: the system's
//! `ssh` (one multiplexed connection per host, in a private control folder, host keys checked
//! as the user configured them) and, on the other side, that machine's own `cao` and tmux.
//! cao adds no daemon and no port: every remote operation is one of the remote cao's hidden
//! `_remote` subcommands, answering one JSON value on stdout. Message text and tasks travel
//! on stdin, never on a command line (where `ps` would show them and a shell would parse
//! them).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::de::DeserializeOwned;
use wait_timeout::ChildExt;

use crate::config::HostConfig;

/// How long ssh may take to connect before the host counts as unreachable (under the 10 s
/// in which a down host must be reported).
const CONNECT_TIMEOUT_SECS: u32 = 8;
/// How long an idle master connection stays up for the next call.
const CONTROL_PERSIST_SECS: u32 = 120;
/// Bound on a remote call that is not a launch (status, send, output).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a remote launch (the remote CLI must start and get ready).
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The exit status ssh gives for its own failures (connection, authentication).
const SSH_FAILED: i32 = 255;
/// The exit status a shell gives for a command it cannot find.
const NOT_FOUND: i32 = 127;

/// What went wrong talking to a host.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No `[hosts.NAME]` in the config.
    #[error(
        "no host named {name:?} in cao's config; known hosts: {known}. Add a [hosts.{name}] table with ssh = \"user@machine\" (see `cao config`)"
    )]
    UnknownHost {
        /// The name asked for.
        name: String,
        /// The names the config has.
        known: String,
    },
    /// ssh could not be started at all.
    #[error("cannot run ssh for host {host}: {source}; install the OpenSSH client")]
    NoSsh {
        /// The host.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// ssh could not reach or log in to the host.
    #[error(
        "host {host} ({dest}) is not reachable: {reason}. Check `ssh {dest}` by hand, then `cao hosts check {host}`"
    )]
    Unreachable {
        /// The host.
        host: String,
        /// Its ssh destination.
        dest: String,
        /// What ssh said.
        reason: String,
    },
    /// The remote cao is not installed where the config says.
    #[error(
        "host {host} has no cao at {cao:?}: install cao there (the same version as here) or set [hosts.{host}] cao to its path"
    )]
    NoCao {
        /// The host.
        host: String,
        /// The configured binary.
        cao: String,
    },
    /// The remote cao refused or failed the operation.
    #[error("on host {host}: {message}")]
    Failed {
        /// The host.
        host: String,
        /// The remote cao's error line.
        message: String,
    },
    /// The remote cao answered something this cao cannot read.
    #[error(
        "host {host} answered `cao _remote {command}` with something cao cannot read ({reason}); is cao there the same version as here? See `cao hosts check {host}`"
    )]
    BadReply {
        /// The host.
        host: String,
        /// The subcommand.
        command: String,
        /// What did not parse.
        reason: String,
    },
    /// The call did not finish in time.
    #[error(
        "host {host}: `cao _remote {command}` did not answer within {secs} s; the connection may be down (`cao hosts check {host}`)"
    )]
    Timeout {
        /// The host.
        host: String,
        /// The subcommand.
        command: String,
        /// The bound.
        secs: u64,
    },
}

impl RemoteError {
    /// Whether trying again later may work (the link, not the request, failed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RemoteError::Unreachable { .. } | RemoteError::Timeout { .. }
        )
    }
}

/// A configured host, ready to be called.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its name in the config (`[hosts.NAME]`).
    pub name: String,
    /// Its settings.
    pub config: HostConfig,
    /// Where ssh keeps the master connection's socket (private to this cao home).
    control_dir: PathBuf,
}

impl Host {
    /// The host `name` of `config`, with its control sockets under `state_dir`.
    pub fn new(name: &str, config: HostConfig, state_dir: &Path) -> Host {
        Host {
            name: name.to_string(),
            config,
            control_dir: state_dir.join("ssh"),
        }
    }

    /// The ssh arguments up to the destination: batch mode (never a password prompt in an
    /// agent's pane), a bounded connect, keep-alives that notice a dead link, and a master
    /// connection shared by every call to this host; then the user's own arguments.
    fn ssh_args(&self) -> Result<Vec<String>, RemoteError> {
        create_private_dir(&self.control_dir).map_err(|source| RemoteError::NoSsh {
            host: self.name.clone(),
            source,
        })?;
        let mut args = Vec::new();
        for option in [
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
            "ServerAliveInterval=5".into(),
            "ServerAliveCountMax=3".into(),
            "ControlMaster=auto".into(),
            format!("ControlPath={}/%C", self.control_dir.display()),
            format!("ControlPersist={CONTROL_PERSIST_SECS}"),
        ] {
            args.push("-o".to_string());
            args.push(option);
        }
        args.extend(self.config.ssh_args.iter().cloned());
        args.push("--".into());
        args.push(self.config.ssh.clone());
        Ok(args)
    }

    fn ssh_command(&self, remote_line: &str) -> Result<Command, RemoteError> {
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_args()?)
            .arg(remote_line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(cmd)
    }

    /// The remote shell line that runs `program args` with the host's environment, every
    /// word quoted.
    fn remote_line(&self, program: &str, args: &[&str]) -> String {
        let mut words: Vec<String> = Vec::new();
        if !self.config.env.is_empty() {
            words.push("env".into());
            words.extend(
                self.config
                    .env
                    .iter()
                    .map(|(k, v)| quote(&format!("{k}={v}"))),
            );
        }
        words.push(quote(program));
        words.extend(args.iter().map(|a| quote(a)));
        words.join(" ")
    }

    /// Runs `program args` there with `input` on stdin; its stdout, or why not.
    fn run(
        &self,
        program: &str,
        args: &[&str],
        input: Option<&str>,
        timeout: Duration,
    ) -> Result<String, RemoteError> {
        let command = args.first().copied().unwrap_or_default().to_string();
        let mut child = self
            .ssh_command(&self.remote_line(program, args))?
            .spawn()
            .map_err(|source| RemoteError::NoSsh {
                host: self.name.clone(),
                source,
            })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = input.unwrap_or_default().to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let status = match child.wait_timeout(timeout) {
            Ok(Some(status)) => status,
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RemoteError::Timeout {
                    host: self.name.clone(),
                    command,
                    secs: timeout.as_secs(),
                });
            }
        };
        let _ = writer.join();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        match status.code() {
            Some(0) => Ok(stdout),
            Some(SSH_FAILED) | None => Err(RemoteError::Unreachable {
                host: self.name.clone(),
                dest: self.config.ssh.clone(),
                reason: last_line(&stderr)
                    .unwrap_or("ssh failed without a message")
                    .into(),
            }),
            Some(NOT_FOUND) if program == self.config.cao => Err(RemoteError::NoCao {
                host: self.name.clone(),
                cao: self.config.cao.clone(),
            }),
            Some(code) => Err(RemoteError::Failed {
                host: self.name.clone(),
                message: last_line(&stderr)
                    .map(|l| l.trim_start_matches("error: ").to_string())
                    .unwrap_or_else(|| format!("`{program}` exited with status {code}")),
            }),
        }
    }

    /// `cao _remote ARGS` there, its JSON answer read as `T`.
    pub fn call<T: DeserializeOwned>(
        &self,
        args: &[&str],
        input: Option<&str>,
        timeout: Duration,
    ) -> Result<T, RemoteError> {
        let mut full = vec!["_remote"];
        full.extend(args);
        let cao = self.config.cao.clone();
        let out = self.run(&cao, &full, input, timeout)?;
        serde_json::from_str(out.trim()).map_err(|e| RemoteError::BadReply {
            host: self.name.clone(),
            command: args.first().copied().unwrap_or_default().to_string(),
            reason: e.to_string(),
        })
    }

    /// Runs a plain program there (`tmux -V` for `cao hosts check`); its stdout.
    pub fn run_program(&self, program: &str, args: &[&str]) -> Result<String, RemoteError> {
        self.run(program, args, None, CALL_TIMEOUT)
    }

    /// Ends the shared master connection (the next call opens a new one).
    pub fn disconnect(&self) {
        if let Ok(args) = self.ssh_args() {
            let _ = Command::new("ssh")
                .args(["-O", "exit"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `word` quoted for the remote login shell, which parses the command line ssh sends.
fn quote(word: &str) -> String {
    crate::mux::shell_quote(word)
}

/// The last line of `text` that says something: not empty, not ssh's note that it added a
/// host key (which precedes the real reason).
fn last_line(text: &str) -> Option<&str> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
}

/// Creates `dir` readable only by this user: ssh refuses a control socket others can reach.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn host(env: &[(&str, &str)]) -> Host {
        Host::new(
            "build1",
            HostConfig {
                ssh: "me@build1".into(),
                ssh_args: vec!["-p".into(), "2222".into()],
                cao: "/opt/cao bin/cao".into(),
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                workdir: None,
                origin: crate::config::Origin::Default,
            },
            Path::new("/tmp/cao-test-home"),
        )
    }

    #[test]
    fn remote_lines_quote_every_word() {
        let h = host(&[("CAO_HOME", "/srv/my cao")]);
        let line = h.remote_line("/opt/cao bin/cao", &["_remote", "send", "ab; rm -rf /"]);
        assert_eq!(
            line,
            "env 'CAO_HOME=/srv/my cao' '/opt/cao bin/cao' '_remote' 'send' 'ab; rm -rf /'"
        );
        assert_eq!(
            host(&[]).remote_line("cao", &["_remote", "it's"]),
            r"'cao' '_remote' 'it'\''s'"
        );
    }

    #[test]
    fn the_ssh_command_shares_one_connection_and_never_prompts() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = host(&[]);
        h.control_dir = dir.path().join("ssh");
        let cmd = h.ssh_command("cao _remote probe").unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("BatchMode=yes"), "{joined}");
        assert!(joined.contains("ControlMaster=auto"), "{joined}");
        assert!(
            joined.ends_with("-p 2222 -- me@build1 cao _remote probe"),
            "{joined}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ssh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
