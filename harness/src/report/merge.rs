//! One report from the parts of a split run (`--partition K/N` on each
//! machine, then `harness merge PART.json ...`): the cases back in the
//! whole run's report order, the summary, matrix and repeated runs worked
//! out again, as if one machine had run them all.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Entry, Report};
use crate::schedule::plan::Partition;

/// Why parts cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a harness --json report: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("{path}: not part of a split run (it was run without --partition)")]
    Whole { path: PathBuf },
    #[error("{path}: part {part}/{of}, but {first} is a part of {first_of}")]
    OtherSplit {
        path: PathBuf,
        part: u32,
        of: u32,
        first: PathBuf,
        first_of: u32,
    },
    #[error("{path}: tested servers {theirs:?}, but {first} tested {ours:?}")]
    OtherServers {
        path: PathBuf,
        theirs: Vec<String>,
        first: PathBuf,
        ours: Vec<String>,
    },
    #[error("part {part}/{of} is given twice ({a} and {b})")]
    Twice {
        part: u32,
        of: u32,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("part {part}/{of} is missing (give every part's --json report)")]
    Missing { part: u32, of: u32 },
}

/// A part's `--json` report, as merging reads it.
#[derive(Debug, Deserialize)]
struct Part {
    servers: Vec<String>,
    results: Vec<Entry>,
    wall_ms: u64,
    jobs: usize,
    #[serde(default)]
    notes: Vec<String>,
    partition: Option<Partition>,
}

fn read(path: &Path) -> Result<(Part, Partition), MergeError> {
    let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
        path: path.into(),
        source,
    })?;
    let part: Part = serde_json::from_str(&text).map_err(|e| MergeError::Parse {
        path: path.into(),
        why: e.to_string(),
    })?;
    let p = part
        .partition
        .ok_or_else(|| MergeError::Whole { path: path.into() })?;
    Ok((part, p))
}

/// Reads every part, checks they are the parts of one split run, all of
/// them once, and makes the whole run's report.
pub fn merge(paths: &[PathBuf]) -> Result<Report, MergeError> {
    let mut parts: Vec<(PathBuf, Part, Partition)> = Vec::new();
    for path in paths {
        let (part, p) = read(path)?;
        if let Some((first, f, fp)) = parts.first() {
            if fp.of != p.of {
                return Err(MergeError::OtherSplit {
                    path: path.clone(),
                    part: p.part,
                    of: p.of,
                    first: first.clone(),
                    first_of: fp.of,
                });
            }
            if f.servers != part.servers {
                return Err(MergeError::OtherServers {
                    path: path.clone(),
                    theirs: part.servers,
                    first: first.clone(),
                    ours: f.servers.clone(),
                });
            }
        }
        if let Some((other, _, _)) = parts.iter().find(|(_, _, q)| q.part == p.part) {
            return Err(MergeError::Twice {
                part: p.part,
                of: p.of,
                a: other.clone(),
                b: path.clone(),
            });
        }
        parts.push((path.clone(), part, p));
    }
    parts.sort_by_key(|(_, _, p)| p.part);
    let of = parts.first().map_or(0, |(_, _, p)| p.of);
    if let Some(missing) = (1..=of).find(|k| parts.iter().all(|(_, _, p)| p.part != *k)) {
        return Err(MergeError::Missing { part: missing, of });
    }
    Ok(whole(parts.into_iter().map(|(_, part, _)| part).collect()))
}

/// The parts' cases in the whole run's order: case `i` (a server, scenario
/// and driver, with all its runs) is the `i / N`th case of part `i % N`.
fn whole(parts: Vec<Part>) -> Report {
    let servers = parts.first().map(|p| p.servers.clone()).unwrap_or_default();
    let (wall_ms, jobs) = parts
        .iter()
        .fold((0, 0), |(w, j), p| (w.max(p.wall_ms), j.max(p.jobs)));
    let mut notes: Vec<String> = Vec::new();
    let mut queues: Vec<std::collections::VecDeque<Vec<Entry>>> = Vec::new();
    for p in parts {
        for n in p.notes {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
        queues.push(cases(p.results).into());
    }
    let mut results = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            results.extend(q.pop_front().unwrap_or_default());
        }
    }
    let mut report = Report::new(servers, results);
    report.wall_ms = wall_ms;
    report.jobs = jobs;
    report.notes = notes;
    report
}

/// Entries grouped by case: a case's runs stand together.
fn cases(results: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    for e in results {
        let key = |x: &Entry| {
            let r = &x.result;
            (r.server.clone(), r.scenario.clone(), r.driver)
        };
        match out.last_mut() {
            Some(case) if key(&case[0]) == key(&e) && e.result.run.is_some_and(|n| n > 1) => {
                case.push(e)
            }
            _ => out.push(vec![e]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{CaseResult, Status};

    fn entry(scenario: &str, run: Option<u32>) -> Entry {
        Entry {
            result: CaseResult {
                run,
                ..CaseResult::example(scenario, Status::Pass)
            },
            expected: true,
            known_reason: None,
            fails_at_most: None,
        }
    }

    fn part(dir: &Path, k: u32, of: u32, ids: &[&str], runs: u32) -> PathBuf {
        let results = ids
            .iter()
            .flat_map(|id| (1..=runs).map(move |n| entry(id, (runs > 1).then_some(n))))
            .collect();
        let mut r = Report::new(vec!["reference".into()], results);
        r.partition = Some(Partition { part: k, of });
        let path = dir.join(format!("part{k}.json"));
        std::fs::write(&path, r.to_json()).unwrap();
        path
    }

    fn ids(r: &Report) -> Vec<(String, Option<u32>)> {
        r.results
            .iter()
            .map(|e| (e.result.scenario.clone(), e.result.run))
            .collect()
    }

    #[test]
    fn parts_come_back_in_the_whole_runs_order() {
        let dir = tempfile::tempdir().unwrap();
        // Cases a b c d e split 2 ways: a c e, then b d.
        let one = part(dir.path(), 1, 2, &["a", "c", "e"], 2);
        let two = part(dir.path(), 2, 2, &["b", "d"], 2);
        let merged = merge(&[two, one]).unwrap();
        let want: Vec<(String, Option<u32>)> = ["a", "b", "c", "d", "e"]
            .iter()
            .flat_map(|id| [(id.to_string(), Some(1)), (id.to_string(), Some(2))])
            .collect();
        assert_eq!(ids(&merged), want);
        assert_eq!(merged.summary.all.passed, 10);
        assert_eq!(merged.repeated.len(), 5);
        assert_eq!(merged.partition, None);
    }

    #[test]
    fn only_all_the_parts_of_one_split_merge() {
        let dir = tempfile::tempdir().unwrap();
        let one = part(dir.path(), 1, 3, &["a"], 1);
        let three = part(dir.path(), 3, 3, &["c"], 1);
        let e = merge(&[one.clone(), three]).unwrap_err();
        assert!(matches!(e, MergeError::Missing { part: 2, of: 3 }), "{e}");
        let e = merge(&[one.clone(), one.clone()]).unwrap_err();
        assert!(matches!(e, MergeError::Twice { part: 1, .. }), "{e}");
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let half = part(&other, 2, 2, &["b"], 1);
        let e = merge(&[one, half]).unwrap_err();
        assert!(
            matches!(
                e,
                MergeError::OtherSplit {
                    of: 2,
                    first_of: 3,
                    ..
                }
            ),
            "{e}"
        );
        let whole = dir.path().join("whole.json");
        std::fs::write(&whole, Report::new(vec![], vec![]).to_json()).unwrap();
        let e = merge(&[whole]).unwrap_err();
        assert!(e.to_string().contains("run without --partition"), "{e}");
    }
}
