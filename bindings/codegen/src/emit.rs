//! Turns one service's model into Rust conversion code and a JSON table of its operations and shapes.
//!
//! The Rust code never names a field's type: setters and fields are paired with the conversion
//! traits in `bindings/generated/src/convert.rs`, and the compiler picks the impl from the SDK's own types. The
//! code only names the SDK types it writes `impl`s for, each checked to exist in the SDK source.

use crate::model::Models;
use crate::names::cli_name;
use crate::sdk::{field_for, loose, SdkCrate};
use crate::Service;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

pub struct Generated {
    pub rust: String,
    pub table: String,
    /// What the model has and the SDK crate lacks, printed by the generator.
    pub report: Vec<String>,
}

const GATE: &str = "ec2-all";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    In,
    Out,
}

struct Gen<'a> {
    shapes: &'a Map<String, Value>,
    sdk: &'a SdkCrate,
    /// loose(type name) → SDK type name
    type_index: BTreeMap<String, String>,
    report: Vec<String>,
    /// structure shape → [(member, SDK field)] for members the SDK has
    fields: BTreeMap<String, Vec<(String, String)>>,
}

impl<'a> Gen<'a> {
    fn shape(&self, name: &str) -> &'a Value {
        self.shapes.get(name).unwrap_or(&Value::Null)
    }

    fn sdk_type(&self, shape: &str) -> Option<&str> {
        self.type_index.get(&loose(shape)).map(String::as_str)
    }

    fn is_document(&self, shape: &str) -> bool {
        self.shape(shape)["document"].as_bool() == Some(true)
    }

    fn is_union(&self, shape: &str) -> bool {
        self.shape(shape)["union"].as_bool() == Some(true)
    }

    /// A string shape the SDK represents with its own enum type.
    fn sdk_enum(&self, shape: &str) -> Option<&str> {
        let s = self.shape(shape);
        if s["type"] != "string" {
            return None;
        }
        let ty = self.sdk_type(shape)?;
        let t = self.sdk.types.get(ty)?;
        (t.is_enum && union_variants(t).is_empty()).then_some(ty)
    }

    /// The (member, SDK field or variant) pairs of a structure or union that the SDK has; members
    /// missing from the SDK are reported once.
    fn members(&mut self, shape: &str) -> Vec<(String, String)> {
        if let Some(f) = self.fields.get(shape) {
            return f.clone();
        }
        let mut out = Vec::new();
        let Some(ty) = self.sdk_type(shape).map(str::to_string) else {
            self.fields.insert(shape.to_string(), out.clone());
            return out;
        };
        let sdk_fields = match self.sdk.types.get(&ty) {
            Some(t) if t.is_enum => union_variants(t),
            Some(t) => t.fields.clone(),
            None => BTreeSet::new(),
        };
        let members: Vec<String> =
            self.shape(shape)["members"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for m in members {
            let found = if self.is_union(shape) {
                sdk_fields.iter().find(|v| loose(v) == loose(&m)).cloned()
            } else {
                field_for(&m, &sdk_fields)
            };
            match found {
                Some(f) => out.push((m, f)),
                None => self.report.push(format!("member {shape}.{m}: not in the SDK crate (skipped)")),
            }
        }
        self.fields.insert(shape.to_string(), out.clone());
        out
    }

    /// Whether values of this shape can be converted: structures and unions need an SDK type.
    fn representable(&mut self, shape: &str, seen: &mut BTreeSet<String>) -> bool {
        if !seen.insert(shape.to_string()) {
            return true;
        }
        let s = self.shape(shape);
        match s["type"].as_str().unwrap_or("") {
            "structure" if self.is_document(shape) => true,
            "structure" => {
                if self.sdk_type(shape).is_none() {
                    self.report.push(format!("shape {shape}: no SDK type (members using it skipped)"));
                    return false;
                }
                let members = self.members(shape);
                for (m, _) in members {
                    let target = member_shape(s, &m);
                    if !self.representable(&target, seen) {
                        return false;
                    }
                }
                true
            }
            "list" => {
                let m = s["member"]["shape"].as_str().unwrap_or("").to_string();
                self.representable(&m, seen)
            }
            "map" => {
                let v = s["value"]["shape"].as_str().unwrap_or("").to_string();
                self.representable(&v, seen)
            }
            "" => false,
            _ => true,
        }
    }

    /// Collects the structures, unions and enums reachable from `shape`.
    fn reach(&mut self, shape: &str, into: &mut BTreeSet<String>) {
        let s = self.shape(shape);
        match s["type"].as_str().unwrap_or("") {
            "structure" if self.is_document(shape) => {}
            "structure" => {
                if !into.insert(shape.to_string()) {
                    return;
                }
                for (m, _) in self.members(shape) {
                    let target = member_shape(s, &m);
                    self.reach(&target, into);
                }
            }
            "list" => {
                let m = s["member"]["shape"].as_str().unwrap_or("").to_string();
                self.reach(&m, into);
            }
            "map" => {
                for k in ["key", "value"] {
                    let t = s[k]["shape"].as_str().unwrap_or("").to_string();
                    self.reach(&t, into);
                }
            }
            "string" if self.sdk_enum(shape).is_some() => {
                into.insert(shape.to_string());
            }
            _ => {}
        }
    }
}

fn union_variants(t: &crate::sdk::SdkType) -> BTreeSet<String> {
    t.fields.iter().filter(|v| *v != "Unknown").cloned().collect()
}

fn member_shape(s: &Value, member: &str) -> String {
    s["members"][member]["shape"].as_str().unwrap_or("").to_string()
}

struct Op {
    name: String,
    cli: String,
    sdk_op: String,
    gated: bool,
    input: Option<String>,
    output: Option<String>,
    in_fields: Vec<(String, String)>,
    out_fields: Vec<(String, String)>,
}

pub fn generate(
    svc: &Service,
    models: &Models,
    sdk: &SdkCrate,
    botocore_version: &str,
    sdk_version: &str,
) -> Result<Generated, String> {
    let service = &models.service;
    let shapes = service["shapes"].as_object().ok_or("model has no shapes")?;
    let operations = service["operations"].as_object().ok_or("model has no operations")?;
    let type_index = sdk.types.keys().map(|k| (loose(k), k.clone())).collect();
    let mut g = Gen { shapes, sdk, type_index, report: Vec::new(), fields: BTreeMap::new() };
    let sdk_ops: BTreeMap<String, String> = sdk.operations.keys().map(|k| (loose(k), k.clone())).collect();

    let mut ops = Vec::new();
    for (name, op) in operations {
        let Some(sdk_op) = sdk_ops.get(&loose(name)).cloned() else {
            g.report.push(format!("operation {name}: not in {} {sdk_version} (skipped)", svc.krate));
            continue;
        };
        let gated = svc.default_ops.is_some_and(|prefixes| !prefixes.iter().any(|p| name.contains(p)));
        let input = op["input"]["shape"].as_str().map(str::to_string);
        let output = op["output"]["shape"].as_str().map(str::to_string);
        let (sdk_in, sdk_out) = &sdk.operations[&sdk_op];
        let mut in_fields = Vec::new();
        let mut out_fields = Vec::new();
        for (shape, sdk_fields, into, dir) in
            [(&input, &sdk_in.fields, &mut in_fields, "input"), (&output, &sdk_out.fields, &mut out_fields, "output")]
        {
            let Some(shape) = shape else { continue };
            let s = g.shape(shape);
            let members: Vec<String> =
                s["members"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            for m in members {
                let target = member_shape(s, &m);
                let field = field_for(&m, sdk_fields);
                match field {
                    Some(f) if g.representable(&target, &mut BTreeSet::new()) => into.push((m, f)),
                    _ => g.report.push(format!("{dir} member {name}.{m}: not in the SDK crate (skipped)")),
                }
            }
        }
        ops.push(Op { name: name.clone(), cli: cli_name(name), sdk_op, gated, input, output, in_fields, out_fields });
    }

    // Shapes reachable per direction, and whether only gated operations reach them.
    let mut reach: BTreeMap<(Dir, bool), BTreeSet<String>> = BTreeMap::new();
    for op in &ops {
        for (dir, shape, fields) in [(Dir::In, &op.input, &op.in_fields), (Dir::Out, &op.output, &op.out_fields)] {
            let Some(shape) = shape else { continue };
            let s = g.shape(shape);
            let mut set = reach.remove(&(dir, op.gated)).unwrap_or_default();
            for (m, _) in fields {
                let target = member_shape(s, m);
                g.reach(&target, &mut set);
            }
            reach.insert((dir, op.gated), set);
        }
    }
    let mut impls: BTreeMap<(String, Dir), bool> = BTreeMap::new();
    for ((dir, gated), set) in &reach {
        for shape in set {
            let e = impls.entry((shape.clone(), *dir)).or_insert(*gated);
            *e = *e && *gated;
        }
    }

    let rust = emit_rust(svc, &mut g, &ops, &impls, models, botocore_version, sdk_version);
    let table = emit_table(svc, &mut g, &ops, models, botocore_version, sdk_version);
    let mut report = std::mem::take(&mut g.report);
    report.sort();
    report.dedup();
    report.push(format!(
        "{} operations ({} behind feature {GATE}), {} conversions",
        ops.len(),
        ops.iter().filter(|o| o.gated).count(),
        impls.len()
    ));
    Ok(Generated { rust, table, report })
}

fn cfg(gated: bool) -> &'static str {
    if gated {
        "#[cfg(feature = \"ec2-all\")]\n"
    } else {
        ""
    }
}

fn emit_rust(
    svc: &Service,
    g: &mut Gen,
    ops: &[Op],
    impls: &BTreeMap<(String, Dir), bool>,
    models: &Models,
    botocore_version: &str,
    sdk_version: &str,
) -> String {
    let krate = svc.krate.replace('-', "_");
    let mut o = String::new();
    let _ = writeln!(
        o,
        "// Code generated by runbook-codegen from botocore {botocore_version} ({} {}) for {} {sdk_version}. DO NOT EDIT.\n",
        svc.botocore, models.api_version, svc.krate
    );
    let _ = writeln!(o, "#![allow(unused_imports, unused_variables, deprecated, clippy::needless_question_mark)]\n");
    let _ = writeln!(o, "use crate::convert::{{ConvError, Fields, FromRhai, Obj, Path, ToRhai}};");
    let _ = writeln!(o, "use crate::error::CallError;");
    let _ = writeln!(o, "use {krate} as sdk;");
    let _ = writeln!(o, "use rhai::{{Dynamic, Map}};");
    let _ = writeln!(o, "use sdk::types as t;\n");
    let _ = writeln!(o, "pub const SERVICE: &str = \"{}\";", svc.module);
    let _ = writeln!(o, "pub const TABLE: &str = include_str!(\"{}.json\");\n", svc.module);

    // Names, for registering functions without parsing the table.
    let _ = writeln!(o, "/// (script function, operation) for every operation this build includes.");
    let _ = writeln!(o, "pub const OPERATIONS: &[(&str, &str)] = &[");
    for op in ops {
        if op.gated {
            let _ = write!(o, "    {}", cfg(true));
        }
        let _ = writeln!(o, "    (\"{}\", \"{}\"),", op.cli, op.name);
    }
    let _ = writeln!(o, "];\n");
    let _ = writeln!(o, "/// (script function, waiter) for every waiter this build includes.");
    let _ = writeln!(o, "pub const WAITERS: &[(&str, &str)] = &[");
    for (name, w) in models.waiters["waiters"].as_object().into_iter().flatten() {
        let Some(op) = ops.iter().find(|o| w["operation"].as_str() == Some(o.name.as_str())) else { continue };
        if op.gated {
            let _ = write!(o, "    {}", cfg(true));
        }
        let _ = writeln!(o, "    (\"wait_{}\", \"{name}\"),", cli_name(name));
    }
    let _ = writeln!(o, "];\n");

    // Dispatch.
    let _ = writeln!(o, "/// Starts the call of operation `op` (the model's name) with an input already validated.");
    let _ = writeln!(
        o,
        "pub fn call<'a>(c: &'a sdk::Client, op: &str, input: &'a Map) -> Option<crate::request::CallFuture<'a>> {{"
    );
    let _ = writeln!(o, "    let f: crate::request::CallFuture<'a> = match op {{");
    for op in ops {
        if op.gated {
            let _ = write!(o, "        {}", cfg(true));
        }
        let _ = writeln!(o, "        \"{}\" => Box::pin(op_{}(c, input)),", op.name, op.sdk_op);
    }
    let _ = writeln!(o, "        _ => return None,\n    }};\n    Some(f)\n}}\n");

    for op in ops {
        let _ = write!(o, "{}", cfg(op.gated));
        let _ = writeln!(o, "async fn op_{}(c: &sdk::Client, input: &Map) -> Result<Dynamic, CallError> {{", op.sdk_op);
        let _ = writeln!(o, "    let root = Path::Root;");
        let _ = writeln!(o, "    let i = Fields::new(input, &root);");
        let _ = write!(o, "    let out = c.{}()", op.sdk_op);
        for (m, f) in &op.in_fields {
            let _ = write!(o, "\n        .set_{}(i.get(\"{m}\")?)", f.trim_start_matches("r#"));
        }
        let _ = writeln!(
            o,
            "\n        .send()\n        .await\n        .map_err(|e| CallError::sdk(SERVICE, \"{}\", e))?;\n    crate::request::note_request_id(&out);",
            op.name
        );
        if op.out_fields.is_empty() {
            let _ = writeln!(o, "    let _ = out;\n    Ok(Obj::new().into())\n}}\n");
        } else {
            let _ = write!(o, "    Ok(Obj::new()");
            for (m, f) in &op.out_fields {
                let _ = write!(o, "\n        .put(\"{m}\", &out.{f})");
            }
            let _ = writeln!(o, "\n        .into())\n}}\n");
        }
    }

    for ((shape, dir), gated) in impls {
        let ty = match g.sdk_enum(shape).or_else(|| g.sdk_type(shape)) {
            Some(t) => t.to_string(),
            None => continue,
        };
        let _ = write!(o, "{}", cfg(*gated));
        if g.sdk_enum(shape).is_some() {
            let mac = if *dir == Dir::In { "enum_from_rhai" } else { "enum_to_rhai" };
            let _ = writeln!(o, "crate::{mac}!(t::{ty});\n");
            continue;
        }
        let members = g.members(shape);
        let union = g.is_union(shape);
        match (dir, union) {
            (Dir::In, false) => {
                let fallible = g.sdk.types.get(&ty).is_some_and(|t| t.fallible);
                let _ = writeln!(o, "impl FromRhai for t::{ty} {{");
                let _ = writeln!(o, "    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {{");
                let _ = writeln!(
                    o,
                    "        let m = crate::convert::map_of(v, path)?;\n        let i = Fields::new(&m, path);"
                );
                let _ = write!(o, "        let b = t::{ty}::builder()");
                for (m, f) in &members {
                    let _ = write!(o, "\n            .set_{}(i.get(\"{m}\")?)", f.trim_start_matches("r#"));
                }
                let _ = writeln!(o, ";");
                if fallible {
                    let _ = writeln!(o, "        b.build().map_err(|e| i.build_error(e))\n    }}\n}}\n");
                } else {
                    let _ = writeln!(o, "        Ok(b.build())\n    }}\n}}\n");
                }
            }
            (Dir::Out, false) => {
                let _ = writeln!(o, "impl ToRhai for t::{ty} {{");
                let _ = writeln!(o, "    fn to_rhai(&self) -> Dynamic {{");
                let _ = write!(o, "        Obj::new()");
                for (m, f) in &members {
                    let _ = write!(o, "\n            .put(\"{m}\", &self.{f})");
                }
                let _ = writeln!(o, "\n            .into()\n    }}\n}}\n");
            }
            (Dir::In, true) => {
                let names: Vec<String> = members.iter().map(|(m, _)| format!("\"{m}\"")).collect();
                let _ = writeln!(o, "impl FromRhai for t::{ty} {{");
                let _ = writeln!(o, "    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {{");
                let _ = writeln!(
                    o,
                    "        let m = crate::convert::map_of(v, path)?;\n        let i = Fields::new(&m, path);"
                );
                let _ = writeln!(o, "        match i.one_of(&[{}])? {{", names.join(", "));
                for (m, f) in &members {
                    let _ = writeln!(o, "            \"{m}\" => Ok(Self::{f}(i.require(\"{m}\")?)),");
                }
                let _ = writeln!(o, "            other => Err(i.unknown_member(other)),\n        }}\n    }}\n}}\n");
            }
            (Dir::Out, true) => {
                let _ = writeln!(o, "impl ToRhai for t::{ty} {{");
                let _ = writeln!(o, "    fn to_rhai(&self) -> Dynamic {{");
                let _ = writeln!(o, "        match self {{");
                for (m, f) in &members {
                    let _ = writeln!(o, "            Self::{f}(v) => Obj::new().put(\"{m}\", v).into(),");
                }
                let _ = writeln!(o, "            _ => Obj::new().into(),\n        }}\n    }}\n}}\n");
            }
        }
    }
    o
}

/// The JSON table: operations (function name, shapes, paginator, feature), waiters, and every shape
/// the operations reach, with only the members the SDK crate has. No documentation text.
fn emit_table(
    svc: &Service,
    g: &mut Gen,
    ops: &[Op],
    models: &Models,
    botocore_version: &str,
    sdk_version: &str,
) -> String {
    let paginators = &models.paginators["pagination"];
    let mut needed = BTreeSet::new();
    let mut op_entries = Vec::new();
    for op in ops {
        let mut e = Map::new();
        e.insert("fn".into(), json!(op.cli));
        for (k, shape, fields) in [("input", &op.input, &op.in_fields), ("output", &op.output, &op.out_fields)] {
            if let Some(s) = shape {
                e.insert(k.into(), json!(s));
                needed.insert(s.clone());
                let sv = g.shape(s);
                for (m, _) in fields {
                    collect(g, &member_shape(sv, m), &mut needed);
                }
            }
        }
        if op.gated {
            e.insert("feature".into(), json!(GATE));
        }
        if read_only(&models.service, &op.name) {
            e.insert("readonly".into(), json!(true));
        }
        if let Some(p) = paginators.get(&op.name) {
            e.insert("paginator".into(), p.clone());
        }
        op_entries.push((op.name.clone(), Value::Object(e)));
    }
    let mut shape_entries = Vec::new();
    for name in &needed {
        let s = g.shape(name);
        let mut e = Map::new();
        let ty = s["type"].as_str().unwrap_or("");
        e.insert("type".into(), json!(ty));
        for flag in ["union", "document", "sensitive"] {
            if s[flag].as_bool() == Some(true) {
                e.insert(flag.into(), json!(true));
            }
        }
        if ty == "structure" {
            let kept: BTreeSet<String> =
                if g.is_document(name) {
                    BTreeSet::new()
                } else if op_entries.iter().any(|(_, o)| o["input"] == json!(name) || o["output"] == json!(name)) {
                    // Operation input/output shapes: the members the operation maps.
                    ops.iter()
                        .filter(|o| o.input.as_deref() == Some(name) || o.output.as_deref() == Some(name))
                        .flat_map(|o| {
                            if o.input.as_deref() == Some(name) {
                                o.in_fields.clone()
                            } else {
                                o.out_fields.clone()
                            }
                        })
                        .map(|(m, _)| m)
                        .collect()
                } else {
                    g.members(name).into_iter().map(|(m, _)| m).collect()
                };
            let mut members = Map::new();
            let mut tokens = Vec::new();
            for (m, spec) in s["members"].as_object().into_iter().flatten() {
                if kept.contains(m) {
                    members.insert(m.clone(), spec["shape"].clone());
                    if spec["idempotencyToken"].as_bool() == Some(true) {
                        tokens.push(m.clone());
                    }
                }
            }
            let required: Vec<&Value> = s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r.as_str().is_some_and(|r| kept.contains(r)))
                .collect();
            e.insert("members".into(), Value::Object(members));
            if !required.is_empty() {
                e.insert("required".into(), json!(required));
            }
            if !tokens.is_empty() {
                e.insert("idempotency_tokens".into(), json!(tokens));
            }
        }
        if let Some(values) = s.get("enum") {
            e.insert("enum".into(), values.clone());
        }
        // Bounds: a number's range, a string's or a list's length; a string's pattern.
        for k in ["min", "max", "pattern"] {
            if let Some(v) = s.get(k) {
                e.insert(k.into(), v.clone());
            }
        }
        for k in ["member", "key", "value"] {
            if let Some(t) = s[k]["shape"].as_str() {
                e.insert(k.into(), json!(t));
            }
        }
        shape_entries.push((name.clone(), Value::Object(e)));
    }
    let mut waiter_entries = Vec::new();
    for (name, w) in models.waiters["waiters"].as_object().into_iter().flatten() {
        let Some(op_name) = w["operation"].as_str() else { continue };
        let Some(op) = ops.iter().find(|o| o.name == op_name) else { continue };
        let mut e = Map::new();
        e.insert("fn".into(), json!(format!("wait_{}", cli_name(name))));
        for k in ["operation", "delay", "maxAttempts", "acceptors"] {
            if let Some(v) = w.get(k) {
                e.insert(k.into(), v.clone());
            }
        }
        if op.gated {
            e.insert("feature".into(), json!(GATE));
        }
        waiter_entries.push((name.clone(), Value::Object(e)));
    }

    let mut o = String::new();
    let head = json!({
        "generated": "by runbook-codegen; do not edit",
        "module": svc.module,
        "service_id": models.service["metadata"]["serviceId"],
        "protocol": models.service["metadata"]["protocol"],
        // The prefix of the service's IAM actions: its SigV4 signing name, which defaults to its
        // endpoint prefix (`elasticloadbalancing` for elbv2).
        "iam_prefix": models.service["metadata"]["signingName"]
            .as_str()
            .or_else(|| models.service["metadata"]["endpointPrefix"].as_str()),
        "api_version": models.api_version,
        "botocore": botocore_version,
        "sdk": format!("{} {sdk_version}", svc.krate),
        "reference": svc.reference,
    });
    let head = head.to_string();
    let _ = writeln!(o, "{},", head.trim_end_matches('}'));
    for (key, entries) in [("operations", &op_entries), ("waiters", &waiter_entries), ("shapes", &shape_entries)] {
        let _ = write!(o, "\"{key}\": {{");
        for (i, (name, v)) in entries.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(o, "{sep}\n  {}: {}", json!(name), v);
        }
        let last = key == "shapes";
        let _ = write!(o, "\n}}{}\n", if last { "" } else { "," });
    }
    o.push_str("}\n");
    o
}

/// Every shape reachable from `shape` (all kinds), for the table.
fn collect(g: &mut Gen, shape: &str, into: &mut BTreeSet<String>) {
    if shape.is_empty() || !into.insert(shape.to_string()) {
        return;
    }
    let s = g.shape(shape);
    match s["type"].as_str().unwrap_or("") {
        "structure" if !g.is_document(shape) => {
            for (m, _) in g.members(shape) {
                collect(g, &member_shape(s, &m), into);
            }
        }
        "list" => collect(g, s["member"]["shape"].as_str().unwrap_or(""), into),
        "map" => {
            collect(g, s["key"]["shape"].as_str().unwrap_or(""), into);
            collect(g, s["value"]["shape"].as_str().unwrap_or(""), into);
        }
        _ => {}
    }
}

/// Whether an operation only reads. A model's `readonly` mark is taken at its word where it is
/// given; where it is not (every operation of ELBv2, EC2, IAM and Application Auto Scaling, and the
/// older operations of ACM, in botocore 1.44.5), the aws CLI's read verbs decide. Anything else
/// counts as a write, so an unknown verb errs on the side of `plan` not sending it.
fn read_only(service: &Value, op: &str) -> bool {
    if let Some(marked) = service["operations"][op]["readonly"].as_bool() {
        return marked;
    }
    ["Describe", "List", "Get"]
        .iter()
        .any(|verb| op.strip_prefix(verb).is_some_and(|rest| rest.chars().next().is_some_and(char::is_uppercase)))
}
