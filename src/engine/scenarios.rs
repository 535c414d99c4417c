//! The engine's patterns, in-process: a [`FakeMux`] whose panes run [`FakeCli`] (the fake
//! provider's CLI, scripted: the screen `src/providers/fake.rs` reads and the record
//! `src/records/fake.rs` reads), on a [`FakeClock`] whose pauses take no time. No tmux, no CLI
//! process, no real waiting: each test runs in milliseconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::launch::ExecSpec;
use super::wait::FakeClock;
use super::*;
use crate::mux::fake::{Agent, FakeMux, Input, Outcome, Typed};

const BANNER: &str = "cao fake agent · profile developer\ntype /exit to quit\n\n";
/// The fake agent's start-up dialogs and the key that accepts each; the other key exits.
const DIALOGS: [(&str, &str); 2] = [
    (
        "Do you trust the files in this folder?\n\n 1. Yes, I trust this folder\n 2. No, exit\n\nPress 1 or 2\n",
        "1",
    ),
    (
        "Run in bypass-permissions mode?\n\n 1. No, exit\n 2. Yes, I accept\n\nPress 1 or 2\n",
        "2",
    ),
];

/// What the scripted CLI does with a submitted task.
#[derive(Debug, Clone, Copy)]
enum OnTask {
    /// Answers at once: `fake answer: TASK` on the screen and in its record.
    Answer,
    /// Starts working, then its process dies: the pane is gone at the next look.
    Crash,
    /// Asks its user `? Proceed with the change? (y/n)` and answers with the reply.
    Ask,
}

/// The fake agent, scripted.
struct FakeCli {
    /// Start-up dialogs still to answer.
    dialogs: std::slice::Iter<'static, (&'static str, &'static str)>,
    dialog: Option<&'static str>,
    /// Its session record (`--session-record`, read from the exec spec as `cao _exec` would).
    record: Option<PathBuf>,
    on_task: OnTask,
    transcript: String,
    input: String,
    busy: bool,
    dying: bool,
    /// On the question: the next line typed is the reply.
    asking: bool,
}

impl FakeCli {
    fn spawn(argv: &[String], with_dialogs: bool, on_task: OnTask) -> (Box<dyn Agent>, String) {
        let record = argv
            .get(2)
            .and_then(|spec| std::fs::read(spec).ok())
            .and_then(|bytes| serde_json::from_slice::<ExecSpec>(&bytes).ok())
            .and_then(|spec| {
                let at = spec.argv.iter().position(|a| a == "--session-record")?;
                spec.argv.get(at + 1).map(PathBuf::from)
            });
        let dialogs = if with_dialogs { &DIALOGS[..] } else { &[] };
        let mut cli = FakeCli {
            dialogs: dialogs.iter(),
            dialog: None,
            record,
            on_task,
            transcript: String::new(),
            input: String::new(),
            busy: false,
            dying: false,
            asking: false,
        };
        cli.next_dialog();
        let screen = cli.draw();
        (Box::new(cli), screen)
    }

    fn next_dialog(&mut self) {
        self.dialog = self.dialogs.next().map(|(screen, _)| *screen);
    }

    fn draw(&self) -> String {
        if let Some(dialog) = self.dialog {
            return format!("{BANNER}{dialog}");
        }
        let mut screen = format!("{BANNER}{}", self.transcript);
        if self.busy {
            screen.push_str("* working (esc to interrupt)\n");
            return screen;
        }
        if self.asking {
            screen.push_str(&format!(
                "? Proceed with the change? (y/n) {}\n",
                self.input
            ));
            return screen;
        }
        let mut lines = self.input.split('\n');
        screen.push_str(&format!("fake> {}\n", lines.next().unwrap_or_default()));
        for line in lines {
            screen.push_str(&format!("....  {line}\n"));
        }
        screen
    }

    fn note(&self, line: serde_json::Value) {
        use std::io::Write;
        let Some(path) = &self.record else { return };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the run directory exists");
        writeln!(file, "{line}").unwrap();
    }

    fn answer(&mut self, answer: &str) {
        for (i, line) in answer.lines().enumerate() {
            let mark = if i == 0 { "● " } else { "  " };
            self.transcript.push_str(&format!("{mark}{line}\n"));
        }
        self.transcript.push_str("✓ done in 0.05s\n\n");
        self.note(serde_json::json!({"type": "assistant", "text": answer}));
        self.note(serde_json::json!({"type": "turn_end", "outcome": "answered"}));
    }

    fn submit(&mut self) -> Outcome {
        let task = std::mem::take(&mut self.input);
        if std::mem::take(&mut self.asking) {
            self.transcript
                .push_str(&format!("? Proceed with the change? (y/n) {task}\n"));
            self.answer(&format!("fake answer: you said {task}"));
            return Outcome::Running;
        }
        if task == "/exit" {
            return Outcome::Exited;
        }
        self.transcript
            .push_str(&format!("fake> {}\n", task.replace('\n', "\n....  ")));
        self.note(serde_json::json!({"type": "user", "text": task}));
        match self.on_task {
            OnTask::Answer => self.answer(&format!("fake answer: {task}")),
            OnTask::Ask => self.asking = true,
            OnTask::Crash => {
                self.busy = true;
                self.dying = true;
            }
        }
        Outcome::Running
    }
}

impl Agent for FakeCli {
    fn react(&mut self, input: Input<'_>, screen: &mut String) -> Outcome {
        let outcome = match input {
            Input::Look if self.dying => return Outcome::Exited,
            Input::Look => return Outcome::Running,
            Input::Key(key) if self.dialog.is_some() => {
                let accept = DIALOGS.iter().find(|(s, _)| Some(*s) == self.dialog);
                match accept {
                    Some((_, yes)) if *yes == key => self.next_dialog(),
                    _ if matches!(key, "1" | "2") => return Outcome::Exited,
                    _ => {}
                }
                Outcome::Running
            }
            Input::Paste(_) if self.dialog.is_some() || self.busy => Outcome::Running,
            Input::Paste(text) => {
                self.input.push_str(text);
                Outcome::Running
            }
            Input::Key("Enter") if !self.busy && !self.input.is_empty() => self.submit(),
            Input::Key(_) => Outcome::Running,
        };
        *screen = self.draw();
        outcome
    }
}

/// An engine over a temporary home, a fake mux whose windows run [`FakeCli`], a fake clock.
struct Rig {
    _home: tempfile::TempDir,
    work: tempfile::TempDir,
    mux: Arc<FakeMux>,
    clock: Arc<FakeClock>,
    engine: Engine,
}

impl Rig {
    fn new(with_dialogs: bool, on_task: OnTask) -> Rig {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        // The fake provider's executable is only a name in the exec spec here: nothing runs it.
        std::fs::write(
            home.path().join(crate::config::FILE_NAME),
            "[providers.fake]\nexecutable = \"/bin/sh\"\n",
        )
        .unwrap();
        let mux = Arc::new(FakeMux::new(Box::new(move |argv| {
            FakeCli::spawn(argv, with_dialogs, on_task)
        })));
        let clock = Arc::new(FakeClock::new());
        let engine = Engine::new(home.path().to_path_buf(), mux.clone())
            .unwrap()
            .with_clock(clock.clone());
        Rig {
            _home: home,
            work,
            mux,
            clock,
            engine,
        }
    }

    fn request(&self) -> CreateRequest {
        CreateRequest {
            profile: "developer".into(),
            provider: Some("fake".into()),
            working_dir: Some(self.work.path().to_path_buf()),
            yolo: true,
            ..CreateRequest::default()
        }
    }

    fn handoff(&self, task: &str) -> Result<HandoffOutcome, EngineError> {
        self.handoff_noting(task, &mut |_| {})
    }

    fn handoff_noting(
        &self,
        task: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<HandoffOutcome, EngineError> {
        self.engine.handoff(
            self.request(),
            task.to_string(),
            Duration::from_secs(600),
            &AtomicBool::new(false),
            progress,
        )
    }
}

fn paste(text: &str) -> Typed {
    Typed::Paste(text.into())
}

fn key(name: &str) -> Typed {
    Typed::Key(name.into())
}

#[test]
fn a_handoff_returns_the_record_s_answer_and_closes_the_worker() {
    let rig = Rig::new(false, OnTask::Answer);
    let started = Instant::now();
    let outcome = rig.handoff("add 2 and 2").unwrap();
    assert_eq!(outcome.output, "fake answer: add 2 and 2");
    assert_eq!(outcome.answer_source, AnswerSource::Record);
    // The task typed once and submitted, then `/exit`; the window closed with the CLI.
    let worker = "%1";
    assert_eq!(
        rig.mux.typed(worker),
        [
            paste("add 2 and 2"),
            key("Enter"),
            paste("/exit"),
            key("Enter")
        ]
    );
    assert!(rig.mux.list_panes().unwrap().is_empty());
    assert!(
        rig.engine
            .store()
            .terminal(&outcome.terminal_id)
            .unwrap()
            .is_none()
    );
    assert!(
        !rig.engine
            .home()
            .join("run")
            .join(&outcome.terminal_id)
            .exists()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no real waiting"
    );
}

#[test]
fn start_up_dialogs_are_answered_once_each_before_the_task_is_typed() {
    let rig = Rig::new(true, OnTask::Answer);
    let outcome = rig.handoff("review the diff").unwrap();
    assert_eq!(outcome.output, "fake answer: review the diff");
    // A second press of either key would have quit the fake CLI (as real CLIs' dialogs do).
    assert_eq!(
        rig.mux.typed("%1"),
        [
            key("1"),
            key("2"),
            paste("review the diff"),
            key("Enter"),
            paste("/exit"),
            key("Enter")
        ]
    );
}

#[test]
fn a_worker_that_dies_mid_handoff_is_a_clear_error_and_is_forgotten() {
    let rig = Rig::new(false, OnTask::Crash);
    let started = Instant::now();
    let err = rig.handoff("count to a billion").unwrap_err();
    let EngineError::Exited { id, .. } = &err else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(
        err.to_string(),
        format!("the agent in terminal {id} exited before finishing the task")
    );
    assert_eq!(rig.mux.pasted("%1"), ["count to a billion"], "typed once");
    assert!(rig.engine.store().terminal(id).unwrap().is_none());
    assert!(!rig.engine.home().join("run").join(id).exists());
    // Noticed by the screen's safety tick (10 s with a record), in fake time only.
    assert!(rig.clock.elapsed() < Duration::from_secs(60));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn mail_is_typed_only_when_the_receiver_is_idle_and_exactly_once() {
    let rig = Rig::new(false, OnTask::Answer);
    let worker = rig.engine.create_terminal(rig.request()).unwrap();
    let pane = worker.pane_id.as_str();
    assert!(rig.mux.is_piped(pane), "its watcher was armed");
    // Busy with an earlier turn: both messages wait.
    rig.mux.set_screen(
        pane,
        &format!("{BANNER}fake> earlier\n* working (esc to interrupt)\n"),
    );
    let first = rig.engine.post(USER_SENDER, &worker.id, "first").unwrap();
    let second = rig.engine.post("aaaa1111", &worker.id, "second").unwrap();
    assert_eq!(
        rig.engine.deliver(&worker.id).unwrap(),
        Delivery::NotReady(Status::Processing)
    );
    assert!(rig.mux.typed(pane).is_empty(), "nothing typed while busy");
    assert_eq!(rig.engine.pending_messages(&worker.id).unwrap(), 2);

    // Idle: both typed as one turn, in order, each under its sender.
    rig.mux.set_screen(pane, &format!("{BANNER}fake> \n"));
    assert_eq!(
        rig.engine.deliver(&worker.id).unwrap(),
        Delivery::Delivered(vec![first.id, second.id])
    );
    // A second deliverer (the watcher, a handoff) finds nothing left to type.
    assert_eq!(rig.engine.deliver(&worker.id).unwrap(), Delivery::Nothing);
    rig.engine.hand_over(&worker.id);
    assert_eq!(
        rig.mux.typed(pane),
        [
            paste("[message 1 of 2 from user]\nfirst\n\n[message 2 of 2 from aaaa1111]\nsecond"),
            key("Enter")
        ]
    );
    for id in [first.id, second.id] {
        let status = rig.engine.message(id).unwrap().unwrap().status;
        assert_eq!(status, MessageStatus::Delivered);
    }
    assert_eq!(
        rig.engine.output(&worker.id, OutputMode::Last).unwrap(),
        "fake answer: [message 1 of 2 from user]\nfirst\n\n[message 2 of 2 from aaaa1111]\nsecond"
    );
}

#[test]
fn a_cli_that_never_gets_ready_times_out_in_fake_time_and_launch_attaches_through_the_mux() {
    let rig = Rig::new(false, OnTask::Answer);
    let worker = rig.engine.create_terminal(rig.request()).unwrap();
    rig.mux.set_screen(&worker.pane_id, BANNER);
    let err = rig
        .engine
        .wait_ready(&worker.id, Duration::from_secs(60))
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Timeout {
                seconds: 60,
                what: "become ready",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(rig.clock.elapsed(), Duration::from_secs(60));

    rig.engine.attach(&worker.session).unwrap();
    assert_eq!(rig.mux.attached(), [worker.session.as_str()]);
}

#[test]
fn a_worker_asking_past_the_grace_fails_the_handoff_with_its_question_and_stays() {
    let rig = Rig::new(false, OnTask::Ask);
    let started = Instant::now();
    let mut notes = Vec::new();
    let err = rig
        .handoff_noting("deploy", &mut |p| notes.push(p))
        .unwrap_err();
    let EngineError::Stuck { id, status, detail } = &err else {
        panic!("expected Stuck, got {err:?}");
    };
    assert_eq!(*status, Status::WaitingUserAnswer);
    assert!(
        detail.contains("for an answer to: Proceed with the change? (y/n)")
            && detail.contains("answer_user_prompt"),
        "{detail}"
    );
    // The grace (30 s) in fake time, noticed within a few ticks.
    let waited = rig.clock.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(45),
        "{waited:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no real waiting"
    );
    let asked: Vec<&Progress> = notes.iter().filter(|p| p.question.is_some()).collect();
    assert!(!asked.is_empty(), "{notes:?}");
    assert_eq!(
        asked[0].question.as_deref(),
        Some("Proceed with the change? (y/n)")
    );
    assert_eq!(asked[0].status, Status::WaitingUserAnswer);

    // The worker stays, still asking; answered, it finishes and its answer can be read.
    let view = rig.engine.view(id).unwrap();
    assert_eq!(view.status, Status::WaitingUserAnswer);
    assert_eq!(
        view.question.as_deref(),
        Some("Proceed with the change? (y/n)")
    );
    let answered = rig.engine.answer_user_prompt(None, id, "y").unwrap();
    assert_eq!(answered.typed, "y");
    assert_eq!(answered.status, Status::Completed);
    assert_eq!(
        rig.mux.typed("%1"),
        [paste("deploy"), key("Enter"), paste("y"), key("Enter")]
    );
    assert_eq!(
        rig.engine.output(id, OutputMode::Last).unwrap(),
        "fake answer: you said y"
    );
}

#[test]
fn an_answer_is_typed_only_into_a_terminal_that_is_asking() {
    let rig = Rig::new(false, OnTask::Answer);
    let worker = rig.engine.create_terminal(rig.request()).unwrap();
    let pane = worker.pane_id.as_str();
    for screen in [
        format!("{BANNER}fake> \n"),
        format!("{BANNER}fake> earlier\n* working (esc to interrupt)\n"),
    ] {
        rig.mux.set_screen(pane, &screen);
        let err = rig
            .engine
            .answer_user_prompt(None, &worker.id, "y")
            .unwrap_err();
        assert!(matches!(err, EngineError::NotWaiting { .. }), "{err:?}");
    }
    // Its own terminal: refused before anything is read.
    let err = rig
        .engine
        .answer_user_prompt(Some(&worker), &worker.id, "y")
        .unwrap_err();
    assert!(matches!(err, EngineError::AnswerSelf(_)), "{err:?}");
    assert!(rig.mux.typed(pane).is_empty(), "nothing was typed");
}
