//! runbook-run, the run layer: what a run does around the calls of the binding layer, through its
//! hooks ([`runbook_bindings::hooks::Hooks`]). It may call the binding layer (`runbook-bindings`:
//! its call path, context, model tables, JSON and secrets) and, through it, the generated
//! operations; the binding layer knows nothing of it, and the compiler keeps it so. The host
//! (`runbook`) is above: it builds a [`Safety`] for a run, plan, step or undo and installs it as
//! the context's hooks, and reads journals, fleets and locks for `runs`, `show`, `undo`, `unlock`.
//!
//! A write passes through these phases, top to bottom in [`Safety::write`], each in its own module:
//!
//! 1. validate — in the binding layer, before the hook is called;
//! 2. plan / step — [`plan`]: not sent, a placeholder answered; [`step`]: the operator asked;
//! 3. intent — [`tags`] adds the run tag and an idempotency token, [`reconcile`] looks up what
//!    exists already, and [`journal`] records the intent, synced before the request leaves;
//! 4. send — the binding layer's call, with the SDK's attempts;
//! 5. reconcile — [`reconcile::send`]: an attempt whose answer was lost is settled by looking;
//! 6. outcome — [`undo::inverse`] says what the write created and how to remove it; journaled;
//! 7. convert — the answer goes back to the script through the binding layer.
//!
//! Reads that name something only planned are answered by [`plan`]; `runbook undo` replays the
//! journal's inverses ([`undo`]).

#[macro_use]
extern crate runbook_bindings;

pub mod drift;
pub mod fleets;
pub mod journal;
pub mod kinds;
pub mod locks;
pub mod needs;
pub mod plan;
pub mod propagation;
pub mod reconcile;
pub mod since;
pub mod step;
pub mod store;
pub mod tags;
pub mod undo;

use journal::Journal;
use rhai::{Dynamic, Map};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use runbook_bindings::hooks::{Event, EventKind, Hooks, SendWrite};
use runbook_bindings::json;
use runbook_bindings::model::Table;
use runbook_bindings::output::{self, Stream};
use runbook_bindings::runtime::Context;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::Instant;
use step::Answer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Writes are sent.
    Run,
    /// Writes are not sent; they answer placeholders.
    Plan,
    /// The operator is asked before each write.
    Step,
}

/// What happened to one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Planned,
    Skipped,
    Sent,
    Failed(String),
    /// No answer (interrupt, timeout, cut connection): it may have been done.
    Unknown(String),
}

/// One write of this run, for the plan listing and the summary.
#[derive(Debug, Clone)]
pub struct WriteEntry {
    pub seq: u64,
    /// `elbv2::create_target_group`
    pub function: String,
    /// `runbooks/create_tg.rhai:25`
    pub at: String,
    /// The parameters as sent (or as they would be), sensitive members masked.
    pub input: Value,
    pub state: State,
    /// `target group arn:...`
    pub created: Vec<String>,
    /// What it changed that existed, and undo puts back: `settings of listener arn:...`
    pub changed: Vec<String>,
    /// An attempt's answer was lost after it had done the write: what the look-up found.
    pub reconciled: Option<String>,
    /// Where it goes when that is not the run's home place (`with_region`, `with_target`):
    /// `eu-west-1` or `111111111111/eu-west-1`.
    pub place: Option<String>,
}

pub struct Safety {
    pub mode: Mode,
    pub run_id: String,
    tag: bool,
    journal: RefCell<Option<Journal>>,
    site: RefCell<String>,
    root: Option<PathBuf>,
    seq: Cell<u64>,
    writes: RefCell<Vec<WriteEntry>>,
    /// The writes not sent, and the reads answered from them.
    pub plan: plan::Plan,
    /// What a plan learns of the permissions its run needs.
    pub needs: needs::Needs,
    step_all: Cell<bool>,
    asker: Box<dyn Fn(&str) -> Answer>,
    /// The last few reads, with the number of writes made before each.
    recent: RefCell<Vec<RecentRead>>,
    /// Members the end record gets beside the counts.
    end_extra: RefCell<Value>,
    /// What this run's writes made, for retrying not-found answers while AWS catches up.
    made: propagation::Made,
    /// The last write was skipped at a `--step` prompt: the script's log lines until the next
    /// write say so.
    skipped: Cell<bool>,
    /// The leased locks of the places this run writes in (`None`: `--no-lock`, a plan, a test).
    locks: Option<locks::Locks>,
    /// What took time since the last record (requests, waits, retries, lock waits), for the
    /// journal's next record to carry: the run's timeline.
    events: RefCell<Vec<Value>>,
}

/// The events kept for the next record at most: a longer stretch without writes is journaled in
/// `events` records of its own.
const EVENTS_PER_RECORD: usize = 500;

struct RecentRead {
    key: String,
    writes: u64,
    answer: Result<Dynamic, CallError>,
}

const RECENT_READS: usize = 8;

impl Default for Safety {
    fn default() -> Self {
        Safety::new(Mode::Run, journal::new_run_id(), false)
    }
}

impl Safety {
    pub fn new(mode: Mode, run_id: String, tag: bool) -> Safety {
        let needs = needs::Needs::default();
        needs.tagging(tag);
        Safety {
            mode,
            run_id,
            tag,
            journal: RefCell::new(None),
            site: RefCell::new(String::new()),
            root: None,
            seq: Cell::new(0),
            writes: RefCell::new(Vec::new()),
            plan: plan::Plan::default(),
            needs,
            step_all: Cell::new(false),
            asker: Box::new(step::ask_on_terminal),
            recent: RefCell::new(Vec::new()),
            end_extra: RefCell::new(json!({})),
            skipped: Cell::new(false),
            made: propagation::Made::default(),
            locks: None,
            events: RefCell::new(Vec::new()),
        }
    }

    /// Takes a leased lock in each place before the run's first write there.
    pub fn with_locks(mut self, settings: locks::Settings) -> Safety {
        self.locks = Some(locks::Locks::new(settings, &self.run_id));
        self
    }

    /// Gives back the run's locks (at its end; dropping the run does it too).
    pub fn release_locks(&self) {
        if let Some(l) = &self.locks {
            l.release_all();
        }
    }

    /// Replaces the `--step` prompt (the default reads a line from standard input).
    pub fn with_asker(mut self, asker: impl Fn(&str) -> Answer + 'static) -> Safety {
        self.asker = Box::new(asker);
        self
    }

    /// Starts the journal: creates `<dir>/<run-id>.jsonl` and writes the start record.
    pub fn open_journal(&self, dir: &std::path::Path, start: Value) -> Result<PathBuf, String> {
        let mut j = Journal::create(dir, &self.run_id)?;
        let mut record =
            json!({ "type": "start", "run": self.run_id, "time": journal::now(), "started_ms": journal::now_ms() });
        if let (Some(r), Value::Object(extra)) = (record.as_object_mut(), start) {
            r.extend(extra);
        }
        j.append(&record, true)?;
        let path = j.path().to_path_buf();
        *self.journal.borrow_mut() = Some(j);
        Ok(path)
    }

    pub fn journal_path(&self) -> Option<PathBuf> {
        self.journal.borrow().as_ref().map(|j| j.path().to_path_buf())
    }

    /// Writes the end record.
    pub fn close_journal(&self, outcome: &str, error: Option<Value>, calls: u64, secs: f64) {
        let writes = self.writes.borrow();
        let mut record = json!({
            "type": "end",
            "time": journal::now(),
            "outcome": outcome,
            "error": error,
            "calls": calls,
            "writes": writes.len(),
            "created": writes.iter().map(|w| w.created.len()).sum::<usize>(),
            "seconds": (secs * 1000.0).round() / 1000.0,
        });
        let closed: Vec<&str> =
            [Stream::Out, Stream::Err].into_iter().filter(|s| output::closed(*s)).map(Stream::name).collect();
        if !closed.is_empty() {
            // Said on the terminal would be lost: the run went on without its output, as under nohup.
            record["output_closed"] = json!(closed);
        }
        if let (Some(r), Value::Object(extra)) = (record.as_object_mut(), self.end_extra.borrow().clone()) {
            r.extend(extra);
        }
        if let Some(j) = self.journal.borrow_mut().as_mut() {
            // Records the store did not take are in the local cache only: the end says so.
            if let Some(failure) = j.store_failure() {
                record["store_failed"] = json!(failure);
            }
            self.attach_events(&mut record);
            if let Err(e) = keep_output(j).and_then(|()| j.append(&record, true)) {
                eoutln!("warning: {e}");
            }
        }
        // The end is on disk: another run may write now.
        self.release_locks();
    }

    /// Moves into the journal the lines a closed stream could not take since the last record.
    pub fn keep_output(&self) {
        if let Some(j) = self.journal.borrow_mut().as_mut() {
            if let Err(e) = keep_output(j) {
                eoutln!("warning: {e}");
            }
        }
    }

    /// Remembers what the run recorded in `records` made, as the run made it (for an undo: see
    /// [`propagation::Made::note_journal`]).
    pub fn remember_made(&self, records: &[Value]) {
        self.made.note_journal(records);
    }

    /// What this run knows it made (undo adds what it finds a write in flight made).
    pub fn made(&self) -> &propagation::Made {
        &self.made
    }

    /// A member of the end record, beside the counts (`parent_gone`).
    pub fn note_end(&self, key: &str, value: Value) {
        if let Value::Object(m) = &mut *self.end_extra.borrow_mut() {
            m.insert(key.to_string(), value);
        }
    }

    /// Where the script is: set by the bindings before each call. An imported module's source is
    /// its import path (`lib/aws`, without an extension), shown as the file under the runbooks
    /// folder; a file's own name (`tutorial.rhai`, `setup.sh`) is shown as it is.
    pub fn set_site(&self, source: &str, line: Option<usize>) {
        let file = match &self.root {
            Some(root) if !source.is_empty() && std::path::Path::new(source).extension().is_none() => {
                root.join(format!("{source}.rhai")).to_string_lossy().into_owned()
            }
            _ => source.to_string(),
        };
        let line = line.map(|l| format!(":{l}")).unwrap_or_default();
        *self.site.borrow_mut() = format!("{file}{line}");
    }

    /// The runbooks folder, for naming the files of imported modules.
    pub fn with_root(mut self, root: PathBuf) -> Safety {
        self.root = Some(root);
        self
    }

    pub fn writes(&self) -> Vec<WriteEntry> {
        self.writes.borrow().clone()
    }

    /// How many writes the run has made (or planned), without copying them.
    pub fn write_count(&self) -> usize {
        self.writes.borrow().len()
    }

    /// Keeps a read's answer for [`Safety::recent_read`].
    pub fn remember_read(&self, place: &str, svc: Svc, op: &str, input: &Map, answer: &Result<Dynamic, CallError>) {
        let mut recent = self.recent.borrow_mut();
        if recent.len() == RECENT_READS {
            recent.remove(0);
        }
        recent.push(RecentRead {
            key: read_key(place, svc, op, input),
            writes: self.seq.get(),
            answer: answer.clone(),
        });
    }

    /// The answer to this very read, if the run made it and has sent no write since.
    pub fn recent_read(&self, place: &str, svc: Svc, op: &str, input: &Map) -> Option<Result<Dynamic, CallError>> {
        let key = read_key(place, svc, op, input);
        let recent = self.recent.borrow();
        recent.iter().rev().find(|r| r.key == key && r.writes == self.seq.get()).map(|r| r.answer.clone())
    }

    /// The path of every write: plan, ask, tag, journal, send, record.
    pub fn write(
        &self,
        table: &Table,
        svc: Svc,
        op: &str,
        input: &Map,
        ctx: &Context,
        send: SendWrite,
    ) -> Result<Dynamic, CallError> {
        // Counted once it is planned, skipped or about to be sent: the look-up just below may reuse
        // a read made since the last write.
        let seq = self.seq.get() + 1;
        let meta = table.operations.get(op);
        let func = format!("{}::{}", svc.module(), meta.map(|o| o.func.as_str()).unwrap_or(op));
        let at = self.site.borrow().clone();
        // What the script asked, before the run's tag: what a `converge` write compares.
        let asked = ctx.converge.get().then(|| json::map_to_value(input));
        let mut input = input.clone();
        if self.tag && self.mode != Mode::Plan {
            tags::tag(table, op, &mut input, &self.run_id);
        }
        let shown = runbook_bindings::secrets::masked_input(table, op, &input);
        let mut entry = WriteEntry {
            seq,
            function: func.clone(),
            at: at.clone(),
            input: shown.clone(),
            state: State::Sent,
            created: vec![],
            changed: vec![],
            reconciled: None,
            place: ctx.place_label(),
        };
        if self.mode == Mode::Plan {
            entry.state = State::Planned;
            self.seq.set(seq);
            let answer = self.plan(table, &ctx.place_key(), op, &input, entry);
            self.needs.write(ctx, svc, op, &input, &json::to_value(&answer), &at);
            return Ok(answer);
        }
        if self.mode == Mode::Step && !self.step_all.get() {
            let where_ = if at.is_empty() { String::new() } else { format!(" ({at})") };
            // Away from home, the operator is told where the write would go.
            let place = entry.place.as_ref().map(|p| format!(" in {p}")).unwrap_or_default();
            let question = format!("{func}{place}{where_}\n{}\n", json::pretty(&shown));
            match (self.asker)(&question) {
                Answer::Yes => {}
                Answer::All => self.step_all.set(true),
                Answer::No => {
                    entry.state = State::Skipped;
                    self.note(
                        json!({ "type": "skipped", "seq": seq, "function": func, "at": at, "time": journal::now() }),
                        false,
                    )?;
                    self.seq.set(seq);
                    self.skipped.set(true);
                    return Ok(self.plan(table, &ctx.place_key(), op, &input, entry));
                }
                Answer::Quit => {
                    return Err(CallError::Stopped {
                        service: svc.module().into(),
                        operation: op.into(),
                        message: format!("stopped by the operator before {func}"),
                    })
                }
            }
        }
        if let Some(p) = self.plan.placeholder_in(&input) {
            return Err(CallError::Validation {
                service: svc.module().into(),
                operation: op.into(),
                problems: vec![format!("the input uses {p}, the result of a call that was not made")],
            });
        }
        self.skipped.set(false);
        // The place's lock, before anything is looked up or journaled for this write.
        if let Some(locks) = &self.locks {
            // Credentials whose account STS does not tell still lock against each other.
            let account = ctx.account().unwrap_or_else(|_| "unknown-account".into());
            let region = ctx.place().region().unwrap_or("no-region").to_string();
            locks.ensure(&account, &region, &|secs| ctx.sleep("lock", secs), &|e| self.keep_event(&e))?;
        }
        // Intent: what was there before, and the idempotency token, journaled before the request leaves.
        let token = tags::idempotency_token(table, op, &mut input, &self.run_id, seq);
        let look = reconcile::entry_for(svc, op);
        let value = json::map_to_value(&input);
        let before = {
            let read = |s: Svc, o: &str, i: Value| self.read_recent_or_send(ctx, s, o, i);
            reconcile::Before::look(look, &read, &value)
        };
        // A value that holds already (a listener's settings, records, tags): sent all the same, as
        // the script asks, and marked so that `runs` and `undo last` know it changed nothing.
        let unchanged = {
            let read = |s: Svc, o: &str, i: Value| self.read_recent_or_send(ctx, s, o, i);
            since::unchanged(&read, svc, op, &value)
        };
        let shown = runbook_bindings::secrets::masked_input(table, op, &input);
        entry.input = shown.clone();
        self.seq.set(seq);
        if let Some(asked) = &asked {
            let holds = unchanged || {
                let read = |s: Svc, o: &str, i: Value| self.read_recent_or_send(ctx, s, o, i);
                since::holds(&read, svc, op, asked)
            };
            if let Some(answer) = self.converged(ctx, svc, op, &value, &before, holds, &mut entry)? {
                return Ok(answer);
            }
        }
        let mut intent = json!({
            "type": "intent", "seq": seq, "time": journal::now(), "function": func,
            "service": svc.module(), "operation": op, "at": at, "input": shown,
        });
        if let Some(b) = before.to_json() {
            intent["before"] = b;
        }
        if let Some((member, value)) = &token {
            intent["token"] = json!({ member: value });
        }
        // Inside with_region/with_target: where the write goes, for undo to go there too.
        if let Some(place) = ctx.away() {
            intent["place"] = place;
        }
        // The account it goes to (asked of STS once per place): undo and reconcile confirm they
        // stand there before they act.
        if let Ok(account) = ctx.account() {
            intent["account"] = json!(account);
        }
        self.note(intent, true)?;
        // Send, and settle any attempt whose answer was lost.
        let started = Instant::now();
        // What the run made earlier is not this write's, even where the look-up before it lagged.
        let seen = reconcile::seen(look, before.found(), || self.made.values());
        let sent = reconcile::send(ctx, svc, op, (&input, &value), seen.as_ref(), send);
        let ms = started.elapsed().as_millis() as u64;
        // Outcome.
        let mut outcome = json!({ "type": "outcome", "seq": seq, "time": journal::now(), "ms": ms });
        if sent.lost > 0 {
            outcome["lost"] = json!(sent.lost);
            outcome["resent"] = json!(sent.resent);
        }
        match &sent.result {
            Ok(out) => {
                outcome["ok"] = json!(true);
                outcome["request_id"] = json!(runbook_bindings::runtime::take_request_id());
                if unchanged {
                    outcome["unchanged"] = json!(true);
                }
                if let Some(found) = &sent.reconciled {
                    outcome["reconciled"] = json!({ "found": found.id });
                    entry.reconciled = Some(found.id.clone());
                }
                let answer = json::to_value(out);
                self.made.note(&ctx.place_key(), op, &value, &answer);
                let inverse = undo::inverse(svc, op, &value, &answer, &before);
                let named = |restores: bool| -> Vec<String> {
                    inverse
                        .created
                        .iter()
                        .filter(|c| c.restores == restores)
                        .map(|c| format!("{} {}", c.kind, c.id))
                        .collect()
                };
                entry.created = named(false);
                entry.changed = named(true);
                outcome["created"] = json!(inverse.created);
                if let Some(replaced) = inverse.replaced {
                    outcome["replaced"] = json!(replaced);
                }
                if let Some(reason) = inverse.not_undoable {
                    outcome["not_undoable"] = json!(reason);
                }
            }
            Err(e) => {
                let m = e.to_map();
                outcome["ok"] = json!(false);
                outcome["request_id"] = json::to_value(m.get("request_id").unwrap_or(&Dynamic::UNIT));
                outcome["error"] =
                    json!({ "code": e.code(), "message": json::to_value(m.get("message").unwrap_or(&Dynamic::UNIT)) });
                entry.state = State::Failed(e.code().to_string());
                if e.outcome_unknown() {
                    // It may have been done: undo and show treat it like a call in flight.
                    outcome["unknown"] = json!(true);
                    entry.state = State::Unknown(e.code().to_string());
                }
            }
        }
        self.writes.borrow_mut().push(entry);
        // The call was made; a journal that cannot take its outcome is reported, not fatal.
        if let Err(e) = self.note(outcome, false) {
            eoutln!("warning: {e}");
        }
        sent.result
    }

    /// A write asked to be sent only when needed (`converge`): what its look-up found before it
    /// when it makes something that exists (answered as the write would answer it), or nothing
    /// when what it sets holds already; either way journaled as skipped, with the reason.
    #[allow(clippy::too_many_arguments)]
    fn converged(
        &self,
        ctx: &Context,
        svc: Svc,
        op: &str,
        value: &Value,
        before: &kinds::Before,
        unchanged: bool,
        entry: &mut WriteEntry,
    ) -> Result<Option<Dynamic>, CallError> {
        let kind = kinds::of(svc, op);
        let exists = kind.is_some_and(|k| k.again == kinds::Again::Duplicates) && before.found().is_some();
        let answer = if exists {
            let read = |s: Svc, o: &str, i: Value| self.read_recent_or_send(ctx, s, o, i);
            let found = kind.map(|k| k.look(&read, value, kinds::Look::After(None))).transpose()?.flatten();
            let output = found.map(|f| f.output).or_else(|| before.found().map(|f| f.output.clone()));
            json::from_value(&output.unwrap_or_else(|| json!({})))
        } else if unchanged {
            Dynamic::from_map(Map::new())
        } else {
            return Ok(None);
        };
        let reason = if exists { "exists" } else { "unchanged" };
        self.note(
            json!({ "type": "skipped", "seq": entry.seq, "function": entry.function, "at": entry.at,
                    "time": journal::now(), "converged": reason }),
            false,
        )?;
        if ctx.verbose > 0 {
            eoutln!(
                "[converge] {}: not sent ({})",
                entry.function,
                if exists { "it exists" } else { "it holds already" }
            );
        }
        entry.state = State::Skipped;
        self.writes.borrow_mut().push(entry.clone());
        Ok(Some(answer))
    }

    /// A read for a look-up before a write: the run's own answer to the same read when it has
    /// written nothing since (a runbook usually looks before it creates), else sent.
    fn read_recent_or_send(&self, ctx: &Context, svc: Svc, op: &str, input: Value) -> Result<Value, CallError> {
        let request = json::from_value(&input).try_cast::<Map>().unwrap_or_default();
        match self.recent_read(&ctx.place_key(), svc, op, &request) {
            Some(answer) => answer.map(|out| json::to_value(&out)),
            None => runbook_bindings::call::send(ctx, svc, op, &request).map(|out| json::to_value(&out)),
        }
    }

    /// Keeps what took time for the run's timeline (`events`, see [`journal`]).
    pub fn keep_event(&self, event: &Event) {
        let mut e = json!({ "kind": event.kind.word(), "what": event.what, "t": event.started_ms, "ms": event.ms });
        if event.count > 1 || event.kind == EventKind::Wait {
            e["n"] = json!(event.count);
        }
        if let Some(code) = &event.error {
            e["error"] = json!(code);
        }
        if event.not_found {
            e["not_found"] = json!(true);
        }
        if let Some(d) = event.detail.as_deref().filter(|d| !d.is_empty()) {
            e["detail"] = json!(d);
        }
        let site = self.site.borrow();
        if !site.is_empty() {
            e["at"] = json!(*site);
        }
        if event.kind == EventKind::Write {
            e["seq"] = json!(self.seq.get());
        }
        let full = {
            let mut events = self.events.borrow_mut();
            events.push(e);
            events.len() >= EVENTS_PER_RECORD
        };
        if full {
            if let Some(j) = self.journal.try_borrow_mut().ok().as_mut().and_then(|j| j.as_mut()) {
                if let Err(e) = self.append_events(j) {
                    eoutln!("warning: {e}");
                }
            }
        }
    }

    /// Journals the events kept since the last record as an `events` record of their own: a long
    /// stretch without writes.
    fn append_events(&self, j: &mut Journal) -> Result<(), String> {
        let events = std::mem::take(&mut *self.events.borrow_mut());
        if events.is_empty() {
            return Ok(());
        }
        j.append(&json!({ "type": "events", "events": events }), false)
    }

    /// Gives `record` the events kept since the last record (its `events`), so that they cost no
    /// record of their own.
    fn attach_events(&self, record: &mut Value) {
        let events = std::mem::take(&mut *self.events.borrow_mut());
        if !events.is_empty() {
            record["events"] = Value::Array(events);
        }
    }

    fn note(&self, mut record: Value, sync: bool) -> Result<(), CallError> {
        match self.journal.borrow_mut().as_mut() {
            Some(j) => keep_output(j)
                .and_then(|()| {
                    self.attach_events(&mut record);
                    j.append(&record, sync)
                })
                .map_err(|message| CallError::Transport {
                    service: "runbook".into(),
                    operation: "journal".into(),
                    code: "JournalError".into(),
                    message,
                    retryable: false,
                }),
            None => Ok(()),
        }
    }
}

impl Hooks<Context> for Safety {
    fn write(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, send: SendWrite) -> Result<Dynamic, CallError> {
        Safety::write(self, svc.table()?, svc, op, input, ctx, send)
    }

    fn answer_read(&self, ctx: &Context, svc: Svc, op: &str, input: &Map) -> Option<Dynamic> {
        if self.mode == Mode::Plan {
            self.needs.read(ctx, svc, op, input, &self.site.borrow());
        }
        self.plan.answer(svc.table().ok()?, &ctx.place_key(), svc, op, input)
    }

    fn after_read(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, answer: &Result<Dynamic, CallError>) {
        self.remember_read(&ctx.place_key(), svc, op, input, answer);
    }

    fn set_site(&self, source: &str, line: Option<usize>) {
        Safety::set_site(self, source, line);
    }

    fn planning(&self) -> bool {
        self.mode == Mode::Plan
    }

    fn propagating(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, error: &CallError) -> Option<String> {
        if !propagation::not_found(svc, error) {
            return None;
        }
        let (what, ago) = self.made.about((svc, op, &ctx.place_key()), error, input, ctx.propagation_timeout)?;
        Some(format!("{what} was created {} s ago; AWS is eventually consistent", ago.as_secs()))
    }

    fn log_mark(&self) -> &'static str {
        if self.mode == Mode::Plan {
            "(planned) "
        } else if self.skipped.get() {
            "(skipped) "
        } else {
            ""
        }
    }

    fn placeholder_in(&self, input: &Map) -> Option<String> {
        self.plan.placeholder_in(input)
    }

    fn event(&self, event: &Event) {
        self.keep_event(event);
    }
}

impl Safety {
    /// Records a write that is not sent and answers its placeholder.
    fn plan(&self, table: &Table, place: &str, op: &str, input: &Map, entry: WriteEntry) -> Dynamic {
        let answer = self.plan.record(table, place, op, input, &entry.function, entry.seq);
        self.writes.borrow_mut().push(entry);
        answer
    }
}

/// Moves into the journal what could not be written to a closed stream: first that it closed, then
/// its lines.
fn keep_output(j: &mut Journal) -> Result<(), String> {
    for stream in output::take_newly_closed() {
        let note = json!({ "type": "output_closed", "stream": stream.name(), "time": journal::now() });
        j.append(&note, false)?;
    }
    for (stream, line) in output::take_kept() {
        j.append(&json!({ "type": "output", "stream": stream.name(), "line": line }), false)?;
    }
    Ok(())
}

/// A read as the run's recent reads know it: where it went (another region answers otherwise), what
/// and with which input.
fn read_key(place: &str, svc: Svc, op: &str, input: &Map) -> String {
    format!("{place}:{}:{op}:{}", svc.module(), json::map_to_value(input))
}

#[cfg(test)]
mod tests {
    use super::tags::{tag, RUN_TAG};
    use super::*;
    use runbook_bindings::runtime::AwsOptions;
    use runbook_bindings::secrets::masked_input;

    fn map(json: Value) -> Map {
        json::from_value(&json).try_cast::<Map>().unwrap()
    }

    fn table(svc: Svc) -> &'static Table<'static> {
        svc.table().unwrap()
    }

    #[test]
    fn reads_and_writes_come_from_the_model() {
        let ro = |svc: Svc, op: &str| table(svc).operations[op].readonly;
        assert!(ro(Svc::Ecs, "DescribeServices") && ro(Svc::Ecs, "ListTasks"));
        assert!(!ro(Svc::Ecs, "UpdateService") && !ro(Svc::Ecs, "CreateCluster"));
        assert!(ro(Svc::Elbv2, "DescribeTargetGroups") && !ro(Svc::Elbv2, "ModifyTargetGroup"));
        assert!(ro(Svc::Iam, "GetRole") && !ro(Svc::Iam, "CreateServiceLinkedRole"));
        assert!(!ro(Svc::ApplicationAutoscaling, "RegisterScalableTarget"));
        assert!(ro(Svc::Ec2, "DescribeSecurityGroups") && !ro(Svc::Ec2, "CreateTags"));
    }

    #[test]
    fn created_resources_are_tagged_in_each_services_own_way() {
        let mut tg = map(json!({ "Name": "t", "Tags": [{ "Key": "team", "Value": "web" }] }));
        tag(table(Svc::Elbv2), "CreateTargetGroup", &mut tg, "run-1");
        assert_eq!(
            json::to_value(&tg.into()),
            json!({ "Name": "t", "Tags": [{ "Key": "team", "Value": "web" }, { "Key": RUN_TAG, "Value": "run-1" }] })
        );
        let mut cluster = map(json!({ "clusterName": "c" }));
        tag(table(Svc::Ecs), "CreateCluster", &mut cluster, "run-1");
        assert_eq!(json::to_value(&cluster.into())["tags"], json!([{ "key": RUN_TAG, "value": "run-1" }]));
        let mut target = map(json!({ "ResourceId": "r" }));
        tag(table(Svc::ApplicationAutoscaling), "RegisterScalableTarget", &mut target, "run-1");
        assert_eq!(json::to_value(&target.into())["Tags"], json!({ RUN_TAG: "run-1" }));
        let mut sg = map(json!({ "GroupName": "g" }));
        tag(table(Svc::Ec2), "CreateSecurityGroup", &mut sg, "run-1");
        assert_eq!(
            json::to_value(&sg.into())["TagSpecifications"],
            json!([{ "ResourceType": "security-group", "Tags": [{ "Key": RUN_TAG, "Value": "run-1" }] }])
        );
        // Updates are not tagged, and neither are creates whose input takes no tags.
        let mut update = map(json!({ "TargetGroupArn": "a" }));
        tag(table(Svc::Elbv2), "ModifyTargetGroup", &mut update, "run-1");
        assert_eq!(update.len(), 1);
        let mut slr = map(json!({ "AWSServiceName": "ecs.amazonaws.com" }));
        tag(table(Svc::Iam), "CreateServiceLinkedRole", &mut slr, "run-1");
        assert_eq!(slr.len(), 1);
    }

    #[test]
    fn sensitive_members_are_masked() {
        let input = map(json!({ "UserName": "u", "Password": "canary-secret-1", "PasswordResetRequired": true }));
        let shown = masked_input(table(Svc::Iam), "CreateLoginProfile", &input);
        assert_eq!(shown, json!({ "UserName": "u", "Password": "<sensitive>", "PasswordResetRequired": true }));
    }

    #[test]
    fn a_plan_answers_placeholders_that_flow_into_later_calls_and_reads() {
        // Nothing may be sent: the endpoint is a closed port, so a sent call would fail.
        let check = move || {
            let mut ctx = Context::new(&AwsOptions::default().nowhere(), Default::default()).unwrap();
            let safety = std::rc::Rc::new(Safety::new(Mode::Plan, "r".into(), true));
            ctx.hooks = safety.clone();
            let create = map(json!({ "Name": "web-tg", "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1" }));
            let out = runbook_bindings::call::invoke(&ctx, Svc::Elbv2, "CreateTargetGroup", &create, true).unwrap();
            let tg = json::to_value(&out)["TargetGroups"][0].clone();
            assert_eq!(tg["TargetGroupArn"], "<elbv2.create_target_group#1 TargetGroups[0].TargetGroupArn>");
            assert_eq!(
                (tg["TargetGroupName"].clone(), tg["Port"].clone()),
                (json!("<elbv2.create_target_group#1 TargetGroups[0].TargetGroupName>"), json!(8080))
            );
            // A read by the planned name is answered with the planned target group, not sent.
            let read = runbook_bindings::call::invoke(
                &ctx,
                Svc::Elbv2,
                "DescribeTargetGroups",
                &map(json!({ "Names": ["web-tg"] })),
                true,
            )
            .unwrap();
            assert_eq!(json::to_value(&read)["TargetGroups"][0]["TargetGroupArn"], tg["TargetGroupArn"]);
            // Its health lists nothing: no planned write made targets.
            let health = map(json!({ "TargetGroupArn": tg["TargetGroupArn"] }));
            let read = runbook_bindings::call::invoke(&ctx, Svc::Elbv2, "DescribeTargetHealth", &health, true).unwrap();
            assert_eq!(json::to_value(&read)["TargetHealthDescriptions"], json!([]));
            let listener = map(
                json!({ "LoadBalancerArn": "arn:lb", "DefaultActions": [{ "Type": "forward", "TargetGroupArn": tg["TargetGroupArn"] }] }),
            );
            let _ = runbook_bindings::call::invoke(&ctx, Svc::Elbv2, "CreateListener", &listener, true).unwrap();
            let writes = safety.writes();
            assert_eq!(writes.len(), 2);
            assert_eq!(writes[1].input["DefaultActions"][0]["TargetGroupArn"], tg["TargetGroupArn"]);
            assert!(writes.iter().all(|w| w.state == State::Planned));
            assert_eq!(ctx.stats.calls.get(), 0, "nothing was sent");
        };
        std::thread::Builder::new()
            .stack_size(runbook_bindings::runtime::SCRIPT_STACK)
            .spawn(check)
            .unwrap()
            .join()
            .unwrap();
    }
}
