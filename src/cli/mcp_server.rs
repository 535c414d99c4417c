//! `cao mcp-server`: serves the MCP tools on stdin/stdout until the client disconnects.

use std::process::ExitCode;
use std::sync::Arc;

use cao::engine::{self, Engine};
use cao::mcp::CaoServer;
use rmcp::ServiceExt;

/// Runs the stdio MCP server. Logs go to a file (stdout is the MCP channel).
pub fn serve() -> anyhow::Result<ExitCode> {
    let home = engine::home_dir();
    cao::logging::init(&home);
    let engine = Arc::new(Engine::from_env()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()?;
    let server = CaoServer::new(engine);
    let served = runtime.block_on({
        let server = server.clone();
        async move {
            let service = server.serve(rmcp::transport::stdio()).await?;
            service.waiting().await?;
            anyhow::Ok(())
        }
    });
    server.release_caller();
    served?;
    Ok(ExitCode::SUCCESS)
}
