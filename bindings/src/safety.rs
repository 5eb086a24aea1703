//! Safe runs. Every write (an operation the model does not mark read-only) passes through
//! [`Safety::write`]: in `plan` mode it is not sent and answers a placeholder shaped like its real
//! output; with `--step` the operator is asked first; otherwise it is tagged with the run id,
//! journaled (intent before, outcome after) and sent. Reads that name something only planned are
//! answered from the plan too, so a runbook that looks before it creates plans what it would do.

use crate::call::Svc;
use crate::error::CallError;
use crate::journal::{self, Journal};
use crate::json;
use crate::model::Table;
use crate::reconcile;
use crate::undo;
use rhai::{Array, Dynamic, Map};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

/// The tag key put on resources a run creates.
pub const RUN_TAG: &str = "runbook:run-id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Writes are sent.
    Run,
    /// Writes are not sent; they answer placeholders.
    Plan,
    /// The operator is asked before each write.
    Step,
}

/// An operator's answer at a `--step` prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    All,
    Quit,
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
    /// An attempt's answer was lost after it had done the write: what the look-up found.
    pub reconciled: Option<String>,
}

/// A write that was not sent, and what it answered.
struct Planned {
    /// `<elbv2.create_target_group#1 ` — every placeholder of this write starts with it.
    label: String,
    /// The members and values that name what it would create (its `…Name` members), so later
    /// reads of them are answered from the plan.
    names: Vec<(String, String)>,
    input: Map,
    /// The structures of its answer by shape name, reused when a read asks for the same shape.
    by_shape: HashMap<String, Dynamic>,
    top: Map,
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
    planned: RefCell<Vec<Planned>>,
    step_all: Cell<bool>,
    asker: Box<dyn Fn(&str) -> Answer>,
    /// Reads answered from the plan instead of being sent.
    pub answered: Cell<u64>,
    /// The last few reads, with the number of writes made before each.
    recent: RefCell<Vec<RecentRead>>,
}

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
        Safety {
            mode,
            run_id,
            tag,
            journal: RefCell::new(None),
            site: RefCell::new(String::new()),
            root: None,
            seq: Cell::new(0),
            writes: RefCell::new(Vec::new()),
            planned: RefCell::new(Vec::new()),
            step_all: Cell::new(false),
            asker: Box::new(ask_on_terminal),
            answered: Cell::new(0),
            recent: RefCell::new(Vec::new()),
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
        let mut record = json!({ "type": "start", "run": self.run_id, "time": journal::now() });
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
        let record = json!({
            "type": "end",
            "time": journal::now(),
            "outcome": outcome,
            "error": error,
            "calls": calls,
            "writes": writes.len(),
            "created": writes.iter().map(|w| w.created.len()).sum::<usize>(),
            "seconds": (secs * 1000.0).round() / 1000.0,
        });
        if let Some(j) = self.journal.borrow_mut().as_mut() {
            if let Err(e) = j.append(&record, true) {
                eprintln!("warning: {e}");
            }
        }
    }

    /// Where the script is: set by the bindings before each call. An imported module's source is
    /// its import path (`lib/aws`), shown as the file under the runbooks folder.
    pub fn set_site(&self, source: &str, line: Option<usize>) {
        let file = match &self.root {
            Some(root) if !source.is_empty() && !source.ends_with(".rhai") => {
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

    /// Keeps a read's answer for [`Safety::recent_read`].
    pub fn remember_read(&self, svc: Svc, op: &str, input: &Map, answer: &Result<Dynamic, CallError>) {
        let mut recent = self.recent.borrow_mut();
        if recent.len() == RECENT_READS {
            recent.remove(0);
        }
        recent.push(RecentRead { key: read_key(svc, op, input), writes: self.seq.get(), answer: answer.clone() });
    }

    /// The answer to this very read, if the run made it and has sent no write since.
    pub fn recent_read(&self, svc: Svc, op: &str, input: &Map) -> Option<Result<Dynamic, CallError>> {
        let key = read_key(svc, op, input);
        let recent = self.recent.borrow();
        recent.iter().rev().find(|r| r.key == key && r.writes == self.seq.get()).map(|r| r.answer.clone())
    }

    /// Whether `sleep` and waiters should skip their waiting.
    pub fn planning(&self) -> bool {
        self.mode == Mode::Plan
    }

    /// The first placeholder found in `input`, if any.
    pub fn placeholder_in(&self, input: &Map) -> Option<String> {
        let planned = self.planned.borrow();
        if planned.is_empty() {
            return None;
        }
        let mut found = None;
        json::for_each_string_in(input, &mut |s| {
            if found.is_none() && planned.iter().any(|p| s.contains(&p.label)) {
                found = Some(s.to_string());
            }
        });
        found
    }

    /// A read that names something only planned (by a placeholder or by the name it would have)
    /// is answered from the plan, shaped like its real output.
    pub fn answer_from_plan(&self, table: &Table, svc: Svc, op: &str, input: &Map) -> Option<Dynamic> {
        let planned = self.planned.borrow();
        if planned.is_empty() {
            return None;
        }
        let mut refs: Vec<usize> = Vec::new();
        let mut placeholders: Vec<String> = Vec::new();
        json::for_each_string_in(input, &mut |s| {
            for (i, p) in planned.iter().enumerate() {
                if s.contains(&p.label) {
                    placeholders.push(s.to_string());
                }
                if !refs.contains(&i) && (s.contains(&p.label) || p.names.iter().any(|(_, n)| n == s)) {
                    refs.push(i);
                }
            }
        });
        // Planned writes that use the same planned values are about the same things (the
        // listener planned on a planned load balancer answers a read of that load balancer's listeners).
        for (i, p) in planned.iter().enumerate() {
            let mut shares = false;
            json::for_each_string_in(&p.input, &mut |s| shares |= placeholders.iter().any(|x| x == s));
            if shares && !refs.contains(&i) {
                refs.push(i);
            }
        }
        if refs.is_empty() {
            return None;
        }
        self.answered.set(self.answered.get() + 1);
        let func = table.operations.get(op).map(|o| o.func.as_str()).unwrap_or(op);
        let known: Vec<&Planned> = refs.iter().map(|&i| &planned[i]).collect();
        let filters = Filters::of(input);
        let mut b = Builder {
            table,
            label: format!("<{}.{func} ", svc.module()),
            known: &known,
            by_shape: None,
            answer: true,
            filters: &filters,
        };
        let answer = b.output(table.operations.get(op).and_then(|o| o.output.as_deref()));
        if let Some(name) = filters.unchecked.borrow().first() {
            eprintln!(
                "[plan] {}::{func}: the filter {name} cannot be checked against resources that are only planned; \
                 they are listed as if it matched",
                svc.module()
            );
        }
        Some(answer)
    }

    /// The path of every write: plan, ask, tag, journal, send, record.
    pub fn write(
        &self,
        table: &Table,
        svc: Svc,
        op: &str,
        input: &Map,
        ctx: &crate::Context,
        send: impl Fn(&Map) -> Result<Dynamic, CallError>,
    ) -> Result<Dynamic, CallError> {
        // Counted once it is planned, skipped or about to be sent: the look-up just below may reuse
        // a read made since the last write.
        let seq = self.seq.get() + 1;
        let meta = table.operations.get(op);
        let func = format!("{}::{}", svc.module(), meta.map(|o| o.func.as_str()).unwrap_or(op));
        let at = self.site.borrow().clone();
        let mut input = input.clone();
        if self.tag && self.mode != Mode::Plan {
            tag(table, op, &mut input, &self.run_id);
        }
        let shown = masked_input(table, op, &input);
        let mut entry = WriteEntry {
            seq,
            function: func.clone(),
            at: at.clone(),
            input: shown.clone(),
            state: State::Sent,
            created: vec![],
            reconciled: None,
        };
        if self.mode == Mode::Plan {
            entry.state = State::Planned;
            self.seq.set(seq);
            return Ok(self.plan(table, op, &input, entry));
        }
        if self.mode == Mode::Step && !self.step_all.get() {
            let where_ = if at.is_empty() { String::new() } else { format!(" ({at})") };
            let question = format!("{func}{where_}\n{}\n", json::pretty(&shown));
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
                    return Ok(self.plan(table, op, &input, entry));
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
        if let Some(p) = self.placeholder_in(&input) {
            return Err(CallError::Validation {
                service: svc.module().into(),
                operation: op.into(),
                problems: vec![format!("the input uses {p}, the result of a call that was not made")],
            });
        }
        // Intent: what was there before, and the idempotency token, journaled before the request leaves.
        let token = idempotency_token(table, op, &mut input, &self.run_id, seq);
        let look = reconcile::entry_for(svc, op);
        let before = {
            let read = |s: Svc, o: &str, i: Value| self.read_recent_or_send(ctx, s, o, i);
            reconcile::Before::look(look.as_ref(), &read, &json::map_to_value(&input))
        };
        let shown = masked_input(table, op, &input);
        entry.input = shown.clone();
        self.seq.set(seq);
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
        self.note(intent, true)?;
        // Send, and settle any attempt whose answer was lost.
        let started = Instant::now();
        let sent = reconcile::send(ctx, svc, op, &input, before.found(), send);
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
                outcome["request_id"] = json!(crate::runtime::take_request_id());
                if let Some(found) = &sent.reconciled {
                    outcome["reconciled"] = json!({ "found": found.id });
                    entry.reconciled = Some(found.id.clone());
                }
                let inverse = undo::inverse(svc, op, &json::map_to_value(&input), &json::to_value(out), &before);
                entry.created = inverse.created.iter().map(|c| format!("{} {}", c.kind, c.id)).collect();
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
            eprintln!("warning: {e}");
        }
        sent.result
    }

    /// A read for a look-up before a write: the run's own answer to the same read when it has
    /// written nothing since (a runbook usually looks before it creates), else sent.
    fn read_recent_or_send(&self, ctx: &crate::Context, svc: Svc, op: &str, input: Value) -> Result<Value, CallError> {
        let request = json::from_value(&input).try_cast::<Map>().unwrap_or_default();
        match self.recent_read(svc, op, &request) {
            Some(answer) => answer.map(|out| json::to_value(&out)),
            None => crate::call::send(ctx, svc, op, &request).map(|out| json::to_value(&out)),
        }
    }

    fn note(&self, record: Value, sync: bool) -> Result<(), CallError> {
        match self.journal.borrow_mut().as_mut() {
            Some(j) => j.append(&record, sync).map_err(|message| CallError::Transport {
                service: "runbook".into(),
                operation: "journal".into(),
                code: "JournalError".into(),
                message,
                retryable: false,
            }),
            None => Ok(()),
        }
    }

    /// Records a write that is not sent and answers its placeholder.
    fn plan(&self, table: &Table, op: &str, input: &Map, entry: WriteEntry) -> Dynamic {
        let func = entry.function.replace("::", ".");
        let label = format!("<{func}#{} ", entry.seq);
        let mut planned = Planned {
            label: label.clone(),
            names: names_in(op, input),
            input: input.clone(),
            by_shape: HashMap::new(),
            top: Map::new(),
        };
        // The write's own input is echoed where its output has a member of the same name and type
        // (its `by_shape` is still empty, so nothing else is reused).
        let (answer, by_shape) = {
            let own = [&planned];
            let none = Filters::default();
            let mut b =
                Builder { table, label, known: &own, by_shape: Some(HashMap::new()), answer: false, filters: &none };
            let answer = b.output(table.operations.get(op).and_then(|o| o.output.as_deref()));
            (answer, b.by_shape.take().unwrap_or_default())
        };
        planned.by_shape = by_shape;
        planned.top = answer.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
        self.planned.borrow_mut().push(planned);
        self.writes.borrow_mut().push(entry);
        answer
    }
}

fn read_key(svc: Svc, op: &str, input: &Map) -> String {
    format!("{}:{op}:{}", svc.module(), json::map_to_value(input))
}

/// The values that name what a creating write makes: its top-level string members called `…Name`
/// (and ECS's `family`), so that later look-ups by those names are answered from the plan.
fn names_in(op: &str, input: &Map) -> Vec<(String, String)> {
    let creates = ["Create", "Register", "Run", "Put", "Allocate", "Import", "Copy"].iter().any(|v| op.starts_with(v));
    if !creates {
        return Vec::new();
    }
    input
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().ends_with("name") || k.as_str() == "family")
        .filter_map(|(k, v)| Some((k.to_string(), v.clone().into_string().ok()?)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// Builds placeholder answers from the model: structures member by member, one element per list,
/// strings as `<svc.fn#N Path>`, numbers 0, booleans false; values known from the plan are reused.
struct Builder<'a, 'p> {
    table: &'a Table<'a>,
    label: String,
    known: &'p [&'p Planned],
    /// Filled with each structure built, by shape name (for a write's own answer).
    by_shape: Option<HashMap<String, Dynamic>>,
    /// Answering a read: its lists hold only what the plan would create.
    answer: bool,
    /// The read's EC2 `Filters`, applied to what the plan would create.
    filters: &'p Filters,
}

/// A read's EC2-style `Filters` (`[#{ Name: "tag:Name", Values: ["web-a"] }]`), applied to planned
/// resources: `tag:KEY` and `tag-key` to the tags their create call gives them, any other name
/// (`vpc-id`, `cidr-block`, `group-name`, `availability-zone`, …) to the member of the same name
/// without dashes and case (`VpcId`). A filter that names no such member is noted in `unchecked`.
#[derive(Default)]
struct Filters {
    list: Vec<(String, Vec<String>)>,
    unchecked: RefCell<Vec<String>>,
}

impl Filters {
    fn of(input: &Map) -> Filters {
        let v = json::map_to_value(input);
        let list = v["Filters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let name = f["Name"].as_str()?.to_string();
                let values = f["Values"].as_array()?.iter().map(plain).collect();
                Some((name, values))
            })
            .collect();
        Filters { list, unchecked: RefCell::new(Vec::new()) }
    }

    /// Whether a planned resource (its answer `item`, made by a write with `input`) passes.
    fn pass(&self, item: &Dynamic, input: &Map) -> bool {
        let item = json::to_value(item);
        let input = json::map_to_value(input);
        self.list.iter().all(|(name, values)| {
            let have: Option<Vec<String>> = if let Some(key) = name.strip_prefix("tag:") {
                Some(tags_of(&input).into_iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect())
            } else if name == "tag-key" {
                Some(tags_of(&input).into_iter().map(|(k, _)| k).collect())
            } else {
                member_values(&item, name).or_else(|| member_values(&input, name))
            };
            // A placeholder stands for a value the plan does not know: it matches only itself.
            let unknown =
                |have: &[String]| !have.is_empty() && have.iter().all(|h| h.starts_with('<') && h.contains('#'));
            match have {
                Some(have) if have.iter().any(|h| values.iter().any(|v| glob(v, h))) => true,
                Some(have) if !unknown(&have) => false,
                _ => {
                    let mut unchecked = self.unchecked.borrow_mut();
                    if !unchecked.contains(name) {
                        unchecked.push(name.clone());
                    }
                    true
                }
            }
        })
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The tags a create call gives: `Tags` (key/value lists) and EC2 `TagSpecifications`.
fn tags_of(input: &Value) -> Vec<(String, String)> {
    let mut lists = vec![&input["Tags"]];
    lists.extend(input["TagSpecifications"].as_array().into_iter().flatten().map(|s| &s["Tags"]));
    lists
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|t| Some((t["Key"].as_str()?.to_string(), plain(&t["Value"]))))
        .collect()
}

/// The values of the member a filter name stands for (`vpc-id` → `VpcId`), if there is one.
fn member_values(v: &Value, filter: &str) -> Option<Vec<String>> {
    let squash = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    let want = squash(filter);
    let (_, found) = v.as_object()?.iter().find(|(k, _)| squash(k) == want)?;
    Some(match found {
        Value::Array(a) => a.iter().map(plain).collect(),
        Value::Object(_) | Value::Null => return None,
        other => vec![plain(other)],
    })
}

/// EC2 filter values may hold `*` (any run of characters) and `?` (one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Builder<'_, '_> {
    fn output(&mut self, shape: Option<&str>) -> Dynamic {
        match shape {
            Some(s) => {
                let mut stack = Vec::new();
                self.value(s, "", &mut stack)
            }
            None => Dynamic::from_map(Map::new()),
        }
    }

    /// Whether a read's list would list something planned: a structure a planned write answered,
    /// or one with a member that names it (`GroupName` of a planned security group).
    fn planned_item(&self, shape_name: &str) -> bool {
        let Some(shape) = self.table.shape(shape_name).filter(|s| s.kind == "structure") else { return false };
        self.known.iter().any(|k| {
            k.by_shape.contains_key(shape_name) || k.names.iter().any(|(m, _)| shape.member_shape(m).is_some())
        })
    }

    fn value(&mut self, shape_name: &str, path: &str, stack: &mut Vec<String>) -> Dynamic {
        let Some(shape) = self.table.shape(shape_name) else { return Dynamic::UNIT };
        match shape.kind.as_str() {
            "structure" => {
                if let Some(v) = self.known.iter().find_map(|k| k.by_shape.get(shape_name)) {
                    return v.clone();
                }
                // Recursive shapes stop at their second appearance, and every branch at depth 8.
                if stack.iter().any(|s| s == shape_name) || stack.len() >= 8 || shape.document {
                    return Dynamic::from_map(Map::new());
                }
                stack.push(shape_name.to_string());
                let mut m = Map::new();
                for (member, target) in shape.members.iter() {
                    let Some(target) = target.as_str() else { continue };
                    let p = if path.is_empty() { member.clone() } else { format!("{path}.{member}") };
                    let known = self
                        .known
                        .iter()
                        .find_map(|k| k.input.get(member.as_str()).or_else(|| k.top.get(member.as_str())));
                    let v = match known {
                        Some(v) if fits(self.table, target, v) => v.clone(),
                        _ => self.value(target, &p, stack),
                    };
                    m.insert(member.as_str().into(), v);
                }
                stack.pop();
                let v = Dynamic::from_map(m);
                if let Some(b) = self.by_shape.as_mut() {
                    b.entry(shape_name.to_string()).or_insert_with(|| v.clone());
                }
                v
            }
            "list" => {
                let member = shape.member.clone().unwrap_or_default();
                if self.answer && !self.planned_item(&member) {
                    return Dynamic::from_array(vec![]);
                }
                // A read lists each planned resource of this shape that passes its filters.
                let made: Vec<(&Dynamic, &Map)> =
                    self.known.iter().filter_map(|k| Some((k.by_shape.get(&member)?, &k.input))).collect();
                if self.answer && !made.is_empty() {
                    let items: Vec<Dynamic> = made
                        .into_iter()
                        .filter(|(item, input)| self.filters.pass(item, input))
                        .map(|(item, _)| item.clone())
                        .collect();
                    return Dynamic::from_array(items);
                }
                let one = self.value(&member, &format!("{path}[0]"), stack);
                Dynamic::from_array(vec![one])
            }
            "map" => Dynamic::from_map(Map::new()),
            "integer" | "long" => Dynamic::from_int(0),
            "float" | "double" => Dynamic::from_float(0.0),
            "boolean" => Dynamic::FALSE,
            _ => format!("{}{path}>", self.label).into(),
        }
    }
}

/// Whether a value known from the plan can stand for a member of this shape.
fn fits(table: &Table, shape: &str, v: &Dynamic) -> bool {
    let kind = table.shape(shape).map(|s| s.kind.as_str()).unwrap_or("");
    match kind {
        "string" | "timestamp" | "blob" => v.is_string(),
        "integer" | "long" => v.is_int(),
        "float" | "double" => v.is_float() || v.is_int(),
        "boolean" => v.is_bool(),
        "list" => v.is_array(),
        "structure" | "map" => v.is_map(),
        _ => false,
    }
}

/// The input as the journal, the plan and the prompt show it: members the model marks sensitive
/// are replaced by `<sensitive>`.
pub fn masked_input(table: &Table, op: &str, input: &Map) -> Value {
    let mut v = json::map_to_value(input);
    if let Some(shape) = table.operations.get(op).and_then(|o| o.input.as_deref()) {
        mask(table, shape, &mut v, 0);
    }
    v
}

pub fn mask(table: &Table, shape_name: &str, v: &mut Value, depth: usize) {
    let Some(shape) = table.shape(shape_name) else { return };
    if shape.sensitive {
        *v = json!("<sensitive>");
        return;
    }
    if depth > 32 {
        return;
    }
    match (shape.kind.as_str(), v) {
        ("structure", Value::Object(m)) => {
            for (k, item) in m.iter_mut() {
                if let Some(target) = shape.member_shape(k) {
                    mask(table, target, item, depth + 1);
                }
            }
        }
        ("list", Value::Array(items)) => {
            if let Some(member) = shape.member.as_deref() {
                items.iter_mut().for_each(|item| mask(table, member, item, depth + 1));
            }
        }
        ("map", Value::Object(m)) => {
            if let Some(value) = shape.value.as_deref() {
                m.values_mut().for_each(|item| mask(table, value, item, depth + 1));
            }
        }
        _ => {}
    }
}

/// Adds the run's tag to a creating write whose input takes tags: `Tags`/`tags` lists of key/value
/// structures, string maps, or EC2's `TagSpecifications` for the resource type the operation creates.
pub fn tag(table: &Table, op: &str, input: &mut Map, run_id: &str) {
    let creates = ["Create", "Register", "Run", "Allocate"].iter().any(|v| op.starts_with(v));
    let Some(shape) = table.operations.get(op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s)) else {
        return;
    };
    if !creates {
        return;
    }
    for member in ["Tags", "tags"] {
        let Some(target) = shape.member_shape(member).and_then(|s| table.shape(s)) else { continue };
        if target.kind == "map" {
            let mut m = input.get(member).and_then(|v| v.read_lock::<Map>().map(|m| m.clone())).unwrap_or_default();
            m.entry(RUN_TAG.into()).or_insert_with(|| run_id.into());
            input.insert(member.into(), m.into());
            return;
        }
        let Some(item) = target.member.as_deref().and_then(|s| table.shape(s)) else { continue };
        let (k, v) = if item.member_shape("Key").is_some() { ("Key", "Value") } else { ("key", "value") };
        if item.member_shape(k).is_none() || item.member_shape(v).is_none() {
            continue;
        }
        push_tag(input, member, k, v, run_id);
        return;
    }
    if shape.member_shape("TagSpecifications").is_some() {
        let Some(resource) = ec2_resource_type(table, op) else { return };
        let mut specs: Array =
            input.get("TagSpecifications").and_then(|v| v.read_lock::<Array>().map(|a| a.clone())).unwrap_or_default();
        let existing = specs.iter_mut().find(|s| {
            s.read_lock::<Map>().and_then(|m| m.get("ResourceType").map(|r| r.to_string())) == Some(resource.clone())
        });
        match existing {
            Some(spec) => {
                if let Some(mut m) = spec.write_lock::<Map>() {
                    push_tag(&mut m, "Tags", "Key", "Value", run_id);
                }
            }
            None => {
                let mut spec = Map::new();
                spec.insert("ResourceType".into(), resource.into());
                push_tag(&mut spec, "Tags", "Key", "Value", run_id);
                specs.push(spec.into());
            }
        }
        input.insert("TagSpecifications".into(), specs.into());
    }
}

fn push_tag(m: &mut Map, member: &str, k: &str, v: &str, run_id: &str) {
    let mut tags: Array = m.get(member).and_then(|t| t.read_lock::<Array>().map(|a| a.clone())).unwrap_or_default();
    let present = tags
        .iter()
        .any(|t| t.read_lock::<Map>().is_some_and(|t| t.get(k).map(|x| x.to_string()) == Some(RUN_TAG.into())));
    if !present {
        let mut t = Map::new();
        t.insert(k.into(), RUN_TAG.into());
        t.insert(v.into(), run_id.into());
        tags.push(t.into());
    }
    m.insert(member.into(), tags.into());
}

/// The EC2 resource type an operation creates (`CreateSecurityGroup` → `security-group`), when the
/// model's ResourceType enum has it.
fn ec2_resource_type(table: &Table, op: &str) -> Option<String> {
    let kind = match op {
        "RunInstances" => "instance".to_string(),
        _ => {
            let rest = op.strip_prefix("Create").or_else(|| op.strip_prefix("Allocate"))?;
            let mut s = String::new();
            for (i, c) in rest.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    s.push('-');
                }
                s.push(c.to_ascii_lowercase());
            }
            if op == "AllocateAddress" {
                "elastic-ip".to_string()
            } else {
                s
            }
        }
    };
    let spec = table.shape("TagSpecification")?;
    let values = &table.shape(spec.member_shape("ResourceType")?)?.values;
    values.contains(&kind).then_some(kind)
}

/// Puts a token into each idempotency-token member the script left empty (EC2 `ClientToken`, ECS
/// `clientToken`, …): one per write intent, the same on every attempt and resend, so AWS itself
/// does the write once. Returns the member and the token.
fn idempotency_token(table: &Table, op: &str, input: &mut Map, run_id: &str, seq: u64) -> Option<(String, String)> {
    let shape = table.operations.get(op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s))?;
    let member = shape.idempotency_tokens.iter().find(|m| !input.contains_key(m.as_str()))?;
    let token = format!("{run_id}-{seq}");
    input.insert(member.as_str().into(), token.clone().into());
    Some((member.clone(), token))
}

/// Asks on the terminal: the question on standard error, one line from standard input.
fn ask_on_terminal(question: &str) -> Answer {
    let mut err = std::io::stderr();
    let _ =
        write!(err, "\n{}send it? [y]es / [n]o, skip / [a]ll the rest / [q]uit: ", crate::secrets::redact(question));
    let _ = err.flush();
    loop {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => return Answer::Quit,
            Ok(_) => {}
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Answer::Yes,
            "n" | "no" => return Answer::No,
            "a" | "all" => return Answer::All,
            "q" | "quit" => return Answer::Quit,
            _ => {
                let _ = write!(err, "answer y, n, a or q: ");
                let _ = err.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::AwsOptions;

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
            let opts = AwsOptions {
                region: Some("us-east-1".into()),
                endpoint_url: Some("http://127.0.0.1:9".into()),
                ..Default::default()
            };
            let mut ctx = crate::Context::new(&opts, Default::default()).unwrap();
            ctx.safety = Safety::new(Mode::Plan, "r".into(), true);
            let create = map(json!({ "Name": "web-tg", "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1" }));
            let out = crate::call::invoke(&ctx, Svc::Elbv2, "CreateTargetGroup", &create, true).unwrap();
            let tg = json::to_value(&out)["TargetGroups"][0].clone();
            assert_eq!(tg["TargetGroupArn"], "<elbv2.create_target_group#1 TargetGroups[0].TargetGroupArn>");
            assert_eq!(
                (tg["TargetGroupName"].clone(), tg["Port"].clone()),
                (json!("<elbv2.create_target_group#1 TargetGroups[0].TargetGroupName>"), json!(8080))
            );
            // A read by the planned name is answered with the planned target group, not sent.
            let read = crate::call::invoke(
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
            let read = crate::call::invoke(&ctx, Svc::Elbv2, "DescribeTargetHealth", &health, true).unwrap();
            assert_eq!(json::to_value(&read)["TargetHealthDescriptions"], json!([]));
            let listener = map(
                json!({ "LoadBalancerArn": "arn:lb", "DefaultActions": [{ "Type": "forward", "TargetGroupArn": tg["TargetGroupArn"] }] }),
            );
            let _ = crate::call::invoke(&ctx, Svc::Elbv2, "CreateListener", &listener, true).unwrap();
            let writes = ctx.safety.writes();
            assert_eq!(writes.len(), 2);
            assert_eq!(writes[1].input["DefaultActions"][0]["TargetGroupArn"], tg["TargetGroupArn"]);
            assert!(writes.iter().all(|w| w.state == State::Planned));
            assert_eq!(ctx.stats.calls.get(), 0, "nothing was sent");
        };
        std::thread::Builder::new().stack_size(crate::runtime::SCRIPT_STACK).spawn(check).unwrap().join().unwrap();
    }
}
