//! `runbook show RUN --timeline FILE.svg|.html`: a run as a picture, drawn from its journal alone
//! (and its children's, for a fleet), so that it works for a run made on another machine.
//!
//! One lane per target (one for a run alone); each request a bar from its start, as long as it
//! took; reads, writes, waits, retries, lock waits and failures told apart by colour and height.
//! The critical path is marked: the targets one after another that decided when the fleet ended
//! (each started when the one before it freed its slot), or the whole of a run alone.

use runbook_run::journal;
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// One request, wait or pause, as the picture draws it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub kind: String,
    pub what: String,
    pub start_ms: u64,
    pub ms: u64,
    pub error: Option<String>,
    pub count: u64,
    pub detail: String,
    pub at: String,
    /// A look-up answered "not found": an answer the script asked for, not a failure.
    pub not_found: bool,
}

impl Bar {
    /// Failed: an error other than a retry's cause or a look-up's "not found".
    pub fn failed(&self) -> bool {
        self.error.is_some() && self.kind != "retry" && !self.not_found
    }
}

/// One run: a fleet's target or a run alone.
#[derive(Debug, Clone)]
pub struct Lane {
    pub label: String,
    pub run: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub status: String,
    pub bars: Vec<Bar>,
    pub critical: bool,
    /// The process that started it (a shard of a fleet): one target waits only for another of
    /// the same process.
    pub group: String,
}

/// What a run's records say took time: the `events` its records carry or, for a journal older than
/// them, its writes (placed by the second their intent was written).
pub fn bars(records: &[Value]) -> Vec<Bar> {
    let calls: Vec<&Value> = records.iter().flat_map(|r| r["events"].as_array().into_iter().flatten()).collect();
    if !calls.is_empty() {
        return calls
            .iter()
            .map(|c| Bar {
                kind: c["kind"].as_str().unwrap_or("read").to_string(),
                what: c["what"].as_str().unwrap_or("?").to_string(),
                start_ms: c["t"].as_u64().unwrap_or(0),
                ms: c["ms"].as_u64().unwrap_or(0),
                error: c["error"].as_str().map(str::to_string),
                count: c["n"].as_u64().unwrap_or(1),
                detail: c["detail"].as_str().unwrap_or("").to_string(),
                at: c["at"].as_str().unwrap_or("").to_string(),
                not_found: c["not_found"] == true,
            })
            .collect();
    }
    records
        .iter()
        .filter(|r| r["type"] == "intent")
        .map(|intent| {
            let outcome = records.iter().find(|o| o["type"] == "outcome" && o["seq"] == intent["seq"]);
            Bar {
                kind: "write".into(),
                what: intent["function"].as_str().unwrap_or("?").to_string(),
                start_ms: intent["time"].as_str().and_then(epoch_ms).unwrap_or(0),
                ms: outcome.and_then(|o| o["ms"].as_u64()).unwrap_or(0),
                error: outcome.and_then(|o| o["error"]["code"].as_str()).map(str::to_string),
                count: 1,
                detail: String::new(),
                at: intent["at"].as_str().unwrap_or("").to_string(),
                not_found: false,
            }
        })
        .collect()
}

/// `2026-11-24T09:05:12Z` as milliseconds since the Unix epoch.
fn epoch_ms(text: &str) -> Option<u64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|p| p.parse::<f64>());
    let (h, min, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // Days from the civil date (the proleptic Gregorian calendar).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + s;
    (secs >= 0.0).then_some((secs * 1000.0) as u64)
}

/// A run's lane from its records.
fn lane(label: String, records: &[Value]) -> Lane {
    let start = records.iter().find(|r| r["type"] == "start").cloned().unwrap_or(Value::Null);
    let end = records.iter().rev().find(|r| r["type"] == "end");
    let bars = bars(records);
    let first = bars.iter().map(|b| b.start_ms).min().unwrap_or(0);
    let start_ms = start["started_ms"].as_u64().unwrap_or(first);
    let last = bars.iter().map(|b| b.start_ms + b.ms).max().unwrap_or(start_ms);
    let end_ms =
        end.and_then(|e| e["seconds"].as_f64()).map(|s| start_ms + (s * 1000.0) as u64).unwrap_or(last).max(last);
    // Without an end record the run was killed (or goes on): its journal ends at its last record.
    let status = end.and_then(|e| e["outcome"].as_str()).unwrap_or("unfinished (no end record)").to_string();
    // A "not found" is an answer only where the script went on: the one that ended a failed run
    // is its failure.
    let mut bars = bars;
    if status == "failed" {
        let code = end.and_then(|e| e["error"]["code"].as_str());
        if let Some(last) = bars.iter_mut().rev().find(|b| b.error.is_some() && b.kind != "retry") {
            if code.is_none() || last.error.as_deref() == code {
                last.not_found = false;
            }
        }
    }
    Lane {
        label,
        run: start["run"].as_str().unwrap_or("?").to_string(),
        start_ms,
        end_ms,
        status,
        bars,
        critical: false,
        group: String::new(),
    }
}

/// The lanes of a run alone or of a fleet (one per target it started, in the order they started),
/// with the critical path marked. `read` reads a child's journal.
pub fn lanes(records: &[Value], read: &dyn Fn(&str) -> Result<Vec<Value>, String>) -> Result<Vec<Lane>, String> {
    if !crate::fleet::is_fleet(records) {
        let mut one = lane("run".into(), records);
        one.critical = true;
        return Ok(vec![one]);
    }
    let mut lanes = Vec::new();
    for child in records.iter().filter(|r| r["type"] == "child") {
        let (Some(run), Some(label)) = (child["run"].as_str(), child["target"].as_str()) else { continue };
        let mut lane = match read(run) {
            Ok(child_records) => lane(label.to_string(), &child_records),
            // A child that never wrote its journal (it could not start) is drawn from the fleet's.
            Err(_) => {
                let at = child["time_ms"].as_u64().unwrap_or(0);
                Lane {
                    label: label.to_string(),
                    run: run.to_string(),
                    start_ms: at,
                    end_ms: at,
                    status: "no journal".into(),
                    bars: vec![],
                    critical: false,
                    group: String::new(),
                }
            }
        };
        if let Some(end) = records.iter().find(|r| r["type"] == "child_end" && r["run"] == run) {
            lane.status = end["status"].as_str().unwrap_or(&lane.status).to_string();
            if let Some(t) = end["time_ms"].as_u64() {
                lane.end_ms = t;
            }
        }
        if let Some(t) = child["time_ms"].as_u64() {
            lane.start_ms = t;
        }
        lane.group = child["shard_run"].as_str().unwrap_or("").to_string();
        lanes.push(lane);
    }
    if lanes.is_empty() {
        return Err("the fleet started no target: there is no call to draw".into());
    }
    // Targets the fleet never started (Ctrl-C, --max-errors, unreachable): a lane each, empty.
    let end = lanes.iter().map(|l| l.end_ms).max().unwrap_or(0);
    let shard = |r: &Value| r["shard"].as_array().and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)));
    for start in records.iter().filter(|r| r["type"] == "start") {
        let mine = |p: usize| shard(start).is_none_or(|(i, n)| n == 0 || p as u64 % n == i - 1);
        for (_, t) in start["targets"].as_array().into_iter().flatten().enumerate().filter(|(p, _)| mine(*p)) {
            let Some(label) = t["label"].as_str() else { continue };
            if !lanes.iter().any(|l| l.label == label) {
                lanes.push(Lane {
                    label: label.to_string(),
                    run: "-".into(),
                    start_ms: end,
                    end_ms: end,
                    status: "not started".into(),
                    bars: vec![],
                    critical: false,
                    group: String::new(),
                });
            }
        }
    }
    mark_critical(&mut lanes);
    Ok(lanes)
}

/// How long after another target's end a target may start and still have waited for it (the
/// fleet starts the next target as soon as it sees a slot free).
const HANDOFF_MS: u64 = 2_000;

/// Marks the targets that decided when the fleet ended: the last to end, the one whose end let it
/// start, and so on back to one that started while no other had ended (with the fleet). Both
/// times of a target come from the fleet's own clock: it starts and reaps every child.
pub fn mark_critical(lanes: &mut [Lane]) {
    // A target never started decided nothing.
    let ran = |l: &Lane| l.status != "not started";
    let Some(mut at) = (0..lanes.len()).filter(|&i| ran(&lanes[i])).max_by_key(|&i| lanes[i].end_ms) else { return };
    loop {
        lanes[at].critical = true;
        let start = lanes[at].start_ms;
        let group = lanes[at].group.clone();
        let before = (0..lanes.len())
            .filter(|&i| !lanes[i].critical && ran(&lanes[i]) && lanes[i].group == group && lanes[i].end_ms <= start)
            .filter(|&i| start - lanes[i].end_ms <= HANDOFF_MS)
            .max_by_key(|&i| lanes[i].end_ms);
        match before {
            Some(b) => at = b,
            None => return,
        }
    }
}

/// The picture's colours by kind, and failures'.
const COLOURS: [(&str, &str); 5] =
    [("read", "#4e79a7"), ("write", "#f28e2b"), ("wait", "#9c9c9c"), ("retry", "#edc948"), ("lock", "#b07aa1")];
const FAILED: &str = "#e15759";

fn colour(kind: &str) -> &'static str {
    COLOURS.iter().find(|(k, _)| *k == kind).map(|(_, c)| *c).unwrap_or("#4e79a7")
}

/// (top offset, height) of a bar within its lane: waits and lock waits behind, writes tallest.
fn band(kind: &str) -> (f64, f64) {
    match kind {
        "wait" | "lock" => (3.0, 30.0),
        "write" => (7.0, 22.0),
        "retry" => (11.0, 14.0),
        _ => (11.0, 14.0),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Milliseconds between axis ticks: about eight across.
fn tick_step(total_ms: u64) -> u64 {
    let want = (total_ms / 8).max(1);
    [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 1_800_000, 3_600_000,
    ]
    .into_iter()
    .find(|s| *s >= want)
    .unwrap_or(3_600_000)
}

/// A time on the axis: `40ms`, `2s`, `2.5s`, `1m30s`.
fn seconds(ms: u64) -> String {
    match ms {
        0 => "0s".into(),
        1..1_000 => format!("{ms}ms"),
        _ if ms.is_multiple_of(1000) && ms >= 60_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{:.1}s", ms as f64 / 1000.0),
    }
}

/// How long something took, as every label and hover says it: `98 ms`, `2.3 s`.
fn took(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 250.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 64.0;
const LANE: f64 = 40.0;

/// The picture as SVG: `title` above, the lanes, an axis of seconds from the first start.
pub fn svg(title: &str, lanes: &[Lane]) -> String {
    let t0 = lanes
        .iter()
        .map(|l| l.start_ms)
        .chain(lanes.iter().flat_map(|l| l.bars.iter().map(|b| b.start_ms)))
        .min()
        .unwrap_or(0);
    let t1 = lanes
        .iter()
        .map(|l| l.end_ms)
        .chain(lanes.iter().flat_map(|l| l.bars.iter().map(|b| b.start_ms + b.ms)))
        .max()
        .unwrap_or(t0);
    let total = (t1 - t0).max(1);
    let scale = (WIDTH - LEFT - RIGHT) / total as f64;
    let x = |ms: u64| LEFT + (ms.saturating_sub(t0)) as f64 * scale;
    let height = TOP + LANE * lanes.len() as f64 + 40.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" data-calls="{}" data-lanes="{}" data-total-ms="{total}">"##,
        lanes.iter().map(|l| l.bars.len()).sum::<usize>(),
        lanes.len()
    );
    o.push_str(
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e6e6e6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9c9c9c" stroke-width="3"/></pattern>
<pattern id="hatch-lock" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" fill="#efe3ec"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b07aa1" stroke-width="3"/></pattern></defs>
<rect width="100%" height="100%" fill="#ffffff"/>
"##,
    );
    let _ = writeln!(o, r##"<text x="12" y="22" font-size="15" font-weight="bold">{}</text>"##, esc(title));
    // The legend: each kind's mark, failures and the critical path.
    let mut lx = 12.0;
    let legend: [(&str, &str); 8] = [
        ("read", "read"),
        ("write", "write"),
        ("wait", "wait (waiter polls)"),
        ("retry", "retry pause"),
        ("lock", "lock wait"),
        ("failed", "failed"),
        ("not found", "not found (a look-up)"),
        ("critical", "critical path"),
    ];
    for (kind, words) in legend {
        let mark = match kind {
            "wait" => r##"fill="url(#hatch)" stroke="#7f7f7f""##.to_string(),
            "lock" => r##"fill="url(#hatch-lock)" stroke="#b07aa1""##.to_string(),
            "failed" => format!(r##"fill="{FAILED}" stroke="#8b1e20""##),
            "not found" => r##"fill="#ffffff" stroke="#4e79a7" stroke-width="1.5""##.to_string(),
            "critical" => r##"fill="#c0392b""##.to_string(),
            k => format!(r##"fill="{}""##, colour(k)),
        };
        let h = if kind == "critical" { 4.0 } else { 12.0 };
        let _ = writeln!(o, r##"<rect x="{lx}" y="{}" width="14" height="{h}" {mark}/>"##, 44.0 - h / 2.0);
        let _ = writeln!(o, r##"<text x="{}" y="48">{}</text>"##, lx + 18.0, esc(words));
        lx += 24.0 + words.len() as f64 * 6.6;
    }
    // The axis: a tick every step, a faint line down through the lanes.
    let step = tick_step(total);
    let bottom = TOP + LANE * lanes.len() as f64;
    let mut at = 0;
    while at <= total {
        let tx = LEFT + at as f64 * scale;
        let _ = writeln!(o, r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{bottom}" stroke="#eeeeee"/>"##);
        let _ = writeln!(
            o,
            r##"<text x="{tx:.1}" y="{}" text-anchor="middle" fill="#555555" class="tick">+{}</text>"##,
            bottom + 16.0,
            seconds(at)
        );
        at += step;
    }
    for (i, lane) in lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64;
        let failed = !matches!(lane.status.as_str(), "succeeded" | "no change");
        let _ = writeln!(
            o,
            r##"<g class="lane" data-index="{i}" data-label="{}" data-run="{}" data-status="{}" data-critical="{}" data-start-ms="{}" data-end-ms="{}">"##,
            esc(&lane.label),
            esc(&lane.run),
            esc(&lane.status),
            lane.critical,
            lane.start_ms,
            lane.end_ms
        );
        let _ = writeln!(
            o,
            r##"<text x="12" y="{}" {}>{}</text>"##,
            y + 19.0,
            if lane.critical { r#"font-weight="bold""# } else { "" },
            esc(&lane.label)
        );
        let _ = writeln!(
            o,
            r##"<text x="12" y="{}" font-size="10" fill="{}">{} · {} · {}</text>"##,
            y + 32.0,
            if failed { FAILED } else { "#777777" },
            esc(&lane.status),
            took(lane.end_ms.saturating_sub(lane.start_ms)),
            esc(&lane.run)
        );
        let (lx0, lx1) = (x(lane.start_ms), x(lane.end_ms));
        let _ = writeln!(
            o,
            r##"<rect x="{lx0:.1}" y="{}" width="{:.1}" height="{}" fill="#f5f5f5" stroke="{}" {}><title>{}: {} for {}</title></rect>"##,
            y + 2.0,
            (lx1 - lx0).max(1.0),
            LANE - 4.0,
            if failed { FAILED } else { "#dddddd" },
            if failed { r#"stroke-dasharray="4 2""# } else { "" },
            esc(&lane.label),
            esc(&lane.status),
            took(lane.end_ms.saturating_sub(lane.start_ms))
        );
        if lane.critical {
            let _ = writeln!(
                o,
                r##"<rect class="critical" x="{lx0:.1}" y="{}" width="{:.1}" height="3" fill="#c0392b"><title>critical path: {}</title></rect>"##,
                y + LANE - 4.0,
                (lx1 - lx0).max(1.0),
                esc(&lane.label)
            );
        }
        // Waits first, so that their polls are drawn over them.
        let mut order: Vec<(usize, &Bar)> = lane.bars.iter().enumerate().collect();
        order.sort_by_key(|(n, b)| (!matches!(b.kind.as_str(), "wait" | "lock"), *n));
        for (n, b) in order {
            let (dy, h) = band(&b.kind);
            let bx = x(b.start_ms);
            let w = (b.ms as f64 * scale).max(2.0);
            let fill = match (&b.error, b.kind.as_str()) {
                (Some(_), "retry") => colour("retry").to_string(),
                (Some(_), _) if b.not_found => "#ffffff".to_string(),
                (Some(_), _) => FAILED.to_string(),
                (None, "wait") => "url(#hatch)".into(),
                (None, "lock") => "url(#hatch-lock)".into(),
                (None, k) => colour(k).to_string(),
            };
            let stroke = match (&b.error, b.kind.as_str()) {
                (Some(_), "retry") => r##"stroke="#a88a00""##,
                (Some(_), _) if b.not_found => r##"stroke="#4e79a7" stroke-width="1.5""##,
                (Some(_), _) => r##"stroke="#8b1e20" stroke-width="1.5""##,
                (None, "wait") => r##"stroke="#7f7f7f""##,
                (None, "lock") => r##"stroke="#b07aa1""##,
                _ => "",
            };
            let mut tip =
                format!("{} ({}) at +{}, {}", b.what, b.kind, seconds(b.start_ms.saturating_sub(t0)), took(b.ms));
            if b.count > 1 || b.kind == "wait" {
                let counted = if b.kind == "wait" {
                    plural(b.count, "poll", "polls")
                } else {
                    plural(b.count, "attempt", "attempts")
                };
                let _ = write!(tip, ", {counted}");
            }
            if let Some(e) = &b.error {
                let _ = write!(tip, ", {e}{}", if b.not_found { " (not found: an answer)" } else { "" });
            }
            if !b.detail.is_empty() {
                let _ = write!(tip, ": {}", b.detail);
            }
            if !b.at.is_empty() {
                let _ = write!(tip, " ({})", b.at);
            }
            let _ = writeln!(
                o,
                r##"<rect class="call" data-n="{n}" data-kind="{}" data-failed="{}" data-critical="{}" data-start-ms="{}" data-ms="{}" x="{bx:.2}" y="{}" width="{w:.2}" height="{h}" fill="{fill}" {stroke}><title>{}</title></rect>"##,
                b.kind,
                b.failed(),
                lane.critical,
                b.start_ms,
                b.ms,
                y + dy,
                esc(&tip)
            );
            // A retry's pause gets a diamond above it; a failure a cross.
            let cx = bx + w / 2.0;
            if b.kind == "retry" {
                let top = y + dy - 2.0;
                let _ = writeln!(o, r##"<path d="M{cx:.1} {:.1} l4 4 l-4 4 l-4 -4 z" fill="#a88a00"/>"##, top - 8.0);
            } else if b.failed() {
                let top = y + dy - 9.0;
                let _ = writeln!(
                    o,
                    r##"<path d="M{:.1} {top:.1} l7 7 M{:.1} {top:.1} l-7 7" stroke="{FAILED}" stroke-width="2"/>"##,
                    cx - 3.5,
                    cx + 3.5
                );
            }
        }
        o.push_str("</g>\n");
    }
    o.push_str("</svg>\n");
    o
}

/// The picture in a page: the SVG, a table of each lane's counts, and a note the page's script
/// fills in once the browser has laid the bars out (how many it drew).
pub fn html(title: &str, lanes: &[Lane]) -> String {
    let mut rows = String::new();
    for l in lanes {
        let count = |k: &str| l.bars.iter().filter(|b| b.kind == k).count();
        let failed = l.bars.iter().filter(|b| b.failed()).count();
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.label),
            esc(&l.status),
            took(l.end_ms.saturating_sub(l.start_ms)),
            count("read"),
            count("write"),
            count("wait"),
            count("retry"),
            count("lock"),
            failed,
            if l.critical { "yes" } else { "" }
        );
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>body{{font-family:sans-serif;margin:16px;color:#222}} table{{border-collapse:collapse;margin-top:12px}} td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}} td:first-child,th:first-child{{text-align:left}} svg .call:hover{{stroke:#000;stroke-width:2}}</style>
</head><body>
{svg}
<table><tr><th>lane</th><th>status</th><th>time</th><th>reads</th><th>writes</th><th>waits</th><th>retries</th><th>lock waits</th><th>failed</th><th>critical</th></tr>
{rows}</table>
<p id="drawn"></p>
<script>
addEventListener("load", () => {{
  const calls = [...document.querySelectorAll("svg .call")];
  const drawn = calls.filter(c => {{ const b = c.getBBox(); return b.width > 0 && b.height > 0; }}).length;
  document.body.dataset.drawn = String(drawn);
  document.getElementById("drawn").textContent = drawn + " of " + calls.length + " calls drawn";
}});
</script>
</body></html>
"##,
        t = esc(title),
        svg = svg(title, lanes),
    )
}

/// `show RUN --timeline FILE`: writes the picture of `records` (a run alone or a fleet).
pub fn write(dir: &Path, records: &[Value], file: &Path) -> Result<String, String> {
    let html = match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => false,
        Some("html" | "htm") => true,
        _ => {
            return Err(format!(
                "--timeline {}: the picture is written as .svg or .html; give a file name ending in one",
                file.display()
            ))
        }
    };
    let lanes = lanes(records, &|run| journal::read(dir, run))?;
    let start = records.iter().find(|r| r["type"] == "start").cloned().unwrap_or(Value::Null);
    let title = format!(
        "{} {} of {} — {}",
        if lanes.len() > 1 || crate::fleet::is_fleet(records) { "fleet" } else { "run" },
        start["fleet_id"].as_str().or(start["run"].as_str()).unwrap_or("?"),
        start["file"].as_str().unwrap_or("?"),
        start["time"].as_str().unwrap_or("")
    );
    let text = if html { self::html(&title, &lanes) } else { svg(&title, &lanes) };
    std::fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let count = |k: &str| lanes.iter().flat_map(|l| &l.bars).filter(|b| b.kind == k).count() as u64;
    let mut what = vec![plural(count("read") + count("write"), "request", "requests")];
    let others =
        [("wait", "wait", "waits"), ("retry", "retry pause", "retry pauses"), ("lock", "lock wait", "lock waits")];
    for (kind, one, many) in others {
        if count(kind) > 0 {
            what.push(plural(count(kind), one, many));
        }
    }
    Ok(format!("{}: {} in {}", file.display(), what.join(", "), plural(lanes.len() as u64, "lane", "lanes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lane_at(label: &str, start: u64, end: u64) -> Lane {
        Lane {
            label: label.into(),
            run: label.into(),
            start_ms: start,
            end_ms: end,
            status: "succeeded".into(),
            bars: vec![],
            critical: false,
            group: String::new(),
        }
    }

    #[test]
    fn the_critical_path_follows_each_slot_back_to_the_fleets_start() {
        // Two at a time: a (0–10 s) then c (10–25 s); b (0–12 s) then d (12–14 s).
        let mut lanes = vec![
            lane_at("a", 1_000, 11_000),
            lane_at("b", 1_000, 13_000),
            lane_at("c", 11_050, 26_000),
            lane_at("d", 13_040, 15_000),
        ];
        mark_critical(&mut lanes);
        let critical: Vec<&str> = lanes.iter().filter(|l| l.critical).map(|l| l.label.as_str()).collect();
        assert_eq!(critical, ["a", "c"]);
        // Two shards: the second's target did not wait for the first's, however close in time.
        let mut shards = vec![lane_at("x", 1_000, 5_000), lane_at("y", 5_100, 9_000)];
        shards[1].group = "shard-2".into();
        mark_critical(&mut shards);
        assert_eq!(shards.iter().filter(|l| l.critical).count(), 1);
    }

    #[test]
    fn calls_records_become_bars_and_old_journals_show_their_writes() {
        let records = vec![
            json!({"type": "start", "run": "r", "started_ms": 1_000}),
            json!({"type": "events", "events": [
                {"kind": "read", "what": "ec2::describe_vpcs", "t": 1_100, "ms": 40},
            ]}),
            json!({"type": "intent", "seq": 1, "function": "elbv2::create_target_group", "time": "2026-11-24T09:05:12Z",
                   "events": [{"kind": "retry", "what": "elbv2::describe_target_groups", "t": 1_200, "ms": 1000, "error": "TargetGroupNotFound", "detail": "made 1 s ago"}]}),
            json!({"type": "outcome", "seq": 1, "events": [{"kind": "write", "what": "elbv2::create_target_group", "t": 2_300, "ms": 80, "seq": 1}]}),
            json!({"type": "end", "outcome": "succeeded", "seconds": 2.0, "calls": 3}),
        ];
        let b = bars(&records);
        assert_eq!(b.iter().map(|b| b.kind.as_str()).collect::<Vec<_>>(), ["read", "retry", "write"]);
        assert_eq!(b[1].error.as_deref(), Some("TargetGroupNotFound"));
        let l = lane("run".into(), &records);
        assert_eq!((l.start_ms, l.end_ms, l.status.as_str()), (1_000, 3_000, "succeeded"));
        // A not-found the script went on from is an answer; the one that ended a failed run is not.
        let look = json!({"kind": "read", "what": "elbv2::describe_target_groups", "t": 1_100, "ms": 40,
                          "error": "TargetGroupNotFound", "not_found": true});
        let run = |outcome: &str| {
            let end =
                json!({"type": "end", "outcome": outcome, "seconds": 1.0, "error": {"code": "TargetGroupNotFound"}});
            lane(
                "run".into(),
                &[json!({"type": "start", "started_ms": 1_000}), json!({"type": "end", "events": [look.clone()]}), end],
            )
        };
        assert!(!run("succeeded").bars[0].failed());
        assert!(run("failed").bars[0].failed());
        let old: Vec<Value> = records
            .into_iter()
            .filter(|r| r["type"] != "events")
            .map(|mut r| {
                r.as_object_mut().map(|o| o.remove("events"));
                r
            })
            .collect();
        let b = bars(&old);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].start_ms, 1_795_511_112_000, "2026-11-24T09:05:12Z");
    }

    #[test]
    fn the_picture_has_a_mark_for_every_call_and_a_lane_for_every_target() {
        let mut lanes = vec![lane_at("a", 0, 5_000), lane_at("b", 0, 9_000)];
        lanes[0].bars.push(Bar {
            kind: "write".into(),
            what: "ec2::create_security_group".into(),
            start_ms: 100,
            ms: 50,
            error: Some("InvalidGroup.Duplicate".into()),
            count: 1,
            detail: String::new(),
            at: "x.rhai:3".into(),
            not_found: false,
        });
        lanes[1].critical = true;
        let picture = svg("fleet <x>", &lanes);
        assert_eq!(picture.matches(r#"class="call""#).count(), 1);
        assert_eq!(picture.matches(r#"class="lane""#).count(), 2);
        assert!(picture.contains("fleet &lt;x&gt;"));
        assert!(picture.contains(r#"data-failed="true""#));
        assert!(picture.contains(r#"data-label="b" data-run="b" data-status="succeeded" data-critical="true""#));
        assert!(html("t", &lanes).contains("<svg"));
    }
}
