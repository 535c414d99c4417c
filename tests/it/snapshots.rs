//! Contract snapshots (insta): the MCP `tools/list` answer and the CLI's `--help` texts, in
//! `snapshots/`. An accidental change to a tool name, parameter, schema or flag shows up here
//! in review. After an intended change the test fails and writes `<name>.snap.new` beside the
//! snapshot: review it and move it over the `.snap`, or accept every change at once with
//! `INSTA_UPDATE=always cargo test --test it snapshots::` (README, "Tests").

use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};

use crate::util::Cao;

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
    insta::assert_snapshot!("tools_list", json);
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
        Some("tui"),
    ] {
        let mut args: Vec<&str> = sub.into_iter().collect();
        args.push("--help");
        let out = cao.ok(&args);
        all.push_str(&format!("$ cao {}\n{out}\n", args.join(" ")));
    }
    insta::assert_snapshot!("cli_help", all);
}
