//! Contract snapshots: the MCP `tools/list` answer and the CLI's `--help` texts. An accidental
//! change to a tool name, parameter, schema or flag shows up here in review.
//! Refresh after an intended change with `CAO_UPDATE_SNAPSHOTS=1 cargo test --test snapshots`.

use std::path::PathBuf;

use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};

use crate::util::Cao;

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Compares `actual` with the stored snapshot, or stores it when asked to.
fn assert_snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("CAO_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; create it with CAO_UPDATE_SNAPSHOTS=1 cargo test --test snapshots",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} changed. If intended, refresh with CAO_UPDATE_SNAPSHOTS=1 cargo test --test snapshots\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_tools_list() {
    let cao = Cao::new();
    let cmd = tokio::process::Command::new(crate::util::cao_bin());
    let transport = TokioChildProcess::new(cmd.configure(|c| {
        c.arg("mcp-server").current_dir(cao.work.path());
        c.env("CAO_HOME", cao.home.path())
            .env("CAO_TMUX_SOCKET", &cao.socket)
            .env_remove("CAO_ENABLE_WORKING_DIRECTORY")
            .env_remove("CAO_ENABLE_SENDER_ID_INJECTION");
    }))
    .unwrap();
    let client = ().serve(transport).await.unwrap();
    let mut tools = client.list_all_tools().await.unwrap();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let json = serde_json::to_string_pretty(&tools).unwrap();
    client.cancel().await.unwrap();
    assert_snapshot("tools_list.json", &format!("{json}\n"));
}

#[test]
fn cli_help() {
    let cao = Cao::new();
    let mut all = String::new();
    for sub in [
        None,
        Some("launch"),
        Some("list"),
        Some("status"),
        Some("send"),
        Some("answer"),
        Some("output"),
        Some("inbox"),
        Some("shutdown"),
        Some("install"),
        Some("profiles"),
        Some("config"),
    ] {
        let mut args: Vec<&str> = sub.into_iter().collect();
        args.push("--help");
        let out = cao.ok(&args);
        all.push_str(&format!("$ cao {}\n{out}\n", args.join(" ")));
    }
    assert_snapshot("cli_help.txt", &all);
}
