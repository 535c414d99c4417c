//! A git worktree per worker (`use_worktree`) through the real binary and a real MCP client:
//! where a worker starts, what `list_terminals`, `cao list` and `cao worktrees` show, and what
//! is removed or kept when the worker ends. Every repository is a fresh one in a temp folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::util::{Cao, call_tool, git, git_repo, result_text, wait_for};

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn connect(cao: &Cao, supervisor: &str) -> Client {
    let cmd = cao.mcp_server(&[
        ("CAO_TERMINAL_ID", supervisor),
        ("CAO_ENABLE_WORKING_DIRECTORY", "true"),
    ]);
    ().serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap()
}

async fn assign(client: &Client, dir: &Path, task: &str) -> Value {
    let result = call_tool(
        client,
        "assign",
        json!({"agent_profile": "developer", "message": task,
               "working_directory": dir, "use_worktree": true}),
    )
    .await;
    assert_ne!(result.is_error, Some(true), "{}", result_text(&result));
    result.structured_content.unwrap()
}

fn worker_dir(cao: &Cao, id: &str) -> PathBuf {
    let list = cao.list();
    let t = list
        .iter()
        .find(|t| t["id"] == id)
        .expect("the worker is listed");
    PathBuf::from(t["working_dir"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_works_in_its_own_worktree_and_a_clean_one_is_removed() {
    let cao = Cao::new();
    let repo = git_repo(cao.work.path(), "repo");
    let supervisor = cao.launch("code_supervisor");
    let client = connect(&cao, &supervisor).await;
    let assigned = assign(&client, &repo.join("src"), "look around").await;
    let id = assigned["terminal_id"].as_str().unwrap().to_string();
    let branch = format!("cao/developer-{id}");
    let worktree = &assigned["worktree"];
    assert_eq!(worktree["branch"], branch);
    let path = PathBuf::from(worktree["path"].as_str().unwrap());
    assert_eq!(
        path,
        repo.join(".cao/worktrees").join(format!("developer-{id}"))
    );
    // The worker starts in the same sub-folder of its worktree, on its own branch.
    assert_eq!(
        worker_dir(&cao, &id),
        path.join("src").canonicalize().unwrap()
    );
    assert_eq!(git(&path, &["branch", "--show-current"]).trim(), branch);
    // The main checkout does not see it.
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "cao's folder shows in git status"
    );
    let listed = cao.list();
    let row = listed.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(row["worktree"]["branch"], branch);
    assert_eq!(
        (
            row["worktree"]["dirty"].clone(),
            row["worktree"]["ahead"].clone()
        ),
        (json!(false), json!(0))
    );
    assert!(cao.ok(&["list"]).contains(&branch));
    // Nothing done: closing removes the worktree and its branch.
    let closed = call_tool(&client, "close_terminal", json!({"terminal_id": id})).await;
    let closed = closed.structured_content.unwrap();
    assert_eq!(closed["worktree"]["outcome"], "removed", "{closed}");
    assert_eq!(closed["worktree"]["branch_deleted"], true);
    assert!(!path.exists());
    assert_eq!(git(&repo, &["branch", "--list", &branch]), "");
    assert!(cao.ok(&["worktrees"]).contains("no worktrees"));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn work_left_in_a_worktree_is_kept_reported_and_cleaned_only_when_empty() {
    let cao = Cao::new();
    let repo = git_repo(cao.work.path(), "repo");
    // A dirty main checkout is fine: the worktree starts from HEAD, and the caller is told.
    std::fs::write(repo.join("README.md"), "# changed, not committed\n").unwrap();
    let supervisor = cao.launch("code_supervisor");
    let client = connect(&cao, &supervisor).await;
    let a = assign(&client, &repo, "edit files").await;
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("uncommitted changes; the worktree starts from HEAD"),
        "{a}"
    );
    let b = assign(&client, &repo, "commit something").await;
    let (a_id, b_id) = (
        a["terminal_id"].as_str().unwrap(),
        b["terminal_id"].as_str().unwrap(),
    );
    let (a_path, b_path) = (worker_dir(&cao, a_id), worker_dir(&cao, b_id));
    assert_eq!(
        std::fs::read_to_string(a_path.join("README.md")).unwrap(),
        "# demo\n"
    );
    // What the workers did: one leaves a new file, the other commits one.
    std::fs::write(a_path.join("notes.txt"), "half done\n").unwrap();
    std::fs::write(b_path.join("done.txt"), "done\n").unwrap();
    git(&b_path, &["add", "done.txt"]);
    git(&b_path, &["commit", "-q", "-m", "worker's commit"]);
    let listed = cao.list();
    let state = |id: &str| listed.iter().find(|t| t["id"] == id).unwrap()["worktree"].clone();
    assert_eq!(
        (state(a_id)["dirty"].clone(), state(b_id)["ahead"].clone()),
        (json!(true), json!(1))
    );
    for id in [a_id, b_id] {
        let closed = call_tool(&client, "close_terminal", json!({"terminal_id": id})).await;
        let closed = closed.structured_content.unwrap();
        assert_eq!(closed["worktree"]["outcome"], "kept", "{closed}");
        assert!(
            closed["message"].as_str().unwrap().contains("was kept"),
            "{closed}"
        );
    }
    // The uncommitted file is still there; the committed work's branch too.
    assert_eq!(
        std::fs::read_to_string(a_path.join("notes.txt")).unwrap(),
        "half done\n"
    );
    assert!(
        !b_path.exists(),
        "a clean worktree's folder goes even when its branch stays"
    );
    assert_ne!(
        git(
            &repo,
            &["branch", "--list", &format!("cao/developer-{b_id}")]
        ),
        ""
    );
    let listing = cao.ok(&["worktrees"]);
    assert!(
        listing.contains(a_id) && listing.contains("ended"),
        "{listing}"
    );
    let cleaned = cao.ok(&["worktrees", "clean"]);
    assert!(
        cleaned.contains("kept") && cleaned.contains("uncommitted"),
        "{cleaned}"
    );
    assert!(a_path.exists(), "clean removed a worktree holding work");
    // Once its work is gone, clean removes it.
    std::fs::remove_file(a_path.join("notes.txt")).unwrap();
    let cleaned = cao.ok(&["worktrees", "clean"]);
    assert!(
        cleaned.contains(&format!("removed {}", a_path.display())),
        "{} not in {cleaned}",
        a_path.display()
    );
    assert!(!a_path.exists());
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_in_a_worktree_reports_what_became_of_it() {
    let cao = Cao::new();
    let repo = git_repo(cao.work.path(), "repo");
    let supervisor = cao.launch("code_supervisor");
    let client = connect(&cao, &supervisor).await;
    let result = call_tool(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "read only",
               "working_directory": repo, "use_worktree": true}),
    )
    .await;
    let s = result.structured_content.unwrap();
    assert_eq!(s["success"], true, "{s}");
    assert_eq!(s["worktree"]["outcome"], "removed", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("held nothing and was removed"),
        "{s}"
    );
    assert_eq!(
        git(&repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_a_repository_nothing_is_created() {
    let cao = Cao::new();
    let plain = cao.work.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let supervisor = cao.launch("code_supervisor");
    let client = connect(&cao, &supervisor).await;
    let result = call_tool(
        &client,
        "assign",
        json!({"agent_profile": "developer", "message": "x", "working_directory": plain, "use_worktree": true}),
    )
    .await;
    assert_eq!(result.is_error, Some(true));
    assert!(
        result_text(&result).contains("is not inside a git repository"),
        "{}",
        result_text(&result)
    );
    assert_eq!(cao.list().len(), 1, "only the supervisor");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detached_head_and_a_repository_with_submodules_work() {
    let cao = Cao::new();
    let lib = git_repo(cao.work.path(), "lib");
    let repo = git_repo(cao.work.path(), "app");
    git(
        &repo,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            lib.to_str().unwrap(),
            "vendor/lib",
        ],
    );
    git(&repo, &["commit", "-q", "-m", "add lib"]);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(&repo, &["checkout", "-q", "--detach"]);
    let supervisor = cao.launch("code_supervisor");
    let client = connect(&cao, &supervisor).await;
    let a = assign(&client, &repo, "x").await;
    assert_eq!(a["worktree"]["base"], head, "{a}");
    let path = PathBuf::from(a["worktree"]["path"].as_str().unwrap());
    assert_eq!(git(&path, &["rev-parse", "HEAD"]).trim(), head);
    // The submodule is either checked out in the worktree or the caller is told it is not.
    let checked_out = path.join("vendor/lib/README.md").exists();
    let told = a["message"]
        .as_str()
        .unwrap()
        .contains("submodules could not be checked out");
    assert!(checked_out || told, "{a}");
    let closed = call_tool(
        &client,
        "close_terminal",
        json!({"terminal_id": a["terminal_id"]}),
    )
    .await;
    assert_ne!(closed.is_error, Some(true), "{}", result_text(&closed));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_parallel_assigns_each_get_a_worktree() {
    let cao = Cao::new();
    let repo = git_repo(cao.work.path(), "repo");
    let supervisor = cao.launch("code_supervisor");
    let client = std::sync::Arc::new(connect(&cao, &supervisor).await);
    let mut tasks = Vec::new();
    for n in 0..10 {
        let client = client.clone();
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            call_tool(
                &client,
                "assign",
                json!({"agent_profile": "developer", "message": format!("task {n}"),
                       "working_directory": repo, "use_worktree": true}),
            )
            .await
        }));
    }
    let mut paths = std::collections::BTreeSet::new();
    for task in tasks {
        let result = task.await.unwrap();
        assert_ne!(result.is_error, Some(true), "{}", result_text(&result));
        let s = result.structured_content.unwrap();
        paths.insert(s["worktree"]["path"].as_str().unwrap().to_string());
    }
    assert_eq!(paths.len(), 10);
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 11);
    // cao shutdown ends them all; none held anything, so none is left.
    cao.ok(&["shutdown", "--all"]);
    wait_for("the worktrees to go", Duration::from_secs(30), || {
        git(&repo, &["worktree", "list"]).lines().count() == 1
    });
    assert!(cao.ok(&["worktrees"]).contains("no worktrees"));
}
