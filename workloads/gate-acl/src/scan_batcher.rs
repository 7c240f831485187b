//! Group commit of scans: the scan handlers hand their verified scans to a few worker tasks; each worker
//! takes every scan waiting (up to a maximum) and records them in ONE transaction
//! (`repository::record_scans`), so a busy gate pays one commit and a handful of statements per batch instead
//! of per scan. A database failure of a batch is retried scan by scan, so one failing scan fails alone. It
//! decides nothing itself: the repository decides each scan in the batch's order.

use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::Pool;
use jiff::Timestamp;
use microfleet_common::database::DbError;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::domain::scan::ScanRequest;
use crate::domain::token::Claims;
use crate::metrics::ScanMetrics;
use crate::repository::{self, RepositoryError, ScanJob, Scanned};

/// Scans queued for the workers before a handler waits to queue its own.
const QUEUE: usize = 4096;

/// A scan, when it was queued and where its answer goes.
struct Queued {
    job: ScanJob,
    queued_at: Instant,
    answer: oneshot::Sender<Result<Scanned, RepositoryError>>,
}

/// The handle the handlers record scans through; cheap to clone. The workers stop when every handle is gone.
#[derive(Clone)]
pub struct ScanBatcher {
    queue: mpsc::Sender<Queued>,
}

impl ScanBatcher {
    /// Starts `workers` workers (at least one) recording batches of at most `max_batch` scans in `pool`,
    /// observed in `metrics`. Call inside the Tokio runtime.
    pub fn start(pool: Pool, max_batch: usize, workers: usize, metrics: ScanMetrics) -> ScanBatcher {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(pool.clone(), waiting.clone(), max_batch.max(1), metrics.clone()));
        }
        ScanBatcher { queue }
    }

    /// Records a verified, in-window scan with the batch it lands in; see `repository::record_scans` for
    /// the answer.
    pub async fn record(
        &self,
        request: &ScanRequest,
        claims: &Claims,
        now: Timestamp,
    ) -> Result<Scanned, RepositoryError> {
        let (answer, answered) = oneshot::channel();
        let job = ScanJob { request: request.clone(), claims: claims.clone(), now };
        let stopped = || RepositoryError::from(DbError::Unexpected("the scan workers stopped".to_string()));
        self.queue.send(Queued { job, queued_at: Instant::now(), answer }).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// One worker: takes the first waiting scan and every other one queued behind it (up to `max_batch`),
/// records them, answers each, and again, until the queue closes.
async fn work(pool: Pool, waiting: Arc<Mutex<mpsc::Receiver<Queued>>>, max_batch: usize, metrics: ScanMetrics) {
    loop {
        let mut batch = Vec::new();
        {
            let mut waiting = waiting.lock().await;
            if waiting.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        let started = Instant::now();
        for queued in &batch {
            metrics.observe_queue_wait(started.saturating_duration_since(queued.queued_at));
        }
        let (jobs, answers): (Vec<ScanJob>, Vec<_>) =
            batch.into_iter().map(|queued| (queued.job, queued.answer)).unzip();
        let recorded = repository::record_scans(&pool, &jobs).await;
        metrics.observe_batch(jobs.len(), started.elapsed());
        match recorded {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            Err(error) if jobs.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(%error, scans = jobs.len(), "a batch of scans failed; recording them one by one");
                for (job, answer) in jobs.iter().zip(answers) {
                    let result = match repository::record_scans(&pool, std::slice::from_ref(job)).await {
                        Ok(mut results) => results.pop().unwrap_or_else(|| {
                            Err(DbError::Unexpected("a batch of one scan gave no answer".to_string()).into())
                        }),
                        Err(error) => Err(error),
                    };
                    let _ = answer.send(result);
                }
            }
        }
    }
}
