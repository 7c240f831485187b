//! The chaos task: while the workload runs it SIGKILLs one process at a time at seeded random moments — the
//! ticketing service, the gate-acl service, the Kafka broker, PostgreSQL — keeps it down a random while and
//! starts it again; each is killed at least once per run (the first four kills are the four, in a seeded
//! order, the broker fourth). Between kills it restarts a service that exited by itself, as a kubelet would, and reports it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};

use crate::cluster::{Cluster, Target};
use crate::rng::Rng;

/// Pause between two kills, in milliseconds.
const PAUSE_MS: std::ops::Range<u64> = 2_000..5_000;
/// How long a killed process stays down, in milliseconds.
const DOWN_MS: std::ops::Range<u64> = 200..2_500;

/// The targets of the kills after the first four: the broker, the slowest to start again (10-30 s here),
/// less often than the others.
const LATER: [Target; 7] = [
    Target::Ticketing,
    Target::GateAcl,
    Target::Postgres,
    Target::Ticketing,
    Target::GateAcl,
    Target::Postgres,
    Target::Kafka,
];

/// What the chaos task did.
#[derive(Debug, Default)]
pub struct Faults {
    /// Kills per target.
    pub kills: BTreeMap<Target, u32>,
    /// Services that exited by themselves (and were restarted).
    pub exits: Vec<String>,
}

/// Kills and restarts until `done` turns true, then kills each target not killed yet once.
pub async fn run(cluster: Arc<Mutex<Cluster>>, mut rng: Rng, mut done: watch::Receiver<bool>) -> Faults {
    let started = Instant::now();
    // the first four kills: the services and PostgreSQL in a seeded order, then the broker (its restart
    // takes long: first, it would leave the customers' whole run to one kill)
    let mut first = vec![Target::Ticketing, Target::GateAcl, Target::Postgres];
    for index in (1..first.len()).rev() {
        first.swap(index, rng.range(0..index as u64 + 1) as usize);
    }
    first.insert(0, Target::Kafka);
    let mut faults = Faults::default();
    loop {
        let pause = Duration::from_millis(rng.range(PAUSE_MS));
        if supervise(&cluster, pause, &mut done, &mut faults).await {
            break;
        }
        let target = first.pop().unwrap_or_else(|| LATER[rng.range(0..LATER.len() as u64) as usize]);
        strike(&cluster, target, &mut rng, &mut faults, started).await;
    }
    while let Some(target) = first.pop() {
        strike(&cluster, target, &mut rng, &mut faults, started).await;
    }
    faults
}

/// Waits `pause`, restarting services that exited by themselves; `true` once the workload is done.
async fn supervise(
    cluster: &Mutex<Cluster>,
    pause: Duration,
    done: &mut watch::Receiver<bool>,
    faults: &mut Faults,
) -> bool {
    let until = Instant::now() + pause;
    while Instant::now() < until {
        if *done.borrow() {
            return true;
        }
        for exited in cluster.lock().await.restart_exited() {
            println!("chaos: {exited}");
            faults.exits.push(exited);
        }
        tokio::select! {
            _ = done.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    *done.borrow()
}

/// SIGKILLs `target`, keeps it down a random while, starts it again.
async fn strike(cluster: &Mutex<Cluster>, target: Target, rng: &mut Rng, faults: &mut Faults, started: Instant) {
    let down = Duration::from_millis(rng.range(DOWN_MS));
    let mut cluster = cluster.lock().await;
    let at = started.elapsed();
    cluster.kill(target).await;
    tokio::time::sleep(down).await;
    let restarting = Instant::now();
    cluster.restart(target).await;
    *faults.kills.entry(target).or_default() += 1;
    println!(
        "chaos: {:>5.1} s: killed {target:?}, down {} ms, started again in {:.1} s",
        at.as_secs_f64(),
        down.as_millis(),
        restarting.elapsed().as_secs_f64()
    );
}
