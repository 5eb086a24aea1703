//! `runbook test [PATH...]`: runs every `fn test_*()` of the `*_test.rhai` files under the paths,
//! each in a fresh engine and context, with helpers to assert, to stand in for AWS operations
//! (`mock`), to see the calls made (`calls`), and to run or plan a runbook inside the test
//! (`run_runbook`, `plan_of`). A call no mock stands in for fails the test as `NotMocked`; with
//! `--live` it goes to the configured endpoint (so the same tests run against the emulator), and
//! its writes are journaled as a run's are, for `runbook undo`.

use crate::args::Common;
use crate::engine;
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Scope, AST};
use runbook_bindings::{CallError, Context, Svc};
use runbook_run::{Mode, Safety};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

/// What one test's calls share: its mocks, the calls made, and the test file's engine and AST (a
/// mock's closure runs in them).
#[derive(Default)]
struct Bench {
    /// No region is configured: a call no mock stands in for has nowhere to go.
    offline: std::cell::Cell<bool>,
    /// `--live`: calls no mock stands in for are sent, and their writes journaled.
    live: bool,
    /// The journals of this test's live contexts, closed when it ends.
    journals: RefCell<Vec<Rc<Safety>>>,
    mocks: RefCell<Vec<Mock>>,
    calls: RefCell<Vec<(String, Map)>>,
    engine: RefCell<Option<Rc<Engine>>>,
    ast: RefCell<Option<Rc<AST>>>,
}

struct Mock {
    /// `elbv2::create_target_group`
    function: String,
    answer: FnPtr,
    /// Where the test set it up: `runbooks/create_tg_test.rhai:12`.
    at: String,
}

/// The map `aws_error(code, message)` makes: a mock that answers it fails the call with that error.
const AWS_ERROR: &str = "$aws_error";

impl Bench {
    /// The stand-in the contexts of this test get: records every call, and answers a mocked one.
    fn stand_in(self: &Rc<Self>) -> Rc<runbook_bindings::runtime::StandIn> {
        let bench = self.clone();
        Rc::new(move |svc: Svc, op: &str, input: &Map| bench.answer(svc, op, input))
    }

    fn answer(&self, svc: Svc, op: &str, input: &Map) -> Option<Result<Dynamic, CallError>> {
        let function = svc.function(op);
        self.calls.borrow_mut().push((function.clone(), input.clone()));
        let found = {
            let mocks = self.mocks.borrow();
            mocks.iter().rev().find(|m| m.function == function).map(|m| (m.answer.clone(), m.at.clone()))
        };
        let Some((answer, at)) = found else {
            if !self.live {
                return Some(Err(CallError::Transport {
                    service: svc.module().into(),
                    operation: op.into(),
                    code: "NotMocked".into(),
                    message: format!(
                        "no mock stands in for {function}: mock(\"{function}\", |input| ...) answers it, or \
                         `runbook test --live` sends what no mock answers to the configured endpoint"
                    ),
                    retryable: false,
                }));
            }
            if self.offline.get() {
                return Some(Err(CallError::Transport {
                    service: svc.module().into(),
                    operation: op.into(),
                    code: "NotMocked".into(),
                    message: format!(
                        "no mock stands in for {function}, and no region is configured to send it to: \
                         mock(\"{function}\", |input| ...), or pass --region (and --endpoint-url for the emulator)"
                    ),
                    retryable: false,
                }));
            }
            return None;
        };
        let engine = self.engine.borrow().clone()?;
        let ast = self.ast.borrow().clone()?;
        let fail = |problems: Vec<String>| CallError::Validation {
            service: svc.module().into(),
            operation: op.into(),
            problems,
        };
        let value = match answer.call::<Dynamic>(&engine, &ast, (Dynamic::from_map(input.clone()),)) {
            Ok(v) => v,
            Err(e) => return Some(Err(fail(vec![format!("the mock set at {at} failed: {e}")]))),
        };
        if value.is_unit() {
            return Some(Ok(Dynamic::from_map(Map::new())));
        }
        let Some(map) = value.clone().try_cast::<Map>() else {
            return Some(Err(fail(vec![format!("the mock set at {at} answered {}, not a map", value.type_name())])));
        };
        if let Some(e) = map.get(AWS_ERROR).and_then(|e| e.clone().try_cast::<Map>()) {
            let text = |k: &str| e.get(k).map(|v| v.to_string()).unwrap_or_default();
            return Some(Err(CallError::Aws {
                service: svc.module().into(),
                operation: op.into(),
                code: text("code"),
                message: text("message"),
                status: Some(400),
                request_id: None,
                retryable: false,
            }));
        }
        let problems =
            svc.table().map(|t| runbook_bindings::validate::validate_output(t, op, &map)).unwrap_or_default();
        if !problems.is_empty() {
            return Some(Err(CallError::Transport {
                service: svc.module().into(),
                operation: op.into(),
                code: "MockMismatch".into(),
                message: format!("the mock set at {at} answers what {function} cannot: {}", problems.join("; ")),
                retryable: false,
            }));
        }
        Some(Ok(Dynamic::from_map(map)))
    }

    fn mocked(&self, svc: Svc, op: &str) -> bool {
        let function = svc.function(op);
        self.mocks.borrow().iter().any(|m| m.function == function)
    }
}

/// A live test's hooks: the run layer's (journal, tags, look-ups before writes) for what goes to
/// AWS; a write a mock answers is the test's own business and is not journaled.
struct Live {
    bench: Rc<Bench>,
    safety: Rc<Safety>,
}

impl runbook_bindings::hooks::Hooks<Context> for Live {
    fn write(
        &self,
        ctx: &Context,
        svc: Svc,
        op: &str,
        input: &Map,
        send: runbook_bindings::hooks::SendWrite,
    ) -> Result<Dynamic, CallError> {
        if self.bench.mocked(svc, op) {
            return send(input);
        }
        runbook_bindings::hooks::Hooks::write(&*self.safety, ctx, svc, op, input, send)
    }
    fn answer_read(&self, ctx: &Context, svc: Svc, op: &str, input: &Map) -> Option<Dynamic> {
        self.safety.answer_read(ctx, svc, op, input)
    }
    fn after_read(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, answer: &Result<Dynamic, CallError>) {
        self.safety.after_read(ctx, svc, op, input, answer);
    }
    fn set_site(&self, source: &str, line: Option<usize>) {
        runbook_bindings::hooks::Hooks::set_site(&*self.safety, source, line);
    }
    fn propagating(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, error: &CallError) -> Option<String> {
        self.safety.propagating(ctx, svc, op, input, error)
    }
    fn log_mark(&self) -> &'static str {
        self.safety.log_mark()
    }
    fn placeholder_in(&self, input: &Map) -> Option<String> {
        self.safety.placeholder_in(input)
    }
}

/// One test's outcome.
enum Outcome {
    Ok,
    Failed(String),
}

/// `runbook test [PATH...]`.
pub fn run(paths: &[PathBuf], common: &Common, live: bool) -> ExitCode {
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() };
    let mut files: Vec<PathBuf> = match crate::params::rhai_files(&paths) {
        // In folders, the test files; a file named is taken as it is.
        Ok(f) => f
            .into_iter()
            .filter(|(file, dir)| dir.is_none() || file.to_string_lossy().ends_with("_test.rhai"))
            .map(|(file, _)| file)
            .collect(),
        Err(e) => return crate::diagnostics::fail(&e),
    };
    files.sort();
    let limits = match engine::Limits::parse(&common.limits) {
        Ok(l) => l,
        Err(e) => return crate::diagnostics::fail(&e),
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return crate::diagnostics::fail(&format!("cannot read {}: {e}", file.display())),
        };
        let root = crate::project::runbook_root(file);
        // Compiled once; each test runs it in an engine of its own.
        let mut reader = Engine::new();
        engine::syntax(&mut reader);
        let mut ast = match reader.compile(&text) {
            Ok(a) => a,
            Err(e) => {
                outln!("FAILED {}: does not compile: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        ast.set_source(file.to_string_lossy().as_ref());
        let ast = Rc::new(ast);
        for name in test_names(&ast, &text) {
            match one(file, &root, &ast, &name, (common, live), &limits) {
                Outcome::Ok => {
                    outln!("ok     {} {name}", file.display());
                    passed += 1;
                }
                Outcome::Failed(why) => {
                    outln!("FAILED {} {name}: {why}", file.display());
                    failed += 1;
                }
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        if passed == 0 && failed == 0 {
            eoutln!("error: no tests: no fn test_*() in a *_test.rhai file under {}", join(&paths));
            return ExitCode::from(2);
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn join(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The names of a test file's `fn test_*()` (without parameters), in order.
fn test_names(ast: &AST, text: &str) -> Vec<String> {
    let mut names: Vec<(usize, String)> = ast
        .iter_functions()
        .filter(|f| f.name.starts_with("test_") && f.params.is_empty())
        .map(|f| (0, f.name.to_string()))
        .collect();
    // In the order the file defines them.
    for n in names.iter_mut() {
        n.0 = text.find(&format!("fn {}(", n.1)).unwrap_or(usize::MAX);
    }
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// A fresh context where calls go as the command line says, with the test's stand-in; live, with
/// a journal of its own named after the test (`label`).
fn context(
    common: &Common,
    params: std::collections::BTreeMap<String, String>,
    bench: &Rc<Bench>,
    label: &str,
) -> Result<Context, String> {
    let mut ctx = match Context::new(&common.aws(), params.clone()) {
        Ok(c) => c,
        // Tests that mock every call need no region: the others are told why they cannot go.
        Err(e) if e.starts_with("no AWS region") => {
            bench.offline.set(true);
            Context::new(&common.aws().nowhere(), params)?
        }
        Err(e) => return Err(e),
    };
    ctx.stand_in = Some(bench.stand_in());
    if bench.live && !bench.offline.get() {
        let safety = Rc::new(Safety::new(Mode::Run, runbook_run::journal::new_run_id(), !common.no_tag));
        let start = crate::run::start_record(&ctx, common, label, Mode::Run, serde_json::json!(false));
        safety.open_journal(&common.journal.dir(), start)?;
        bench.journals.borrow_mut().push(safety.clone());
        ctx.hooks = Rc::new(Live { bench: bench.clone(), safety });
    }
    Ok(ctx)
}

/// Runs one test in a fresh engine and context.
fn one(
    file: &Path,
    root: &Path,
    ast: &Rc<AST>,
    name: &str,
    (common, live): (&Common, bool),
    limits: &engine::Limits,
) -> Outcome {
    let bench = Rc::new(Bench { live, ..Bench::default() });
    let label = format!("test {}::{name}", file.display());
    let started = std::time::Instant::now();
    let mut ctx = match context(common, Default::default(), &bench, &label) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(e),
    };
    ctx.runbook_dir = Some(root.to_path_buf());
    let ctx = Rc::new(ctx);
    let mut engine = engine::build(ctx.clone(), root, limits);
    register(&mut engine, &bench, root, common, limits);
    let engine = Rc::new(engine);
    *bench.engine.borrow_mut() = Some(engine.clone());
    *bench.ast.borrow_mut() = Some(ast.clone());
    // The script's lines go to stderr: stdout is the list of results.
    runbook_bindings::output::out_to_err(true);
    let result = engine.call_fn::<Dynamic>(&mut Scope::new(), ast, name, ());
    runbook_bindings::output::out_to_err(false);
    // The engine and the stand-in hold each other: let go of the engine.
    bench.engine.borrow_mut().take();
    let outcome = if result.is_ok() { "succeeded" } else { "failed" };
    for safety in bench.journals.borrow().iter() {
        safety.close_journal(outcome, None, ctx.stats.calls.get(), started.elapsed().as_secs_f64());
    }
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) => {
            let d = crate::diagnostics::runtime_error(root, file, &e);
            let notes: String = d.notes.iter().map(|n| format!("\n    = {n}")).collect();
            Outcome::Failed(format!("{}: {}{notes}", d.location(), d.title))
        }
    }
}

fn fail_at(message: String, nc: &NativeCallContext) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), nc.call_position()).into()
}

/// `file:line` of the call being made.
fn here(nc: &NativeCallContext) -> String {
    let pos = nc.call_position();
    let line = pos.line().map(|l| format!(":{l}")).unwrap_or_default();
    format!("{}{line}", nc.call_source().unwrap_or(""))
}

/// The `--set` text of a parameter value given in a test: scalars as they print, arrays joined by
/// commas (as `param()` reads an array).
fn set_text(v: &Dynamic) -> String {
    match v.clone().try_cast::<Array>() {
        Some(a) => a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
        None => v.to_string(),
    }
}

fn register(engine: &mut Engine, bench: &Rc<Bench>, root: &Path, common: &Common, limits: &engine::Limits) {
    engine.register_fn("assert", |nc: NativeCallContext, cond: bool| -> Result<(), Box<EvalAltResult>> {
        if cond {
            Ok(())
        } else {
            Err(fail_at("assertion failed".into(), &nc))
        }
    });
    engine.register_fn(
        "assert",
        |nc: NativeCallContext, cond: bool, message: &str| -> Result<(), Box<EvalAltResult>> {
            if cond {
                Ok(())
            } else {
                Err(fail_at(format!("assertion failed: {message}"), &nc))
            }
        },
    );
    engine.register_fn(
        "assert_eq",
        |nc: NativeCallContext, a: Dynamic, b: Dynamic| -> Result<(), Box<EvalAltResult>> {
            let (x, y) = (runbook_bindings::json::to_value(&a), runbook_bindings::json::to_value(&b));
            if x == y && a.type_name() == b.type_name() {
                Ok(())
            } else {
                Err(fail_at(format!("assert_eq failed:\n  left:  {x}\n  right: {y}"), &nc))
            }
        },
    );
    engine.register_fn(
        "expect_error",
        |nc: NativeCallContext, block: FnPtr, code: &str| -> Result<(), Box<EvalAltResult>> {
            match block.call_within_context::<Dynamic>(&nc, ()) {
                Ok(_) => Err(fail_at(format!("expected an error {code}, and none came"), &nc)),
                Err(e) => {
                    let (got, text) = match crate::diagnostics::innermost(&e) {
                        EvalAltResult::ErrorRuntime(v, _) | EvalAltResult::ErrorTerminated(v, _) if v.is_map() => {
                            let m = v.clone().cast::<Map>();
                            let code = m.get("code").map(|c| c.to_string()).unwrap_or_default();
                            (code, v.to_string())
                        }
                        EvalAltResult::ErrorRuntime(v, _) => (String::new(), v.to_string()),
                        other => (String::new(), other.to_string()),
                    };
                    // An AWS error by its code; a script's own throw by its text.
                    if got == code || (got.is_empty() && text.contains(code)) {
                        Ok(())
                    } else {
                        let shown = if got.is_empty() { text } else { got };
                        Err(fail_at(format!("expected an error {code}, got {shown}"), &nc))
                    }
                }
            }
        },
    );
    engine.register_fn("aws_error", |code: &str, message: &str| -> Map {
        let mut e = Map::new();
        e.insert("code".into(), code.into());
        e.insert("message".into(), message.into());
        let mut m = Map::new();
        m.insert(AWS_ERROR.into(), e.into());
        m
    });
    let b = bench.clone();
    engine.register_fn(
        "mock",
        move |nc: NativeCallContext, function: &str, answer: FnPtr| -> Result<(), Box<EvalAltResult>> {
            let known = function.split_once("::").and_then(|(m, f)| {
                let svc = Svc::by_module(m)?;
                svc.operations().iter().find(|(name, _)| *name == f).map(|_| ())
            });
            if known.is_none() {
                return Err(fail_at(
                    format!("mock: {function:?} is no operation (write it as svc::function, e.g. elbv2::create_target_group)"),
                    &nc,
                ));
            }
            b.mocks.borrow_mut().push(Mock { function: function.to_string(), answer, at: here(&nc) });
            Ok(())
        },
    );
    let b = bench.clone();
    engine.register_fn("calls", move |function: &str| -> Array {
        b.calls.borrow().iter().filter(|(f, _)| f == function).map(|(_, m)| Dynamic::from_map(m.clone())).collect()
    });
    for (name, mode) in [("run_runbook", Mode::Run), ("plan_of", Mode::Plan)] {
        let (b, root, common, limits) = (bench.clone(), root.to_path_buf(), common.clone(), *limits);
        let runner = move |nc: NativeCallContext, path: &str, params: Map| -> Result<Dynamic, Box<EvalAltResult>> {
            let file = root.join(path);
            let text = std::fs::read_to_string(&file)
                .map_err(|e| fail_at(format!("{name}: cannot read {}: {e}", file.display()), &nc))?;
            let sets = params.iter().map(|(k, v)| (k.to_string(), set_text(v))).collect();
            let label = format!("test {} (run_runbook {path})", here(&nc));
            let mut ctx = context(&common, sets, &b, &label).map_err(|e| fail_at(e, &nc))?;
            let runbook_root = crate::project::runbook_root(&file);
            ctx.runbook_dir = Some(runbook_root.clone());
            // A run without journal, tags or look-ups before writes: the test sees the runbook's
            // own calls. A plan is a plan: its writes are not sent.
            let safety = (mode == Mode::Plan).then(|| Rc::new(Safety::new(Mode::Plan, "test".into(), false)));
            if let Some(s) = &safety {
                ctx.hooks = s.clone();
            }
            let engine = engine::build(Rc::new(ctx), &runbook_root, &limits);
            let mut ast =
                engine.compile(&text).map_err(|e| fail_at(crate::diagnostics::parse_error(&file, &e).render(), &nc))?;
            ast.set_source(file.to_string_lossy().as_ref());
            // Its errors point into the runbook, as an import's do.
            engine.run_ast(&ast).map_err(|e| -> Box<EvalAltResult> {
                EvalAltResult::ErrorInModule(path.to_string(), e, nc.call_position()).into()
            })?;
            let Some(safety) = safety else { return Ok(Dynamic::UNIT) };
            let writes: Array = safety
                .writes()
                .into_iter()
                .map(|w| {
                    let mut m = Map::new();
                    m.insert("function".into(), w.function.into());
                    m.insert("input".into(), runbook_bindings::json::from_value(&w.input));
                    m.insert("at".into(), w.at.into());
                    Dynamic::from_map(m)
                })
                .collect();
            Ok(Dynamic::from_array(writes))
        };
        let with_params = runner.clone();
        engine.register_fn(name, move |nc: NativeCallContext, path: &str| with_params(nc, path, Map::new()));
        engine.register_fn(name, runner);
    }
}
