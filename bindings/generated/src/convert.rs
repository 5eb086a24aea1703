//! The one conversion layer between Rhai values and SDK values.
//!
//! Generated code pairs each SDK setter or field with these traits; the compiler picks the impl from
//! the SDK's own field types, so the generator never has to know whether the SDK made a member
//! `Option<T>` or `T`.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::{Blob, DateTime, Document, Number};
use base64::Engine as _;
use rhai::{Array, Dynamic, ImmutableString, Map, INT};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;

/// Where a value sits inside an operation's input, rendered only when an error needs it.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => write!(f, "{k}"),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// A value that does not fit the member it was given for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConvError {}

impl ConvError {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        ConvError { path: path.to_string(), message: message.into() }
    }

    pub fn expected(path: &Path, what: &str, got: &Dynamic) -> Self {
        Self::new(path, format!("expected {what}, got {}", type_name(got)))
    }
}

/// The script-facing name of a value's type, as errors show it.
pub fn type_name(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "()"
    } else if v.is_string() || v.is_char() {
        "string"
    } else if v.is_int() {
        "integer"
    } else if v.is_float() {
        "float"
    } else if v.is_bool() {
        "boolean"
    } else if v.is_array() {
        "array"
    } else if v.is_map() {
        "object map"
    } else if v.is_blob() {
        "blob"
    } else if v.is_fnptr() {
        "function pointer"
    } else {
        "value"
    }
}

pub trait FromRhai: Sized {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError>;
}

pub trait ToRhai {
    fn to_rhai(&self) -> Dynamic;
    /// `None` for an absent optional member, which the output then leaves out, like the aws CLI.
    fn to_rhai_opt(&self) -> Option<Dynamic> {
        Some(self.to_rhai())
    }
}

/// Read access to the members of one input object.
pub struct Fields<'a> {
    map: &'a Map,
    path: &'a Path<'a>,
}

/// The object map inside `v`, or an error naming what was found instead.
pub fn map_of<'a>(v: &'a Dynamic, path: &Path) -> Result<impl Deref<Target = Map> + 'a, ConvError> {
    v.read_lock::<Map>().ok_or_else(|| ConvError::expected(path, "object map", v))
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map, path: &'a Path<'a>) -> Self {
        Fields { map, path }
    }

    /// The member `key`, converted; `None` when it is absent or `()`.
    pub fn get<T: FromRhai>(&self, key: &str) -> Result<Option<T>, ConvError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => T::from_rhai(v, &Path::Key(self.path, key)).map(Some),
        }
    }

    pub fn require<T: FromRhai>(&self, key: &str) -> Result<T, ConvError> {
        self.get(key)?.ok_or_else(|| ConvError::new(&Path::Key(self.path, key), "missing required member"))
    }

    /// For unions: the one member that is set.
    pub fn one_of(&self, names: &[&'static str]) -> Result<&'static str, ConvError> {
        let set: Vec<&'static str> =
            names.iter().copied().filter(|n| self.map.get(*n).is_some_and(|v| !v.is_unit())).collect();
        match set.as_slice() {
            [one] => Ok(one),
            [] => Err(ConvError::new(self.path, format!("set exactly one of {}", names.join(", ")))),
            many => Err(ConvError::new(
                self.path,
                format!("set exactly one of {}, not {}", names.join(", "), many.join(" and ")),
            )),
        }
    }

    pub fn unknown_member(&self, name: &str) -> ConvError {
        ConvError::new(self.path, format!("unknown member {name}"))
    }

    pub fn build_error(&self, e: impl fmt::Display) -> ConvError {
        ConvError::new(self.path, e.to_string())
    }
}

/// Builds an output object, leaving out absent members.
pub struct Obj(Map);

impl Obj {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Obj(Map::new())
    }

    pub fn put<T: ToRhai + ?Sized>(mut self, key: &str, v: &T) -> Self {
        if let Some(d) = v.to_rhai_opt() {
            self.0.insert(key.into(), d);
        }
        self
    }
}

impl From<Obj> for Dynamic {
    fn from(o: Obj) -> Dynamic {
        Dynamic::from_map(o.0)
    }
}

// ---- scalars ------------------------------------------------------------------------------------

impl FromRhai for String {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        if let Some(s) = v.read_lock::<ImmutableString>() {
            // Not `to_string()`, which goes through the formatter.
            return Ok(s.as_str().to_owned());
        }
        if let Ok(c) = v.as_char() {
            return Ok(c.to_string());
        }
        Err(ConvError::expected(path, "string", v))
    }
}

impl FromRhai for bool {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        v.as_bool().map_err(|_| ConvError::expected(path, "boolean", v))
    }
}

impl FromRhai for i64 {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        v.as_int().map_err(|_| ConvError::expected(path, "integer", v))
    }
}

impl FromRhai for i32 {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        let n = i64::from_rhai(v, path)?;
        i32::try_from(n).map_err(|_| ConvError::new(path, format!("integer {n} is out of range for a 32-bit member")))
    }
}

impl FromRhai for f64 {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        if let Ok(f) = v.as_float() {
            return Ok(f);
        }
        v.as_int().map(|i| i as f64).map_err(|_| ConvError::expected(path, "number", v))
    }
}

impl FromRhai for f32 {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        f64::from_rhai(v, path).map(|f| f as f32)
    }
}

impl FromRhai for DateTime {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        if let Ok(secs) = v.as_int() {
            return Ok(DateTime::from_secs(secs));
        }
        let s = String::from_rhai(v, path)
            .map_err(|_| ConvError::expected(path, "timestamp (ISO-8601 string or epoch seconds)", v))?;
        DateTime::from_str(&s, Format::DateTime)
            .or_else(|_| DateTime::from_str(&s.replace("+00:00", "Z"), Format::DateTime))
            .map_err(|e| ConvError::new(path, format!("invalid ISO-8601 timestamp {s:?}: {e}")))
    }
}

impl FromRhai for Blob {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        if v.is_blob() {
            return Ok(Blob::new(v.clone().into_blob().unwrap_or_default()));
        }
        let s = String::from_rhai(v, path).map_err(|_| ConvError::expected(path, "blob or base64 string", v))?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Blob::new)
            .map_err(|e| ConvError::new(path, format!("invalid base64: {e}")))
    }
}

impl FromRhai for Document {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        if v.is_unit() {
            return Ok(Document::Null);
        }
        if let Ok(b) = v.as_bool() {
            return Ok(Document::Bool(b));
        }
        if let Ok(i) = v.as_int() {
            return Ok(Document::Number(if i < 0 { Number::NegInt(i) } else { Number::PosInt(i as u64) }));
        }
        if let Ok(f) = v.as_float() {
            return Ok(Document::Number(Number::Float(f)));
        }
        if let Some(a) = v.read_lock::<Array>() {
            let mut out = Vec::with_capacity(a.len());
            for (i, item) in a.iter().enumerate() {
                out.push(Document::from_rhai(item, &Path::Index(path, i))?);
            }
            return Ok(Document::Array(out));
        }
        if let Some(m) = v.read_lock::<Map>() {
            let mut out = HashMap::with_capacity(m.len());
            for (k, item) in m.iter() {
                out.insert(k.as_str().to_owned(), Document::from_rhai(item, &Path::Key(path, k))?);
            }
            return Ok(Document::Object(out));
        }
        String::from_rhai(v, path).map(Document::String)
    }
}

impl<T: FromRhai> FromRhai for Vec<T> {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        let a = v.read_lock::<Array>().ok_or_else(|| ConvError::expected(path, "array", v))?;
        // Sized once: collecting `Result`s would grow the vector by doubling, copying every element.
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.iter().enumerate() {
            out.push(T::from_rhai(item, &Path::Index(path, i))?);
        }
        Ok(out)
    }
}

/// A map key read from a script: a string, or the wire string of an SDK enum.
pub trait KeyIn: Sized + Eq + std::hash::Hash {
    fn from_key(k: &str) -> Self;
}

/// A map key written to a script.
pub trait KeyOut {
    fn to_key(&self) -> String;
}

impl KeyIn for String {
    fn from_key(k: &str) -> Self {
        k.to_string()
    }
}

impl KeyOut for String {
    fn to_key(&self) -> String {
        self.clone()
    }
}

impl<K: KeyIn, T: FromRhai> FromRhai for HashMap<K, T> {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        let m = map_of(v, path)?;
        m.iter().map(|(k, item)| Ok((K::from_key(k), T::from_rhai(item, &Path::Key(path, k))?))).collect()
    }
}

impl<T: FromRhai> FromRhai for Box<T> {
    fn from_rhai(v: &Dynamic, path: &Path) -> Result<Self, ConvError> {
        T::from_rhai(v, path).map(Box::new)
    }
}

impl ToRhai for String {
    fn to_rhai(&self) -> Dynamic {
        self.as_str().into()
    }
}

impl ToRhai for str {
    fn to_rhai(&self) -> Dynamic {
        self.into()
    }
}

impl ToRhai for bool {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_bool(*self)
    }
}

impl ToRhai for i32 {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_int(INT::from(*self))
    }
}

impl ToRhai for i64 {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_int(*self)
    }
}

impl ToRhai for f64 {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_float(*self)
    }
}

impl ToRhai for f32 {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_float(f64::from(*self))
    }
}

impl ToRhai for DateTime {
    fn to_rhai(&self) -> Dynamic {
        iso8601(self).into()
    }
}

/// A timestamp the way the aws CLI prints one: `2024-05-01T12:00:00+00:00`, with microseconds when
/// they are not zero. The CLI reads epoch-second timestamps (`1796027665.3972225`) as a double and
/// rounds its fraction to the microsecond, half to even; so does this, on the double the same text
/// reads as. Timestamps sent as text with whole microseconds come out unchanged.
pub fn iso8601(t: &DateTime) -> String {
    use std::fmt::Write;
    let read = t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9;
    let mut secs = read.floor() as i64;
    let mut micros = ((read - read.floor()) * 1e6).round_ties_even() as u32;
    if micros >= 1_000_000 {
        secs += 1;
        micros -= 1_000_000;
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(32);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out.push_str("+00:00");
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl ToRhai for Blob {
    fn to_rhai(&self) -> Dynamic {
        base64::engine::general_purpose::STANDARD.encode(self.as_ref()).into()
    }
}

impl ToRhai for Document {
    fn to_rhai(&self) -> Dynamic {
        match self {
            Document::Null => Dynamic::UNIT,
            Document::Bool(b) => Dynamic::from_bool(*b),
            Document::Number(Number::PosInt(n)) => match i64::try_from(*n) {
                Ok(i) => Dynamic::from_int(i),
                Err(_) => Dynamic::from_float(*n as f64),
            },
            Document::Number(Number::NegInt(n)) => Dynamic::from_int(*n),
            Document::Number(Number::Float(f)) => Dynamic::from_float(*f),
            Document::String(s) => s.as_str().into(),
            Document::Array(a) => Dynamic::from_array(a.iter().map(ToRhai::to_rhai).collect()),
            Document::Object(m) => Dynamic::from_map(m.iter().map(|(k, v)| (k.as_str().into(), v.to_rhai())).collect()),
        }
    }
}

impl<T: ToRhai> ToRhai for Option<T> {
    fn to_rhai(&self) -> Dynamic {
        self.as_ref().map(ToRhai::to_rhai).unwrap_or(Dynamic::UNIT)
    }
    fn to_rhai_opt(&self) -> Option<Dynamic> {
        self.as_ref().map(ToRhai::to_rhai)
    }
}

impl<T: ToRhai> ToRhai for Vec<T> {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_array(self.iter().map(ToRhai::to_rhai).collect())
    }
}

impl<K: KeyOut, T: ToRhai> ToRhai for HashMap<K, T> {
    fn to_rhai(&self) -> Dynamic {
        Dynamic::from_map(self.iter().map(|(k, v)| (k.to_key().into(), v.to_rhai())).collect())
    }
}

impl<T: ToRhai + ?Sized> ToRhai for Box<T> {
    fn to_rhai(&self) -> Dynamic {
        (**self).to_rhai()
    }
}

/// `FromRhai` for an SDK string enum: the wire string, checked against the model beforehand.
#[macro_export]
#[doc(hidden)]
macro_rules! enum_from_rhai {
    ($t:ty) => {
        impl $crate::convert::FromRhai for $t {
            fn from_rhai(v: &rhai::Dynamic, path: &$crate::convert::Path) -> Result<Self, $crate::convert::ConvError> {
                if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
                    return Ok(<$t>::from(s.as_str()));
                }
                let s = <String as $crate::convert::FromRhai>::from_rhai(v, path)?;
                Ok(<$t>::from(s.as_str()))
            }
        }
        impl $crate::convert::KeyIn for $t {
            fn from_key(k: &str) -> Self {
                <$t>::from(k)
            }
        }
    };
}

/// `ToRhai` for an SDK string enum: its wire string.
#[macro_export]
#[doc(hidden)]
macro_rules! enum_to_rhai {
    ($t:ty) => {
        impl $crate::convert::ToRhai for $t {
            fn to_rhai(&self) -> rhai::Dynamic {
                self.as_str().into()
            }
        }
        impl $crate::convert::KeyOut for $t {
            fn to_key(&self) -> String {
                self.as_str().to_string()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_the_input() {
        let root = Path::Root;
        let a = Path::Key(&root, "DefaultActions");
        let b = Path::Index(&a, 0);
        let c = Path::Key(&b, "TargetGroupArn");
        assert_eq!(c.to_string(), "DefaultActions[0].TargetGroupArn");
    }

    #[test]
    fn wrong_types_name_the_path_and_both_types() {
        let root = Path::Root;
        let p = Path::Key(&root, "Port");
        let e = String::from_rhai(&Dynamic::from_int(80), &p).unwrap_err();
        assert_eq!(e.to_string(), "Port: expected string, got integer");
        let e = i32::from_rhai(&Dynamic::from_int(1 << 40), &p).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn timestamps_print_like_the_aws_cli() {
        assert_eq!(iso8601(&DateTime::from_secs(0)), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(&DateTime::from_millis(1_500)), "1970-01-01T00:00:01.500000+00:00");
        // The same text as the SDK's own RFC 3339 formatting, rewritten the CLI's way, across
        // leap years, centuries and fractions.
        let by_sdk = |t: &DateTime| {
            let s = t.fmt(Format::DateTime).unwrap();
            let base = s.strip_suffix('Z').unwrap();
            match base.split_once('.') {
                Some((whole, frac)) => {
                    let micros: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
                    if micros == "000000" {
                        format!("{whole}+00:00")
                    } else {
                        format!("{whole}.{micros}+00:00")
                    }
                }
                None => format!("{base}+00:00"),
            }
        };
        let mut secs: i64 = -2_208_988_800; // 1900-01-01
        while secs < 4_102_444_800 {
            // 2100-01-01
            for nanos in [0u32, 1_000, 123_456_000, 999_999_000] {
                let t = DateTime::from_secs_and_nanos(secs, nanos);
                assert_eq!(iso8601(&t), by_sdk(&t), "{secs}.{nanos}");
            }
            secs += 86_400 * 7 + 3_661;
        }
        // Epoch seconds with more digits than microseconds round as the CLI (Python's datetime) rounds.
        let epoch = |s: &str| iso8601(&DateTime::from_str(s, Format::EpochSeconds).unwrap());
        assert_eq!(epoch("1796027665.3972225"), "2026-11-30T08:34:25.397223+00:00");
        assert_eq!(epoch("1796027665.0000005"), "2026-11-30T08:34:25+00:00");
        assert_eq!(epoch("1700000000.9999996"), "2023-11-14T22:13:21+00:00");
        assert_eq!(epoch("1796027665.123456"), "2026-11-30T08:34:25.123456+00:00");
        let back = DateTime::from_rhai(&Dynamic::from("1970-01-01T00:00:01.500000+00:00"), &Path::Root).unwrap();
        assert_eq!(back, DateTime::from_millis(1_500));
    }
}
