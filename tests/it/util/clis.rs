//! The real agent CLIs the end-to-end tests drive: where each binary comes from, how to
//! install it, and the throwaway home each runs in (config files seeded so it starts offline
//! against the scripted model, with no login, no update check and no first-run dialogs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

/// API key the CLIs send to the scripted model (any value works; some CLIs remember its tail).
pub const API_KEY: &str = "sk-cao-e2e-0123456789abcdefghijklmnopqrstuvwxyz";
/// Model name the CLIs are configured with.
pub const MODEL: &str = "mock";

/// One real CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    Claude,
    Codex,
    Gemini,
    OpenCode,
    Copilot,
}

impl Cli {
    /// Every CLI with a real-binary test.
    pub const ALL: [Cli; 5] = [
        Cli::Claude,
        Cli::Codex,
        Cli::Gemini,
        Cli::OpenCode,
        Cli::Copilot,
    ];

    /// cao's provider name.
    pub fn provider(self) -> &'static str {
        match self {
            Cli::Claude => "claude_code",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini_cli",
            Cli::OpenCode => "opencode",
            Cli::Copilot => "copilot_cli",
        }
    }

    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            Cli::Claude => "Claude Code",
            Cli::Codex => "Codex",
            Cli::Gemini => "Gemini CLI",
            Cli::OpenCode => "OpenCode",
            Cli::Copilot => "Copilot CLI",
        }
    }

    /// The variable that names the binary (else it is looked up on `PATH`).
    pub fn bin_var(self) -> &'static str {
        match self {
            Cli::Claude => "CAO_CLAUDE_CODE_BIN",
            Cli::Codex => "CAO_CODEX_BIN",
            Cli::Gemini => "CAO_GEMINI_CLI_BIN",
            Cli::OpenCode => "CAO_OPENCODE_BIN",
            Cli::Copilot => "CAO_COPILOT_CLI_BIN",
        }
    }

    /// The npm package, at the version the tests were last verified with (`.ci/run` pins the same).
    pub fn npm_package(self) -> &'static str {
        match self {
            Cli::Claude => "@anthropic-ai/claude-code@2.1.197",
            Cli::Codex => "@openai/codex@0.169.0",
            Cli::Gemini => "@google/gemini-cli@0.61.0",
            Cli::OpenCode => "opencode-ai@1.18.33",
            Cli::Copilot => "@github/copilot@1.0.102",
        }
    }

    /// The binary, as cao's provider would find it; `None` prints one line saying how to get
    /// it (the caller then skips).
    pub fn binary(self) -> Option<PathBuf> {
        match cao::providers::get(self.provider()).unwrap().executable() {
            Ok(path) => Some(path),
            Err(e) if std::env::var_os(self.bin_var()).is_some() => {
                println!("SKIP {}: {e}", self.label());
                None
            }
            Err(_) => {
                println!(
                    "SKIP {}: not installed; set {} to its binary or put it on PATH \
                     (`npm install -g {}`; `.ci/run` installs all the CLIs)",
                    self.label(),
                    self.bin_var(),
                    self.npm_package()
                );
                None
            }
        }
    }

    /// `BIN --version`, run in a throwaway home (first line, or `?`).
    pub fn version(self, bin: &Path) -> String {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("--version")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("XDG_DATA_HOME", home.path().join(".local/share"))
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .env("XDG_STATE_HOME", home.path().join(".local/state"))
            .env("CODEX_HOME", home.path().join(".codex"))
            .env("NO_PROXY", "*")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let _ = std::fs::create_dir_all(home.path().join(".codex"));
        let Ok(mut child) = cmd.spawn() else {
            return "?".into();
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let mut out = String::new();
                use std::io::Read;
                let _ = child.stdout.take().unwrap().read_to_string(&mut out);
                let line = out.lines().next().unwrap_or("?").trim();
                // Keep just the version number where the CLI prints more.
                return line
                    .split_whitespace()
                    .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
                    .unwrap_or(line)
                    .trim_end_matches([',', '.'])
                    .to_string();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        "?".into()
    }
}

/// Environment every CLI process gets: the throwaway home, the loopback model, the refusing
/// proxy, and each CLI's switches for "no update checks, no telemetry, no outside traffic".
pub fn environment(home: &Path, model_url: &str, proxy_url: &str) -> Vec<(String, String)> {
    let h = |p: &str| home.join(p).display().to_string();
    let env: Vec<(&str, String)> = vec![
        ("HOME", home.display().to_string()),
        ("XDG_CONFIG_HOME", h(".config")),
        ("XDG_DATA_HOME", h(".local/share")),
        ("XDG_CACHE_HOME", h(".cache")),
        ("XDG_STATE_HOME", h(".local/state")),
        ("CODEX_HOME", h(".codex")),
        ("HTTPS_PROXY", proxy_url.into()),
        ("HTTP_PROXY", proxy_url.into()),
        ("https_proxy", proxy_url.into()),
        ("http_proxy", proxy_url.into()),
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("no_proxy", "127.0.0.1,localhost".into()),
        ("GIT_SSH_COMMAND", "false".into()),
        // Claude Code
        ("ANTHROPIC_BASE_URL", model_url.into()),
        ("ANTHROPIC_API_KEY", API_KEY.into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("DISABLE_ERROR_REPORTING", "1".into()),
        (
            "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL",
            "1".into(),
        ),
        // Codex
        ("CAO_E2E_MODEL_KEY", API_KEY.into()),
        // Gemini CLI
        ("GOOGLE_GEMINI_BASE_URL", model_url.into()),
        ("GEMINI_API_KEY", API_KEY.into()),
        ("NO_BROWSER", "true".into()),
        // OpenCode
        ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
        ("OPENCODE_DISABLE_MODELS_FETCH", "1".into()),
        ("OPENCODE_DISABLE_SHARE", "1".into()),
        ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1".into()),
        ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1".into()),
        // Copilot CLI (bring-your-own model)
        ("COPILOT_PROVIDER_BASE_URL", format!("{model_url}/v1")),
        ("COPILOT_PROVIDER_API_KEY", API_KEY.into()),
        ("COPILOT_MODEL", MODEL.into()),
    ];
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Writes every CLI's config into `home` so it starts straight into its prompt in `work`.
pub fn seed_home(home: &Path, work: &Path, model_url: &str) {
    let write = |rel: &str, text: String| {
        let path = home.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    };
    let work = work.display().to_string();

    // Claude Code: onboarding done, the key approved, the folder trusted, bypass accepted.
    let tail = &API_KEY[API_KEY.len() - 20..];
    write(
        ".claude.json",
        json!({
            "hasCompletedOnboarding": true,
            "bypassPermissionsModeAccepted": true,
            "customApiKeyResponses": {"approved": [tail], "rejected": []},
            "projects": {work.clone(): {"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}},
        })
        .to_string(),
    );
    write(
        ".claude/settings.json",
        json!({"skipDangerousModePermissionPrompt": true}).to_string(),
    );

    // Codex: a custom provider on loopback, no approvals, the workspace trusted.
    write(
        ".codex/config.toml",
        format!(
            r#"model = "{MODEL}"
model_provider = "cao_e2e"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[model_providers.cao_e2e]
name = "scripted model"
base_url = "{model_url}/v1"
env_key = "CAO_E2E_MODEL_KEY"
wire_api = "responses"

[projects."{work}"]
trust_level = "trusted"

[features]
plugins = false
remote_plugin = false
apps = false
daemon_auto_start = false

[tui]
animations = true
"#
        ),
    );

    // Gemini CLI: API-key auth, no folder trust, no updates or telemetry.
    write(
        ".gemini/settings.json",
        json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
            "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
            "privacy": {"usageStatisticsEnabled": false},
            "telemetry": {"enabled": false},
        })
        .to_string(),
    );

    // OpenCode: an OpenAI-compatible provider on loopback, everything allowed.
    write(
        ".config/opencode/opencode.json",
        json!({
            "$schema": "https://opencode.ai/config.json",
            "provider": {"cao_e2e": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "scripted model",
                "options": {"baseURL": format!("{model_url}/v1"), "apiKey": API_KEY},
                "models": {MODEL: {"name": "Scripted"}},
            }},
            "model": format!("cao_e2e/{MODEL}"),
            "small_model": format!("cao_e2e/{MODEL}"),
            "permission": {"edit": "allow", "bash": "allow", "webfetch": "allow"},
            "autoupdate": false,
            "share": "disabled",
        })
        .to_string(),
    );
}

/// Takes back what [`seed_home`] allows beyond each CLI's defaults (Codex's `approval_policy`
/// and `sandbox_mode`, OpenCode's `permission`), so the CLIs ask before acting as they do on
/// a user's machine.
pub fn default_permissions(home: &Path) {
    let codex = home.join(".codex/config.toml");
    let text = std::fs::read_to_string(&codex).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("approval_policy") && !l.starts_with("sandbox_mode"))
        .collect();
    std::fs::write(&codex, kept.join("\n") + "\n").unwrap();
    let opencode = home.join(".config/opencode/opencode.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&opencode).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("permission");
    std::fs::write(&opencode, config.to_string()).unwrap();
}
