//! Shards: one fleet's targets split over several processes, each started by a scheduler that
//! already exists (a Kubernetes Indexed Job, an AWS Batch array job, a CI matrix).
//!
//! Shard I of N runs the targets whose position in the fleet's list (from 0) leaves I-1 when
//! divided by N, so every shard of one targets file gets a fair share and none overlap. Labels are
//! made over the whole list first: a target has the same label in every shard. All shards journal
//! under one fleet id, which `runs`, `show` and `undo` take as one fleet.

use std::collections::HashMap;

/// Which part of the fleet this process runs, and the fleet it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Shard {
    /// From 1.
    pub index: usize,
    pub count: usize,
    /// Where the index and count came from, for the line that says so.
    pub from: String,
}

impl Shard {
    /// Whether the target at `position` (from 0) is this shard's.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// `I/N`, from 1.
fn parse(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {text:?}: expected I/N, the I-th of N parts counted from 1 (for example 2/4)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n) = (i.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
    if n == 0 || n > 10_000 {
        return Err(format!("--shard {text:?}: the number of shards must be 1 to 10000"));
    }
    if i == 0 || i > n {
        return Err(format!("--shard {text:?}: the shard must be 1 to {n}"));
    }
    Ok((i, n))
}

/// The shard in force: `--shard I/N`; else `--shards N` with the index a Kubernetes Indexed Job
/// (`JOB_COMPLETION_INDEX`) or an AWS Batch array job (`AWS_BATCH_JOB_ARRAY_INDEX`) gives; else a
/// Batch array job's index and size (`AWS_BATCH_JOB_ARRAY_SIZE`). `None` runs every target.
pub fn from(shard: Option<&str>, shards: Option<u32>, env: &HashMap<String, String>) -> Result<Option<Shard>, String> {
    if let Some(text) = shard {
        if shards.is_some() {
            return Err("--shard I/N and --shards N both say how the fleet is split: give one".into());
        }
        let (index, count) = parse(text)?;
        return Ok(Some(Shard { index, count, from: "--shard".into() }));
    }
    let var = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let index_of = |k: &str, v: &str, n: usize| -> Result<usize, String> {
        let i = v.parse::<usize>().map_err(|_| format!("{k}={v:?} is not an index (0, 1, 2, ...)"))?;
        if i >= n {
            return Err(format!("{k}={i} is past the last of {n} shards (they count from 0 to {})", n - 1));
        }
        Ok(i + 1)
    };
    let size = var("AWS_BATCH_JOB_ARRAY_SIZE");
    match shards {
        Some(n) => {
            let n = n as usize;
            let (k, v) = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"]
                .iter()
                .find_map(|k| var(k).map(|v| (*k, v)))
                .ok_or_else(|| {
                    format!(
                        "--shards {n} takes this process's index from JOB_COMPLETION_INDEX (a Kubernetes Indexed \
                         Job) or AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job), and neither is set; \
                         elsewhere give --shard I/{n}"
                    )
                })?;
            Ok(Some(Shard { index: index_of(k, v, n)?, count: n, from: k.to_string() }))
        }
        None => match (var("AWS_BATCH_JOB_ARRAY_INDEX"), size) {
            (Some(i), Some(n)) => {
                let n =
                    n.parse::<usize>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
                        format!("AWS_BATCH_JOB_ARRAY_SIZE={n:?} is not a number of shards (1 to 10000)")
                    })?;
                let index = index_of("AWS_BATCH_JOB_ARRAY_INDEX", i, n)?;
                Ok(Some(Shard {
                    index,
                    count: n,
                    from: "AWS_BATCH_JOB_ARRAY_INDEX and AWS_BATCH_JOB_ARRAY_SIZE".into(),
                }))
            }
            _ => Ok(None),
        },
    }
}

/// The fleet's id: `--fleet-id`, `RUNBOOK_FLEET_ID`, else one derived from the CI run this process
/// is part of, which every shard of that run derives alike. A re-run of a failed shard in the same
/// CI run joins the same fleet.
pub fn fleet_id(given: Option<&str>, env: &HashMap<String, String>) -> Option<(String, String)> {
    let var = |k: &str| env.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if let Some(id) = given {
        return Some((id.to_string(), "--fleet-id".into()));
    }
    if let Some(id) = var("RUNBOOK_FLEET_ID") {
        return Some((id, "RUNBOOK_FLEET_ID".into()));
    }
    let keep = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect()
    };
    if let Some(run) = var("GITHUB_RUN_ID") {
        let repo = var("GITHUB_REPOSITORY").map(|r| format!("{}-", keep(&r))).unwrap_or_default();
        return Some((format!("github-{repo}{}", keep(&run)), "GITHUB_RUN_ID".into()));
    }
    if let Some(job) = var("AWS_BATCH_JOB_ID") {
        // A child of an array job is `PARENT:INDEX`; its shards share the parent.
        let parent = job.split(':').next().unwrap_or(&job).to_string();
        return Some((format!("batch-{}", keep(&parent)), "AWS_BATCH_JOB_ID".into()));
    }
    if let Some(p) = var("CI_PIPELINE_ID") {
        return Some((format!("gitlab-{}", keep(&p)), "CI_PIPELINE_ID".into()));
    }
    None
}

/// The positions (from 0) of the targets `shard` runs.
pub fn select(total: usize, shard: Option<&Shard>) -> Vec<usize> {
    (0..total).filter(|i| shard.is_none_or(|s| s.takes(*i))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn shards_come_from_the_flag_or_the_scheduler_and_split_without_overlap() {
        let none = env(&[]);
        let s = from(Some("2/4"), None, &none).unwrap().unwrap();
        assert_eq!((s.index, s.count), (2, 4));
        assert_eq!(select(10, Some(&s)), [1, 5, 9]);
        // Every target in exactly one shard.
        let mut all: Vec<usize> =
            (1..=4).flat_map(|i| select(10, Some(&Shard { index: i, count: 4, from: String::new() }))).collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(from(Some("0/4"), None, &none).unwrap_err().contains("must be 1 to 4"));
        assert!(from(Some("5/4"), None, &none).unwrap_err().contains("must be 1 to 4"));
        assert!(from(Some("2"), None, &none).unwrap_err().contains("expected I/N"));
        assert!(from(Some("1/2"), Some(2), &none).unwrap_err().contains("give one"));

        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        let s = from(None, Some(4), &k8s).unwrap().unwrap();
        assert_eq!((s.index, s.count, s.from.as_str()), (4, 4, "JOB_COMPLETION_INDEX"));
        assert!(from(None, Some(3), &k8s).unwrap_err().contains("JOB_COMPLETION_INDEX=3 is past the last of 3"));
        assert!(from(None, Some(4), &none).unwrap_err().contains("neither is set"));
        // Without --shards, an Indexed Job's index alone does not split: its size is unknown.
        assert_eq!(from(None, None, &k8s).unwrap(), None);

        let batch = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0"), ("AWS_BATCH_JOB_ARRAY_SIZE", "3")]);
        let s = from(None, None, &batch).unwrap().unwrap();
        assert_eq!((s.index, s.count), (1, 3));
        let s = from(None, Some(5), &batch).unwrap().unwrap();
        assert_eq!((s.index, s.count), (1, 5), "--shards says the size");
        let wrong = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "x"), ("AWS_BATCH_JOB_ARRAY_SIZE", "3")]);
        assert!(from(None, None, &wrong).unwrap_err().contains("AWS_BATCH_JOB_ARRAY_INDEX=\"x\" is not an index"));
    }

    #[test]
    fn a_fleet_id_is_given_or_derived_alike_by_every_shard_of_a_ci_run() {
        assert_eq!(fleet_id(Some("deploy-7"), &env(&[("GITHUB_RUN_ID", "1")])).unwrap().0, "deploy-7");
        let gh = env(&[("GITHUB_RUN_ID", "9182"), ("GITHUB_REPOSITORY", "ops/infra")]);
        assert_eq!(fleet_id(None, &gh).unwrap().0, "github-ops-infra-9182");
        let batch = env(&[("AWS_BATCH_JOB_ID", "5c1f0e2a-77:3")]);
        assert_eq!(fleet_id(None, &batch).unwrap().0, "batch-5c1f0e2a-77");
        assert_eq!(fleet_id(None, &env(&[("RUNBOOK_FLEET_ID", "x1")])).unwrap().1, "RUNBOOK_FLEET_ID");
        assert_eq!(fleet_id(None, &env(&[])), None);
    }
}
