//! Reading a profile file: split the YAML front matter from the Markdown body, check every key,
//! and say exactly where a broken file is wrong (file, line, key).
//!
//! Profiles come from other people (URLs, shared folders), so the YAML is treated as hostile:
//! the file size is capped, and before anything is built from the YAML a first pass walks it
//! with a node budget and a depth limit, which stops alias bombs ("billion laughs") and deep
//! nesting long before they cost memory or stack.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_norway::Value;

use super::{Profile, ProfileError, ProfileSource, validate_name};
use crate::provider_id::ProviderId;

/// Largest profile file cao reads, fetches or installs. Real profiles are a few KiB.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;
/// Deepest nesting allowed in the front matter (real profiles need about five levels).
pub const MAX_DEPTH: usize = 32;
/// Most YAML nodes the front matter may expand to, aliases included.
pub const MAX_NODES: usize = 20_000;
/// Most `[` / `{` characters in the front matter. The YAML scanner's cost grows with the
/// square of flow nesting, so this bounds it before the scanner runs (counting every bracket,
/// quoted or not, is an upper bound on nesting that quoting cannot fool).
pub const MAX_FLOW_OPENERS: usize = 1024;

/// Keys cao understands; anything else is kept in [`Profile::extra`] and reported.
pub const KNOWN_KEYS: &[&str] = &[
    "name",
    "description",
    "provider",
    "model",
    "mcpServers",
    "tools",
    "allowedTools",
    "caoTools",
    "toolAliases",
    "toolsSettings",
    "prompt",
    "hooks",
    "resources",
];

/// Where in a file a problem sits, for error messages.
struct Ctx<'a> {
    origin: &'a str,
    yaml: &'a str,
    /// File line of the YAML's first line.
    first_line: usize,
}

impl Ctx<'_> {
    fn err(
        &self,
        line: Option<usize>,
        key: Option<&str>,
        reason: impl Into<String>,
    ) -> ProfileError {
        ProfileError::Invalid {
            origin: self.origin.to_string(),
            line,
            key: key.map(str::to_string),
            reason: reason.into(),
        }
    }

    fn key_err(&self, key: &str, reason: impl Into<String>) -> ProfileError {
        self.err(self.key_line(key), Some(key), reason)
    }

    /// File line of a top-level key, found by its `key:` line (top-level keys start a line).
    fn key_line(&self, key: &str) -> Option<usize> {
        self.yaml
            .lines()
            .position(|line| {
                let rest = line
                    .strip_prefix(key)
                    .or_else(|| line.strip_prefix(&format!("\"{key}\"")))
                    .or_else(|| line.strip_prefix(&format!("'{key}'")));
                rest.is_some_and(|r| r.trim_start().starts_with(':'))
            })
            .map(|i| self.first_line + i)
    }

    /// Converts a YAML error into one that names the file line (and the key path, which
    /// serde_norway puts at the start of its message).
    fn yaml_err(&self, e: &serde_norway::Error) -> ProfileError {
        let line = e.location().map(|l| self.first_line + l.line() - 1);
        let mut reason = e.to_string();
        if let Some(at) = reason.rfind(" at line ") {
            reason.truncate(at);
        }
        let key = reason
            .split_once(": ")
            .map(|(path, _)| path)
            .filter(|p| !p.contains(' '))
            .map(|p| p.split(['.', '[']).next().unwrap_or(p).to_string());
        ProfileError::Invalid {
            origin: self.origin.to_string(),
            line,
            key,
            reason,
        }
    }
}

/// Parses profile Markdown; `origin` names the file (or URL) in errors.
pub fn parse(text: &str, origin: &str, source: ProfileSource) -> Result<Profile, ProfileError> {
    let whole = Ctx {
        origin,
        yaml: "",
        first_line: 1,
    };
    if text.len() > MAX_PROFILE_BYTES {
        return Err(whole.err(
            None,
            None,
            format!(
                "it is {} bytes, over the {MAX_PROFILE_BYTES}-byte limit for a profile; keep the \
                 system prompt shorter or point at large documents with `resources`",
                text.len()
            ),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (yaml, body) =
        split_front_matter(text).map_err(|(line, reason)| whole.err(Some(line), None, reason))?;
    let ctx = Ctx {
        origin,
        yaml,
        first_line: 2,
    };
    if yaml.trim().is_empty() {
        return Err(ctx.err(
            Some(1),
            None,
            "the front matter is empty; add at least `name:` and `description:`",
        ));
    }
    let openers = yaml.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if openers > MAX_FLOW_OPENERS {
        return Err(ctx.err(
            None,
            None,
            format!(
                "the front matter has {openers} '[' or '{{' characters, over the limit of \
                 {MAX_FLOW_OPENERS}; write lists and mappings in block style (one item a line)"
            ),
        ));
    }
    check_shape(yaml).map_err(|e| ctx.yaml_err(&e))?;
    let value: Value = serde_norway::from_str(yaml).map_err(|e| ctx.yaml_err(&e))?;
    let Value::Mapping(mapping) = value else {
        return Err(ctx.err(
            Some(2),
            None,
            "the front matter must be a set of `key: value` lines",
        ));
    };

    let mut keys: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in mapping {
        let Value::String(k) = k else {
            return Err(ctx.err(
                None,
                None,
                format!("key {k:?} is not a string; use plain names"),
            ));
        };
        keys.insert(k, v);
    }

    let name = required_string(&ctx, &mut keys, "name")?;
    validate_name(&name).map_err(|_| {
        ctx.key_err(
            "name",
            format!(
                "{name:?} is not a plain name: use 1-64 letters, digits, '-', '_' or '.', \
                 with no '/', '\\', '..' or control characters"
            ),
        )
    })?;
    let description = required_string(&ctx, &mut keys, "description")?;
    let provider = optional_string(&ctx, &mut keys, "provider")?;
    let model = optional_string(&ctx, &mut keys, "model")?;
    let prompt = optional_string(&ctx, &mut keys, "prompt")?;
    let tools = string_list(&ctx, &mut keys, "tools")?;
    let allowed_tools = string_list(&ctx, &mut keys, "allowedTools")?;
    let cao_tools = string_list(&ctx, &mut keys, "caoTools")?;
    if let Some(unknown) = cao_tools
        .iter()
        .flatten()
        .find(|t| !super::CAO_TOOLS.contains(&t.as_str()))
    {
        return Err(ctx.key_err(
            "caoTools",
            format!(
                "`{unknown}` is not a cao tool; list some of: {}",
                super::CAO_TOOLS.join(", ")
            ),
        ));
    }
    let tool_aliases = string_map(&ctx, &mut keys, "toolAliases")?;
    let tools_settings = json_map(&ctx, &mut keys, "toolsSettings")?;
    let hooks = json_map(&ctx, &mut keys, "hooks")?;
    let resources = string_list(&ctx, &mut keys, "resources")?.unwrap_or_default();
    let mcp_servers = mcp_servers(&ctx, &mut keys)?;

    let mut warnings = Vec::new();
    if let Some(p) = &provider {
        let known = ProviderId::names();
        if !known.contains(&p.as_str()) {
            warnings.push(format!(
                "{origin}: provider {p:?} is not one cao can run (valid: {}); the caller's \
                 provider will be used instead",
                known.join(", ")
            ));
        }
    }
    let mut extra = BTreeMap::new();
    for (k, v) in keys {
        let line = ctx
            .key_line(&k)
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        warnings.push(format!(
            "{origin}{line}: unknown key `{k}` kept but not used by cao; known keys: {}",
            KNOWN_KEYS.join(", ")
        ));
        let json = serde_json::to_value(&v).map_err(|e| ctx.key_err(&k, e.to_string()))?;
        extra.insert(k, json);
    }

    let system_prompt = prompt
        .clone()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| body.trim().to_string());
    Ok(Profile {
        name,
        description,
        provider,
        model,
        mcp_servers,
        system_prompt,
        source,
        tools,
        allowed_tools,
        cao_tools,
        tool_aliases,
        tools_settings,
        prompt,
        hooks,
        resources,
        extra,
        warnings,
    })
}

/// Splits `---\n<yaml>\n---\n<body>`; errors carry the file line to blame.
fn split_front_matter(text: &str) -> Result<(&str, &str), (usize, String)> {
    let mut offset = 0;
    let mut yaml_start = None;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']).trim_end();
        match yaml_start {
            None => {
                if bare != "---" {
                    return Err((
                        1,
                        "a profile must start with a '---' line that opens the YAML front matter \
                         (name, description, ...), then a closing '---' line and the system prompt"
                            .into(),
                    ));
                }
                yaml_start = Some(offset + line.len());
            }
            Some(start) if index > 0 && (bare == "---" || bare == "...") => {
                return Ok((&text[start..offset], &text[offset + line.len()..]));
            }
            Some(_) => {}
        }
        offset += line.len();
    }
    Err((
        1,
        "the front matter opened on line 1 has no closing '---' line; add one before the system \
         prompt"
            .into(),
    ))
}

fn required_string(
    ctx: &Ctx<'_>,
    keys: &mut BTreeMap<String, Value>,
    key: &str,
) -> Result<String, ProfileError> {
    match optional_string(ctx, keys, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(_) => Err(ctx.key_err(key, format!("`{key}` is empty; give it a value"))),
        None => Err(ctx.err(
            Some(1),
            Some(key),
            format!("the required key `{key}` is missing; add a `{key}:` line to the front matter"),
        )),
    }
}

fn optional_string(
    ctx: &Ctx<'_>,
    keys: &mut BTreeMap<String, Value>,
    key: &str,
) -> Result<Option<String>, ProfileError> {
    match keys.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(ctx.key_err(
            key,
            format!(
                "expected text, found {}; write it as a plain string",
                kind(&other)
            ),
        )),
    }
}

/// A list of strings, also accepted as one comma-separated string (Claude Code's `tools: Read, Grep`).
fn string_list(
    ctx: &Ctx<'_>,
    keys: &mut BTreeMap<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, ProfileError> {
    match keys.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        Some(Value::Sequence(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(ctx.key_err(
                    key,
                    format!(
                        "expected a list of strings, found an item that is {}",
                        kind(&other)
                    ),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ctx.key_err(
            key,
            format!("expected a list of strings, found {}", kind(&other)),
        )),
    }
}

fn string_map(
    ctx: &Ctx<'_>,
    keys: &mut BTreeMap<String, Value>,
    key: &str,
) -> Result<BTreeMap<String, String>, ProfileError> {
    let mut out = BTreeMap::new();
    match keys.remove(key) {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                match (k, v) {
                    (Value::String(k), Value::String(v)) => {
                        out.insert(k, v);
                    }
                    _ => {
                        return Err(ctx.key_err(
                            key,
                            "expected `from: to` pairs of strings; quote both sides",
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(ctx.key_err(
                key,
                format!("expected a mapping of strings, found {}", kind(&other)),
            ));
        }
    }
    Ok(out)
}

fn json_map(
    ctx: &Ctx<'_>,
    keys: &mut BTreeMap<String, Value>,
    key: &str,
) -> Result<BTreeMap<String, serde_json::Value>, ProfileError> {
    match keys.remove(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(v @ Value::Mapping(_)) => serde_json::to_value(&v)
            .and_then(serde_json::from_value)
            .map_err(|e| ctx.key_err(key, format!("{e}; use string keys and plain values"))),
        Some(other) => Err(ctx.key_err(key, format!("expected a mapping, found {}", kind(&other)))),
    }
}

/// `mcpServers`: each entry a mapping with a `command` (local server) or a `url` (remote one).
fn mcp_servers(
    ctx: &Ctx<'_>,
    keys: &mut BTreeMap<String, Value>,
) -> Result<BTreeMap<String, serde_json::Value>, ProfileError> {
    const KEY: &str = "mcpServers";
    let servers = json_map(ctx, keys, KEY)?;
    for (name, server) in &servers {
        let Some(obj) = server.as_object() else {
            return Err(ctx.key_err(
                KEY,
                format!(
                    "server `{name}` must be a mapping with `command` (and `args`, `env`) or `url`"
                ),
            ));
        };
        let command = obj.get("command");
        if command.is_some_and(|c| !c.is_string()) {
            return Err(ctx.key_err(KEY, format!("server `{name}`: `command` must be a string")));
        }
        if command.is_none() && !obj.get("url").is_some_and(|u| u.is_string()) {
            return Err(ctx.key_err(
                KEY,
                format!("server `{name}` has neither `command` nor `url`; add the program to run"),
            ));
        }
        if let Some(args) = obj.get("args")
            && !args
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.is_string()))
        {
            return Err(ctx.key_err(
                KEY,
                format!("server `{name}`: `args` must be a list of strings"),
            ));
        }
        if let Some(env) = obj.get("env")
            && !env
                .as_object()
                .is_some_and(|m| m.values().all(|x| x.is_string()))
        {
            return Err(ctx.key_err(
                KEY,
                format!("server `{name}`: `env` must map names to strings (quote numbers)"),
            ));
        }
    }
    Ok(servers)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// First pass over the YAML: walks every node (aliases expanded, as a later parse would)
/// within [`MAX_NODES`] and [`MAX_DEPTH`], building nothing.
fn check_shape(yaml: &str) -> Result<(), serde_norway::Error> {
    let budget = Cell::new(MAX_NODES);
    Guard {
        depth: 0,
        budget: &budget,
    }
    .deserialize(serde_norway::Deserializer::from_str(yaml))
}

#[derive(Clone, Copy)]
struct Guard<'a> {
    depth: usize,
    budget: &'a Cell<usize>,
}

impl Guard<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "the front matter expands to more than {MAX_NODES} values (YAML aliases?); \
                 write it out plainly"
            ))),
        }
    }

    fn deeper<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format!(
                "the front matter is nested deeper than {MAX_DEPTH} levels; flatten it"
            )));
        }
        Ok(Guard {
            depth: self.depth + 1,
            budget: self.budget,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Guard<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Guard<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.spend()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.spend()?;
        self.deeper()?.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.spend()?;
        self.deeper()?.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        let inner = self.deeper()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        let inner = self.deeper()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(
            "YAML tags (`!name value`) are not supported in profiles; remove the tag",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Profile, ProfileError> {
        parse(text, "test.md", ProfileSource::BuiltIn)
    }

    fn invalid(text: &str) -> (Option<usize>, Option<String>, String) {
        match parse_str(text) {
            Err(ProfileError::Invalid {
                line, key, reason, ..
            }) => (line, key, reason),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn full_profile_parses_every_key() {
        let p = parse_str(
            "---\nname: full\ndescription: d\nprovider: fake\nmodel: m1\n\
             mcpServers:\n  git:\n    command: git-mcp\n    args: [serve]\n    env: {A: b}\n\
             tools: Read, Grep\nallowedTools: [fs_read]\ntoolAliases: {'@git/status': st}\n\
             toolsSettings:\n  shell: {denyByDefault: true}\nhooks:\n  agentSpawn: [{command: x}]\n\
             resources: [file://README.md]\ncolor: blue\n---\nBody text\n",
        )
        .unwrap();
        assert_eq!(p.name, "full");
        assert_eq!(p.provider.as_deref(), Some("fake"));
        assert_eq!(p.model.as_deref(), Some("m1"));
        assert_eq!(p.tools, Some(vec!["Read".to_string(), "Grep".to_string()]));
        assert_eq!(p.allowed_tools, Some(vec!["fs_read".to_string()]));
        assert_eq!(p.tool_aliases["@git/status"], "st");
        assert_eq!(p.tools_settings["shell"]["denyByDefault"], true);
        assert_eq!(p.hooks["agentSpawn"][0]["command"], "x");
        assert_eq!(p.resources, ["file://README.md"]);
        assert_eq!(p.mcp_servers["git"]["args"][0], "serve");
        assert_eq!(p.extra["color"], "blue");
        assert_eq!(p.system_prompt, "Body text");
        assert_eq!(p.warnings.len(), 1);
        assert!(
            p.warnings[0].contains("unknown key `color`"),
            "{:?}",
            p.warnings
        );
        assert!(p.warnings[0].contains("line 19"), "{:?}", p.warnings);
    }

    #[test]
    fn cao_tools_name_only_cao_s_tools() {
        let p =
            parse_str("---\nname: a\ndescription: d\ncaoTools: [send_message]\n---\nB\n").unwrap();
        assert_eq!(p.cao_tools, Some(vec!["send_message".to_string()]));
        let none = parse_str("---\nname: a\ndescription: d\ncaoTools: []\n---\nB\n").unwrap();
        assert_eq!(none.cao_tools, Some(vec![]), "an empty list grants none");
        let (line, key, reason) =
            invalid("---\nname: a\ndescription: d\ncaoTools: [send_message, rm_rf]\n---\nB\n");
        assert_eq!((line, key.as_deref()), (Some(4), Some("caoTools")));
        assert!(
            reason.contains("`rm_rf` is not a cao tool") && reason.contains("handoff"),
            "{reason}"
        );
    }

    #[test]
    fn prompt_key_wins_over_body_and_crlf_works() {
        let p =
            parse_str("---\r\nname: a\r\ndescription: d\r\nprompt: From key\r\n---\r\nBody\r\n")
                .unwrap();
        assert_eq!(p.system_prompt, "From key");
        assert_eq!(p.prompt.as_deref(), Some("From key"));
    }

    #[test]
    fn missing_required_keys_name_the_key() {
        let (line, key, reason) = invalid("---\ndescription: d\n---\nx");
        assert_eq!((line, key.as_deref()), (Some(1), Some("name")));
        assert!(reason.contains("missing"), "{reason}");
        let (_, key, _) = invalid("---\nname: a\n---\nx");
        assert_eq!(key.as_deref(), Some("description"));
    }

    #[test]
    fn wrong_types_name_line_and_key() {
        let (line, key, reason) = invalid("---\nname: a\ndescription: d\ntools: {a: 1}\n---\n");
        assert_eq!((line, key.as_deref()), (Some(4), Some("tools")));
        assert!(reason.contains("list of strings"), "{reason}");
        let (line, key, _) =
            invalid("---\nname: a\ndescription: d\nmcpServers:\n  x: {args: [1]}\n---\n");
        assert_eq!((line, key.as_deref()), (Some(4), Some("mcpServers")));
    }

    #[test]
    fn yaml_syntax_errors_give_the_file_line() {
        let (line, _, reason) = invalid("---\nname: a\ndescription: d\nbad: [unclosed\n---\n");
        assert!(
            line.is_some_and(|l| (4..=6).contains(&l)),
            "{line:?} {reason}"
        );
    }

    #[test]
    fn bad_names_in_front_matter_are_refused() {
        for bad in ["../evil", "a/b", "a\\\\b", "..", "\"a\\u0007b\""] {
            let (line, key, _) = invalid(&format!("---\nname: {bad}\ndescription: d\n---\n"));
            assert_eq!((line, key.as_deref()), (Some(2), Some("name")), "{bad}");
        }
    }

    #[test]
    fn front_matter_framing_errors() {
        assert_eq!(invalid("no front matter").0, Some(1));
        assert!(invalid("---\nname: a\n").2.contains("closing"));
        assert!(invalid("---\n---\nbody").2.contains("empty"));
        assert!(invalid("---\n- a\n- b\n---\n").2.contains("key: value"));
        // A line that merely starts with --- does not close the front matter.
        assert!(
            invalid("---\nname: a\ndescription: d\n--- x\n")
                .2
                .contains("closing")
        );
    }

    #[test]
    fn oversize_is_refused_before_parsing() {
        let text = format!(
            "---\nname: a\ndescription: d\n---\n{}",
            "x".repeat(MAX_PROFILE_BYTES)
        );
        assert!(invalid(&text).2.contains("limit"));
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut y =
            String::from("---\nname: a\ndescription: d\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            y.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        y.push_str("---\n");
        let start = std::time::Instant::now();
        let (_, _, reason) = invalid(&y);
        assert!(reason.contains("more than"), "{reason}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn wide_alias_bomb_is_refused() {
        let wide = vec!["x"; 1000].join(", ");
        let refs = vec!["*w"; 1000].join(", ");
        let y = format!("---\nname: a\ndescription: d\nw: &w [{wide}]\nb: [{refs}]\n---\n");
        assert!(invalid(&y).2.contains("more than"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let start = std::time::Instant::now();
        let deep = format!(
            "---\nname: a\ndescription: d\nx: {}{}\n---\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(invalid(&deep).2.contains("over the limit"));
        let deep = format!(
            "---\nname: a\ndescription: d\nx: {}{}\n---\n",
            "[".repeat(1000),
            "]".repeat(1000)
        );
        assert!(invalid(&deep).2.contains("deeper"));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let dashes = format!(
            "---\nname: a\ndescription: d\nx:\n{}a\n---\n",
            "- ".repeat(100_000)
        );
        let (_, _, reason) = invalid(&dashes);
        assert!(
            reason.contains("deeper") || reason.contains("limit"),
            "{reason}"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let mut block = String::from("---\nname: a\ndescription: d\nx:\n");
        for i in 0..60 {
            block.push_str(&format!("{}k{i}:\n", "  ".repeat(i + 1)));
        }
        block.push_str("---\n");
        assert!(invalid(&block).2.contains("deeper"));
    }

    #[test]
    fn tags_are_refused() {
        assert!(
            invalid("---\nname: a\ndescription: d\nx: !evil 1\n---\n")
                .2
                .contains("tags")
        );
    }
}
