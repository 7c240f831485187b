//! The chaos test of the ticketing saga (issue 12 of Microfleet): the two services as real processes on
//! their OWN PostgreSQL and Kafka broker (free ports, a scratch folder: never the servers other tests share),
//! authenticating the clients' API keys through a real auth service whose database is on that PostgreSQL,
//! a workload of concurrent clients through the HTTP APIs while a chaos task SIGKILLs and restarts the
//! ticketing service, the gate-acl service, the broker and PostgreSQL (each at least once) at seeded random
//! moments — then, once the saga has converged, every invariant checked on both databases by SQL.
//!
//! Figures (tuned for the 3-minute budget on a loaded 2-core machine): 1,200 orders attempted by 8
//! concurrent customers over 3 events × 2 areas (1,800 seats for ~2,400 asked: ~30 % are refused as sold
//! out), 85 % of the placed ones paid, every ticket of 70 % of the paid orders scanned by 4 gate devices
//! (~1,500 scans: entries re-sent with the same nonce, entries racing at two gates, entry-exit-re-entry); a
//! kill every 2-5 s while the customers run, down 0.2-2.5 s — the two services and PostgreSQL in a seeded order,
//! then the broker (10-30 s to start again), more while customers remain. Measured: 125-155 s in all (set-up
//! 20-30 s, workload 105-120 s, convergence < 1 s; e.g. 856 orders placed, 711 paid, 1,573 scans, 313 requests
//! re-sent). When other builds load the machine (load average 15+), starting the broker alone took 60-100 s
//! and a run up to ~5 min. The brief's ~2,000 orders and ~2,000 scans took far longer than 3 minutes here.
//! The seed is printed; `CHAOS_SEED=<seed>` replays the same workload and fault schedule (the timing of the
//! processes still varies). Needs the two service binaries built (`scripts/test.sh` builds them; by hand:
//! `cargo build -p microfleet-ticketing -p microfleet-gate-acl --bins`).
//!
//! The modules: `cluster` (the processes), `workload` (the clients), `faults` (the chaos task),
//! `invariants` (convergence and the checks), `rng` (the seeded generator).

mod cluster;
mod faults;
mod invariants;
mod rng;
mod workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};

use cluster::{Cluster, Target};
use rng::Rng;
use workload::Api;

/// How long the saga may take to converge once the last process is back.
const CONVERGE_WITHIN: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_saga_keeps_every_invariant_while_its_processes_are_killed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = Rng::seed();
    println!("chaos: seed {seed} (replay with CHAOS_SEED={seed})");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let cluster = Cluster::start().await;
    let endpoints = cluster.endpoints.clone();
    let api = Arc::new(Api::new(endpoints.clone()));
    let plan = Arc::new(workload::setup(&api).await);
    println!("chaos: set up in {:.1} s", started.elapsed().as_secs_f64());

    let cluster = Arc::new(Mutex::new(cluster));
    // the chaos lasts while the customers order and pay (the gate devices scan meanwhile)
    let (customers_done, chaos_ends) = watch::channel(false);
    let chaos = tokio::spawn(faults::run(cluster.clone(), rng.fork(1), chaos_ends));
    let working = Instant::now();
    let ledger = workload::run(api, plan, rng.fork(2), customers_done).await;
    let workload_time = working.elapsed();
    let faults = chaos.await.unwrap_or_else(|e| panic!("the chaos task failed: {e}"));
    cluster.lock().await.wait_ready(Duration::from_secs(120)).await;

    let converged = match invariants::converge(&endpoints, CONVERGE_WITHIN).await {
        Ok(took) => took,
        Err(stuck) => panic!("{stuck}\n{}", cluster.lock().await.logs()),
    };
    let mut violations = ledger.violations.clone();
    violations.extend(invariants::check(&endpoints, &ledger).await.unwrap_or_else(|e| panic!("checking: {e}")));

    let paid = ledger.orders.iter().filter(|order| order.paid).count();
    let kills: Vec<String> =
        Target::ALL.iter().map(|t| format!("{t:?} {}", faults.kills.get(t).unwrap_or(&0))).collect();
    println!(
        "chaos: summary (seed {seed}): {} orders placed ({} re-sent answered 200), {} sold out, {paid} paid ({} found paid on re-send); \
         {} scans ({} re-sent on purpose), {} tickets skipped (access late); {} requests re-sent; kills: {}; \
         services exited by themselves: {}; workload {:.1} s, converged {:.1} s after, total {:.1} s",
        ledger.orders.len(),
        ledger.replayed_orders,
        ledger.sold_out,
        ledger.replayed_payments,
        ledger.scans,
        ledger.resent_scans,
        ledger.skipped_tickets,
        ledger.retries,
        kills.join(", "),
        faults.exits.len(),
        workload_time.as_secs_f64(),
        converged.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    for target in Target::ALL {
        assert!(faults.kills.contains_key(&target), "{target:?} was never killed");
    }
    assert!(
        violations.is_empty(),
        "seed {seed}: {} invariants broken:\n{}\n{}",
        violations.len(),
        violations.join("\n"),
        cluster.lock().await.logs()
    );
}
