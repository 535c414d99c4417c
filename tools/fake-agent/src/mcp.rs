//! The MCP client side: the servers named in `--mcp-config`, started lazily over stdio and
//! kept for the agent's lifetime, so a scenario can call cao's tools like a real agent would.

use std::collections::HashMap;
use std::fmt;
use std::process::Stdio;

use anyhow::{Context, Result};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// How to start one stdio MCP server, in Claude Code's `mcpServers` shape.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSpec {
    /// Executable to run; None for non-stdio entries (e.g. `url` servers), which we cannot use.
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables added to the agent's own environment for the child.
    #[serde(default)]
    pub env: HashMap<String, String>,
}

/// The servers from every `--mcp-config` given, in the order they were written (the first one
/// is the default target of a call that names no server).
#[derive(Debug, Default, Clone)]
pub struct McpConfig {
    servers: Vec<(String, ServerSpec)>,
}

/// The top level of a config file: `{"mcpServers": {...}}`.
#[derive(Deserialize)]
struct ConfigFile {
    #[serde(rename = "mcpServers", default)]
    servers: OrderedServers,
}

/// `mcpServers` read as a list, because "the first server" depends on the written order and
/// serde_json's map does not keep it.
#[derive(Default)]
struct OrderedServers(Vec<(String, ServerSpec)>);

impl<'de> Deserialize<'de> for OrderedServers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Collects map entries in arrival order.
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = OrderedServers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of MCP server definitions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut servers = Vec::new();
                while let Some(entry) = map.next_entry::<String, ServerSpec>()? {
                    servers.push(entry);
                }
                Ok(OrderedServers(servers))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

impl McpConfig {
    /// Parses one `--mcp-config` JSON document.
    pub fn parse(json: &str) -> Result<Self> {
        let file: ConfigFile = serde_json::from_str(json)
            .context("--mcp-config is not valid JSON of the form {\"mcpServers\": {...}}")?;
        Ok(Self {
            servers: file.servers.0,
        })
    }

    /// Adds the servers of a later `--mcp-config`; a repeated name replaces the earlier entry.
    pub fn merge(&mut self, other: McpConfig) {
        for (name, spec) in other.servers {
            match self.servers.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = spec,
                None => self.servers.push((name, spec)),
            }
        }
    }

    /// Server names in order.
    #[cfg(test)]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|(name, _)| name.as_str())
    }

    /// The server a call goes to: the named one, or the first one.
    fn resolve(&self, server: Option<&str>) -> Result<(&str, &ServerSpec), String> {
        match server {
            Some(wanted) => self
                .servers
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(name, spec)| (name.as_str(), spec))
                .ok_or_else(|| format!("no MCP server named {wanted:?} in --mcp-config")),
            None => self
                .servers
                .first()
                .map(|(name, spec)| (name.as_str(), spec))
                .ok_or_else(|| "no MCP server configured (pass --mcp-config)".to_owned()),
        }
    }
}

/// A live connection to one server.
type Client = RunningService<RoleClient, ClientConfig>;

/// The connections made so far, one per server, opened on first use.
pub struct McpClients {
    config: McpConfig,
    live: Mutex<HashMap<String, Client>>,
}

impl McpClients {
    /// A pool over `config` with nothing started yet.
    pub fn new(config: McpConfig) -> Self {
        Self {
            config,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Calls `tool` on `server` (default: the first), starting and initializing the server on
    /// first use. Waits as long as the tool takes (a handoff may take minutes). Errors are
    /// messages fit for the answer line: a transport failure, or a result with `isError`.
    pub async fn call(
        &self,
        server: Option<&str>,
        tool: &str,
        args: Map<String, Value>,
    ) -> Result<CallToolResult, String> {
        let (name, spec) = self.config.resolve(server)?;
        let peer = {
            let mut live = self.live.lock().await;
            if live.get(name).is_some_and(|c| c.is_transport_closed()) {
                live.remove(name);
            }
            if !live.contains_key(name) {
                let client = connect(name, spec).await?;
                live.insert(name.to_owned(), client);
            }
            live[name].peer().clone()
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        let result = peer.call_tool(params).await.map_err(|e| e.to_string())?;
        if result.is_error == Some(true) {
            let message = result_text(&result);
            return Err(if message.is_empty() {
                "the tool reported an error".to_owned()
            } else {
                message
            });
        }
        Ok(result)
    }
}

/// Starts one server as a child process and runs the MCP `initialize` handshake.
async fn connect(name: &str, spec: &ServerSpec) -> Result<Client, String> {
    let command = spec.command.as_deref().ok_or_else(|| {
        format!("MCP server {name:?} has no \"command\" (only stdio is supported)")
    })?;
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(&spec.args).envs(&spec.env);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start MCP server {name:?} ({command}): {e}"))?;
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
    );
    info.serve(transport)
        .await
        .map_err(|e| format!("MCP server {name:?} failed to initialize: {e}"))
}

/// The text of a tool result: its structured content as compact JSON when present, otherwise
/// its text blocks joined together.
pub fn result_text(result: &CallToolResult) -> String {
    if let Some(structured) = &result.structured_content {
        return structured.to_string();
    }
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;
    use serde_json::json;

    #[test]
    fn servers_keep_their_written_order() {
        let config = McpConfig::parse(
            r#"{"mcpServers": {
                "zeta": {"command": "/bin/z"},
                "alpha": {"type": "stdio", "command": "/bin/a", "args": ["x"], "env": {"K": "V"}}
            }}"#,
        )
        .unwrap();
        assert_eq!(config.names().collect::<Vec<_>>(), ["zeta", "alpha"]);
        assert_eq!(config.resolve(None).unwrap().0, "zeta");
        let (_, alpha) = config.resolve(Some("alpha")).unwrap();
        assert_eq!(alpha.args, ["x"]);
        assert_eq!(alpha.env["K"], "V");
        assert!(config.resolve(Some("nope")).is_err());
    }

    #[test]
    fn merging_appends_and_replaces() {
        let mut config = McpConfig::parse(r#"{"mcpServers": {"a": {"command": "1"}}}"#).unwrap();
        config.merge(
            McpConfig::parse(r#"{"mcpServers": {"b": {"command": "2"}, "a": {"command": "3"}}}"#)
                .unwrap(),
        );
        assert_eq!(config.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            config.resolve(None).unwrap().1.command.as_deref(),
            Some("3")
        );
    }

    #[test]
    fn no_servers_is_an_error_at_call_time() {
        assert!(McpConfig::default().resolve(None).is_err());
        assert!(McpConfig::parse("{}").unwrap().resolve(None).is_err());
        assert!(McpConfig::parse("\"text\"").is_err());
    }

    #[test]
    fn result_text_prefers_structured_content() {
        let mut result =
            CallToolResult::success(vec![ContentBlock::text("one "), ContentBlock::text("two")]);
        assert_eq!(result_text(&result), "one two");
        result.structured_content = Some(json!({"success": true, "terminal_id": "ab12cd34"}));
        assert_eq!(
            result_text(&result),
            r#"{"success":true,"terminal_id":"ab12cd34"}"#
        );
    }
}
