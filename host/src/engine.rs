//! The Rhai engine a runbook runs in: AWS modules and helpers registered, safe limits, imports
//! confined to the runbooks folder, and Ctrl-C stopping busy loops.

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};
use runbook_bindings::secrets::redact;
use runbook_bindings::Context;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What a run may use; `--limit NAME=N` changes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Script operations (Rhai's count): stops a runaway loop.
    pub operations: u64,
    /// Nested function calls: stops runaway recursion.
    pub call_depth: usize,
    pub string_size: usize,
    pub array_size: usize,
    pub map_size: usize,
    /// AWS calls per run.
    pub aws_calls: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: 20_000_000,
            call_depth: 64,
            string_size: 16 * 1024 * 1024,
            array_size: 1_000_000,
            map_size: 1_000_000,
            aws_calls: 10_000,
        }
    }
}

const LIMIT_NAMES: &str = "operations, call-depth, string-size, array-size, map-size, aws-calls";

impl Limits {
    pub fn parse(flags: &[String]) -> Result<Limits, String> {
        let mut l = Limits::default();
        for flag in flags {
            let Some((name, value)) = flag.split_once('=') else {
                return Err(format!("invalid --limit {flag:?}: expected NAME=N, with NAME one of {LIMIT_NAMES}"));
            };
            let n: u64 = value
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("invalid --limit {flag:?}: {value:?} is not a whole number above 0"))?;
            let size = usize::try_from(n).unwrap_or(usize::MAX);
            match name.trim() {
                "operations" => l.operations = n,
                "call-depth" => l.call_depth = size,
                "string-size" => l.string_size = size,
                "array-size" => l.array_size = size,
                "map-size" => l.map_size = size,
                "aws-calls" => l.aws_calls = n,
                other => {
                    return Err(format!("unknown limit {other:?} in --limit {flag:?}: the limits are {LIMIT_NAMES}"))
                }
            }
        }
        Ok(l)
    }
}

/// The syntax every engine that reads runbooks shares: how deep expressions nest, and no `eval`
/// (scripts are data: no code from strings).
pub fn syntax(engine: &mut Engine) {
    engine.set_max_expr_depths(128, 64);
    engine.disable_symbol("eval");
}

pub fn build(ctx: Rc<Context>, root: &Path, limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    syntax(&mut engine);
    engine.set_max_operations(limits.operations);
    engine.set_max_call_levels(limits.call_depth);
    engine.set_max_string_size(limits.string_size);
    engine.set_max_array_size(limits.array_size);
    engine.set_max_map_size(limits.map_size);
    engine.set_max_modules(256);
    engine.set_module_resolver(ConfinedResolver::new(root));
    let interrupt = ctx.interrupt.clone();
    engine.on_progress(move |_| interrupt.signal().map(|s| Dynamic::from_int(i64::from(s))));
    engine.on_print(|s| outln!("{}", redact(s)));
    engine.on_debug(|s, src, pos| match src {
        Some(src) => eoutln!("[debug] {src}:{pos}: {}", redact(s)),
        None => eoutln!("[debug] {pos}: {}", redact(s)),
    });
    runbook_bindings::register(&mut engine, ctx);
    engine
}

/// Resolves `import "x"` to `<root>/x.rhai` and refuses anything that lands outside `root`.
pub struct ConfinedResolver {
    root: PathBuf,
    inner: FileModuleResolver,
}

impl ConfinedResolver {
    pub fn new(root: &Path) -> Self {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        ConfinedResolver { inner: FileModuleResolver::new_with_path(&root), root }
    }
}

impl ModuleResolver for ConfinedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let file = self.inner.get_file_path(path, None);
        if let Some(outside) = outside_root(&self.root, &file, path) {
            return Err(EvalAltResult::ErrorRuntime(outside.into(), pos).into());
        }
        self.inner.resolve(engine, source, path, pos)
    }
}

/// Why an import of `path` (the module file `file`) is refused, when it leads out of the runbooks
/// folder `root`; `runbook check` says the same.
pub fn outside_root(root: &Path, file: &Path, path: &str) -> Option<String> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let inside = match file.canonicalize() {
        Ok(real) => real.starts_with(&root),
        // A file that does not exist is reported as not found, unless its path already climbs out.
        Err(_) => !path.split(['/', '\\']).any(|p| p == "..") && !Path::new(path).is_absolute(),
    };
    (!inside).then(|| format!("import {path:?} is outside the runbooks folder {}", root.display()))
}

/// The helpers a test file may call beyond a runbook's (`runbook check` knows them too).
pub const TEST_HELPERS: &[&str] =
    &["assert", "assert_eq", "expect_error", "mock", "aws_error", "calls", "run_runbook", "plan_of"];
