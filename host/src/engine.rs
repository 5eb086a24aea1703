//! The Rhai engine a runbook runs in: AWS modules and helpers registered, safe limits, imports
//! confined to the runbooks folder, and Ctrl-C stopping busy loops.

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};
use runbook_bindings::secrets::redact;
use runbook_bindings::Context;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What a run may use; `--limit NAME=N` changes one and `--limit NAME=none` lifts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Script operations (Rhai's count): stops a runaway loop.
    pub operations: Option<u64>,
    /// Nested function calls: stops runaway recursion before it overflows the stack.
    pub call_depth: usize,
    /// Bytes of heap the script's data may hold (counted by `memory`): stops a runaway list, map or
    /// string at the cost of one atomic load per operation.
    pub memory: Option<usize>,
    /// Rhai's own limits on one string, array or map: off unless asked for, since Rhai measures the
    /// whole value after each operation (a loop that grows a list pays with the list's length).
    pub string_size: Option<usize>,
    pub array_size: Option<usize>,
    pub map_size: Option<usize>,
    /// AWS calls per run.
    pub aws_calls: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: Some(20_000_000),
            call_depth: 64,
            memory: Some(2 << 30),
            string_size: None,
            array_size: None,
            map_size: None,
            aws_calls: Some(10_000),
        }
    }
}

const LIMIT_NAMES: &str = "operations, call-depth, memory, string-size, array-size, map-size, aws-calls";

impl Limits {
    pub fn parse(flags: &[String]) -> Result<Limits, String> {
        let mut l = Limits::default();
        for flag in flags {
            let Some((name, value)) = flag.split_once('=') else {
                return Err(format!(
                    "invalid --limit {flag:?}: expected NAME=N or NAME=none, with NAME one of {LIMIT_NAMES}"
                ));
            };
            let (name, value) = (name.trim(), value.trim());
            if !LIMIT_NAMES.split(", ").any(|n| n == name) {
                return Err(format!("unknown limit {name:?} in --limit {flag:?}: the limits are {LIMIT_NAMES}"));
            }
            let lifted = value.eq_ignore_ascii_case("none");
            if lifted && name == "call-depth" {
                return Err(format!(
                    "invalid --limit {flag:?}: call-depth cannot be lifted (recursion without a limit overflows \
                     the stack and kills the run); give a number, such as call-depth=256"
                ));
            }
            let n: Option<u64> = if lifted {
                None
            } else if name == "memory" {
                let bytes = crate::memory::parse_size(value).filter(|n| *n > 0).ok_or_else(|| {
                    format!(
                        "invalid --limit {flag:?}: {value:?} is not a size above 0 (such as 512MiB or 4GiB) or none"
                    )
                })?;
                Some(bytes as u64)
            } else {
                Some(value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("invalid --limit {flag:?}: {value:?} is neither a whole number above 0 nor none")
                })?)
            };
            let size = n.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            match name {
                "operations" => l.operations = n,
                "call-depth" => l.call_depth = size.unwrap_or(l.call_depth),
                "memory" => l.memory = size,
                "string-size" => l.string_size = size,
                "array-size" => l.array_size = size,
                "map-size" => l.map_size = size,
                _ => l.aws_calls = n,
            }
        }
        Ok(l)
    }
}

/// The error a run ends with when its script holds more data than `--limit memory` allows.
pub const MEMORY_LIMIT: &str = "MemoryLimit";

/// The syntax every engine that reads runbooks shares: how deep expressions nest, and no `eval`
/// (scripts are data: no code from strings).
pub fn syntax(engine: &mut Engine) {
    engine.set_max_expr_depths(128, 64);
    engine.disable_symbol("eval");
}

pub fn build(ctx: Rc<Context>, root: &Path, limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    syntax(&mut engine);
    // Rhai reads 0 as no limit.
    engine.set_max_operations(limits.operations.unwrap_or(0));
    engine.set_max_call_levels(limits.call_depth);
    engine.set_max_string_size(limits.string_size.unwrap_or(0));
    engine.set_max_array_size(limits.array_size.unwrap_or(0));
    engine.set_max_map_size(limits.map_size.unwrap_or(0));
    engine.set_max_modules(256);
    engine.set_module_resolver(ConfinedResolver::new(root));
    let interrupt = ctx.interrupt.clone();
    engine.on_print(|s| outln!("{}", redact(s)));
    engine.on_debug(|s, src, pos| match src {
        Some(src) => eoutln!("[debug] {src}:{pos}: {}", redact(s)),
        None => eoutln!("[debug] {pos}: {}", redact(s)),
    });
    runbook_bindings::register(&mut engine, ctx);
    // The script's data is what the heap holds beyond what the process held before it began.
    let (memory, before) = (limits.memory, crate::memory::live());
    engine.on_progress(move |_| {
        if let Some(signal) = interrupt.signal() {
            return Some(Dynamic::from_int(i64::from(signal)));
        }
        let held = crate::memory::live().saturating_sub(before);
        memory.filter(|cap| held > *cap).map(|cap| memory_error(held, cap))
    });
    guard_bulk(&mut engine, limits.memory, before);
    engine
}

fn memory_error(held: usize, cap: usize) -> Dynamic {
    use crate::memory::show_size;
    memory_stop(format!("the script holds {} of data, more than the run allows ({})", show_size(held), show_size(cap)))
}

fn memory_stop(message: String) -> Dynamic {
    let mut m = rhai::Map::new();
    m.insert("code".into(), MEMORY_LIMIT.into());
    m.insert("message".into(), message.into());
    Dynamic::from_map(m)
}

/// The functions that can ask for any amount of memory in one operation, before the next check:
/// each refuses a size the memory limit could not hold, instead of the allocation failing and
/// killing the run.
fn guard_bulk(engine: &mut Engine, memory: Option<usize>, before: usize) {
    use rhai::{Array, Blob, ImmutableString, NativeCallContext, INT};
    let Some(cap) = memory else { return };
    let room = move |nc: &NativeCallContext, items: INT, each: usize| -> Result<(), Box<EvalAltResult>> {
        use crate::memory::show_size;
        let wanted = usize::try_from(items.max(0)).unwrap_or(usize::MAX).saturating_mul(each);
        let held = crate::memory::live().saturating_sub(before);
        if held.saturating_add(wanted) > cap {
            let e = memory_stop(format!(
                "{}({items}) asks for {}, more than the run allows ({}; the script holds {} already)",
                nc.fn_name(),
                show_size(wanted),
                show_size(cap),
                show_size(held)
            ));
            return Err(EvalAltResult::ErrorTerminated(e, nc.call_position()).into());
        }
        Ok(())
    };
    let each = std::mem::size_of::<Dynamic>();
    engine.register_fn("pad", move |nc: NativeCallContext, a: &mut Array, len: INT, item: Dynamic| {
        room(&nc, len, each)?;
        if let Ok(len) = usize::try_from(len) {
            if len > a.len() {
                a.resize(len, item);
            }
        }
        Ok::<(), Box<EvalAltResult>>(())
    });
    engine.register_fn("pad", move |nc: NativeCallContext, b: &mut Blob, len: INT, item: INT| {
        room(&nc, len, 1)?;
        if let Ok(len) = usize::try_from(len) {
            if len > b.len() {
                b.resize(len, (item & 0xff) as u8);
            }
        }
        Ok::<(), Box<EvalAltResult>>(())
    });
    engine.register_fn("blob", move |nc: NativeCallContext, len: INT| {
        room(&nc, len, 1)?;
        Ok::<Blob, Box<EvalAltResult>>(vec![0; usize::try_from(len).unwrap_or(0)])
    });
    engine.register_fn("blob", move |nc: NativeCallContext, len: INT, item: INT| {
        room(&nc, len, 1)?;
        Ok::<Blob, Box<EvalAltResult>>(vec![(item & 0xff) as u8; usize::try_from(len).unwrap_or(0)])
    });
    engine.register_fn("pad", move |nc: NativeCallContext, s: &mut ImmutableString, len: INT, c: char| {
        room(&nc, len, c.len_utf8())?;
        pad_string(s, len, std::iter::repeat(c));
        Ok::<(), Box<EvalAltResult>>(())
    });
    engine.register_fn("pad", move |nc: NativeCallContext, s: &mut ImmutableString, len: INT, with: &str| {
        room(&nc, len, with.len().max(1))?;
        pad_string(s, len, with.chars().cycle());
        Ok::<(), Box<EvalAltResult>>(())
    });
}

/// Rhai's `pad` of a string: characters from `fill` until it is `len` characters long.
fn pad_string(s: &mut rhai::ImmutableString, len: rhai::INT, fill: impl Iterator<Item = char>) {
    let have = s.chars().count();
    if let Some(more) = usize::try_from(len).ok().and_then(|len| len.checked_sub(have)).filter(|m| *m > 0) {
        let mut t = s.to_string();
        t.extend(fill.take(more));
        *s = t.into();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_but_call_depth_can_be_lifted_and_memory_takes_sizes() {
        let l = |flags: &[&str]| Limits::parse(&flags.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        let lifted = l(&["operations=none", "memory=NONE", "array-size=none", "aws-calls=none"]).unwrap();
        assert_eq!((lifted.operations, lifted.memory, lifted.array_size, lifted.aws_calls), (None, None, None, None));
        assert_eq!(l(&["memory=512MiB"]).unwrap().memory, Some(512 << 20));
        assert_eq!(l(&["array-size=1000"]).unwrap().array_size, Some(1000));
        assert_eq!(Limits::default().array_size, None, "Rhai's per-value limits are off by default");
        assert!(l(&["call-depth=none"]).unwrap_err().contains("cannot be lifted"));
        assert!(l(&["memory=0"]).is_err() && l(&["operations=0"]).is_err());
    }
}
