//! Shutdown: one signal (SIGTERM or Ctrl-C) that every task can wait on.

use tokio::sync::watch;

/// A cloneable handle that resolves once shutdown was asked for.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Listens for SIGTERM and Ctrl-C.
    pub fn on_signals() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    /// A shutdown asked for by hand (tests, or a process that stops its tasks itself): call
    /// [`ShutdownTrigger::fire`].
    pub fn manual() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Resolves when shutdown was asked for.
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|requested| *requested).await;
    }
}

/// Asks a [`Shutdown::manual`] handle to shut down.
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    /// Asks every clone of the handle to shut down.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
