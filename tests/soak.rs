//! Soak: many runs at once against a simulator that fails about one request in twenty; every run
//! ends 0 and exactly one installation exists per description. Bounded: each run 90 s at most,
//! the whole test well under two minutes.

mod support;

use berth_sim::Fault;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};
use support::*;

/// Distinct descriptions, one run each.
const SOLO: usize = 20;
/// Descriptions raced by two runs at once.
const PAIRS: usize = 5;

#[test]
fn concurrent_runs_with_injected_faults_all_succeed_without_duplicates() {
    let sim = sim_with(|o| {
        o.time_to_ready = Duration::from_millis(800);
        o.seed = 20261124;
    });
    let mut rate_limited = BTreeMap::new();
    rate_limited.insert("x-ratelimit-reset".to_string(), "1".to_string());
    let faults = [
        Fault {
            status: 503,
            probability: Some(0.025),
            count: 10_000,
            ..Fault::default()
        },
        Fault {
            status: 429,
            headers: rate_limited,
            probability: Some(0.01),
            count: 10_000,
            ..Fault::default()
        },
        Fault {
            status: 0,
            drop_after_processing: true,
            probability: Some(0.01),
            count: 10_000,
            ..Fault::default()
        },
        Fault {
            status: 0,
            delay_ms: Some(300),
            probability: Some(0.01),
            count: 10_000,
            ..Fault::default()
        },
    ];
    for f in faults {
        sim.inject(f);
    }

    let mut descriptions: Vec<String> = (0..SOLO).map(|i| format!("soak solo {i}")).collect();
    for i in 0..PAIRS {
        descriptions.push(format!("soak pair {i}"));
        descriptions.push(format!("soak pair {i}"));
    }
    let started = Instant::now();
    let runs: Vec<(String, Run)> = std::thread::scope(|s| {
        let handles: Vec<_> = descriptions
            .iter()
            .map(|d| {
                let env = mittwald_env(&sim, d);
                s.spawn(move || (d.clone(), run(&env)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = started.elapsed();

    for (description, run) in &runs {
        assert_eq!(run.code, 0, "{description}: {}", run.stderr);
        assert_eq!(run.out("status"), "ready", "{description}");
    }
    let installed = sim.installations();
    let mut per_description: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &installed {
        *per_description
            .entry(i["description"].as_str().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_description.len(), SOLO + PAIRS, "{per_description:?}");
    assert!(
        per_description.values().all(|n| *n == 1),
        "duplicates: {per_description:?}"
    );
    for (description, run) in &runs {
        let survivor = installed
            .iter()
            .find(|i| i["description"] == description.as_str())
            .unwrap();
        assert_eq!(
            run.out("id"),
            survivor["id"].as_str().unwrap(),
            "{description} reports the survivor"
        );
    }

    let stderr: String = runs.iter().map(|(_, r)| r.stderr.as_str()).collect();
    let retries = stderr.matches("retrying in").count();
    let lookups = stderr.matches("looking it up before anything else").count();
    let yielded = stderr.matches("removing the one this run created").count();
    let faults = sim.faults_injected();
    eprintln!(
        "soak: {} runs in {:.1}s, {} requests, {faults} faults injected, {retries} retries, \
         {lookups} lost POST answers looked up, {yielded} racing twins removed, {} installations",
        runs.len(),
        took.as_secs_f64(),
        sim.requests_received(),
        installed.len()
    );
    assert!(faults > 0, "faults were injected");
    assert!(took < Duration::from_secs(110));
}
