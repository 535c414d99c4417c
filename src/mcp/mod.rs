//! The stdio MCP server (`cao mcp-server`).

/// Serves MCP on stdin/stdout until the client disconnects.
pub fn serve() -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("the MCP server is not built yet")
}
