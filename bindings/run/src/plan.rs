//! Plans: a write that is not sent answers a placeholder shaped like its real output
//! (`<elbv2.create_target_group#1 TargetGroups[0].TargetGroupArn>`), built from the model; a read
//! that names something only planned, by a placeholder or by the name it would have, is answered
//! from the plan, its filters applied, so a runbook that looks before it creates plans what it
//! would do.

use rhai::{Dynamic, Map};
use runbook_bindings::call::Svc;
use runbook_bindings::json;
use runbook_bindings::model::Table;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A write that was not sent, and what it answered.
struct Planned {
    /// `<elbv2.create_target_group#1 ` — every placeholder of this write starts with it.
    label: String,
    /// Where it would be made ([`runbook_bindings::runtime::Context::place_key`]): reads elsewhere do not see it.
    place: String,
    /// The members and values that name what it would create (its `…Name` members), so later
    /// reads of them are answered from the plan.
    names: Vec<(String, String)>,
    input: Map,
    /// The structures of its answer by shape name, reused when a read asks for the same shape.
    by_shape: HashMap<String, Dynamic>,
    top: Map,
}

/// The writes a run planned instead of sending, and the reads it answered from them.
#[derive(Default)]
pub struct Plan {
    planned: RefCell<Vec<Planned>>,
    /// Reads answered from the plan instead of being sent.
    pub answered: Cell<u64>,
}

impl Plan {
    /// The first placeholder found in `input`, if any.
    pub fn placeholder_in(&self, input: &Map) -> Option<String> {
        let planned = self.planned.borrow();
        if planned.is_empty() {
            return None;
        }
        let mut found = None;
        json::for_each_string_in(input, &mut |s| {
            if found.is_none() && planned.iter().any(|p| s.contains(&p.label)) {
                found = Some(s.to_string());
            }
        });
        found
    }

    /// A read that names something only planned (by a placeholder or by the name it would have)
    /// is answered from the plan, shaped like its real output.
    pub fn answer(&self, table: &Table, place: &str, svc: Svc, op: &str, input: &Map) -> Option<Dynamic> {
        let all = self.planned.borrow();
        // Only what is planned in the place the read goes to: a region or account of its own
        // answers for itself.
        let planned: Vec<&Planned> = all.iter().filter(|p| p.place == place).collect();
        if planned.is_empty() {
            return None;
        }
        let mut refs: Vec<usize> = Vec::new();
        let mut placeholders: Vec<String> = Vec::new();
        json::for_each_string_in(input, &mut |s| {
            for (i, p) in planned.iter().enumerate() {
                if s.contains(&p.label) {
                    placeholders.push(s.to_string());
                }
                if !refs.contains(&i) && (s.contains(&p.label) || p.names.iter().any(|(_, n)| n == s)) {
                    refs.push(i);
                }
            }
        });
        // Planned writes that use the same planned values are about the same things (the
        // listener planned on a planned load balancer answers a read of that load balancer's listeners).
        for (i, p) in planned.iter().enumerate() {
            let mut shares = false;
            json::for_each_string_in(&p.input, &mut |s| shares |= placeholders.iter().any(|x| x == s));
            if shares && !refs.contains(&i) {
                refs.push(i);
            }
        }
        if refs.is_empty() {
            return None;
        }
        self.answered.set(self.answered.get() + 1);
        let func = table.operations.get(op).map(|o| o.func.as_str()).unwrap_or(op);
        let known: Vec<&Planned> = refs.iter().map(|&i| planned[i]).collect();
        let filters = Filters::of(input);
        let mut b = Builder {
            table,
            label: format!("<{}.{func} ", svc.module()),
            known: &known,
            by_shape: None,
            answer: true,
            filters: &filters,
        };
        let answer = b.output(table.operations.get(op).and_then(|o| o.output.as_deref()));
        if let Some(name) = filters.unchecked.borrow().first() {
            eoutln!(
                "[plan] {}::{func}: the filter {name} cannot be checked against resources that are only planned; \
                 they are listed as if it matched",
                svc.module()
            );
        }
        Some(answer)
    }

    /// Records a write that is not sent (the `seq`th write of the run, `svc::function`) and
    /// answers its placeholder.
    pub fn record(&self, table: &Table, place: &str, op: &str, input: &Map, function: &str, seq: u64) -> Dynamic {
        let func = function.replace("::", ".");
        let label = format!("<{func}#{seq} ");
        let mut planned = Planned {
            label: label.clone(),
            place: place.to_string(),
            names: names_in(op, input),
            input: input.clone(),
            by_shape: HashMap::new(),
            top: Map::new(),
        };
        // The write's own input is echoed where its output has a member of the same name and type
        // (its `by_shape` is still empty, so nothing else is reused).
        let (answer, by_shape) = {
            let own = [&planned];
            let none = Filters::default();
            let mut b =
                Builder { table, label, known: &own, by_shape: Some(HashMap::new()), answer: false, filters: &none };
            let answer = b.output(table.operations.get(op).and_then(|o| o.output.as_deref()));
            (answer, b.by_shape.take().unwrap_or_default())
        };
        planned.by_shape = by_shape;
        planned.top = answer.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
        self.planned.borrow_mut().push(planned);
        answer
    }
}

/// Whether a value stands for something only planned (`<elbv2.create_target_group#1 …>`).
pub use crate::kinds::is_placeholder;

/// A value of `shape` built from the model alone, every string a placeholder starting with
/// `label`: what a call nobody planned could take or answer (see `needs`).
pub fn placeholder(table: &Table, shape: Option<&str>, label: &str) -> Dynamic {
    let none = Filters::default();
    let mut b = Builder { table, label: label.to_string(), known: &[], by_shape: None, answer: false, filters: &none };
    b.output(shape)
}

/// The values that name what a creating write makes: its top-level string members called `…Name`
/// (and ECS's `family`), so that later look-ups by those names are answered from the plan.
fn names_in(op: &str, input: &Map) -> Vec<(String, String)> {
    let creates = ["Create", "Register", "Run", "Put", "Allocate", "Import", "Copy"].iter().any(|v| op.starts_with(v));
    if !creates {
        return Vec::new();
    }
    input
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().ends_with("name") || k.as_str() == "family")
        .filter_map(|(k, v)| Some((k.to_string(), v.clone().into_string().ok()?)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// Builds placeholder answers from the model: structures member by member, one element per list,
/// strings as `<svc.fn#N Path>`, numbers 0, booleans false; values known from the plan are reused.
struct Builder<'a, 'p> {
    table: &'a Table<'a>,
    label: String,
    known: &'p [&'p Planned],
    /// Filled with each structure built, by shape name (for a write's own answer).
    by_shape: Option<HashMap<String, Dynamic>>,
    /// Answering a read: its lists hold only what the plan would create.
    answer: bool,
    /// The read's EC2 `Filters`, applied to what the plan would create.
    filters: &'p Filters,
}

/// A read's EC2-style `Filters` (`[#{ Name: "tag:Name", Values: ["web-a"] }]`), applied to planned
/// resources: `tag:KEY` and `tag-key` to the tags their create call gives them, any other name
/// (`vpc-id`, `cidr-block`, `group-name`, `availability-zone`, …) to the member of the same name
/// without dashes and case (`VpcId`). A filter that names no such member is noted in `unchecked`.
#[derive(Default)]
struct Filters {
    list: Vec<(String, Vec<String>)>,
    unchecked: RefCell<Vec<String>>,
}

impl Filters {
    fn of(input: &Map) -> Filters {
        let v = json::map_to_value(input);
        let list = v["Filters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let name = f["Name"].as_str()?.to_string();
                let values = f["Values"].as_array()?.iter().map(plain).collect();
                Some((name, values))
            })
            .collect();
        Filters { list, unchecked: RefCell::new(Vec::new()) }
    }

    /// Whether a planned resource (its answer `item`, made by a write with `input`) passes.
    fn pass(&self, item: &Dynamic, input: &Map) -> bool {
        let item = json::to_value(item);
        let input = json::map_to_value(input);
        self.list.iter().all(|(name, values)| {
            let have: Option<Vec<String>> = if let Some(key) = name.strip_prefix("tag:") {
                Some(tags_of(&input).into_iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect())
            } else if name == "tag-key" {
                Some(tags_of(&input).into_iter().map(|(k, _)| k).collect())
            } else {
                member_values(&item, name).or_else(|| member_values(&input, name))
            };
            // A placeholder stands for a value the plan does not know: it matches only itself.
            let unknown = |have: &[String]| !have.is_empty() && have.iter().all(|h| is_placeholder(h));
            match have {
                Some(have) if have.iter().any(|h| values.iter().any(|v| glob(v, h))) => true,
                Some(have) if !unknown(&have) => false,
                _ => {
                    let mut unchecked = self.unchecked.borrow_mut();
                    if !unchecked.contains(name) {
                        unchecked.push(name.clone());
                    }
                    true
                }
            }
        })
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The tags a create call gives: `Tags` (key/value lists) and EC2 `TagSpecifications`.
fn tags_of(input: &Value) -> Vec<(String, String)> {
    let mut lists = vec![&input["Tags"]];
    lists.extend(input["TagSpecifications"].as_array().into_iter().flatten().map(|s| &s["Tags"]));
    lists
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|t| Some((t["Key"].as_str()?.to_string(), plain(&t["Value"]))))
        .collect()
}

/// The values of the member a filter name stands for (`vpc-id` → `VpcId`), if there is one.
fn member_values(v: &Value, filter: &str) -> Option<Vec<String>> {
    let squash = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    let want = squash(filter);
    let (_, found) = v.as_object()?.iter().find(|(k, _)| squash(k) == want)?;
    Some(match found {
        Value::Array(a) => a.iter().map(plain).collect(),
        Value::Object(_) | Value::Null => return None,
        other => vec![plain(other)],
    })
}

/// EC2 filter values may hold `*` (any run of characters) and `?` (one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Builder<'_, '_> {
    fn output(&mut self, shape: Option<&str>) -> Dynamic {
        match shape {
            Some(s) => {
                let mut stack = Vec::new();
                self.value(s, "", &mut stack)
            }
            None => Dynamic::from_map(Map::new()),
        }
    }

    /// Whether a read's list would list something planned: a structure a planned write answered,
    /// or one with a member that names it (`GroupName` of a planned security group).
    fn planned_item(&self, shape_name: &str) -> bool {
        let Some(shape) = self.table.shape(shape_name).filter(|s| s.kind == "structure") else { return false };
        self.known.iter().any(|k| {
            k.by_shape.contains_key(shape_name) || k.names.iter().any(|(m, _)| shape.member_shape(m).is_some())
        })
    }

    fn value(&mut self, shape_name: &str, path: &str, stack: &mut Vec<String>) -> Dynamic {
        // A policy document AWS makes (a service-linked role's trust) reaches the script as a map;
        // what is in it the plan cannot know.
        if shape_name == runbook_bindings::model::POLICY_DOCUMENT {
            return Dynamic::from_map(Map::new());
        }
        let Some(shape) = self.table.shape(shape_name) else { return Dynamic::UNIT };
        match shape.kind.as_str() {
            "structure" => {
                if let Some(v) = self.known.iter().find_map(|k| k.by_shape.get(shape_name)) {
                    return v.clone();
                }
                // Recursive shapes stop at their second appearance, and every branch at depth 8.
                if stack.iter().any(|s| s == shape_name) || stack.len() >= 8 || shape.document {
                    return Dynamic::from_map(Map::new());
                }
                stack.push(shape_name.to_string());
                let mut m = Map::new();
                for (member, target) in shape.members.iter() {
                    let Some(target) = target.as_str() else { continue };
                    let p = if path.is_empty() { member.clone() } else { format!("{path}.{member}") };
                    let known = self
                        .known
                        .iter()
                        .find_map(|k| k.input.get(member.as_str()).or_else(|| k.top.get(member.as_str())));
                    let v = match known {
                        Some(v) if fits(self.table, target, v) => v.clone(),
                        _ => self.value(target, &p, stack),
                    };
                    m.insert(member.as_str().into(), v);
                }
                stack.pop();
                let v = Dynamic::from_map(m);
                if let Some(b) = self.by_shape.as_mut() {
                    b.entry(shape_name.to_string()).or_insert_with(|| v.clone());
                }
                v
            }
            "list" => {
                let member = shape.member.clone().unwrap_or_default();
                if self.answer && !self.planned_item(&member) {
                    return Dynamic::from_array(vec![]);
                }
                // A read lists each planned resource of this shape that passes its filters.
                let made: Vec<(&Dynamic, &Map)> =
                    self.known.iter().filter_map(|k| Some((k.by_shape.get(&member)?, &k.input))).collect();
                if self.answer && !made.is_empty() {
                    let items: Vec<Dynamic> = made
                        .into_iter()
                        .filter(|(item, input)| self.filters.pass(item, input))
                        .map(|(item, _)| item.clone())
                        .collect();
                    return Dynamic::from_array(items);
                }
                let one = self.value(&member, &format!("{path}[0]"), stack);
                Dynamic::from_array(vec![one])
            }
            "map" => Dynamic::from_map(Map::new()),
            "integer" | "long" => Dynamic::from_int(0),
            "float" | "double" => Dynamic::from_float(0.0),
            "boolean" => Dynamic::FALSE,
            _ => format!("{}{path}>", self.label).into(),
        }
    }
}

/// Whether a value known from the plan can stand for a member of this shape.
fn fits(table: &Table, shape: &str, v: &Dynamic) -> bool {
    let kind = table.shape(shape).map(|s| s.kind.as_str()).unwrap_or("");
    match kind {
        "string" | "timestamp" | "blob" => v.is_string(),
        "integer" | "long" => v.is_int(),
        "float" | "double" => v.is_float() || v.is_int(),
        "boolean" => v.is_bool(),
        "list" => v.is_array(),
        "structure" | "map" => v.is_map(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: serde_json::Value) -> Map {
        json::from_value(&v).try_cast::<Map>().unwrap()
    }

    #[test]
    fn filter_values_match_as_ec2_matches_them() {
        assert!(glob("web-*", "web-a") && glob("*", "") && glob("w?b", "web") && glob("a*b*c", "a-b-c"));
        assert!(!glob("web-*", "db-a") && !glob("w?b", "wb") && !glob("abc", "abcd"));
    }

    #[test]
    fn filters_look_at_tags_members_and_placeholders() {
        let input = map(serde_json::json!({
            "VpcId": "<ec2.create_vpc#1 Vpc.VpcId>",
            "CidrBlock": "10.1.1.0/24",
            "TagSpecifications": [{ "ResourceType": "subnet", "Tags": [{ "Key": "Name", "Value": "a" }] }],
        }));
        let item = json::from_value(&serde_json::json!({
            "SubnetId": "<ec2.create_subnet#2 Subnet.SubnetId>", "VpcId": "<ec2.create_vpc#1 Vpc.VpcId>",
            "CidrBlock": "10.1.1.0/24", "AvailabilityZone": "<ec2.create_subnet#2 Subnet.AvailabilityZone>",
        }));
        let pass = |filters: serde_json::Value| {
            let f = Filters::of(&map(serde_json::json!({ "Filters": filters })));
            let passed = f.pass(&item, &input);
            let unchecked = f.unchecked.borrow().clone();
            (passed, unchecked)
        };
        let name = |n: &str, v: &str| serde_json::json!([{ "Name": n, "Values": [v] }]);
        assert_eq!(pass(name("tag:Name", "a")), (true, vec![]));
        assert_eq!(pass(name("tag:Name", "b")), (false, vec![]));
        assert_eq!(pass(name("vpc-id", "<ec2.create_vpc#1 Vpc.VpcId>")), (true, vec![]));
        assert_eq!(pass(name("cidr-block", "10.1.*")), (true, vec![]));
        assert_eq!(pass(name("cidr-block", "10.2.0.0/24")), (false, vec![]));
        // A placeholder stands for a value the plan does not know; a filter it cannot answer passes
        // and is named.
        assert_eq!(pass(name("availability-zone", "us-east-1a")), (true, vec!["availability-zone".to_string()]));
        assert_eq!(pass(name("state", "available")), (true, vec!["state".to_string()]));
    }
}
