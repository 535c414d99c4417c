//! A tiny stdio MCP server for testing the fake agent's MCP client without cao: `echo`,
//! `add` (structured output), `fail` (`isError`), `sleep` (a long call to interrupt) and
//! `env` (to check the `env` of `--mcp-config` reaches the server).

use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

/// Arguments of `echo`.
#[derive(Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    text: String,
}

/// Arguments of `add`.
#[derive(Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

/// Structured result of `add`.
#[derive(Serialize, schemars::JsonSchema)]
struct Sum {
    sum: i64,
}

/// Arguments of `fail`.
#[derive(Deserialize, schemars::JsonSchema)]
struct FailArgs {
    message: String,
}

/// Arguments of `sleep`.
#[derive(Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    seconds: f64,
}

/// Arguments of `env`.
#[derive(Deserialize, schemars::JsonSchema)]
struct EnvArgs {
    name: String,
}

/// The server: just its tool router.
#[derive(Clone)]
struct Echo {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Echo {
    /// Builds the server with its tools.
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// Returns the text it was given.
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    /// Adds two numbers, as structured content.
    #[tool(description = "Add two integers")]
    fn add(&self, Parameters(args): Parameters<AddArgs>) -> Json<Sum> {
        Json(Sum {
            sum: args.a + args.b,
        })
    }

    /// Always reports a tool error.
    #[tool(description = "Fail with the given message")]
    fn fail(&self, Parameters(args): Parameters<FailArgs>) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(args.message)])
    }

    /// Waits, then answers: a long call for interrupt tests.
    #[tool(description = "Sleep for some seconds")]
    async fn sleep(&self, Parameters(args): Parameters<SleepArgs>) -> String {
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
        format!("slept {}s", args.seconds)
    }

    /// Reads one of the server's environment variables.
    #[tool(description = "Read an environment variable of the server")]
    fn env(&self, Parameters(args): Parameters<EnvArgs>) -> String {
        std::env::var(&args.name).unwrap_or_default()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Serves on stdin/stdout until the client goes away.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let service = Echo::new().serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
