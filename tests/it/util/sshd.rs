//! An OpenSSH server on loopback for the `[hosts]` tests: a free port, a generated host key
//! and client key, nothing of the machine's own ssh configuration read (neither the server's
//! nor the client's). The "remote" machine is a second cao installation (its own `CAO_HOME`,
//! `HOME` and tmux socket) on this machine, reached through this server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Cao, cao_bin};

/// Where Debian's openssh-server puts the daemon.
const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd; dropping it ends it (by its pid: we started it).
pub struct Sshd {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts one, or returns `None` after a `SKIP` line when sshd is not installed
    /// (`.ci/run` installs openssh-server; `CAO_REQUIRE_SSHD=1` makes its absence a failure).
    pub fn start(test: &str) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            assert!(
                std::env::var_os("CAO_REQUIRE_SSHD").is_none(),
                "{SSHD} is missing; install openssh-server"
            );
            println!("SKIP {test}: {SSHD} is not installed (apt-get install openssh-server)");
            return None;
        }
        // sshd checks for its privilege-separation folder even when it runs unprivileged.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        for key in ["host_key", "client_key"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .output()
                .expect("ssh-keygen runs");
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        }
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100\nLogLevel ERROR\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Sshd { child, port, dir })
    }

    /// The ssh arguments that reach this server as the current user, reading no ssh config
    /// of the machine's and keeping host keys in the test's own file.
    pub fn ssh_args(&self) -> Vec<String> {
        let d = self.dir.path().display();
        [
            "-F".to_string(),
            "/dev/null".into(),
            "-p".into(),
            self.port.to_string(),
            "-i".into(),
            format!("{d}/client_key"),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={d}/known_hosts"),
            "-o".into(),
            "StrictHostKeyChecking=accept-new".into(),
        ]
        .into()
    }

    /// The ssh destination.
    pub fn dest(&self) -> String {
        format!("{}@127.0.0.1", user())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The current user's name.
fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `[hosts.NAME]` into `local`'s config: `remote`'s installation reached through
/// `sshd` (or through `port`, when `sshd` is `None`: a host that is down).
pub fn add_host(local: &Cao, name: &str, sshd: &Sshd, remote: &Cao) {
    let mut env: Vec<(String, String)> = vec![
        ("CAO_HOME".into(), remote.home.path().display().to_string()),
        ("HOME".into(), remote.user_home.path().display().to_string()),
        ("CAO_TMUX_SOCKET".into(), remote.socket.clone()),
        ("CAO_LOG".into(), "cao=debug".into()),
    ];
    env.extend(remote.env.iter().cloned());
    write_host(
        local,
        name,
        &sshd.dest(),
        &sshd.ssh_args(),
        remote.work.path(),
        &env,
    );
}

/// Writes a `[hosts.NAME]` table.
pub fn write_host(
    local: &Cao,
    name: &str,
    dest: &str,
    ssh_args: &[String],
    workdir: &Path,
    env: &[(String, String)],
) {
    let path: PathBuf = local.home.path().join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let list = |items: &[String]| {
        items
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    text.push_str(&format!(
        "\n[hosts.{name}]\nssh = {dest:?}\nssh_args = [{}]\ncao = {:?}\nworkdir = {:?}\n[hosts.{name}.env]\n",
        list(ssh_args),
        cao_bin().display().to_string(),
        workdir.display().to_string(),
    ));
    for (k, v) in env {
        text.push_str(&format!("{k} = {v:?}\n"));
    }
    std::fs::write(path, text).unwrap();
}
