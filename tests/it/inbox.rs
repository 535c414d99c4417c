//! The inbox end to end with fake agents and no model: assign fan-out with replies, delivery
//! only when the receiver is idle, exactly-once ordered delivery from many senders, and a
//! killed watcher that loses nothing.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::util::{Cao, transcript, wait_for};

/// Splits one submitted input back into the messages it carried: a lone message is typed as
/// sent; a batch carries `[message i of n from SENDER]` headers.
fn messages_in(input: &str, sole_sender: &str) -> Vec<(String, String)> {
    if !input.starts_with("[message 1 of ") {
        return vec![(sole_sender.to_string(), input.to_string())];
    }
    let mut out = Vec::new();
    for block in input.split("\n\n[message ").enumerate().map(|(i, b)| {
        if i == 0 {
            b.trim_start_matches("[message ").to_string()
        } else {
            b.to_string()
        }
    }) {
        let (header, body) = block.split_once("]\n").expect("a header line");
        let sender = header.rsplit(' ').next().unwrap().to_string();
        out.push((sender, body.to_string()));
    }
    out
}

#[test]
fn assign_fan_out_replies_reach_the_supervisor_exactly_once() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let scenario = json!({"rules": [
        {"match": "^fan out", "calls": [
            {"tool": "assign", "args": {"agent_profile": "developer", "message": "worker task A"}},
            {"tool": "assign", "args": {"agent_profile": "developer", "message": "worker task B"}},
            {"tool": "assign", "args": {"agent_profile": "reviewer", "message": "worker task C"}}
        ]},
        {"match": "worker task (\\w)[\\s\\S]*receiver_id \"([0-9a-f]{8})\"", "calls": [
            {"tool": "send_message", "args": {"receiver_id": "{{2}}", "message": "reply from worker {{1}}"}}
        ]}
    ]});
    let cao = cao
        .with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap())
        .with_env("CAO_FAKE_SCENARIO", &scenario.to_string())
        .with_env("CAO_ENABLE_SENDER_ID_INJECTION", "true");
    let sup = cao.launch("code_supervisor");
    cao.ok(&["send", &sup, "fan out"]);
    let replies = |letter: &str| {
        transcript(&log)
            .iter()
            .flat_map(|i| messages_in(i, "?"))
            .filter(|(_, body)| body.starts_with(&format!("reply from worker {letter}")))
            .count()
    };
    wait_for("three replies", Duration::from_secs(30), || {
        ["A", "B", "C"].iter().all(|l| replies(l) >= 1)
    });
    wait_for(
        "the supervisor to answer them",
        Duration::from_secs(10),
        || cao.status(&sup) == "completed",
    );
    // Give any duplicate a chance to show up before counting.
    std::thread::sleep(Duration::from_millis(500));
    for letter in ["A", "B", "C"] {
        assert_eq!(replies(letter), 1, "reply {letter}");
    }
    let screen = cao.screen(&sup);
    for letter in ["A", "B", "C"] {
        assert!(
            screen.contains(&format!("reply from worker {letter}")),
            "{screen}"
        );
    }
    // Four terminals in the supervisor's session: the workers joined it.
    let list = cao.list();
    assert_eq!(list.len(), 4);
    assert!(list.iter().all(|t| t["session"] == list[0]["session"]));
    assert_eq!(
        list.iter()
            .filter(|t| t["created_by"] == sup.as_str())
            .count(),
        3
    );
}

#[test]
fn a_message_to_a_busy_receiver_is_typed_only_after_it_is_idle() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao.with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let id = cao.launch("developer");
    cao.ok(&["send", &id, "long task [[sleep 2]]"]);
    wait_for("busy", Duration::from_secs(5), || {
        cao.status(&id) == "processing"
    });
    let out = cao.ok(&["send", &id, "note for later"]);
    assert!(out.contains("queued"), "{out}");
    let inbox: Vec<serde_json::Value> =
        serde_json::from_str(&cao.ok(&["inbox", &id, "--json"])).unwrap();
    assert_eq!(inbox[1]["status"], "pending");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        transcript(&log),
        ["long task [[sleep 2]]"],
        "typed while busy"
    );
    wait_for("delivery", Duration::from_secs(10), || {
        transcript(&log).len() == 2
    });
    assert_eq!(
        transcript(&log),
        ["long task [[sleep 2]]", "note for later"]
    );
    let screen = cao.screen(&id);
    let answer = screen.find("fake answer: long task").unwrap();
    let note = screen.find("fake> note for later").unwrap();
    assert!(answer < note, "{screen}");
    let inbox: Vec<serde_json::Value> =
        serde_json::from_str(&cao.ok(&["inbox", &id, "--json"])).unwrap();
    assert!(
        inbox.iter().all(|m| m["status"] == "delivered"),
        "{inbox:?}"
    );
}

#[test]
fn twenty_messages_from_four_senders_arrive_once_and_in_order() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao
        .with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap())
        .with_env("CAO_FAKE_DELAY_MS", "150");
    let receiver = cao.launch("developer");
    let senders: Vec<String> = (0..4).map(|_| cao.launch("developer")).collect();
    std::thread::scope(|scope| {
        for sender in &senders {
            let cao = &cao;
            let receiver = receiver.clone();
            scope.spawn(move || {
                for n in 0..5 {
                    let out = cao
                        .cmd()
                        .env("CAO_TERMINAL_ID", sender)
                        .args(["send", &receiver, &format!("msg {n} from {sender}")])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
    let received = || -> Vec<(String, String)> {
        transcript(&log)
            .iter()
            .filter(|i| i.contains(" from "))
            .flat_map(|i| {
                let sole = i.rsplit(' ').next().unwrap_or_default().to_string();
                messages_in(i, &sole)
            })
            .collect()
    };
    wait_for("all twenty", Duration::from_secs(30), || {
        received().len() >= 20
    });
    std::thread::sleep(Duration::from_millis(500));
    let got = received();
    assert_eq!(got.len(), 20, "{got:?}");
    let mut per_sender: HashMap<String, Vec<String>> = HashMap::new();
    for (sender, body) in got {
        assert!(
            body.ends_with(&format!("from {sender}")),
            "{sender}: {body}"
        );
        per_sender.entry(sender).or_default().push(body);
    }
    for sender in &senders {
        let expected: Vec<String> = (0..5).map(|n| format!("msg {n} from {sender}")).collect();
        assert_eq!(per_sender[sender], expected);
    }
}

#[test]
fn a_killed_watcher_is_re_armed_and_loses_nothing() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao.with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let id = cao.launch("developer");
    let pid_file = cao.home.path().join("run").join(format!("{id}.watch.pid"));
    wait_for("the watcher", Duration::from_secs(5), || pid_file.exists());
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    cao.ok(&["send", &id, "busy [[sleep 1.5]]"]);
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    wait_for("the watcher to die", Duration::from_secs(5), || {
        !crate::util::alive(pid)
    });
    // Queued while busy and with no watcher: the send itself re-arms one.
    let out = cao.ok(&["send", &id, "after the crash"]);
    assert!(out.contains("queued"), "{out}");
    wait_for("delivery", Duration::from_secs(10), || {
        transcript(&log).len() == 2
    });
    assert_eq!(transcript(&log), ["busy [[sleep 1.5]]", "after the crash"]);
    let new_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, pid);
}
