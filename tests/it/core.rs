//! The core terminal lifecycle through the CLI: launch, list, send, status, output, shutdown,
//! and the clear refusals of bad input.

use std::time::Duration;

use crate::util::{Cao, alive, transcript, wait_for};

#[test]
fn launch_send_output_lifecycle() {
    let cao = Cao::new();
    let id = cao.launch("developer");
    let list = cao.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "idle");
    assert_eq!(list[0]["profile"], "developer");
    assert_eq!(list[0]["provider"], "fake");

    let out = cao.ok(&["send", &id, "please work [[sleep 1.5]] on it"]);
    assert!(out.contains("delivered"), "{out}");
    wait_for("processing", Duration::from_secs(5), || {
        cao.status(&id) == "processing"
    });
    wait_for("completed", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
    let last = cao.ok(&["output", &id, "--mode", "last"]);
    assert_eq!(
        last.trim_end(),
        "fake answer: please work [[sleep 1.5]] on it"
    );
    let full = cao.ok(&["output", &id, "--mode", "full"]);
    assert!(full.contains("cao fake agent"), "{full}");
}

#[test]
fn tricky_multiline_message_arrives_byte_for_byte() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao.with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let id = cao.launch("developer");
    let message = "first line with \"double\" and 'single' quotes;\n$(touch /tmp/pwned) and `id` and $HOME\n  indented → unicode ✓ 漢字\n-leading dash;\nlast line ends with a semicolon;";
    cao.ok(&["send", &id, message]);
    wait_for("the answer", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
    assert_eq!(transcript(&log), vec![message.to_string()]);
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    let last = cao.ok(&["output", &id]);
    assert_eq!(last.trim_end(), format!("fake answer: {message}"));
}

#[test]
fn two_enter_agent_gets_its_input_submitted() {
    let cao = Cao::new().with_env("CAO_FAKE_ENTERS", "2");
    let id = cao.launch("developer");
    cao.ok(&["send", &id, "needs two enters"]);
    wait_for("completed", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
    assert!(cao.ok(&["output", &id]).contains("needs two enters"));
}

#[test]
fn shutdown_all_leaves_no_session_and_no_process() {
    let cao = Cao::new();
    let a = cao.launch("developer");
    let b = cao.launch_with("reviewer", &["--session-name", "team"]);
    assert_ne!(a, b);
    let sessions: Vec<String> = cao
        .list()
        .iter()
        .map(|t| t["session"].as_str().unwrap().to_string())
        .collect();
    assert!(sessions.contains(&"cao-team".to_string()), "{sessions:?}");
    // A session that is not cao's must survive.
    let other = cao.tmux(&["new-session", "-d", "-s", "not-cao", "sleep", "60"]);
    assert!(other.status.success());
    let pids = cao.pane_pids("cao-");
    assert_eq!(pids.len(), 2);
    cao.ok(&["shutdown", "--all"]);
    assert!(cao.list().is_empty());
    let left =
        String::from_utf8_lossy(&cao.tmux(&["ls", "-F", "#{session_name}"]).stdout).to_string();
    assert_eq!(left.trim(), "not-cao");
    wait_for("agents to exit", Duration::from_secs(5), || {
        pids.iter().all(|p| !alive(*p))
    });
    wait_for("watchers to exit", Duration::from_secs(5), || {
        crate::util::processes_matching(&format!("_watch {a}")).is_empty()
            && crate::util::processes_matching(&format!("_watch {b}")).is_empty()
    });
}

#[test]
fn bad_input_is_refused_clearly_and_harms_nothing() {
    let cao = Cao::new();
    let id = cao.launch("developer");
    for bad in [
        "../x",
        "a:b.c",
        "-t",
        "%1",
        "0a1b2c3",
        "0a1b2c3d4",
        "0A1B2C3D",
    ] {
        // A leading '-' is refused by the argument parser itself, as an unknown flag.
        let expected = if bad.starts_with('-') {
            "unexpected argument"
        } else {
            "invalid terminal id"
        };
        let err = cao.fails(&["status", bad]);
        assert!(err.contains(expected), "{bad}: {err}");
        let err = cao.fails(&["send", bad, "hi"]);
        assert!(err.contains(expected), "{bad}: {err}");
    }
    let err = cao.fails(&["status", "0badbeef"]);
    assert!(err.contains("no terminal 0badbeef"), "{err}");
    let err = cao.fails(&["output", "0badbeef"]);
    assert!(err.contains("cao list"), "{err}");

    let base = ["launch", "--headless", "--yolo", "--agents"];
    let err = cao.fails(&[&base[..], &["developer", "--provider", "nope"]].concat());
    assert!(
        err.contains("unknown provider 'nope'") && err.contains("fake"),
        "{err}"
    );
    let err = cao.fails(&[&base[..], &["no_such_profile", "--provider", "fake"]].concat());
    assert!(
        err.contains("unknown agent profile 'no_such_profile'") && err.contains("developer"),
        "{err}"
    );
    let err = cao.fails(&[&base[..], &["../../etc/passwd", "--provider", "fake"]].concat());
    assert!(err.contains("invalid profile name"), "{err}");
    let err = cao.fails(
        &[
            &base[..],
            &[
                "developer",
                "--provider",
                "fake",
                "--working-directory",
                "/etc",
            ],
        ]
        .concat(),
    );
    assert!(err.contains("system directory"), "{err}");
    let err = cao.fails(
        &[
            &base[..],
            &[
                "developer",
                "--provider",
                "fake",
                "--working-directory",
                "/no/such/dir",
            ],
        ]
        .concat(),
    );
    assert!(err.contains("does not exist"), "{err}");
    let session = cao.list()[0]["session"].as_str().unwrap().to_string();
    let err = cao.fails(
        &[
            &base[..],
            &[
                "developer",
                "--provider",
                "fake",
                "--session-name",
                &session,
            ],
        ]
        .concat(),
    );
    assert!(err.contains("already exists"), "{err}");
    let err = cao.fails(
        &[
            &base[..],
            &["developer", "--provider", "fake", "--session-name", "a:b"],
        ]
        .concat(),
    );
    assert!(err.contains("invalid session name"), "{err}");
    let err = cao.fails(&["send", &id, "   "]);
    assert!(err.contains("empty"), "{err}");

    // Without --yolo and without a terminal to ask on, launch refuses.
    let err = cao.fails(&[
        "launch",
        "--headless",
        "--provider",
        "fake",
        "--agents",
        "developer",
    ]);
    assert!(err.contains("--yolo"), "{err}");

    // Nothing stored was harmed: the one good terminal is still there and working.
    let list = cao.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    cao.ok(&["send", &id, "still fine"]);
    wait_for("completed", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
}

#[test]
fn a_terminal_whose_window_closed_is_reported_gone() {
    let cao = Cao::new();
    let id = cao.launch("developer");
    cao.ok(&["send", &id, "[[exit]]"]);
    wait_for("the terminal to disappear", Duration::from_secs(10), || {
        cao.list().is_empty()
    });
    let err = cao.fails(&["status", &id]);
    assert!(err.contains(&format!("no terminal {id}")), "{err}");
}

#[test]
fn no_tmux_server_gives_a_clear_answer() {
    let cao = Cao::new();
    assert!(cao.list().is_empty());
    let out = cao.ok(&["list"]);
    assert!(out.contains("no cao terminals"), "{out}");
    let err = cao.fails(&["shutdown", "--session", "cao-nothing"]);
    assert!(err.contains("no cao session"), "{err}");
}

#[test]
fn install_then_launch_on_a_fresh_home() {
    let cao = Cao::new();
    cao.ok(&["install", "developer"]);
    let profiles: Vec<serde_json::Value> =
        serde_json::from_str(&cao.ok(&["profiles", "--json"])).unwrap();
    let developer = profiles.iter().find(|p| p["name"] == "developer").unwrap();
    assert_eq!(developer["source"]["kind"], "installed", "{developer}");
    let id = cao.launch("developer");
    assert_eq!(cao.status(&id), "idle");
}

/// `[providers.NAME]` in the config file: `executable` replaces the `PATH` lookup, `args` are
/// appended to the CLI's argv; a bad `executable` is refused before any window exists, and the
/// provider's `CAO_*_BIN` variable still wins over the file.
#[test]
fn config_executable_and_args_are_used() {
    use std::os::unix::fs::PermissionsExt;
    let cao = Cao::new();
    let fake = crate::util::cao_bin().with_file_name("cao-fake-agent");
    let argv_log = cao.path("argv.txt");
    let wrapper = cao.path("my-agent.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexec '{}' \"$@\"\n",
            argv_log.display(),
            fake.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = cao.home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.fake]\nexecutable = \"{}\"\nargs = [\"--extra\", \"two words\"]\n",
            wrapper.display()
        ),
    )
    .unwrap();

    // The harness names the fake agent in CAO_FAKE_AGENT: that beats the file.
    let id = cao.launch("developer");
    assert!(!argv_log.exists(), "the config beat CAO_FAKE_AGENT");
    cao.ok(&["shutdown", "--all"]);

    let cao = cao.with_env("CAO_FAKE_AGENT", "");
    let id2 = cao.launch("developer");
    assert_ne!(id, id2);
    let argv: Vec<String> = std::fs::read_to_string(&argv_log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        argv.starts_with(&["--profile".to_string(), "developer".to_string()]),
        "{argv:?}"
    );
    assert!(
        argv.ends_with(&["--extra".to_string(), "two words".to_string()]),
        "{argv:?}"
    );
    cao.ok(&["send", &id2, "hello"]);
    wait_for("completed", Duration::from_secs(10), || {
        cao.status(&id2) == "completed"
    });
    cao.ok(&["shutdown", "--all"]);

    std::fs::write(
        &config,
        "[providers.fake]\nexecutable = \"relative/agent\"\n",
    )
    .unwrap();
    let err = cao.fails(&["launch", "--headless", "--yolo", "--agents", "developer"]);
    assert!(
        err.contains("`executable`") && err.contains("relative/agent"),
        "{err}"
    );
    assert!(
        err.contains("config.toml"),
        "the error names the file: {err}"
    );
    assert!(cao.list().is_empty(), "a refused launch left a terminal");
}

/// A CLI's start-up dialogs are answered once each, in order (the fake agent's second dialog
/// quits on the key that answers the first, so a double answer shows). See also
/// `mcp.rs`, where a handoff watches the dialogs too.
#[test]
fn start_up_dialogs_are_answered_exactly_once() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao
        .with_env("CAO_FAKE_DIALOGS", "1")
        .with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());

    let id = cao.launch("developer");
    wait_for("past the dialogs", Duration::from_secs(10), || {
        cao.status(&id) == "idle"
    });
    cao.ok(&["send", &id, "after the dialogs"]);
    wait_for("the answer", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
    assert_eq!(transcript(&log), vec!["after the dialogs".to_string()]);
}

/// A CLI that exits as soon as it starts: `cao launch` says so (whichever of it and the
/// terminal's watcher notices first), and nothing is left behind.
#[test]
fn a_cli_that_exits_at_once_is_reported_as_exited() {
    let cao = Cao::new().with_env("CAO_FAKE_AGENT", "/bin/false");
    for _ in 0..3 {
        let err = cao.fails(&["launch", "--headless", "--yolo", "--agents", "developer"]);
        assert!(err.contains("exited while starting"), "{err}");
        assert!(cao.list().is_empty());
    }
}

#[test]
fn install_asks_at_a_terminal_and_installs_only_on_yes() {
    let cao = Cao::new();
    let profile = "---\nname: asked\ndescription: d\nallowedTools: ['*']\n---\nDo it.\n";
    std::fs::write(cao.work.path().join("asked.md"), profile).unwrap();
    let installed = cao.home.path().join("profiles/asked.md");
    for (session, answer) in [("no", "n"), ("yes", "y")] {
        // As a user runs it: in a terminal (a tmux pane), answering the question.
        let home = format!("CAO_HOME={}", cao.home.path().display());
        let user = format!("HOME={}", cao.user_home.path().display());
        let bin = crate::util::cao_bin().display().to_string();
        let work = cao.work.path().display().to_string();
        let out = cao.tmux(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            &work,
            "env",
            &home,
            &user,
            "CAO_LOG=off",
            &bin,
            "install",
            "asked.md",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let screen = || {
            let out = cao.tmux(&["capture-pane", "-p", "-t", session]);
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        wait_for("the question", Duration::from_secs(20), || {
            screen().contains("install it? [y/N]")
        });
        assert!(screen().contains("! allowedTools lets every tool run without asking"));
        cao.tmux(&["send-keys", "-t", session, answer, "Enter"]);
        wait_for("cao install to end", Duration::from_secs(20), || {
            !cao.tmux(&["has-session", "-t", session]).status.success()
        });
        assert_eq!(
            installed.exists(),
            answer == "y",
            "after answering {answer}"
        );
    }
}

#[test]
fn a_tmux_socket_other_users_can_reach_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    // The tmux server of this test keeps its socket folder in a folder of the test's own.
    let tmpdir = tempfile::tempdir().unwrap();
    let cao = Cao::new().with_env("TMUX_TMPDIR", &tmpdir.path().display().to_string());
    let launch = || {
        let out = cao.run(&crate::util::launch_args("developer", &[]));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    assert!(
        !launch().contains("tmux socket"),
        "tmux's own private socket is not warned about"
    );
    let folder = std::fs::read_dir(tmpdir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tmux-")
        })
        .expect("the server's socket folder");
    let socket = folder.join(&cao.socket);
    assert!(socket.exists(), "{}", socket.display());
    // The user's group may now reach the server.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o770)).unwrap();
    let stderr = launch();
    assert!(
        stderr.contains("the tmux socket") && stderr.contains("can be used by other users"),
        "{stderr}"
    );
}
