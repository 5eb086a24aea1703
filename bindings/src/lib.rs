//! runbook-bindings, the binding layer: the AWS operations of ECS, ELBv2, EC2, IAM, Application
//! Auto Scaling, ACM and Route 53 as Rhai functions, plus the helpers runbooks use. It validates an
//! input against the service's model, picks the client of the place a call goes to (region, role,
//! endpoint, credentials), sends it through the generated operation with the SDK's attempts, waits
//! with the model's waiters, and turns answers and errors into script values.
//!
//! It may call the generated operations below it (runbook-ops: `generated`, `convert`, `error`)
//! and the SDK. It knows nothing of runs: the run layer above it (runbook-run: plan, journal,
//! reconcile, undo) acts on its calls through [`hooks::Hooks`], which the host installs in the
//! [`Context`]; an embedding program that sets none gets plain calls.
//!
//! ```no_run
//! use std::rc::Rc;
//! let ctx = Rc::new(runbook_bindings::Context::new(&Default::default(), Default::default()).unwrap());
//! let mut engine = rhai::Engine::new();
//! runbook_bindings::register(&mut engine, ctx);
//! engine.run(r#"print(ec2::describe_vpcs().query("Vpcs[0].VpcId"));"#).unwrap();
//! ```

// The binding layer: the services' operations as script functions.
#[macro_use]
pub mod output;
pub mod absent;
pub mod attempts;
pub mod call;
pub mod cli;
pub mod credentials;
pub mod denied;
pub mod ec2_names;
pub mod helpers;
pub mod hooks;
pub mod json;
pub mod live;
pub mod model;
pub mod policy;
pub mod regions;
pub mod resources;
pub mod runtime;
pub mod secrets;
pub mod simulate;
pub mod svc;
pub mod table;
pub mod trace;
pub mod validate;
pub mod waiter;

// The generated operations below it, with their conversions and errors.
use runbook_ops::generated;
pub use runbook_ops::{convert, error};

// The run layer (crate runbook-run) sits above and listens through `hooks`; nothing here calls it.

pub use call::Svc;
pub use error::CallError;
pub use runtime::{AwsOptions, Context, Interrupt};

use rhai::{Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext, Position};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

/// The one place every script module is registered: one module per service, then the helpers.
/// Returns the names of the parameters the script reads with `param()`, filled in as it runs.
pub fn register(engine: &mut Engine, ctx: Rc<Context>) -> Rc<RefCell<BTreeSet<String>>> {
    for svc in Svc::ALL {
        engine.register_static_module(svc.module(), service_module(svc, &ctx).into());
    }
    let used = Rc::new(RefCell::new(BTreeSet::new()));
    ec2_names::register(engine, &ctx);
    helpers::register(engine, ctx, used.clone());
    used
}

fn service_module(svc: Svc, ctx: &Rc<Context>) -> Module {
    let mut module = Module::new();
    for &(func, op) in svc.operations() {
        let c = ctx.clone();
        module.set_native_fn(func, move |nc: NativeCallContext| {
            site(&c, &nc);
            operation(&c, svc, op, Map::new(), Map::new()).map_err(|e| at(e, &nc))
        });
        let c = ctx.clone();
        module.set_native_fn(func, move |nc: NativeCallContext, input: Map| {
            site(&c, &nc);
            operation(&c, svc, op, input, Map::new()).map_err(|e| at(e, &nc))
        });
        let c = ctx.clone();
        module.set_native_fn(func, move |nc: NativeCallContext, input: Map, opts: Map| {
            site(&c, &nc);
            operation(&c, svc, op, input, opts).map_err(|e| at(e, &nc))
        });
    }
    if svc == Svc::Ecs {
        let c = ctx.clone();
        module.set_native_fn("wait_deployment_complete", move |nc: NativeCallContext, input: Map| {
            site(&c, &nc);
            deployment_wait(&c, input, Map::new()).map_err(|e| at(e, &nc))
        });
        let c = ctx.clone();
        module.set_native_fn("wait_deployment_complete", move |nc: NativeCallContext, input: Map, opts: Map| {
            site(&c, &nc);
            deployment_wait(&c, input, opts).map_err(|e| at(e, &nc))
        });
    }
    for &(func, waiter) in svc.waiters() {
        let c = ctx.clone();
        module.set_native_fn(func, move |nc: NativeCallContext, input: Map| {
            site(&c, &nc);
            wait(&c, svc, waiter, input, Map::new()).map_err(|e| at(e, &nc))
        });
        let c = ctx.clone();
        module.set_native_fn(func, move |nc: NativeCallContext, input: Map, opts: Map| {
            site(&c, &nc);
            wait(&c, svc, waiter, input, opts).map_err(|e| at(e, &nc))
        });
    }
    module
}

/// Tells the journal where in the script the next call comes from.
pub(crate) fn site(ctx: &Context, nc: &NativeCallContext) {
    ctx.hooks.set_site(nc.call_source().unwrap_or(""), nc.call_position().line());
}

/// Points an error raised inside a native function at the script's call.
pub fn at(mut e: Box<EvalAltResult>, nc: &NativeCallContext) -> Box<EvalAltResult> {
    if e.position().is_none() {
        e.set_position(nc.call_position());
    }
    e
}

fn operation(ctx: &Context, svc: Svc, op: &str, input: Map, opts: Map) -> Result<Dynamic, Box<EvalAltResult>> {
    let o = call_options(&opts).map_err(|p| option_error(svc, op, &p))?;
    if o.converge && svc.table().ok().and_then(|t| t.operations.get(op)).is_some_and(|m| m.readonly) {
        return Err(option_error(svc, op, "converge is for writes: a read is always sent"));
    }
    ctx.converge.set(o.converge);
    let result = call::invoke(ctx, svc, op, &input, o.paginate);
    ctx.converge.set(false);
    result.map_err(|e| to_script_error(&e))
}

/// An operation's options (`#{ paginate: false, converge: true }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOptions {
    /// Fetch every page (default true).
    pub paginate: bool,
    /// Send a write only when needed: a create whose thing exists answers it, a change that holds
    /// already is not sent (default false).
    pub converge: bool,
}

/// The members of an operation's options map (its second argument).
pub const CALL_OPTIONS: &[&str] = &["paginate", "converge"];
/// The members of a waiter's options map (its second argument).
pub const WAIT_OPTIONS: &[&str] = &["timeout", "delay"];

/// An option a call does not take, with the one it was likely meant to be.
fn unknown_option(given: &str, options: &[&str]) -> String {
    let meant = validate::closest(given, options.iter().copied());
    let hint = if meant.is_empty() { String::new() } else { format!("did you mean {}? ", meant.join(" or ")) };
    format!("unknown option {given} ({hint}valid: {})", options.join(", "))
}

/// An operation's options map, or the problem.
pub fn call_options(opts: &Map) -> Result<CallOptions, String> {
    let mut o = CallOptions { paginate: true, converge: false };
    for (k, v) in opts.iter() {
        match (k.as_str(), v.as_bool()) {
            ("paginate", Ok(b)) => o.paginate = b,
            ("converge", Ok(b)) => o.converge = b,
            ("paginate" | "converge", Err(_)) => return Err(format!("{k} must be true or false")),
            (other, _) => return Err(unknown_option(other, CALL_OPTIONS)),
        }
    }
    Ok(o)
}

fn wait(ctx: &Context, svc: Svc, waiter: &str, input: Map, opts: Map) -> Result<Dynamic, Box<EvalAltResult>> {
    let o = wait_options(svc, waiter, &opts)?;
    waiter::wait(ctx, svc, waiter, &input, o).map_err(|e| to_script_error(&e))
}

fn deployment_wait(ctx: &Context, input: Map, opts: Map) -> Result<Dynamic, Box<EvalAltResult>> {
    let o = wait_options(Svc::Ecs, "wait_deployment_complete", &opts)?;
    waiter::wait_deployment_complete(ctx, &input, o).map_err(|e| to_script_error(&e))
}

fn wait_options(svc: Svc, waiter: &str, opts: &Map) -> Result<waiter::WaitOptions, Box<EvalAltResult>> {
    waiter_options(opts).map_err(|p| option_error(svc, waiter, &p))
}

/// A waiter's options map (`#{ timeout: 600, delay: 5 }`), or the problem.
pub fn waiter_options(opts: &Map) -> Result<waiter::WaitOptions, String> {
    let mut o = waiter::WaitOptions::default();
    for (k, v) in opts.iter() {
        let secs = v.as_float().ok().or_else(|| v.as_int().ok().map(|i| i as f64)).filter(|s| *s >= 0.0);
        match (k.as_str(), secs) {
            ("timeout", Some(s)) => o.timeout = Some(s),
            ("delay", Some(s)) => o.delay = Some(s),
            ("timeout" | "delay", None) => return Err(format!("{k} must be a non-negative number of seconds")),
            (other, _) => return Err(unknown_option(other, WAIT_OPTIONS)),
        }
    }
    Ok(o)
}

fn option_error(svc: Svc, op: &str, problem: &str) -> Box<EvalAltResult> {
    to_script_error(&CallError::Validation {
        service: svc.module().into(),
        operation: op.into(),
        problems: vec![problem.to_string()],
    })
}

/// A call error as the script sees it: a catchable map (with `not_found`: whether its service
/// says by it that something does not exist), except an interrupt, which ends the run.
pub fn to_script_error(e: &CallError) -> Box<EvalAltResult> {
    if e.ends_run() {
        return EvalAltResult::ErrorTerminated(Dynamic::from_map(e.to_map()), Position::NONE).into();
    }
    let mut m = e.to_map();
    let svc = m.get("service").and_then(|s| s.clone().into_string().ok()).and_then(|s| Svc::by_module(&s));
    m.insert("not_found".into(), Dynamic::from_bool(svc.is_some_and(|svc| absent::not_found(svc, e))));
    EvalAltResult::ErrorRuntime(Dynamic::from_map(m), Position::NONE).into()
}
