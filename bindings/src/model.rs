//! The generated table of each service: operations, paginators, waiters and shapes, without any
//! documentation text. Parsed on first use of a service.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// The IAM model's shape of policy documents: text on the wire, a map in scripts (see `policy`).
pub const POLICY_DOCUMENT: &str = "policyDocumentType";

/// A service's table. Operations and waiters are parsed at once; shapes stay as slices of the
/// embedded JSON text until first used (a script touches a few dozen of EC2's thousands).
#[derive(Debug, Deserialize)]
pub struct Table<'a> {
    pub module: String,
    pub service_id: String,
    pub protocol: String,
    /// The prefix of its IAM actions (`elasticloadbalancing`), from the model's signing name.
    pub iam_prefix: String,
    pub api_version: String,
    pub botocore: String,
    pub sdk: String,
    pub reference: String,
    pub operations: BTreeMap<String, Operation>,
    pub waiters: BTreeMap<String, Waiter>,
    #[serde(borrow)]
    shapes: HashMap<&'a str, &'a RawValue>,
    #[serde(skip)]
    parsed: Mutex<HashMap<String, &'static Shape>>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    #[serde(rename = "fn")]
    pub func: String,
    pub input: Option<String>,
    pub output: Option<String>,
    pub feature: Option<String>,
    pub paginator: Option<Paginator>,
    /// Only reads (from the model; see the generator). Everything else is a write.
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Paginator {
    pub input_token: OneOrMany,
    pub output_token: OneOrMany,
    pub result_key: Option<OneOrMany>,
    pub limit_key: Option<String>,
    pub more_results: Option<String>,
    #[serde(default)]
    pub non_aggregate_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Waiter {
    #[serde(rename = "fn")]
    pub func: String,
    pub operation: String,
    pub delay: u64,
    #[serde(rename = "maxAttempts")]
    pub max_attempts: u64,
    pub acceptors: Vec<Acceptor>,
}

#[derive(Debug, Deserialize)]
pub struct Acceptor {
    pub state: String,
    pub matcher: String,
    pub argument: Option<String>,
    pub expected: Value,
}

#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: String,
    /// Member name → shape name, in the model's order.
    #[serde(default)]
    pub members: serde_json::Map<String, Value>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(rename = "enum", default)]
    pub values: Vec<String>,
    pub member: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    #[serde(default)]
    pub union: bool,
    #[serde(default)]
    pub document: bool,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub idempotency_tokens: Vec<String>,
    /// A number's least value, or a string's or list's least length.
    pub min: Option<f64>,
    /// A number's greatest value, or a string's or list's greatest length.
    pub max: Option<f64>,
    /// A string's pattern, which the whole value must match (AWS checks it so: `my role` is not a
    /// role name under `[\w+=,.@-]+`).
    pub pattern: Option<String>,
    #[serde(skip)]
    resolved: OnceLock<Resolved>,
    #[serde(skip)]
    regex: OnceLock<Option<regex::Regex>>,
}

/// A shape's kind as a closed set, and the shapes it refers to looked up once: what walking an
/// input or output needs per value, without a name lookup in the table for every member.
pub struct Resolved {
    pub kind: Kind,
    /// Members sorted by name, each with its shape (`None` if the table lacks it).
    members: Vec<(&'static str, Option<&'static Shape>)>,
    /// A list's element shape, a map's value shape.
    pub member: Option<&'static Shape>,
    pub value: Option<&'static Shape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Long,
    Double,
    Float,
    Boolean,
    Timestamp,
    Blob,
    List,
    Map,
    Structure,
    Document,
    Other,
}

impl Resolved {
    /// `None` for a name that is not a member; `Some(None)` for a member whose shape is missing.
    pub fn member_shape(&self, name: &str) -> Option<Option<&'static Shape>> {
        self.members.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| self.members[i].1)
    }
}

impl std::fmt::Debug for Resolved {
    // Shapes can refer to themselves; the kind and member count are enough to show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resolved({:?}, {} members)", self.kind, self.members.len())
    }
}

impl Shape {
    /// The shape's pattern, compiled once; `None` without one, or when the model's expression is
    /// not one this regex engine takes (then it is not checked).
    pub fn regex(&self) -> Option<&regex::Regex> {
        self.regex
            .get_or_init(|| self.pattern.as_deref().and_then(|p| regex::Regex::new(&format!("^(?:{p})$")).ok()))
            .as_ref()
    }

    pub fn member_shape(&self, member: &str) -> Option<&str> {
        self.members.get(member).and_then(Value::as_str)
    }

    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }
}

impl Table<'_> {
    pub fn parse(text: &'static str) -> Result<Table<'static>, String> {
        serde_json::from_str(text).map_err(|e| format!("generated table is unreadable: {e}"))
    }

    /// The shape, parsed on first use. Parsed shapes live as long as the process, like the table.
    pub fn shape(&self, name: &str) -> Option<&'static Shape> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = parsed.get(name) {
            return Some(s);
        }
        let shape: Shape = serde_json::from_str(self.shapes.get(name)?.get()).ok()?;
        let shape: &'static Shape = Box::leak(Box::new(shape));
        parsed.insert(name.to_string(), shape);
        Some(shape)
    }

    /// `shape`'s kind and the shapes it refers to, looked up on first use.
    pub fn resolved(&self, shape: &'static Shape) -> &'static Resolved {
        shape.resolved.get_or_init(|| {
            let kind = match shape.kind.as_str() {
                "string" => Kind::String,
                "integer" => Kind::Integer,
                "long" => Kind::Long,
                "double" => Kind::Double,
                "float" => Kind::Float,
                "boolean" => Kind::Boolean,
                "timestamp" => Kind::Timestamp,
                "blob" => Kind::Blob,
                "list" => Kind::List,
                "map" => Kind::Map,
                "structure" if shape.document => Kind::Document,
                "structure" => Kind::Structure,
                _ => Kind::Other,
            };
            let mut members: Vec<(&'static str, Option<&'static Shape>)> = shape
                .members
                .iter()
                .map(|(name, target)| (name.as_str(), target.as_str().and_then(|t| self.shape(t))))
                .collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Resolved {
                kind,
                members,
                member: shape.member.as_deref().and_then(|m| self.shape(m)),
                value: shape.value.as_deref().and_then(|v| self.shape(v)),
            }
        })
    }

    /// Every shape's name, in no order.
    pub fn shape_names(&self) -> impl Iterator<Item = &str> {
        self.shapes.keys().copied()
    }

    /// The operation a script function name stands for.
    pub fn operation_by_fn(&self, func: &str) -> Option<(&str, &Operation)> {
        self.operations.iter().find(|(_, o)| o.func == func).map(|(n, o)| (n.as_str(), o))
    }

    pub fn reference_url(&self, operation: &str) -> String {
        format!("{}{operation}.html", self.reference)
    }

    /// A short type description of a shape, as `help` shows it: `string`, `list<Action>`, `Protocol (enum)`.
    pub fn describe(&self, name: &str) -> String {
        let Some(s) = self.shape(name) else { return name.to_string() };
        match s.kind.as_str() {
            "string" if !s.values.is_empty() => "string (enum)".to_string(),
            "string" if name == POLICY_DOCUMENT => "policy document (a map, or its JSON text)".to_string(),
            "list" => format!("list<{}>", self.describe(s.member.as_deref().unwrap_or("?"))),
            "map" => format!(
                "map<{}, {}>",
                self.describe(s.key.as_deref().unwrap_or("?")),
                self.describe(s.value.as_deref().unwrap_or("?"))
            ),
            "structure" if s.document => "document".to_string(),
            "structure" if s.union => format!("{name} (union)"),
            "structure" => name.to_string(),
            other => other.to_string(),
        }
    }
}

/// Walks a value along its shape and calls `f` on every part whose shape `wanted` picks (by name
/// and shape), without going further inside it. Structures, lists and maps are followed; the walk
/// stops 32 levels down.
pub fn visit(
    table: &Table,
    shape_name: &str,
    v: &mut rhai::Dynamic,
    wanted: &dyn Fn(&str, &Shape) -> bool,
    f: &mut dyn FnMut(&mut rhai::Dynamic),
) {
    visit_at(table, shape_name, v, 0, wanted, f);
}

fn visit_at(
    table: &Table,
    shape_name: &str,
    v: &mut rhai::Dynamic,
    depth: usize,
    wanted: &dyn Fn(&str, &Shape) -> bool,
    f: &mut dyn FnMut(&mut rhai::Dynamic),
) {
    let Some(shape) = table.shape(shape_name) else { return };
    if wanted(shape_name, shape) {
        f(v);
        return;
    }
    if depth > 32 {
        return;
    }
    match shape.kind.as_str() {
        "structure" => {
            if let Some(mut m) = v.write_lock::<rhai::Map>() {
                for (k, item) in m.iter_mut() {
                    if let Some(target) = shape.member_shape(k) {
                        visit_at(table, target, item, depth + 1, wanted, f);
                    }
                }
            }
        }
        "list" => {
            if let (Some(member), Some(mut items)) = (shape.member.as_deref(), v.write_lock::<rhai::Array>()) {
                items.iter_mut().for_each(|item| visit_at(table, member, item, depth + 1, wanted, f));
            }
        }
        "map" => {
            if let (Some(value), Some(mut m)) = (shape.value.as_deref(), v.write_lock::<rhai::Map>()) {
                m.values_mut().for_each(|item| visit_at(table, value, item, depth + 1, wanted, f));
            }
        }
        _ => {}
    }
}
