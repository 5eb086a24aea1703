//! A command line in the aws CLI's words, read into a [`Command`]: the service and operation (or
//! waiter), the input map with the model's member names, the global options and the pagination
//! options. Every argument comes from the operation's input shape (`--vpc-id` for `VpcId`, a
//! boolean as `--flag` / `--no-flag`), with the CLI's own arguments for these services added (see
//! `custom`); an argument may be shortened while it stays unambiguous, and `--name=value` works
//! as `--name value`, as the CLI takes them.

use super::error::CliError;
use super::{custom, names::kebab, shorthand};
use crate::call::{Pages, Resume};
use crate::model::{Kind, Shape, Table};
use crate::svc::Svc;
use crate::validate::closest;
use rhai::{Dynamic, Map};
use serde_json::Value;
use std::path::Path;

/// `--output`: how an answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Table,
}

impl Format {
    fn parse(text: &str) -> Result<Format, CliError> {
        match text {
            "json" => Ok(Format::Json),
            "text" => Ok(Format::Text),
            "table" => Ok(Format::Table),
            other => {
                let near = closest(other, ["json", "text", "table"].into_iter());
                let hint = near.first().map(|n| format!("; did you mean {n}?")).unwrap_or_default();
                Err(CliError::usage(format!(
                    "argument --output: invalid choice: '{other}' (choose from 'json', 'text', 'table', the outputs of \
                     version 1 of the aws CLI, whose language runbook speaks){hint}"
                )))
            }
        }
    }
}

/// The aws CLI's global options, given anywhere on the line.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub output: Option<Format>,
    pub query: Option<String>,
    pub no_paginate: bool,
    pub debug: bool,
    pub color: Option<String>,
    pub read_timeout: Option<f64>,
    pub connect_timeout: Option<f64>,
    pub no_verify_ssl: bool,
    pub no_sign_request: bool,
    pub ca_bundle: Option<String>,
}

/// The global options: name, whether it takes a value.
pub const GLOBAL_OPTIONS: &[(&str, bool)] = &[
    ("--region", true),
    ("--profile", true),
    ("--endpoint-url", true),
    ("--output", true),
    ("--query", true),
    ("--color", true),
    ("--cli-read-timeout", true),
    ("--cli-connect-timeout", true),
    ("--ca-bundle", true),
    ("--no-paginate", false),
    ("--debug", false),
    ("--no-verify-ssl", false),
    ("--no-sign-request", false),
    ("--no-cli-pager", false),
];

impl Globals {
    fn set(&mut self, name: &str, value: Option<String>) -> Result<(), CliError> {
        let seconds = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0)
                .ok_or_else(|| CliError::usage(format!("argument {name}: invalid number of seconds: '{v}'")))
        };
        let v = value.unwrap_or_default();
        match name {
            "--region" => self.region = Some(v),
            "--profile" => self.profile = Some(v),
            "--endpoint-url" => self.endpoint_url = Some(v),
            "--output" => self.output = Some(Format::parse(&v)?),
            "--query" => self.query = Some(v),
            "--color" => match v.as_str() {
                "on" | "off" | "auto" => self.color = Some(v),
                other => {
                    let choices = "(choose from 'on', 'off', 'auto')";
                    return Err(CliError::usage(format!("argument --color: invalid choice: '{other}' {choices}")));
                }
            },
            "--cli-read-timeout" => self.read_timeout = Some(seconds(&v)?),
            "--cli-connect-timeout" => self.connect_timeout = Some(seconds(&v)?),
            "--ca-bundle" => self.ca_bundle = Some(v),
            "--no-paginate" => self.no_paginate = true,
            "--debug" => self.debug = true,
            "--no-verify-ssl" => self.no_verify_ssl = true,
            "--no-sign-request" => self.no_sign_request = true,
            _ => {}
        }
        Ok(())
    }
}

/// What the command does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An operation, by its model name (`CreateTargetGroup`).
    Call(String),
    /// A waiter, by its model name (`LoadBalancerAvailable`).
    Wait(String),
    /// `aws SERVICE OPERATION help`: the operation's arguments; empty, `aws SERVICE help`.
    Help(String),
}

/// One command line, read.
#[derive(Debug, Clone)]
pub struct Command {
    pub svc: Svc,
    pub action: Action,
    pub input: Map,
    pub globals: Globals,
    /// `None`: one request as given (`--no-paginate`, or a page token or size given as the
    /// operation's own member); else every page, as the options say.
    pub pages: Option<Pages>,
}

impl Command {
    /// The input of the command's first request: with the page size and starting token of
    /// `--page-size` and `--starting-token` in the operation's own members.
    pub fn first_request(&self) -> Map {
        let mut input = self.input.clone();
        let paginator = match &self.action {
            Action::Call(op) => {
                self.svc.table().ok().and_then(|t| t.operations.get(op)).and_then(|o| o.paginator.as_ref())
            }
            _ => None,
        };
        if let (Some(p), Some(pages)) = (paginator, &self.pages) {
            if let (Some(size), Some(limit)) = (pages.page_size, p.limit_key.as_deref()) {
                input.insert(limit.into(), Dynamic::from_int(size));
            }
            for (name, value) in pages.start.iter().flat_map(|s| &s.tokens) {
                if !value.is_null() {
                    input.insert(name.as_str().into(), crate::json::from_value(value));
                }
            }
        }
        input
    }

    /// The operation's or waiter's name as the CLI writes it (`create-target-group`).
    pub fn cli_name(&self) -> String {
        match &self.action {
            Action::Call(op) | Action::Help(op) => kebab(op),
            Action::Wait(w) => format!("wait {}", kebab(w)),
        }
    }

    /// The service as the CLI writes it (`application-autoscaling`).
    pub fn service_name(&self) -> String {
        service_name(self.svc)
    }
}

/// A service as the CLI names it.
pub fn service_name(svc: Svc) -> String {
    svc.module().replace('_', "-")
}

/// An operation as the CLI names it.
pub fn operation_name(func: &str) -> String {
    func.replace('_', "-")
}

/// Reads a command line (the words after `aws`); `file://` paths are relative to the current folder.
pub fn parse(words: &[String]) -> Result<Command, CliError> {
    parse_in(words, Path::new("."))
}

/// [`parse`] for a command given in the folder `base` (a script's, which may differ from this
/// process's): relative `file://` paths are read from there.
pub fn parse_in(words: &[String], base: &Path) -> Result<Command, CliError> {
    let mut globals = Globals::default();
    let mut rest: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (name, inline) = split_option(&words[i]);
        let Some(&(g, takes)) = GLOBAL_OPTIONS.iter().find(|(g, _)| *g == name) else {
            rest.push(words[i].clone());
            i += 1;
            continue;
        };
        i += 1;
        let value = match (takes, inline) {
            (true, Some(v)) => Some(v),
            (true, None) => match words.get(i) {
                Some(v) if !v.starts_with("--") => {
                    i += 1;
                    Some(v.clone())
                }
                _ => return Err(CliError::usage(format!("argument {g}: expected one argument"))),
            },
            (false, Some(_)) => return Err(CliError::usage(format!("argument {g}: ignored explicit argument"))),
            (false, None) => None,
        };
        globals.set(g, value)?;
    }
    // A query that cannot be read stops the command before anything is sent, a write included.
    if let Some(q) = &globals.query {
        if let Err(e) = crate::json::check_query(q) {
            return Err(CliError::value(format!("Bad value for --query {q}: {e}")));
        }
    }
    let mut positional = rest.iter();
    let service = positional.next().filter(|w| !w.starts_with("--")).ok_or_else(|| {
        CliError::usage("the following arguments are required: command (a service: aws SERVICE OPERATION)")
    })?;
    let svc = find_service(service)?;
    let operation = positional.next().filter(|w| !w.starts_with("--")).ok_or_else(|| {
        CliError::usage(format!("the following arguments are required: operation (aws {service} OPERATION)"))
    })?;
    let table = svc.table().map_err(|e| CliError::value(e.to_string()))?;
    if operation == "help" {
        // `aws SERVICE help`: the service's operations.
        return Ok(Command { svc, action: Action::Help(String::new()), input: Map::new(), globals, pages: None });
    }
    let mut words: Vec<String> = positional.cloned().collect();
    let action = if operation == "wait" {
        if words.is_empty() || words[0].starts_with("--") {
            let names: Vec<String> = svc.waiters().iter().map(|(_, w)| kebab(w)).collect();
            return Err(CliError::usage(format!(
                "the following arguments are required: waiter (aws {service} wait WAITER; {service}'s waiters: {})",
                names.join(", ")
            )));
        }
        let name = words.remove(0);
        Action::Wait(find_waiter(svc, &name)?)
    } else {
        Action::Call(find_operation(svc, table, operation)?)
    };
    if words.first().is_some_and(|w| w == "help") {
        if let Action::Call(op) = &action {
            return Ok(Command { svc, action: Action::Help(op.clone()), input: Map::new(), globals, pages: None });
        }
    }
    let op_name = match &action {
        Action::Call(op) => op.clone(),
        Action::Wait(w) => table.waiters.get(w).map(|w| w.operation.clone()).unwrap_or_default(),
        Action::Help(op) => op.clone(),
    };
    let (input, pages) = arguments(svc, table, &op_name, matches!(action, Action::Call(_)), &words, &globals, base)?;
    Ok(Command { svc, action, input, globals, pages })
}

/// `--name=value` → (`--name`, `value`).
fn split_option(word: &str) -> (&str, Option<String>) {
    match word.split_once('=') {
        Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
        _ => (word, None),
    }
}

fn find_service(name: &str) -> Result<Svc, CliError> {
    if let Some(svc) = Svc::ALL.into_iter().find(|s| service_name(*s) == name) {
        return Ok(svc);
    }
    let names: Vec<String> = Svc::ALL.into_iter().map(service_name).collect();
    let near = closest(name, names.iter().map(String::as_str));
    let hint = near.first().map(|n| format!("; did you mean {n}?")).unwrap_or_default();
    Err(CliError::usage(format!(
        "argument command: invalid choice: '{name}'{hint} (runbook speaks {})",
        names.join(", ")
    )))
}

fn find_operation(svc: Svc, table: &Table, name: &str) -> Result<String, CliError> {
    let service = service_name(svc);
    if let Some((_, op)) = svc.operations().iter().find(|(f, _)| operation_name(f) == name) {
        return Ok((*op).to_string());
    }
    if let Some((op, meta)) = table.operations.iter().find(|(_, o)| operation_name(&o.func) == name) {
        let feature = meta.feature.as_deref().unwrap_or("?");
        return Err(CliError::usage(format!(
            "{service} {name} ({op}) is not in this build of runbook: build it with the cargo feature {feature}"
        )));
    }
    let names: Vec<String> = svc.operations().iter().map(|(f, _)| operation_name(f)).collect();
    let near = closest(name, names.iter().map(String::as_str));
    let hint = match near.as_slice() {
        [] => format!("; `runbook help {}` lists them", svc.module()),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    };
    Err(CliError::usage(format!("argument operation: {service} has no operation '{name}'{hint}")))
}

fn find_waiter(svc: Svc, name: &str) -> Result<String, CliError> {
    if let Some((_, w)) = svc.waiters().iter().find(|(_, w)| kebab(w) == name) {
        return Ok((*w).to_string());
    }
    let names: Vec<String> = svc.waiters().iter().map(|(_, w)| kebab(w)).collect();
    let near = closest(name, names.iter().map(String::as_str));
    let hint = near.first().map(|n| format!("; did you mean {n}?")).unwrap_or_default();
    Err(CliError::usage(format!(
        "argument waiter: {} has no waiter '{name}'{hint} (its waiters: {})",
        service_name(svc),
        names.join(", ")
    )))
}

/// The first character of a value that stands for something else (a script's variable, for
/// `import`): kept as text whatever the member's type, for the caller to write in its place.
pub const STANDS_FOR: char = '\u{E000}';

/// What an argument stands for.
#[derive(Debug, Clone)]
pub enum Target {
    /// A member of the input, by name.
    Member(String),
    /// `--no-flag` of a boolean member.
    NoMember(String),
    /// One of the CLI's own arguments for this operation (see `custom`).
    Custom(&'static custom::Extra),
    StartingToken,
    PageSize,
    MaxItems,
    InputJson,
}

/// An operation's arguments as the CLI names them, in the model's order, the CLI's own after.
pub fn argument_specs(svc: Svc, table: &Table, op: &str, paginated: bool) -> Vec<(String, Target)> {
    let mut specs = Vec::new();
    let meta = table.operations.get(op);
    let hidden = custom::hidden(svc, op);
    if let Some(shape) = meta.and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s)) {
        for member in shape.member_names() {
            if hidden.contains(&member) {
                continue;
            }
            let name = kebab(member);
            let boolean = shape.member_shape(member).and_then(|s| table.shape(s)).is_some_and(|s| s.kind == "boolean");
            specs.push((format!("--{name}"), Target::Member(member.to_string())));
            if boolean {
                specs.push((format!("--no-{name}"), Target::NoMember(member.to_string())));
            }
        }
    }
    for extra in custom::extras(svc, op) {
        specs.push((format!("--{}", extra.name), Target::Custom(extra)));
    }
    if paginated && meta.and_then(|o| o.paginator.as_ref()).is_some() {
        specs.push(("--starting-token".into(), Target::StartingToken));
        if meta.and_then(|o| o.paginator.as_ref()).is_some_and(|p| p.limit_key.is_some()) {
            specs.push(("--page-size".into(), Target::PageSize));
        }
        specs.push(("--max-items".into(), Target::MaxItems));
    }
    specs.push(("--cli-input-json".into(), Target::InputJson));
    specs
}

/// Reads the operation's arguments into its input map and the pagination options.
fn arguments(
    svc: Svc,
    table: &'static Table<'static>,
    op: &str,
    paginated: bool,
    words: &[String],
    globals: &Globals,
    base: &Path,
) -> Result<(Map, Option<Pages>), CliError> {
    let specs = argument_specs(svc, table, op, paginated);
    let input_shape = table.operations.get(op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s));
    let mut given: Vec<(String, &Target, Vec<String>)> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if !word.starts_with("--") {
            unknown.push(word.clone());
            continue;
        }
        let (name, inline) = split_option(word);
        let (spelled, target) = match resolve(&specs, name)? {
            Some(found) => found,
            None => {
                unknown.push(word.clone());
                continue;
            }
        };
        let flag = match target {
            Target::NoMember(_) => true,
            Target::Member(m) => member_kind(table, input_shape, m) == Some(Kind::Boolean),
            Target::Custom(e) => matches!(e.kind, custom::ExtraKind::Flag(_)),
            _ => false,
        };
        let mut values = Vec::new();
        if flag {
            if inline.is_some() {
                return Err(CliError::usage(format!("argument {spelled}: ignored explicit argument")));
            }
        } else if let Some(v) = inline {
            values.push(v);
        } else {
            while i < words.len() && !words[i].starts_with("--") {
                values.push(words[i].clone());
                i += 1;
            }
        }
        given.push((spelled, target, values));
    }
    if !unknown.is_empty() {
        let names: Vec<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
        let near = unknown
            .iter()
            .find(|w| w.starts_with("--"))
            .map(|w| closest(split_option(w).0, names.iter().copied()))
            .and_then(|n| n.first().cloned())
            .map(|n| format!("; did you mean {n}?"))
            .unwrap_or_default();
        return Err(CliError::value(format!("Unknown options: {}{near}", unknown.join(", "))));
    }
    let mut input = Map::new();
    let mut extras: Vec<(&'static custom::Extra, Vec<String>)> = Vec::new();
    let mut pages = Pages::default();
    let mut start: Option<String> = None;
    for (spelled, _, values) in given.iter().filter(|(_, t, _)| matches!(t, Target::InputJson)) {
        let text = one(spelled, values).and_then(|w| load_text(base, spelled, w))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| CliError::value(format!("Error parsing parameter '{spelled}': Invalid JSON: {e}")))?;
        let Value::Object(m) = v else {
            return Err(CliError::value(format!("Error parsing parameter '{spelled}': expected an object")));
        };
        // The arguments given one by one win over the file's values (they are read after).
        for (k, v) in m {
            input.insert(k.as_str().into(), crate::json::from_value(&v));
        }
    }
    for (spelled, target, values) in given.iter().filter(|(_, t, _)| !matches!(t, Target::InputJson)) {
        match target {
            Target::Member(m) => {
                let shape = member_shape(table, input_shape, m);
                let v = match shape.map(|s| table.resolved(s).kind) {
                    Some(Kind::Boolean) => Dynamic::TRUE,
                    _ => custom::member(svc, op, m, member_value(base, table, shape, spelled, values)?),
                };
                input.insert(m.as_str().into(), v);
            }
            Target::NoMember(m) => {
                input.insert(m.as_str().into(), Dynamic::FALSE);
            }
            Target::Custom(e) => extras.push((e, values.clone())),
            Target::StartingToken => start = Some(one(spelled, values)?.clone()),
            Target::PageSize => pages.page_size = Some(integer(spelled, one(spelled, values)?)?),
            Target::MaxItems => {
                let n = integer(spelled, one(spelled, values)?)?;
                pages.max_items = Some(usize::try_from(n).unwrap_or(0));
            }
            Target::InputJson => {}
        }
    }
    custom::apply(svc, op, &mut input, &extras)?;
    let missing: Vec<String> = input_shape
        .map(|s| {
            s.required.iter().filter(|r| !input.contains_key(r.as_str())).map(|r| format!("--{}", kebab(r))).collect()
        })
        .unwrap_or_default();
    if !missing.is_empty() {
        return Err(CliError::usage(format!("the following arguments are required: {}", missing.join(", "))));
    }
    let paginator = table.operations.get(op).and_then(|o| o.paginator.as_ref());
    let pages = match paginator {
        Some(p) if paginated && !globals.no_paginate => {
            let own = p.input_token.to_vec().into_iter().chain(p.limit_key.clone());
            if own.into_iter().any(|m| input.contains_key(m.as_str())) {
                None
            } else {
                pages.start = start.map(|t| Resume::decode(&t, &p.input_token.to_vec()));
                Some(pages)
            }
        }
        _ => None,
    };
    Ok((input, pages))
}

/// The spec an option names: exactly, or as the one spec it begins.
fn resolve<'a>(specs: &'a [(String, Target)], name: &str) -> Result<Option<(String, &'a Target)>, CliError> {
    if let Some((n, t)) = specs.iter().find(|(n, _)| n == name) {
        return Ok(Some((n.clone(), t)));
    }
    if name.len() < 3 {
        return Ok(None);
    }
    let starting: Vec<&(String, Target)> = specs.iter().filter(|(n, _)| n.starts_with(name)).collect();
    match starting.as_slice() {
        [] => Ok(None),
        [(n, t)] => Ok(Some((n.clone(), t))),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
            Err(CliError::usage(format!("ambiguous option: {name} could match {}", names.join(", "))))
        }
    }
}

fn member_shape(table: &Table, input: Option<&'static Shape>, member: &str) -> Option<&'static Shape> {
    input.and_then(|s| s.member_shape(member)).and_then(|s| table.shape(s))
}

fn member_kind(table: &Table, input: Option<&'static Shape>, member: &str) -> Option<Kind> {
    member_shape(table, input, member).map(|s| table.resolved(s).kind)
}

fn one<'a>(spelled: &str, values: &'a [String]) -> Result<&'a String, CliError> {
    match values {
        [v] => Ok(v),
        [] => Err(CliError::usage(format!("argument {spelled}: expected one argument"))),
        [_, extra @ ..] => Err(CliError::value(format!("Unknown options: {}", extra.join(", ")))),
    }
}

/// A pagination option's number: refused as the CLI's argument parser refuses it (exit 2).
fn integer(spelled: &str, text: &str) -> Result<i64, CliError> {
    text.trim().parse().map_err(|_| CliError::usage(format!("argument {spelled}: invalid int value: '{text}'")))
}

/// A value from the line, or from the file a `file://` or `fileb://` prefix names.
pub enum Loaded {
    Text(String),
    Bytes(Vec<u8>),
}

fn load(base: &Path, spelled: &str, word: &str) -> Result<Loaded, CliError> {
    let unable = |prefix: &str, path: &str, e: std::io::Error| {
        CliError::value(format!("Error parsing parameter '{spelled}': Unable to load paramfile {prefix}{path}: {e}"))
    };
    if let Some(path) = word.strip_prefix("fileb://") {
        let path = expand_home(path);
        return std::fs::read(base.join(&path)).map(Loaded::Bytes).map_err(|e| unable("fileb://", &path, e));
    }
    if let Some(path) = word.strip_prefix("file://") {
        let path = expand_home(path);
        return std::fs::read_to_string(base.join(&path)).map(Loaded::Text).map_err(|e| unable("file://", &path, e));
    }
    Ok(Loaded::Text(word.to_string()))
}

fn load_text(base: &Path, spelled: &str, word: &str) -> Result<String, CliError> {
    match load(base, spelled, word)? {
        Loaded::Text(t) => Ok(t),
        Loaded::Bytes(b) => String::from_utf8(b)
            .map_err(|_| CliError::value(format!("Error parsing parameter '{spelled}': the file is not UTF-8 text"))),
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// An argument's words as the member's value, shaped by its model shape.
fn member_value(
    base: &Path,
    table: &Table,
    shape: Option<&'static Shape>,
    spelled: &str,
    values: &[String],
) -> Result<Dynamic, CliError> {
    let Some(shape) = shape else { return Ok(one(spelled, values)?.as_str().into()) };
    let kind = table.resolved(shape).kind;
    let bad = |e: String| CliError::value(format!("Error parsing parameter '{spelled}': {e}"));
    match kind {
        Kind::List => {
            if let [only] = values {
                let text = load_text(base, spelled, only)?;
                if text.trim_start().starts_with('[') {
                    let v: Value = serde_json::from_str(&text)
                        .map_err(|e| bad(format!("Invalid JSON: {e}\nJSON received: {text}")))?;
                    return Ok(crate::json::from_value(&v));
                }
            }
            let element = table.resolved(shape).member;
            let mut items = Vec::new();
            for w in values {
                let text = load_text(base, spelled, w)?;
                items.push(text_value(table, element, &text).map_err(bad)?);
            }
            Ok(Dynamic::from_array(items))
        }
        Kind::Blob => match load(base, spelled, one(spelled, values)?)? {
            Loaded::Bytes(b) => Ok(Dynamic::from_blob(b)),
            Loaded::Text(t) => Ok(Dynamic::from_blob(t.into_bytes())),
        },
        _ => {
            let text = load_text(base, spelled, one(spelled, values)?)?;
            text_value(table, Some(shape), &text).map_err(bad)
        }
    }
}

/// One word (or a file's text) as a value of `shape`: JSON when it opens a structure, a list or
/// a map that way, else shorthand for a structure or map, else a scalar.
fn text_value(table: &Table, shape: Option<&'static Shape>, text: &str) -> Result<Dynamic, String> {
    let Some(shape) = shape else { return Ok(text.into()) };
    match table.resolved(shape).kind {
        Kind::Structure | Kind::Map | Kind::Document => {
            let trimmed = text.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                let v: Value =
                    serde_json::from_str(text).map_err(|e| format!("Invalid JSON: {e}\nJSON received: {text}"))?;
                return Ok(crate::json::from_value(&v));
            }
            let v = shorthand::parse(text).map_err(|e| format!("invalid shorthand: {e}"))?;
            typed(table, Some(shape), &v)
        }
        _ => typed(table, Some(shape), &Value::String(text.to_string())),
    }
}

/// Shorthand's text, lists and maps as the shape's types: numbers and booleans read from text, a
/// single value where a list is expected taken as a list of one.
pub fn typed(table: &Table, shape: Option<&'static Shape>, v: &Value) -> Result<Dynamic, String> {
    let Some(shape) = shape else { return Ok(crate::json::from_value(v)) };
    if let Value::String(s) = v {
        if s.starts_with(STANDS_FOR) {
            let text = Dynamic::from(s.clone());
            return Ok(if table.resolved(shape).kind == Kind::List { Dynamic::from_array(vec![text]) } else { text });
        }
    }
    let r = table.resolved(shape);
    match (r.kind, v) {
        (Kind::Structure, Value::Object(m)) => {
            let mut out = Map::new();
            for (k, item) in m {
                let member = shape.member_shape(k).and_then(|s| table.shape(s));
                let value = match member {
                    Some(_) => typed(table, member, item).map_err(|e| format!("{k}: {e}"))?,
                    None => crate::json::from_value(item),
                };
                out.insert(k.as_str().into(), value);
            }
            Ok(out.into())
        }
        (Kind::Map, Value::Object(m)) => {
            let mut out = Map::new();
            for (k, item) in m {
                out.insert(k.as_str().into(), typed(table, r.value, item)?);
            }
            Ok(out.into())
        }
        (Kind::List, Value::Array(items)) => {
            items.iter().map(|i| typed(table, r.member, i)).collect::<Result<Vec<_>, _>>().map(Dynamic::from_array)
        }
        (Kind::List, single) => Ok(Dynamic::from_array(vec![typed(table, r.member, single)?])),
        (Kind::Integer | Kind::Long, Value::String(s)) => {
            s.trim().parse::<i64>().map(Dynamic::from_int).map_err(|_| format!("expected an integer, got '{s}'"))
        }
        (Kind::Double | Kind::Float, Value::String(s)) => {
            s.trim().parse::<f64>().map(Dynamic::from_float).map_err(|_| format!("expected a number, got '{s}'"))
        }
        (Kind::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Dynamic::TRUE),
            "false" => Ok(Dynamic::FALSE),
            _ => Err(format!("expected true or false, got '{s}'")),
        },
        (Kind::Blob, Value::String(s)) => Ok(Dynamic::from_blob(s.clone().into_bytes())),
        (_, other) => Ok(crate::json::from_value(other)),
    }
}
