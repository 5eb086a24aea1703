//! The Rhai engine a runbook runs in: AWS modules and helpers registered, safe limits, imports
//! confined to the runbooks folder, and Ctrl-C stopping busy loops.

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};
use runbook_bindings::Context;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub fn build(ctx: Rc<Context>, root: &Path) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(16 * 1024 * 1024);
    engine.set_max_array_size(1_000_000);
    engine.set_max_map_size(1_000_000);
    engine.set_max_modules(256);
    // Scripts are data: no code from strings.
    engine.disable_symbol("eval");
    engine.set_module_resolver(ConfinedResolver::new(root));
    let interrupt = ctx.interrupt.clone();
    engine.on_progress(move |_| interrupt.signal().map(|s| Dynamic::from_int(i64::from(s))));
    engine.on_print(|s| println!("{s}"));
    engine.on_debug(|s, src, pos| match src {
        Some(src) => eprintln!("[debug] {src}:{pos}: {s}"),
        None => eprintln!("[debug] {pos}: {s}"),
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
        let inside = match file.canonicalize() {
            Ok(real) => real.starts_with(&self.root),
            // A file that does not exist is reported as not found by the inner resolver, unless
            // its path already climbs out.
            Err(_) => !path.split(['/', '\\']).any(|p| p == "..") && !Path::new(path).is_absolute(),
        };
        if !inside {
            return Err(EvalAltResult::ErrorRuntime(
                format!("import {path:?} is outside the runbooks folder {}", self.root.display()).into(),
                pos,
            )
            .into());
        }
        self.inner.resolve(engine, source, path, pos)
    }
}
