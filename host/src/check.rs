//! `runbook check PATH...`: the mistakes a runbook holds that can be seen without AWS, with the
//! messages a run would give, found by walking each script's syntax tree (Rhai's `internals`):
//! syntax errors; imports that do not resolve; unknown modules and functions, with "did you mean";
//! wrong argument counts; the input maps written in the script, checked against the service model
//! as far as their keys and literal values go (unknown keys, missing required members, types, enum
//! values, ranges, patterns); `param()` names read with defaults of clashing types; code after a
//! `throw`. No credentials, region or network are used. Every function is checked, called or not.

use crate::params;
use rhai::{ASTNode, Dynamic, Engine, Expr, Map, OptimizationLevel, Position, Stmt, AST};
use runbook_bindings::validate;
use runbook_bindings::Svc;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How mistakes are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: message`, with hints
    Text,
    /// one JSON array of `{ file, line, column, message, notes }`
    Json,
    /// GitHub Actions annotations (`::error file=…,line=…,col=…::message`)
    Github,
}

/// One mistake, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub notes: Vec<String>,
    /// A run that reaches it fails there (an unknown function, member or module, a wrong type, a
    /// missing import); the others (code that can never run, parameters read two ways) are advice.
    pub certain: bool,
}

impl Mistake {
    fn advice(mut self) -> Mistake {
        self.certain = false;
        self
    }
}

/// The mistakes of a bash script (or a Markdown file's bash blocks): its aws commands that the aws
/// CLI would refuse whatever the script's variables hold.
pub fn script(file: &Path, text: &str) -> Vec<Mistake> {
    crate::import::mistakes(file, text)
        .into_iter()
        .map(|(line, message)| Mistake {
            file: file.to_path_buf(),
            line,
            column: 1,
            message,
            notes: vec![],
            certain: true,
        })
        .collect()
}

/// The mistakes `check` is certain of in a runbook and the modules it imports, rendered as a run
/// renders its errors; `None` when there are none. `run`, `plan`, `policy` and fleets stop on them
/// before any request: a run would send its earlier writes and then fail at the first.
pub fn before_run(file: &Path) -> Option<String> {
    let root = crate::project::runbook_root(file);
    let checker = Checker::new();
    let mut found = Vec::new();
    for f in params::files(&root, file) {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        found.extend(checker.file(&f, &root, &text).into_iter().filter(|m| m.certain));
    }
    if found.is_empty() {
        return None;
    }
    let mut out = String::new();
    for m in &found {
        let pos = Position::new(m.line as u16, m.column as u16);
        let mut notes = m.notes.clone();
        // In a module: the import that brings it, as a run names it.
        if m.file != file {
            let module = m.file.strip_prefix(&root).unwrap_or(&m.file).with_extension("");
            notes.push(format!("while importing {:?} from {}", module.to_string_lossy(), file.display()));
        }
        let d = crate::diagnostics::Diagnostic { title: m.message.clone(), file: m.file.clone(), pos, notes };
        out.push_str(&d.render());
    }
    // A syntax error alone says all there is, as a run's would.
    if found.iter().any(|m| !m.message.starts_with("syntax: ")) {
        let word = if found.len() == 1 { "mistake" } else { "mistakes" };
        out.push_str(&format!(
            "runbook: {} {word} found before the run (as `runbook check` finds them); nothing was sent\n",
            found.len()
        ));
    }
    Some(out)
}

/// Functions a script may call that the engine knows by keyword rather than as registered
/// functions.
const KEYWORDS: &[&str] =
    &["print", "debug", "type_of", "Fn", "call", "curry", "is_def_var", "is_def_fn", "is_shared", "eval", "this"];

/// The parameters `runbook check` takes.
pub fn run(paths: &[PathBuf], format: Format) -> ExitCode {
    let files: Vec<(PathBuf, PathBuf)> = match params::rhai_files(paths) {
        // A folder given is the root its runbooks' imports resolve in.
        Ok(f) => f
            .into_iter()
            .map(|(file, dir)| {
                let root = dir.unwrap_or_else(|| root_for(&file));
                (file, root)
            })
            .collect(),
        Err(e) => return crate::diagnostics::fail(&e),
    };
    let checker = Checker::new();
    let mut mistakes = Vec::new();
    for (file, root) in &files {
        match std::fs::read_to_string(file) {
            Ok(text) if crate::project::is_script(file) => mistakes.extend(script(file, &text)),
            Ok(text) => mistakes.extend(checker.file(file, root, &text)),
            Err(e) => {
                eoutln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    print(&mistakes, files.len(), format);
    if mistakes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print(mistakes: &[Mistake], files: usize, format: Format) {
    match format {
        Format::Text => {
            for m in mistakes {
                outln!("{}:{}:{}: {}", m.file.display(), m.line, m.column, m.message);
                for n in &m.notes {
                    outln!("  = {n}");
                }
            }
            let word = if mistakes.len() == 1 { "mistake" } else { "mistakes" };
            eoutln!("runbook check: {} {word} in {files} file(s)", mistakes.len());
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = mistakes
                .iter()
                .map(|m| {
                    serde_json::json!({ "file": m.file, "line": m.line, "column": m.column, "message": m.message, "notes": m.notes })
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
        }
        Format::Github => {
            // Annotation properties and messages escape %, CR, LF (and , : in properties).
            let esc = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
            let prop = |s: &str| esc(s).replace(',', "%2C").replace(':', "%3A");
            for m in mistakes {
                let mut text = m.message.clone();
                for n in &m.notes {
                    text.push_str(&format!("\n{n}"));
                }
                outln!(
                    "::error file={},line={},col={}::{}",
                    prop(&m.file.to_string_lossy()),
                    m.line,
                    m.column,
                    esc(&text)
                );
            }
        }
    }
}

/// What the checks share: an engine that knows every registered function, and their names.
pub(crate) struct Checker {
    engine: Engine,
    /// Functions callable without a namespace: registered, built in, or keywords.
    global: BTreeSet<String>,
    /// The functions of each module file read, with the time it was written then: a runbook
    /// importing one module many times, or checked again at each keystroke (`runbook lsp`),
    /// compiles it once until it changes.
    modules: std::cell::RefCell<BTreeMap<PathBuf, (Option<std::time::SystemTime>, Functions)>>,
}

/// Functions by name, with the parameter counts of their definitions.
type Functions = BTreeMap<String, Vec<usize>>;

impl Checker {
    pub(crate) fn new() -> Checker {
        let mut engine = Engine::new();
        engine.set_optimization_level(OptimizationLevel::None);
        crate::engine::syntax(&mut engine);
        let opts = runbook_bindings::AwsOptions::default().nowhere();
        // The bindings register their helpers with a context that is never used: nothing is sent.
        if let Ok(ctx) = runbook_bindings::Context::new(&opts, BTreeMap::new()) {
            runbook_bindings::register(&mut engine, std::rc::Rc::new(ctx));
        }
        let mut global: BTreeSet<String> =
            engine.collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), true).into_iter().collect();
        global.extend(KEYWORDS.iter().map(|k| k.to_string()));
        // A test file's helpers (`runbook test`).
        global.extend(crate::engine::TEST_HELPERS.iter().map(|k| k.to_string()));
        Checker { engine, global, modules: Default::default() }
    }

    pub(crate) fn file(&self, file: &Path, root: &Path, text: &str) -> Vec<Mistake> {
        let mut out = Vec::new();
        let at = |pos: Position, message: String, notes: Vec<String>| Mistake {
            file: file.to_path_buf(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message,
            notes,
            certain: true,
        };
        let ast = match self.engine.compile(text) {
            Ok(a) => a,
            Err(e) => {
                let d = crate::diagnostics::parse_error(file, &e);
                out.push(at(e.1, d.title.clone(), d.notes.clone()));
                return out;
            }
        };
        let script_fns = functions(&ast);
        let variables = variables(&ast);
        // Imports: each must resolve; `import "x" as y` makes y's functions callable as y::f.
        let mut aliases: BTreeMap<String, Option<BTreeMap<String, Vec<usize>>>> = BTreeMap::new();
        ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Stmt(Stmt::Import(x, pos))) = path.last() {
                let (expr, alias) = x.as_ref();
                let module = expr.get_literal_value(None).and_then(|v| v.into_string().ok());
                let outside = module.as_deref().and_then(|m| {
                    let name = if m.ends_with(".rhai") { m.to_string() } else { format!("{m}.rhai") };
                    crate::engine::outside_root(root, &root.join(name), m)
                });
                let functions = match (&module, outside) {
                    (Some(_), Some(outside)) => {
                        out.push(at(*pos, outside, vec![]));
                        None
                    }
                    (Some(m), None) => match resolve(root, file, m) {
                        Some(p) => match self.module_functions(&p) {
                            Ok(functions) => Some(functions),
                            // A module a run cannot read: its functions are not known, and that is why.
                            Err(why) => {
                                out.push(at(*pos, format!("module {m}: cannot read {}: {why}", p.display()), vec![]));
                                None
                            }
                        },
                        None => {
                            let (title, mut notes) = crate::diagnostics::module_not_found(m);
                            notes.insert(0, format!("there is no {}/{m}.rhai", root.display()));
                            out.push(at(*pos, title, notes));
                            None
                        }
                    },
                    (None, _) => None,
                };
                if !alias.name.is_empty() {
                    aliases.insert(alias.name.to_string(), functions);
                }
            }
            true
        });
        ast.walk(&mut |path: &[ASTNode]| {
            let call = match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(c, pos))) => Some((c, *pos)),
                Some(ASTNode::Stmt(Stmt::FnCall(c, pos))) => Some((c, *pos)),
                _ => None,
            };
            let Some((c, pos)) = call else { return true };
            if c.op_token.is_some() || c.is_operator_call() {
                return true;
            }
            let name = c.name.as_str();
            // A test's runbook, named by a literal path: relative to the test file's folder.
            if c.namespace.is_empty() && (name == "run_runbook" || name == "plan_of") {
                let path = c.args.first().and_then(|a| a.get_literal_value(None)).and_then(|v| v.into_string().ok());
                let folder = crate::project::runbook_root(file);
                if let Some(path) = path.filter(|p| !folder.join(p).is_file()) {
                    out.push(at(
                        pos,
                        format!("{name}: there is no {path} in {}", folder.display()),
                        vec![format!(
                            "{name} paths are relative to the test file's folder: {}",
                            folder.join(&path).display()
                        )],
                    ));
                }
            }
            if c.namespace.is_empty() {
                let known = self.global.contains(name)
                    || script_fns.contains_key(name)
                    || variables.contains(name)
                    || name.starts_with("anon$");
                if !known {
                    let names = self.global.iter().chain(script_fns.keys()).map(String::as_str);
                    let close = validate::closest(name, names);
                    let mut notes =
                        if close.is_empty() { vec![] } else { vec![format!("did you mean {}?", close.join(" or "))] };
                    notes.push("`runbook help` lists the services and helpers".into());
                    out.push(at(pos, format!("unknown function {name}"), notes));
                }
                return true;
            }
            let namespace = c.namespace.root();
            if let Some(svc) = Svc::by_module(namespace) {
                out.extend(
                    service_call(svc, name, &c.args).into_iter().map(|(message, notes)| at(pos, message, notes)),
                );
                return true;
            }
            match aliases.get(namespace) {
                Some(Some(functions)) => {
                    let fits = functions.get(name).is_some_and(|counts| counts.contains(&c.args.len()));
                    if !fits {
                        let message = match functions.get(name) {
                            Some(counts) => format!(
                                "{namespace}::{name} takes {} argument(s), not {}",
                                counts.iter().map(usize::to_string).collect::<Vec<_>>().join(" or "),
                                c.args.len()
                            ),
                            None => format!("module {namespace} has no function {name}"),
                        };
                        let close = validate::closest(name, functions.keys().map(String::as_str));
                        let notes = if close.is_empty() || functions.contains_key(name) {
                            vec![]
                        } else {
                            vec![format!("did you mean {namespace}::{}?", close.join(" or "))]
                        };
                        out.push(at(pos, message, notes));
                    }
                }
                Some(None) => {}
                None => {
                    let modules: Vec<&str> =
                        Svc::ALL.iter().map(|s| s.module()).chain(aliases.keys().map(String::as_str)).collect();
                    let close = validate::closest(namespace, modules.iter().copied());
                    let (title, mut notes) = crate::diagnostics::module_not_found(namespace);
                    if !aliases.is_empty() {
                        notes.insert(0, format!("the modules are {}", modules.join(", ")));
                    }
                    if !close.is_empty() {
                        notes.insert(0, format!("did you mean {}::{name}?", close.join(" or ")));
                    }
                    out.push(at(pos, title, notes));
                }
            }
            true
        });
        unreachable_code(&ast, &mut |pos| {
            out.push(at(pos, "this can never run: a throw comes before it".into(), vec![]).advice());
        });
        // Parameters read with defaults of different types, here or in what this file imports.
        let mut kinds: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let reads = params::all_reads_with(root, file, text);
        // This file's allowed values: a literal that admits the default.
        for r in reads.iter().filter(|r| r.file == file && r.allowed.is_some()) {
            let here = Position::new(r.line as u16, 1);
            let allowed = params::allowed::allowed_value(r.allowed.as_deref().unwrap_or_default());
            let problem = match (allowed, params::allowed::default_value(r)) {
                (Err(e), _) => Some(e),
                (Ok(allowed), Some(default)) => {
                    let number = |v: &rhai::Dynamic| v.is_int() || v.is_float();
                    let other =
                        allowed.clone().try_cast::<rhai::Array>().filter(|_| !default.is_array()).and_then(|items| {
                            items
                                .into_iter()
                                .find(|v| v.type_name() != default.type_name() && !(number(v) && number(&default)))
                        });
                    match other {
                        Some(v) => Some(format!("the allowed value {v} is not of the default's type")),
                        None => params::allowed::check(r, &default, " (its default)").err(),
                    }
                }
                (Ok(_), None) => None,
            };
            if let Some(problem) = problem {
                let note = "allowed values are an array of literals or an integer range: [\"a\", \"b\"], 1..=10";
                let problem = problem.strip_prefix(&format!("parameter {}: ", r.name)).unwrap_or(&problem);
                out.push(at(here, format!("param {:?}: {problem}", r.name), vec![note.into()]).advice());
            }
        }
        for line in params::computed_names(text) {
            out.push(
                at(
                    Position::new(line as u16, 1),
                    "param's name is computed: `runbook params` cannot list it and --set cannot be checked".into(),
                    vec!["name the parameter with a string literal: param(\"name\", default)".into()],
                )
                .advice(),
            );
        }
        for r in reads {
            let kind = params::kind(r.default.as_deref()).to_string();
            kinds.entry(r.name.clone()).or_default().push((kind, format!("{}:{}", r.file.display(), r.line)));
        }
        for (name, uses) in kinds {
            let first = &uses[0];
            if let Some(other) =
                uses.iter().find(|u| u.0 != first.0 && !u.0.starts_with("as its") && !first.0.starts_with("as its"))
            {
                let line = first.1.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(0);
                let here = Position::new(line as u16, 1);
                out.push(
                    at(
                        here,
                        format!("param {name:?} is read as {} here and as {} at {}", first.0, other.0, other.1),
                        vec!["one --set value must fit both: give the defaults one type".into()],
                    )
                    .advice(),
                );
            }
        }
        out.sort_by_key(|m| (m.line, m.column));
        out.dedup();
        out
    }
}

/// Every name a script binds: variables, constants, loop variables, function parameters (a
/// variable holding a function pointer may be called like a function).
fn variables(ast: &AST) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, ..))) => {
                names.insert(x.0.name.to_string());
            }
            Some(ASTNode::Stmt(Stmt::For(x, ..))) => {
                names.insert(x.0.name.to_string());
                if let Some(i) = &x.1 {
                    names.insert(i.name.to_string());
                }
            }
            _ => {}
        }
        true
    });
    for f in ast.iter_functions() {
        names.extend(f.params.iter().map(|p| p.to_string()));
    }
    names
}

/// The folder a runbook given on its own is checked in: its own, or (for a module under `lib/`)
/// the nearest one above it where all its imports resolve.
fn root_for(file: &Path) -> PathBuf {
    let own = crate::project::runbook_root(file);
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let modules: Vec<String> = params::imports(&text).into_iter().flatten().collect();
    let resolves = |dir: &Path| modules.iter().all(|m| dir.join(format!("{m}.rhai")).is_file());
    own.ancestors().find(|d| resolves(d)).map(Path::to_path_buf).unwrap_or(own)
}

/// The file an `import` names, as the run's resolver finds it: under the runbook's folder, or
/// (for a module checked on its own) under a folder above it.
pub(crate) fn resolve(root: &Path, file: &Path, module: &str) -> Option<PathBuf> {
    let name = format!("{module}.rhai");
    if root.join(&name).is_file() {
        return Some(root.join(&name));
    }
    file.ancestors().skip(1).map(|d| d.join(&name)).find(|p| p.is_file())
}

impl Checker {
    /// The functions a module file defines, by name, with their parameter counts (a module that
    /// does not compile defines none that can be checked: its own check says why), or why the file
    /// cannot be read.
    fn module_functions(&self, path: &Path) -> Result<Functions, String> {
        let written = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if let Some((at, known)) = self.modules.borrow().get(path) {
            if *at == written && written.is_some() {
                return Ok(known.clone());
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
            _ => e.to_string(),
        })?;
        let found = self.engine.compile(&text).map(|ast| functions(&ast)).unwrap_or_default();
        self.modules.borrow_mut().insert(path.to_path_buf(), (written, found.clone()));
        Ok(found)
    }
}

/// The functions a script defines by name (closures left out), with their parameter counts.
fn functions(ast: &AST) -> BTreeMap<String, Vec<usize>> {
    let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for f in ast.iter_functions().filter(|f| !f.name.starts_with("anon$")) {
        m.entry(f.name.to_string()).or_default().push(f.params.len());
    }
    m
}

/// The mistakes in one call of a service module: its function, its argument count, and the input
/// map written in the script.
fn service_call(svc: Svc, name: &str, args: &[Expr]) -> Vec<(String, Vec<String>)> {
    let module = svc.module();
    let op = svc.operations().iter().find(|(f, _)| *f == name).map(|(_, o)| *o);
    let waiter = svc.waiters().iter().any(|(f, _)| *f == name)
        || runbook_bindings::waiter::extra_waiters(module).any(|f| f == name);
    if op.is_none() && !waiter {
        return vec![crate::diagnostics::unknown_function(&format!("{module}::{name}"))];
    }
    let (least, most) = if waiter { (1, 2) } else { (0, 2) };
    if args.len() < least || args.len() > most {
        let takes = if waiter {
            "an input map and optionally an options map"
        } else {
            "an input map (optional) and an options map (optional)"
        };
        return vec![(format!("{module}::{name} takes {takes}, not {} argument(s)", args.len()), vec![])];
    }
    // The options map, when every value in it is written in the script.
    if let Some((opts, _)) = args.get(1).and_then(literal_map).filter(|(_, computed)| computed.is_empty()) {
        let problem = if waiter {
            runbook_bindings::waiter_options(&opts).err()
        } else {
            runbook_bindings::call_options(&opts).err()
        };
        if let Some(p) = problem {
            // Named as a run names it: the operation, or the waiter, as the API calls it.
            let api = svc.waiters().iter().find(|(f, _)| *f == name).map(|(_, w)| *w).or(op).unwrap_or(name);
            return vec![(format!("{module}::{api}: invalid input"), vec![p])];
        }
    }
    let Ok(table) = svc.table() else { return vec![] };
    // A waiter's input is its operation's: checked as that operation's would be.
    let polled = svc
        .waiters()
        .iter()
        .find(|(f, _)| *f == name)
        .and_then(|(_, w)| table.waiters.get(*w))
        .and_then(|w| table.operations.get_key_value(w.operation.as_str()))
        .map(|(k, _)| k.as_str());
    let (Some(op), Some(input)) = (op.or(polled), args.first()) else { return vec![] };
    let Some((map, dynamic)) = literal_map(input) else {
        // Not a map at all: a literal of another type is a mistake; a variable is not known here.
        return match input.get_literal_value(None) {
            Some(v) if !v.is_map() && !v.is_unit() => vec![(
                format!("{module}::{name} takes an object map of parameters, not ({})", v.type_name()),
                vec![format!(
                    "call it as {module}::{name}(#{{ ... }}); `runbook help {module}::{name}` lists the parameters"
                )],
            )],
            _ => vec![],
        };
    };
    // IAM's policy documents may be written as maps: the run sends their JSON text.
    let mut map = map;
    if let (Svc::Iam, Some(shape)) = (svc, table.operations.get(op).and_then(|o| o.input.as_deref())) {
        runbook_bindings::policy::encode(table, shape, &mut map);
    }
    let problems: Vec<String> = validate::validate(table, op, &map)
        .into_iter()
        .filter(|p| {
            !dynamic.iter().any(|d| {
                p.starts_with(&format!("{d}:")) || p.starts_with(&format!("{d}[")) || p.starts_with(&format!("{d}."))
            })
        })
        .collect();
    if problems.is_empty() {
        return vec![];
    }
    let mut notes = problems;
    notes.push(format!("`runbook help {module}::{name}` shows its parameters"));
    // A waiter is named as its options' problems name it: the waiter, as the API calls it.
    let api = svc.waiters().iter().find(|(f, _)| *f == name).map(|(_, w)| *w).unwrap_or(op);
    vec![(format!("{module}::{api}: invalid input"), notes)]
}

/// Stands for a value the script computes: its checks are left to the run.
const COMPUTED: &str = "\u{1}computed\u{1}";

/// A map written in the script, its literal values as they are and every other value standing
/// for itself, with the paths of those (as the validator names paths): `None` when the expression
/// is no map literal.
fn literal_map(expr: &Expr) -> Option<(Map, Vec<String>)> {
    let mut dynamic = Vec::new();
    let value = literal(expr, "", &mut dynamic);
    let map = value.try_cast::<Map>()?;
    Some((map, dynamic))
}

fn literal(expr: &Expr, path: &str, dynamic: &mut Vec<String>) -> Dynamic {
    match expr {
        Expr::Map(x, _) => {
            let mut m = Map::new();
            for (k, v) in &x.0 {
                let p = if path.is_empty() { k.name.to_string() } else { format!("{path}.{}", k.name) };
                m.insert(k.name.as_str().into(), literal(v, &p, dynamic));
            }
            Dynamic::from_map(m)
        }
        Expr::Array(items, _) => Dynamic::from_array(
            items.iter().enumerate().map(|(i, v)| literal(v, &format!("{path}[{i}]"), dynamic)).collect(),
        ),
        other => match other.get_literal_value(None) {
            Some(v) if !v.is_unit() => v,
            _ => {
                dynamic.push(path.to_string());
                COMPUTED.into()
            }
        },
    }
}

/// Calls `found` with the position of each statement that follows a `throw` in its block.
fn unreachable_code(ast: &AST, found: &mut dyn FnMut(Position)) {
    fn is_throw(s: &Stmt) -> bool {
        matches!(s, Stmt::Return(_, flags, _) if flags.contains(rhai::ASTFlags::BREAK))
    }
    fn block(stmts: &[Stmt], found: &mut dyn FnMut(Position)) {
        for (i, s) in stmts.iter().enumerate() {
            if let (true, Some(next)) = (is_throw(s), stmts.get(i + 1)) {
                found(next.position());
            }
            inner(s, found);
        }
    }
    fn inner(s: &Stmt, found: &mut dyn FnMut(Position)) {
        match s {
            Stmt::If(x, _) | Stmt::While(x, _) | Stmt::Do(x, ..) | Stmt::TryCatch(x, _) => {
                block(x.body.statements(), found);
                block(x.branch.statements(), found);
            }
            Stmt::For(x, _) => block(x.2.body.statements(), found),
            Stmt::Block(b) => block(b.statements(), found),
            _ => {}
        }
    }
    // The walk gives each body's statements (the script's, then each function's) in order, one
    // level deep; a function's are told from the others by where its body lies.
    let key = |p: Position| (p.line().unwrap_or(0), p.position().unwrap_or(0));
    let bodies: Vec<((usize, usize), (usize, usize))> =
        ast.iter_fn_def().map(|f| (key(f.body.start_position()), key(f.body.end_position()))).collect();
    let body_of = |p: Position| {
        let k = key(p);
        bodies.iter().enumerate().filter(|(_, (s, e))| *s <= k && k <= *e).max_by_key(|(_, (s, _))| *s).map(|(i, _)| i)
    };
    let mut last: Option<(Option<usize>, bool)> = None;
    ast.walk(&mut |path: &[ASTNode]| {
        if let [ASTNode::Stmt(s)] = path {
            let body = body_of(s.position());
            if last == Some((body, true)) {
                found(s.position());
            }
            last = Some((body, is_throw(s)));
            inner(s, found);
        }
        true
    });
}
