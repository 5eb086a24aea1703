//! A fleet's check of permissions before its run: the actions a plan of the runbook needs, learnt
//! in the first reachable target (a `runbook policy --needs` child there, so the calls its code
//! names count as in `runbook policy`), asked of IAM's policy simulator for each target's
//! principal: the assumed role, or the profile's user or role. A target whose principal lacks any
//! of them is treated like one that cannot be reached.

use super::Reached;
use runbook_bindings::simulate;
use runbook_run::needs::{self, Need, Verdict};

/// A child's command line and environment: arguments, variables to set, variables to remove.
pub type Child = (Vec<String>, Vec<(String, String)>, Vec<String>);

/// Checks every reached target; answers the ones whose principal lacks a permission, with why.
pub fn check(
    labels: &[String],
    reached: &[Result<Reached, String>],
    child: impl Fn(usize) -> Option<Child>,
) -> Vec<(usize, String)> {
    let Some(first) = reached.iter().position(Result::is_ok) else { return vec![] };
    let needs = match learn(child(first)) {
        Ok(n) => n,
        Err(why) => {
            eoutln!("permissions not checked: the plan in {} to learn them {why}", labels[first]);
            return vec![];
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eoutln!("permissions not checked: cannot start the async runtime: {e}");
            return vec![];
        }
    };
    let mut lacking = Vec::new();
    let mut unchecked: Vec<(usize, String)> = Vec::new();
    for (i, r) in reached.iter().enumerate() {
        let Ok(r) = r else { continue };
        let principal = rt.block_on(simulate::principal_of(&r.config));
        let verdict = needs::judge(&needs, principal, |p, a| {
            rt.block_on(simulate::evaluate_with(&r.config, p, a)).map_err(Box::new)
        });
        match verdict {
            Verdict::Allowed { .. } => {}
            Verdict::NotChecked(why) => unchecked.push((i, why)),
            Verdict::Denied { principal, actions, denied } => {
                eoutln!(
                    "[{}] {principal}: {} of {actions} action(s) the run needs are not allowed",
                    labels[i],
                    denied.len()
                );
                for d in &denied {
                    let undo = if d.undo { " (undo)" } else { "" };
                    eoutln!("[{}]   {}{undo}  {}  {}", labels[i], d.action, d.decision, d.at);
                }
                let names: Vec<&str> = denied.iter().map(|d| d.action.as_str()).collect();
                lacking.push((i, format!("not allowed: {}", names.join(", "))));
            }
        }
    }
    // One line when every target gave the same reason (an endpoint without the simulator).
    match unchecked.first() {
        Some((_, why)) if unchecked.iter().all(|(_, w)| w == why) && unchecked.len() > 1 => {
            eoutln!("permissions not checked in {} targets: {why}", unchecked.len());
        }
        _ => {
            for (i, why) in &unchecked {
                eoutln!("[{}] permissions not checked: {why}", labels[*i]);
            }
        }
    }
    lacking
}

/// Runs the `runbook policy --needs` child and reads its needs.
fn learn(child: Option<Child>) -> Result<Vec<Need>, String> {
    let (mut args, env, remove) = child.ok_or("could not be started")?;
    args.push("--needs".into());
    let exe = std::env::current_exe().map_err(|e| format!("could not be started: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&args).stdin(std::process::Stdio::null());
    for k in &remove {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    // The child is no fleet target of its own: it keeps no journal and names no parent.
    for k in ["RUNBOOK_PARENT_RUN", "RUNBOOK_RUN_ID", "RUNBOOK_TARGET"] {
        cmd.env_remove(k);
    }
    let out = cmd.output().map_err(|e| format!("could not be started: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| l.starts_with("error")).unwrap_or("").trim().to_string();
        return Err(format!("stopped ({first})"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Need>(l).map_err(|e| format!("answered {l:?}: {e}")))
        .collect()
}
