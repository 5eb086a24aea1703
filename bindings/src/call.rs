//! The five services, and the path of every call: validate, send (page by page), convert.

use crate::error::CallError;
use crate::generated;
use crate::model::{Paginator, Table};
use crate::runtime::{CallFuture, Context};
use crate::validate::validate;
use rhai::{Dynamic, Map};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Svc {
    Ecs,
    Elbv2,
    Ec2,
    Iam,
    ApplicationAutoscaling,
}

static TABLES: [OnceLock<Result<Table, String>>; 5] =
    [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];

impl Svc {
    pub const ALL: [Svc; 5] = [Svc::Ecs, Svc::Elbv2, Svc::Ec2, Svc::Iam, Svc::ApplicationAutoscaling];

    /// The script module name (`ecs`, `elbv2`, `ec2`, `iam`, `application_autoscaling`).
    pub fn module(self) -> &'static str {
        match self {
            Svc::Ecs => generated::ecs::SERVICE,
            Svc::Elbv2 => generated::elbv2::SERVICE,
            Svc::Ec2 => generated::ec2::SERVICE,
            Svc::Iam => generated::iam::SERVICE,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::SERVICE,
        }
    }

    pub fn by_module(name: &str) -> Option<Svc> {
        Svc::ALL.into_iter().find(|s| s.module() == name)
    }

    /// (script function, operation) pairs of this build.
    pub fn operations(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Svc::Ecs => generated::ecs::OPERATIONS,
            Svc::Elbv2 => generated::elbv2::OPERATIONS,
            Svc::Ec2 => generated::ec2::OPERATIONS,
            Svc::Iam => generated::iam::OPERATIONS,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::OPERATIONS,
        }
    }

    /// (script function, waiter) pairs of this build.
    pub fn waiters(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Svc::Ecs => generated::ecs::WAITERS,
            Svc::Elbv2 => generated::elbv2::WAITERS,
            Svc::Ec2 => generated::ec2::WAITERS,
            Svc::Iam => generated::iam::WAITERS,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::WAITERS,
        }
    }

    fn index(self) -> usize {
        Svc::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn table(self) -> Result<&'static Table, CallError> {
        let text = match self {
            Svc::Ecs => generated::ecs::TABLE,
            Svc::Elbv2 => generated::elbv2::TABLE,
            Svc::Ec2 => generated::ec2::TABLE,
            Svc::Iam => generated::iam::TABLE,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::TABLE,
        };
        TABLES[self.index()].get_or_init(|| Table::parse(text)).as_ref().map_err(|e| CallError::Transport {
            service: self.module().into(),
            operation: String::new(),
            code: "InternalError".into(),
            message: e.clone(),
            retryable: false,
        })
    }

    fn start<'a>(self, ctx: &'a Context, op: &str, input: &'a Map) -> Option<CallFuture<'a>> {
        match self {
            Svc::Ecs => generated::ecs::call(ctx.ecs(), op, input),
            Svc::Elbv2 => generated::elbv2::call(ctx.elbv2(), op, input),
            Svc::Ec2 => generated::ec2::call(ctx.ec2(), op, input),
            Svc::Iam => generated::iam::call(ctx.iam(), op, input),
            Svc::ApplicationAutoscaling => generated::application_autoscaling::call(ctx.autoscaling(), op, input),
        }
    }
}

/// Validates and sends one operation; with a paginator and `paginate`, fetches and merges every page.
pub fn invoke(ctx: &Context, svc: Svc, op: &str, input: &Map, paginate: bool) -> Result<Dynamic, CallError> {
    let table = svc.table()?;
    let problems = validate(table, op, input);
    if !problems.is_empty() {
        return Err(CallError::Validation { service: svc.module().into(), operation: op.into(), problems });
    }
    match table.operations.get(op).and_then(|o| o.paginator.as_ref()) {
        Some(p) if paginate => paginate_all(ctx, svc, op, input, p),
        _ => send(ctx, svc, op, input),
    }
}

/// One request, no validation.
pub fn send(ctx: &Context, svc: Svc, op: &str, input: &Map) -> Result<Dynamic, CallError> {
    let fut = svc.start(ctx, op, input).ok_or_else(|| CallError::Transport {
        service: svc.module().into(),
        operation: op.into(),
        code: "UnknownOperation".into(),
        message: format!("{} has no operation {op} in this build", svc.module()),
        retryable: false,
    })?;
    ctx.stats.calls.set(ctx.stats.calls.get() + 1);
    ctx.block_on(svc.module(), op, fut).map_err(|e| match e {
        // Conversion errors from generated code do not know where they happened.
        CallError::Validation { problems, .. } => {
            CallError::Validation { service: svc.module().into(), operation: op.into(), problems }
        }
        other => other,
    })
}

/// The aws CLI's pagination: repeat with the output token as the input token until there is none,
/// concatenating the result lists; the final result carries no token.
fn paginate_all(ctx: &Context, svc: Svc, op: &str, input: &Map, p: &Paginator) -> Result<Dynamic, CallError> {
    let in_tokens = p.input_token.to_vec();
    let out_tokens = p.output_token.to_vec();
    let result_keys = p.result_key.as_ref().map(|k| k.to_vec()).unwrap_or_default();
    let mut request = input.clone();
    let mut merged: Option<Map> = None;
    let mut previous: Vec<String> = Vec::new();
    loop {
        let page = send(ctx, svc, op, &request)?;
        let page = page.try_cast::<Map>().unwrap_or_default();
        let tokens: Vec<Dynamic> = out_tokens.iter().map(|t| lookup(&page, t)).collect();
        let more = p.more_results.as_deref().map(|k| lookup(&page, k).as_bool().unwrap_or(false));
        match merged.as_mut() {
            None => merged = Some(page),
            Some(all) => {
                for key in &result_keys {
                    let items = lookup(&page, key);
                    if let (Some(dst), Ok(src)) = (all.get_mut(key.as_str()), items.into_array()) {
                        if let Some(mut arr) = dst.write_lock::<rhai::Array>() {
                            arr.extend(src);
                        }
                    }
                }
            }
        }
        let done = more == Some(false)
            || tokens.iter().all(|t| t.is_unit() || t.to_string().is_empty())
            || token_text(&tokens) == previous;
        if done {
            break;
        }
        for (name, value) in in_tokens.iter().zip(&tokens) {
            request.insert(name.as_str().into(), value.clone());
        }
        previous = token_text(&tokens);
    }
    // Like the aws CLI, the merged result has the result keys and the paginator's non-aggregate keys;
    // tokens and truncation flags belonged to single pages.
    let mut all = merged.unwrap_or_default();
    if !result_keys.is_empty() {
        all.retain(|k, _| {
            result_keys.iter().chain(&p.non_aggregate_keys).any(|r| r.split('.').next() == Some(k.as_str()))
        });
    }
    for t in &out_tokens {
        all.remove(t.as_str());
    }
    Ok(all.into())
}

/// A (possibly dotted) key of a paginator, read from a page.
fn lookup(page: &Map, key: &str) -> Dynamic {
    let mut parts = key.split('.');
    let Some(first) = parts.next() else { return Dynamic::UNIT };
    let mut cur = page.get(first).cloned().unwrap_or(Dynamic::UNIT);
    for part in parts {
        cur = cur.read_lock::<Map>().and_then(|m| m.get(part).cloned()).unwrap_or(Dynamic::UNIT);
    }
    cur
}

fn token_text(tokens: &[Dynamic]) -> Vec<String> {
    tokens.iter().map(|t| t.to_string()).collect()
}
