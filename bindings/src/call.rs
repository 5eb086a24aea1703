//! The services, and the path of every call: validate, the hooks of the layer above
//! ([`crate::hooks`]), send (page by page, with the SDK's attempts), convert.

use crate::error::CallError;
use crate::generated;
use crate::hooks::{Event, EventKind};
use crate::model::{Paginator, Table};
use crate::runtime::{CallFuture, Context, Place};
pub use crate::svc::{function_name, Svc};
use crate::validate::validate;
use rhai::{Dynamic, Map};

/// The generated operation's future, on the client of `place` for the service.
fn start<'a>(svc: Svc, place: &'a Place, op: &str, input: &'a Map) -> Option<CallFuture<'a>> {
    match svc {
        Svc::Ecs => generated::ecs::call(place.ecs(), op, input),
        Svc::Elbv2 => generated::elbv2::call(place.elbv2(), op, input),
        Svc::Ec2 => generated::ec2::call(place.ec2(), op, input),
        Svc::Iam => generated::iam::call(place.iam(), op, input),
        Svc::ApplicationAutoscaling => generated::application_autoscaling::call(place.autoscaling(), op, input),
        Svc::Acm => generated::acm::call(place.acm(), op, input),
        Svc::Route53 => generated::route53::call(place.route53(), op, input),
    }
}

/// Validates and sends one operation; with a paginator and `paginate`, fetches and merges every page.
pub fn invoke(ctx: &Context, svc: Svc, op: &str, input: &Map, paginate: bool) -> Result<Dynamic, CallError> {
    let pages = paginate.then(Pages::default);
    invoke_paged(ctx, svc, op, input, pages.as_ref()).map(|(answer, _)| answer)
}

/// The aws CLI's pagination options: items per request, where to start (a token as
/// [`Resume::encode`] writes it), and how many items at most.
#[derive(Debug, Clone, Default)]
pub struct Pages {
    pub page_size: Option<i64>,
    pub start: Option<Resume>,
    pub max_items: Option<usize>,
}

/// Where a paginated answer cut short by `max_items` goes on: the input tokens of the page it
/// stopped in, and how many of that page's items were given already.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    pub tokens: Vec<(String, serde_json::Value)>,
    pub truncate: Option<usize>,
}

impl Resume {
    /// The aws CLI's form of a resume token: base64 of a JSON object of the input tokens and
    /// `boto_truncate_amount`, so that either tool can resume from the other's token.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let mut parts: Vec<String> = self
            .tokens
            .iter()
            .map(|(k, v)| format!("{}: {}", serde_json::Value::from(k.as_str()), python_json(v)))
            .collect();
        if let Some(n) = self.truncate {
            parts.push(format!("\"boto_truncate_amount\": {n}"));
        }
        base64::engine::general_purpose::STANDARD.encode(format!("{{{}}}", parts.join(", ")))
    }

    /// A token as `encode` writes it; a token that is not one is the input token itself.
    pub fn decode(text: &str, input_tokens: &[String]) -> Resume {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&b).ok());
        match decoded {
            Some(m) => Resume {
                truncate: m.get("boto_truncate_amount").and_then(serde_json::Value::as_u64).map(|n| n as usize),
                tokens: m.into_iter().filter(|(k, _)| k != "boto_truncate_amount").collect(),
            },
            None => Resume {
                tokens: input_tokens.iter().take(1).map(|t| (t.clone(), serde_json::Value::from(text))).collect(),
                truncate: None,
            },
        }
    }
}

/// JSON as Python's `json.dumps` writes it by default (", " and ": " between items).
fn python_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        serde_json::Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", serde_json::Value::from(k.as_str()), python_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// [`invoke`] with the aws CLI's pagination: `pages` `None` sends one request as given; else
/// every page from `pages.start`, merged, up to `pages.max_items`, with where to resume when cut
/// short.
pub fn invoke_paged(
    ctx: &Context,
    svc: Svc,
    op: &str,
    input: &Map,
    pages: Option<&Pages>,
) -> Result<(Dynamic, Option<Resume>), CallError> {
    let table = svc.table()?;
    let meta = table.operations.get(op);
    let prepared = prepare(table, svc, op, input);
    let input = prepared.as_ref().unwrap_or(input);
    check(table, svc, op, input)?;
    let mut from_plan = ctx.hooks.planning() && !meta.is_some_and(|o| o.readonly);
    let mut resume = None;
    let mut result = if !meta.is_some_and(|o| o.readonly) {
        ctx.hooks.write(ctx, svc, op, input, &|input| send_as(ctx, svc, op, input, true))
    } else if let Some(answer) = ctx.hooks.answer_read(ctx, svc, op, input) {
        from_plan = true;
        // An answer from the plan takes the conversions a real answer takes (policy documents as
        // maps), so that the script reads it as it would read AWS's.
        Ok(answer)
    } else {
        let answer = match (meta.and_then(|o| o.paginator.as_ref()), pages) {
            (Some(p), Some(pages)) => paginate_all(ctx, svc, op, input, p, pages).map(|(answer, r)| {
                resume = r;
                answer
            }),
            _ => send(ctx, svc, op, input),
        };
        ctx.hooks.after_read(ctx, svc, op, input, &answer);
        answer
    };
    if let (Ok(out), Some(shape)) = (&mut result, meta.and_then(|o| o.output.as_deref())) {
        if svc == Svc::Iam {
            crate::policy::decode(table, shape, out);
        }
        crate::secrets::collect(table, shape, out);
    }
    if let Ok(out) = &result {
        let func = meta.map(|o| o.func.as_str()).unwrap_or(op);
        crate::trace::answer(&format!("{}::{func}", svc.module()), out, from_plan);
    }
    result.map(|answer| (answer, resume))
}

/// The input as it is sent, where that differs from what the caller gave: IAM's policy documents,
/// which may be given as maps, as the JSON text AWS takes; Route 53's ids without their kind
/// (`/hostedzone/Z1D633PJN98FT9` as answered, `Z1D633PJN98FT9` as taken; the SDK strips it too).
fn prepare(table: &Table, svc: Svc, op: &str, input: &Map) -> Option<Map> {
    let shape = table.operations.get(op).and_then(|o| o.input.as_deref())?;
    let mut m = input.clone();
    match svc {
        Svc::Iam => crate::policy::encode(table, shape, &mut m),
        Svc::Route53 => trim_route53_ids(table, shape, &mut m),
        _ => return None,
    }
    Some(m)
}

fn check(table: &Table, svc: Svc, op: &str, input: &Map) -> Result<(), CallError> {
    let problems = validate(table, op, input);
    if problems.is_empty() {
        return Ok(());
    }
    Err(CallError::Validation { service: svc.module().into(), operation: op.into(), problems })
}

/// Whether the input is one the call would send: the model's checks, as [`invoke`] makes them
/// before anything is sent (or journaled).
pub fn validated(svc: Svc, op: &str, input: &Map) -> Result<(), CallError> {
    let table = svc.table()?;
    let prepared = prepare(table, svc, op, input);
    check(table, svc, op, prepared.as_ref().unwrap_or(input))
}

/// A Route 53 request's top-level ids without their kind: `/hostedzone/Z1…` → `Z1…`, and so
/// for `change/` and `delegationset/`, as the SDK sends them.
fn trim_route53_ids(table: &Table, shape: &str, input: &mut Map) {
    let Some(shape) = table.shape(shape) else { return };
    for (member, target) in &shape.members {
        if !matches!(target.as_str(), Some("ResourceId" | "ChangeId")) {
            continue;
        }
        let Some(value) = input.get_mut(member.as_str()) else { continue };
        let Ok(id) = value.clone().into_string() else { continue };
        let bare = ["hostedzone/", "change/", "delegationset/"]
            .iter()
            .find_map(|kind| id.trim_start_matches('/').strip_prefix(kind));
        if let Some(bare) = bare {
            *value = bare.to_string().into();
        }
    }
}

/// One read, no validation; see [`send_as`].
pub fn send(ctx: &Context, svc: Svc, op: &str, input: &Map) -> Result<Dynamic, CallError> {
    send_as(ctx, svc, op, input, false)
}

/// One request, no validation; sent again for a bounded time (the propagation window) while AWS
/// is catching up with a create moments ago: a role not usable yet, or a resource the run just
/// made answered "not found" (AWS is eventually consistent; see `run::propagation`).
pub fn send_as(ctx: &Context, svc: Svc, op: &str, input: &Map, write: bool) -> Result<Dynamic, CallError> {
    let started = std::time::Instant::now();
    let mut delay = 0.5f64;
    let mut retries = 0;
    loop {
        let e = match send_once(ctx, svc, op, input, write) {
            Err(e) if crate::denied::is_denial(e.code()) && !role_not_yet_usable(svc, &e) => {
                return Err(crate::denied::explain(ctx, svc, op, e))
            }
            Err(e) if crate::regions::not_reached(e.code()) => return Err(unreached(ctx, e)),
            Err(e) if e.code() == "InvalidResponse" => return Err(from_where(ctx, e)),
            Err(e) if started.elapsed() < ctx.propagation_timeout => e,
            other => return other,
        };
        let why = if role_not_yet_usable(svc, &e) {
            "a role created moments ago is not usable yet".to_string()
        } else {
            match ctx.hooks.propagating(ctx, svc, op, input, &e) {
                Some(why) => why,
                None => return Err(e),
            }
        };
        let paused = std::time::Instant::now();
        let mut event = Event::since(EventKind::Retry, svc.function(op), paused);
        event.error = Some(e.code().to_string());
        event.detail = Some(why.clone());
        let line = format!("[retry] {}: {} ({why}); again in {delay}s", svc.function(op), e.code());
        let status = format!("{line} (try {}, {:.0}s since the first)", retries + 2, started.elapsed().as_secs_f64());
        // The first pause of a request is a line, as without a terminal; the pauses after it show
        // on the status alone.
        let first = retries == 0 || !crate::live::enabled();
        if first {
            eoutln!("{line}");
        }
        let shown = (!first).then(|| crate::live::Status::start(status));
        let slept = ctx.sleep(op, delay);
        drop(shown);
        retries += 1;
        event.ms = paused.elapsed().as_millis() as u64;
        ctx.hooks.event(&event);
        slept?;
        // AWS usually catches up within seconds: once a second for the first ten, then doubling
        // to at most 10 s apart, so that a short lag costs little more than itself.
        delay = if started.elapsed() < PROPAGATION_STEADY { 1.0 } else { (delay * 2.0).min(10.0) };
    }
}

/// An answer that the credentials do not reach the region: in an opt-in region, says that the
/// account may not have enabled it.
fn unreached(ctx: &Context, e: CallError) -> CallError {
    let region = ctx.place().region().map(str::to_string).unwrap_or_default();
    if !crate::regions::opt_in(&region) {
        return e;
    }
    e.with_message(|message| format!("{message} ({})", crate::regions::opt_in_note(&region)))
}

/// An answer that is not AWS's, with where it came from and what to check.
fn from_where(ctx: &Context, e: CallError) -> CallError {
    let place = ctx.place();
    let from = match place.endpoint() {
        Some(url) => format!("{url} ({}) answered", ctx.endpoint_origin),
        None => format!("the AWS endpoint of {} answered", place.region().unwrap_or("the region")),
    };
    let check = if place.unknown_region() {
        let region = place.region().unwrap_or_default();
        let said = crate::regions::check(region).err().unwrap_or_default();
        format!("the region may be what it does not know: {said}; it was sent once, not retried")
    } else if place.endpoint().is_some() {
        "is the endpoint URL right, and is an AWS API (or an emulator of one) listening there?".to_string()
    } else {
        "is a proxy between here and AWS answering instead?".to_string()
    };
    e.with_message(|message| format!("{from} {message}; {check}"))
}

/// How long a not-found about something just made is retried once a second before backing off.
const PROPAGATION_STEADY: std::time::Duration = std::time::Duration::from_secs(10);

/// The answers AWS gives while a new IAM role or service-linked role propagates.
fn role_not_yet_usable(svc: Svc, e: &CallError) -> bool {
    let CallError::Aws { code, message, .. } = e else { return false };
    let m = message.to_ascii_lowercase();
    let about_a_role = m.contains("assume") || m.contains("service linked role") || m.contains("service-linked role");
    match (svc, code.as_str()) {
        (Svc::ApplicationAutoscaling, "ValidationException" | "AccessDeniedException") => about_a_role,
        (Svc::Ecs, "InvalidParameterException" | "AccessDeniedException") => about_a_role,
        (Svc::Ec2, "InvalidParameterValue") => m.contains("iaminstanceprofile") || m.contains("instance profile"),
        (Svc::Iam, "MalformedPolicyDocument") => m.contains("invalid principal"),
        _ => false,
    }
}

/// One call with the SDK's own attempts. For a write (`write`), an attempt whose answer is lost
/// ends the call (see `attempts`), so that the caller can look before sending again.
fn send_once(ctx: &Context, svc: Svc, op: &str, input: &Map, write: bool) -> Result<Dynamic, CallError> {
    let place = ctx.place();
    let fut = start(svc, &place, op, input).ok_or_else(|| CallError::Transport {
        service: svc.module().into(),
        operation: op.into(),
        code: "UnknownOperation".into(),
        message: format!("{} has no operation {op} in this build", svc.module()),
        retryable: false,
    })?;
    if ctx.stats.calls.get() >= ctx.max_calls {
        return Err(CallError::Transport {
            service: svc.module().into(),
            operation: op.into(),
            code: "LimitExceeded".into(),
            message: format!("this run has made {} AWS calls, its limit (--limit aws-calls=N)", ctx.max_calls),
            retryable: false,
        });
    }
    ctx.stats.calls.set(ctx.stats.calls.get() + 1);
    if let Some(answer) = ctx.stand_in.as_ref().and_then(|s| s(svc, op, input)) {
        return answer;
    }
    ctx.attempts.begin(write);
    let started = std::time::Instant::now();
    let result = ctx.block_on(svc.module(), op, fut);
    if ctx.verbose > 0 {
        log_call(ctx, svc, op, input, &result, started.elapsed());
    }
    let result = result.map_err(|e| explain(ctx, svc, op, e));
    let kind = if write { EventKind::Write } else { EventKind::Read };
    let mut event = Event::since(kind, svc.function(op), started);
    event.error = result.as_ref().err().map(|e| e.code().to_string());
    event.not_found = result.as_ref().err().is_some_and(|e| crate::absent::not_found(svc, e));
    event.count = ctx.attempts.log().attempts.max(1);
    ctx.hooks.event(&event);
    result
}

/// An error as the attempts explain it: a conversion error placed at its operation, a refused
/// endpoint, an attempt that timed out, an answer lost after the request left. A transport error
/// becomes one sentence with the endpoint; `-v` shows the SDK's chain it came from.
fn explain(ctx: &Context, svc: Svc, op: &str, e: CallError) -> CallError {
    let log = ctx.attempts.log();
    let (code, message, was_retryable) = match e {
        // Conversion errors from generated code do not know where they happened.
        CallError::Validation { problems, .. } => {
            return CallError::Validation { service: svc.module().into(), operation: op.into(), problems }
        }
        CallError::Transport { code, message, retryable, .. } => (code, message, retryable),
        other => return other,
    };
    let tries = format!("{} attempt{}", log.attempts, if log.attempts == 1 { "" } else { "s" });
    let at = endpoint(ctx, svc);
    let (code, sentence, retryable) = if log.refused > 0 && log.refused == log.attempts {
        // Every attempt failed to connect: the cause in words.
        let why = log.refusal.clone().unwrap_or(crate::attempts::Refusal::Other);
        (why.code(), format!("could not connect to {at}: {} ({tries})", why.words()), false)
    } else if code == "Timeout" && log.lost > 0 {
        let secs = ctx.call_timeout.as_secs_f64();
        ("CallTimeout", format!("{at} did not answer within {secs} s (--call-timeout, per attempt); {tries}"), true)
    } else if log.stopped_after_loss {
        let what = "the request was sent and its answer was lost (the connection closed or timed out)";
        ("AnswerLost", what.to_string(), true)
    } else if code == "ConnectionError" && log.lost > 0 {
        ("ConnectionLost", format!("{at} closed the connection before answering; {tries}"), true)
    } else {
        let (service, operation) = (svc.module().into(), op.into());
        return CallError::Transport { service, operation, code, message, retryable: was_retryable };
    };
    if ctx.verbose > 0 {
        eoutln!("[call]   {message}");
    }
    CallError::Transport {
        service: svc.module().into(),
        operation: op.into(),
        code: code.into(),
        message: sentence,
        retryable,
    }
}

/// Where a service's calls go: the configured endpoint, or AWS's host for the region.
fn endpoint(ctx: &Context, svc: Svc) -> String {
    ctx.endpoint().map(str::to_string).unwrap_or_else(|| default_endpoint(ctx, svc))
}

/// The host a service's calls go to when no endpoint is configured.
fn default_endpoint(ctx: &Context, svc: Svc) -> String {
    let host = match svc {
        Svc::ApplicationAutoscaling => "application-autoscaling",
        Svc::Elbv2 => "elasticloadbalancing",
        other => other.module(),
    };
    let region = ctx.region().unwrap_or("us-east-1");
    if matches!(svc, Svc::Iam | Svc::Route53) {
        return format!("{host}.amazonaws.com");
    }
    format!("{host}.{region}.amazonaws.com")
}

/// `-v`: one line per call on stderr; `-vv` adds the parameters, sensitive members masked.
fn log_call(
    ctx: &Context,
    svc: Svc,
    op: &str,
    input: &Map,
    result: &Result<Dynamic, CallError>,
    took: std::time::Duration,
) {
    let outcome = match result {
        Ok(_) => format!("ok, request {}", crate::runtime::peek_request_id().unwrap_or_else(|| "-".into())),
        Err(e) => e.code().to_string(),
    };
    eoutln!("[call] {}::{op} {} ms {outcome}", svc.module(), took.as_millis());
    if ctx.verbose > 1 {
        if let Ok(table) = svc.table() {
            let shown = crate::secrets::masked_input(table, op, input).to_string();
            eoutln!("[call]   {}", crate::secrets::redact(&shown));
        }
    }
}

/// The aws CLI's pagination: repeat with the output token as the input token until there is none,
/// concatenating the result lists; the final result carries no token. With `pages.max_items`, it
/// stops once that many items of the first result key are in, and says where to resume.
fn paginate_all(
    ctx: &Context,
    svc: Svc,
    op: &str,
    input: &Map,
    p: &Paginator,
    pages: &Pages,
) -> Result<(Dynamic, Option<Resume>), CallError> {
    let in_tokens = p.input_token.to_vec();
    let out_tokens = p.output_token.to_vec();
    let result_keys = p.result_key.as_ref().map(|k| k.to_vec()).unwrap_or_default();
    let mut request = input.clone();
    if let (Some(size), Some(limit)) = (pages.page_size, p.limit_key.as_deref()) {
        request.insert(limit.into(), Dynamic::from_int(size));
    }
    let mut skip = 0;
    if let Some(start) = &pages.start {
        for (name, value) in &start.tokens {
            if !value.is_null() {
                request.insert(name.as_str().into(), crate::json::from_value(value));
            }
        }
        skip = start.truncate.unwrap_or(0);
    }
    let mut merged: Option<Map> = None;
    let mut previous: Vec<String> = Vec::new();
    let mut given = 0usize;
    let mut resume = None;
    loop {
        let page = send(ctx, svc, op, &request)?;
        let mut page = page.try_cast::<Map>().unwrap_or_default();
        let tokens: Vec<Dynamic> = out_tokens.iter().map(|t| lookup(&page, t)).collect();
        let more = p.more_results.as_deref().map(|k| lookup(&page, k).as_bool().unwrap_or(false));
        let mut done = more == Some(false)
            || tokens.iter().all(|t| t.is_unit() || t.to_string().is_empty())
            || token_text(&tokens) == previous;
        if let Some(primary) = result_keys.first() {
            let first_page = merged.is_none();
            if first_page && skip > 0 {
                trim_items(&mut page, primary, |items| {
                    items.drain(..skip.min(items.len()));
                });
            }
            let here = lookup(&page, primary).into_array().map(|a| a.len()).unwrap_or(0);
            if let Some(max) = pages.max_items {
                let at = |request: &Map| -> Vec<(String, serde_json::Value)> {
                    let token = |t: &String| request.get(t.as_str()).map(crate::json::to_value).unwrap_or_default();
                    in_tokens.iter().map(|t| (t.clone(), token(t))).collect()
                };
                if given + here > max {
                    let keep = max - given;
                    trim_items(&mut page, primary, |items| items.truncate(keep));
                    let before = if first_page { skip } else { 0 };
                    resume = Some(Resume { tokens: at(&request), truncate: Some(keep + before) });
                    done = true;
                } else if given + here == max && !done {
                    let next = tokens.iter().map(crate::json::to_value);
                    resume = Some(Resume { tokens: in_tokens.iter().cloned().zip(next).collect(), truncate: None });
                    done = true;
                }
            }
            given += here.min(pages.max_items.unwrap_or(usize::MAX));
        }
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
    Ok((all.into(), resume))
}

/// Changes the list under a (possibly dotted) result key of a page in place.
fn trim_items(page: &mut Map, key: &str, f: impl FnOnce(&mut rhai::Array)) {
    let mut parts = key.split('.');
    let Some(first) = parts.next() else { return };
    let Some(mut cur) = page.get(first).cloned() else { return };
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        if let Some(mut items) = cur.write_lock::<rhai::Array>() {
            f(&mut items);
        }
        page.insert(first.into(), cur);
        return;
    }
    let mut inner = cur.clone().try_cast::<Map>().unwrap_or_default();
    trim_items(&mut inner, &rest.join("."), f);
    cur = inner.into();
    page.insert(first.into(), cur);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::AwsOptions;
    use std::collections::BTreeSet;
    use std::io::{Read, Write};

    fn context(endpoint: &str) -> Context {
        let opts =
            AwsOptions { region: Some("us-east-1".into()), endpoint_url: Some(endpoint.into()), ..Default::default() };
        Context::new(&opts, Default::default()).unwrap()
    }

    #[test]
    fn every_operation_in_the_tables_is_registered_and_dispatched_when_built() {
        // Debug builds put whole operation futures on the stack while boxing them; the binary runs
        // scripts on a thread with a stack this size too (host/src/run.rs).
        let t = std::thread::Builder::new().stack_size(crate::runtime::SCRIPT_STACK).spawn(check_dispatch).unwrap();
        t.join().unwrap();
    }

    fn check_dispatch() {
        let ctx = context("http://127.0.0.1:9");
        let empty = Map::new();
        let mut total = 0;
        for svc in Svc::ALL {
            let table = svc.table().unwrap();
            let fns: BTreeSet<&str> = svc.operations().iter().map(|(f, _)| *f).collect();
            for (name, op) in &table.operations {
                let built = op.feature.is_none() || cfg!(feature = "ec2-all");
                assert_eq!(fns.contains(op.func.as_str()), built, "{} {name}", svc.module());
                assert_eq!(start(svc, &ctx.place(), name, &empty).is_some(), built, "{} {name}", svc.module());
                total += usize::from(built);
            }
            for (func, waiter) in svc.waiters() {
                let w = &table.waiters[*waiter];
                assert_eq!(&w.func, func);
                assert!(fns.contains(table.operations[&w.operation].func.as_str()), "{waiter} polls a built operation");
            }
        }
        let expected = if cfg!(feature = "ec2-all") {
            88 + 51 + 811 + 180 + 14 + 40 + 71
        } else {
            88 + 51 + 384 + 180 + 14 + 40 + 71
        };
        assert_eq!(total, expected);
    }

    #[test]
    fn route53_ids_are_sent_without_their_kind_as_the_sdk_sends_them() {
        let table = Svc::Route53.table().unwrap();
        let shape = table.operations["ListResourceRecordSets"].input.clone().unwrap();
        let mut m = Map::new();
        m.insert("HostedZoneId".into(), "/hostedzone/Z0123456789ABCDEFGHIJ".into());
        m.insert("StartRecordName".into(), "/hostedzone/x.example.com".into());
        trim_route53_ids(table, &shape, &mut m);
        assert_eq!(m["HostedZoneId"].to_string(), "Z0123456789ABCDEFGHIJ");
        assert_eq!(m["StartRecordName"].to_string(), "/hostedzone/x.example.com", "a name is not an id");
        assert!(validate(table, "ListResourceRecordSets", &m).is_empty());
        let shape = table.operations["GetChange"].input.clone().unwrap();
        let mut m = Map::new();
        m.insert("Id".into(), "change/C2682N5HXP0BZ4".into());
        trim_route53_ids(table, &shape, &mut m);
        assert_eq!(m["Id"].to_string(), "C2682N5HXP0BZ4");
    }

    /// A server that answers the first `failures` requests with `error` and then with `ok`.
    fn fake_endpoint(
        failures: usize,
        error: &'static str,
        ok: &'static str,
    ) -> (String, std::thread::JoinHandle<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf);
                let (status, body) = if served < failures { ("400 Bad Request", error) } else { ("200 OK", ok) };
                served += 1;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: r{served}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(reply.as_bytes()).unwrap();
                if served > failures {
                    return served;
                }
            }
            served
        });
        (url, handle)
    }

    fn scalable_target_input() -> Map {
        let mut input = Map::new();
        input.insert("ServiceNamespace".into(), "ecs".into());
        input.insert("ResourceId".into(), "service/c/s".into());
        input.insert("ScalableDimension".into(), "ecs:service:DesiredCount".into());
        input
    }

    #[test]
    fn a_role_that_is_not_usable_yet_is_retried_until_it_is() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        let error = r#"{"__type":"ValidationException","message":"Unable to assume IAM role: arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"}"#;
        let (url, server) = fake_endpoint(2, error, r#"{"ScalableTargetARN":"arn:target"}"#);
        let ctx = context(&url);
        let input = scalable_target_input();
        let out = send(&ctx, Svc::ApplicationAutoscaling, "RegisterScalableTarget", &input).unwrap();
        assert_eq!(out.try_cast::<Map>().unwrap()["ScalableTargetARN"].to_string(), "arn:target");
        assert_eq!(server.join().unwrap(), 3, "two refusals, then the call that succeeded");
    }

    #[test]
    fn other_validation_errors_are_not_retried() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        let error = r#"{"__type":"ValidationException","message":"ECS service doesn't exist: service/c/s"}"#;
        let (url, server) = fake_endpoint(1, error, r#"{"ScalableTargetARN":"arn:target"}"#);
        let ctx = context(&url);
        let input = scalable_target_input();
        let e = send(&ctx, Svc::ApplicationAutoscaling, "RegisterScalableTarget", &input).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        // Unblock the server's final accept so the thread ends.
        let _ = std::net::TcpStream::connect(url.trim_start_matches("http://"));
        assert_eq!(server.join().unwrap(), 2);
    }
}
