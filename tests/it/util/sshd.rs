//! An OpenSSH server on loopback for the `[hosts]` tests and the hosts benchmark: a free
//! port, a generated host key and client key, nothing of the machine's own ssh configuration
//! read (neither the server's nor the client's). The "remote" machine is a second cao
//! installation (its own `CAO_HOME`, `HOME` and tmux socket) on this machine, reached
//! through this server.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
