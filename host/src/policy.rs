//! `runbook policy FILE`: the IAM policy a runbook's run and its undo need, learnt from a plan of
//! the run (see `runbook_run::needs`); and the check a plan ends with, which asks IAM's
//! policy simulator whether the caller has those permissions.

use runbook_bindings::{Context, Svc};
use runbook_run::needs::{self, Verdict};
use runbook_run::Safety;
use std::path::Path;
use std::process::ExitCode;

/// The options of `runbook policy`.
pub struct PolicyArgs {
    pub narrow: bool,
    /// Who assumes a fleet's role: an account id or a principal's ARN.
    pub trust: Option<String>,
    pub external_id: Option<String>,
    /// Each need as a JSON line instead of the document (for a fleet's check before its run).
    pub needs: bool,
    /// The policy `runbook drift` needs instead: the reads of what the writes make or set.
    pub drift: bool,
}

impl PolicyArgs {
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.trust {
            let account = |s: &str| s.len() == 12 && s.chars().all(|c| c.is_ascii_digit());
            // arn:PARTITION:iam::ACCOUNT:root|user/…|role/…
            let parts: Vec<&str> = t.split(':').collect();
            let principal = parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "iam"
                && parts[3].is_empty()
                && account(parts[4])
                && (parts[5] == "root" || parts[5].starts_with("user/") || parts[5].starts_with("role/"));
            if !account(t) && !principal {
                return Err(format!(
                    "--trust {t:?}: expected an account id (12 digits) or a user's or role's ARN \
                     (arn:aws:iam::111122223333:user/NAME, …:role/NAME, …:root)"
                ));
            }
        }
        match &self.external_id {
            Some(id) if id.len() < 2 || id.len() > 1224 => {
                Err(format!("--external-id {id:?}: an external id is 2 to 1224 characters long"))
            }
            _ => Ok(()),
        }
    }
}

/// Adds to the plan's needs every call the runbook's code and its imports name (`ecs::list_tasks`,
/// `elbv2::register_targets`, a waiter's read), whether or not the plan made it: a plan answers
/// its own creates with empty lists, so the branches a run takes over real things (each task,
/// each target) are not planned.
fn add_named_calls(file: &Path, ctx: &Context, safety: &Safety) {
    let root = crate::project::runbook_root(file);
    for f in crate::params::files(&root, file) {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        // Code only: a call named in a comment or a string (a suggested fix) is not made.
        let code = crate::params::blank_strings(&crate::params::without_comments(&text));
        for (line_no, line) in code.lines().enumerate() {
            let at = format!("{}:{}", f.display(), line_no + 1);
            for (svc, op) in named_calls(line) {
                safety.needs.named(ctx, svc, &op, &at);
            }
        }
    }
}

/// The operations named in one line of code: `svc::function`, or a waiter's read.
fn named_calls(line: &str) -> Vec<(Svc, String)> {
    let mut out = Vec::new();
    for svc in Svc::ALL {
        let module = format!("{}::", svc.module());
        let mut from = 0;
        while let Some(i) = line[from..].find(&module) {
            let start = from + i;
            from = start + module.len();
            if line[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = line[from..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let Ok(table) = svc.table() else { continue };
            let op = svc.operations().iter().find(|(f, _)| *f == name).map(|(_, o)| o.to_string());
            let call = match op {
                Some(op) => Some(op),
                None => svc
                    .waiters()
                    .iter()
                    .find(|(f, _)| *f == name)
                    .and_then(|(_, w)| table.waiters.get(*w))
                    .map(|w| w.operation.clone()),
            };
            out.extend(call.map(|op| (svc, op)));
        }
    }
    out
}

/// Prints the policy document (with `--trust`, the role's policy and its trust policy together).
pub fn print(file: &Path, ctx: &Context, safety: &Safety, args: &PolicyArgs) -> ExitCode {
    add_named_calls(file, ctx, safety);
    if args.drift {
        let doc = needs::drift_document(&safety.needs.drift());
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if args.needs {
        for n in safety.needs.all() {
            outln!("{}", serde_json::to_string(&n).unwrap_or_default());
        }
        return ExitCode::SUCCESS;
    }
    let doc = needs::document(&safety.needs.all());
    let out = match &args.trust {
        Some(who) => serde_json::json!({
            "PolicyDocument": doc,
            "AssumeRolePolicyDocument": needs::trust_document(who, args.external_id.as_deref()),
        }),
        None => doc,
    };
    outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    ExitCode::SUCCESS
}

/// The check a plan ends with: every action the run and its undo need, asked of IAM's simulator
/// for the caller. Denied actions are listed with the runbook line that needs each; when the check
/// cannot be made, one line says so.
pub fn check(file: &Path, ctx: &Context, safety: &Safety) {
    add_named_calls(file, ctx, safety);
    let needs = safety.needs.all();
    if needs.is_empty() {
        return;
    }
    let principal = runbook_bindings::simulate::principal(ctx);
    let verdict =
        needs::judge(&needs, principal, |p, a| runbook_bindings::simulate::evaluate(ctx, p, a).map_err(Box::new));
    match verdict {
        Verdict::NotChecked(why) => eoutln!("permissions not checked: {why}"),
        Verdict::Allowed { principal, actions } => {
            outln!("\nPermissions of {principal}: all {actions} action(s) the run and its undo need are allowed");
        }
        Verdict::Denied { principal, actions, denied } => {
            outln!("\nPermissions of {principal}: {} of {actions} action(s) are not allowed", denied.len());
            let width = denied.iter().map(|d| d.action.len() + if d.undo { 7 } else { 0 }).max().unwrap_or(0);
            for d in &denied {
                let name = if d.undo { format!("{} (undo)", d.action) } else { d.action.clone() };
                outln!("  {name:<width$}  {:<12}  {}", d.decision, d.at);
            }
            outln!("  `runbook policy {}` prints every permission this runbook and its undo need", file.display());
        }
    }
}
