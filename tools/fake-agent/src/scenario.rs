//! Scripted tool-call rules (`CAO_FAKE_SCENARIO`): which inputs make the agent call which MCP
//! tools, with what arguments, and what it answers afterwards.

use anyhow::{Context, Result};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The scenario file as written by a test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioSpec {
    rules: Vec<RuleSpec>,
}

/// One rule as written: a regex over the input, the calls to make, an optional answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default)]
    calls: Vec<CallSpec>,
    #[serde(default)]
    answer: Option<String>,
}

/// One tool call a rule makes, before placeholders are filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// Which `--mcp-config` server to call; None means the first one configured.
    #[serde(default)]
    pub server: Option<String>,
    /// The tool name.
    pub tool: String,
    /// The arguments, a JSON object whose strings may hold placeholders.
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// A parsed rule with its compiled regex.
#[derive(Debug)]
struct Rule {
    regex: Regex,
    calls: Vec<CallSpec>,
    answer: Option<String>,
}

/// All rules, tried in order against each submitted input.
#[derive(Debug, Default)]
pub struct Scenario {
    rules: Vec<Rule>,
}

/// What a matching rule asks for: the calls with their placeholders filled, and what is needed
/// to fill the answer template once the calls have run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The calls to make, in order, with substituted arguments.
    pub calls: Vec<PlannedCall>,
    /// The rule's answer template, as written.
    answer: Option<String>,
    /// The input that matched, for `{{input}}`.
    input: String,
    /// Group 0 is the whole match; 1.. are the capture groups (empty when they did not take part).
    groups: Vec<String>,
}

/// One tool call ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    /// Target server name, or None for the first configured one.
    pub server: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Arguments after placeholder substitution.
    pub args: Map<String, Value>,
}

impl Scenario {
    /// Parses the scenario JSON, compiling every rule's regex so mistakes show up at start.
    pub fn parse(json: &str) -> Result<Self> {
        let spec: ScenarioSpec = serde_json::from_str(json)
            .context("CAO_FAKE_SCENARIO is not valid scenario JSON ({\"rules\": [...]})")?;
        let rules = spec
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let regex = Regex::new(&rule.pattern).with_context(|| {
                    format!("CAO_FAKE_SCENARIO rule {i}: bad regex {:?}", rule.pattern)
                })?;
                Ok(Rule {
                    regex,
                    calls: rule.calls,
                    answer: rule.answer,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { rules })
    }

    /// The plan of the first rule whose regex matches `input`, or None for the default answer.
    /// `env` looks up `{{env:NAME}}` placeholders.
    pub fn plan(&self, input: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<Plan> {
        self.rules.iter().find_map(|rule| {
            let caps = rule.regex.captures(input)?;
            let groups: Vec<String> = caps
                .iter()
                .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                .collect();
            let vars = Vars {
                input,
                groups: &groups,
                result: None,
                env,
            };
            let calls = rule
                .calls
                .iter()
                .map(|call| PlannedCall {
                    server: call.server.as_deref().map(|s| vars.fill(s)),
                    tool: vars.fill(&call.tool),
                    args: fill_object(&call.args, &vars),
                })
                .collect();
            Some(Plan {
                calls,
                answer: rule.answer.clone(),
                input: input.to_owned(),
                groups,
            })
        })
    }
}

impl Plan {
    /// The rule's answer with every placeholder filled, `{{result}}` being `result` (the text
    /// of the last call's result); None when the rule gives no answer template.
    pub fn answer(&self, result: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let vars = Vars {
            input: &self.input,
            groups: &self.groups,
            result: Some(result),
            env,
        };
        self.answer.as_deref().map(|template| vars.fill(template))
    }
}

/// The values placeholders resolve to.
struct Vars<'a> {
    input: &'a str,
    /// Group 0 is the whole match; 1.. are the capture groups.
    groups: &'a [String],
    /// The last call's result text; None while planning the calls (it is not known yet).
    result: Option<&'a str>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    /// Replaces every known `{{...}}` placeholder in one left-to-right pass, never rescanning
    /// substituted text; unknown ones (and `{{result}}` outside an answer) stay as written.
    fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                rest = &rest[start..];
                break;
            };
            match self.lookup(&after[..end]) {
                Some(value) => {
                    out.push_str(&value);
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str("{{");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Resolves one placeholder name, or None if it is not one we know.
    fn lookup(&self, name: &str) -> Option<String> {
        if name == "input" {
            return Some(self.input.to_owned());
        }
        if name == "result" {
            return self.result.map(str::to_owned);
        }
        if let Some(var) = name.strip_prefix("env:") {
            return Some((self.env)(var).unwrap_or_default());
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            let index: usize = name.parse().ok()?;
            return Some(self.groups.get(index).cloned().unwrap_or_default());
        }
        None
    }
}

/// Substitutes placeholders in every string of a JSON object, keys included, recursively.
fn fill_object(object: &Map<String, Value>, vars: &Vars) -> Map<String, Value> {
    object
        .iter()
        .map(|(key, value)| (vars.fill(key), fill_value(value, vars)))
        .collect()
}

/// Substitutes placeholders in every string inside one JSON value.
fn fill_value(value: &Value, vars: &Vars) -> Value {
    match value {
        Value::String(s) => Value::String(vars.fill(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_value(v, vars)).collect()),
        Value::Object(object) => Value::Object(fill_object(object, vars)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "CAO_TERMINAL_ID").then(|| "abcd1234".to_owned())
    }

    fn scenario(value: Value) -> Scenario {
        Scenario::parse(&value.to_string()).unwrap()
    }

    #[test]
    fn first_matching_rule_wins() {
        let s = scenario(json!({"rules": [
            {"match": "^ask (\\w+)", "answer": "first {{1}}"},
            {"match": "ask", "answer": "second"},
        ]}));
        let answer = |input| s.plan(input, &env).unwrap().answer("", &env);
        assert_eq!(answer("ask bob").as_deref(), Some("first bob"));
        assert_eq!(answer("please ask").as_deref(), Some("second"));
        assert_eq!(s.plan("nothing here", &env), None);
    }

    #[test]
    fn args_are_substituted_recursively() {
        let s = scenario(json!({"rules": [{
            "match": "^handoff (\\S+) (.*)$",
            "calls": [{"tool": "handoff", "args": {
                "agent_profile": "{{1}}",
                "message": "{{2}} (from {{env:CAO_TERMINAL_ID}}){{env:UNSET_VAR}}",
                "timeout": 30,
                "nested": {"list": ["{{input}}", true, "{{9}}"]}
            }}]
        }]}));
        let plan = s.plan("handoff developer write x", &env).unwrap();
        assert_eq!(plan.answer("r", &env), None);
        assert_eq!(plan.calls.len(), 1);
        assert_eq!(plan.calls[0].server, None);
        assert_eq!(plan.calls[0].tool, "handoff");
        assert_eq!(
            Value::Object(plan.calls[0].args.clone()),
            json!({
                "agent_profile": "developer",
                "message": "write x (from abcd1234)",
                "timeout": 30,
                "nested": {"list": ["handoff developer write x", true, ""]}
            })
        );
    }

    #[test]
    fn substituted_text_is_not_rescanned_and_unknown_placeholders_stay() {
        let s = scenario(json!({"rules": [{
            "match": "(.*)",
            "answer": "{{1}} {{nope}} {{ {{result}} {{input"
        }]}));
        let plan = s.plan("{{input}} {{result}}", &env).unwrap();
        assert_eq!(
            plan.answer("R", &env).unwrap(),
            "{{input}} {{result}} {{nope}} {{ R {{input"
        );
    }

    #[test]
    fn result_is_only_filled_in_the_answer() {
        let s = scenario(json!({"rules": [{
            "match": "x",
            "calls": [{"server": "cao", "tool": "t", "args": {"a": "{{result}}"}}],
            "answer": "got {{result}}"
        }]}));
        let plan = s.plan("x", &env).unwrap();
        assert_eq!(plan.calls[0].server.as_deref(), Some("cao"));
        assert_eq!(plan.calls[0].args["a"], json!("{{result}}"));
        assert_eq!(
            plan.answer("{\"ok\":true}", &env).as_deref(),
            Some("got {\"ok\":true}")
        );
    }

    #[test]
    fn bad_scenarios_are_rejected() {
        assert!(Scenario::parse("{").is_err());
        assert!(Scenario::parse(r#"{"rules": [{"match": "("}]}"#).is_err());
        assert!(Scenario::parse(r#"{"rules": [{"match": "a", "call": []}]}"#).is_err());
    }
}
