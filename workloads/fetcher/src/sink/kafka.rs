//! The Kafka sink: a run's items as the records of ONE Kafka transaction, so a consumer reading with
//! `isolation.level=read_committed` sees the whole list or none of it. `begin` = `init_transactions` (the
//! `transactional.id` is `<prefix>-<namespace>/<name>-<run>`, so a retried run fences a zombie of the same
//! run) and `begin_transaction`, after checking that the topic exists; `send` = produce each item (key from
//! `keyField`, header `microfleet-run`) and wait for its delivery; `commit` = `commit_transaction`;
//! `abort` = `abort_transaction`. Once the commit was requested the run is never aborted: it may be live.
//!
//! Its TLS and SASL settings and its client context are the services' (`microfleet_common::kafka`: the
//! spec's `tls` and `sasl` and their Secrets become a `KafkaSecurity`); its messages name the spec's fields.
//!
//! It must not create topics, hold a secret anywhere but the producer's config, or log one.

use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc,
};
use std::time::Duration;

use microfleet_common::kafka::{
    client::{Broker, BrokerContext, Producer, Refusal},
    security::{KafkaSecurity, SaslLogin, SaslMechanism, SecurityProtocol, TrustedCa},
};
use microfleet_crds::clusterfetch::{KafkaSink as KafkaSinkSpec, SaslMechanism as SaslMechanismSpec};
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _},
    util::Timeout,
};

use super::{http::CommitError, Batch};
use crate::{
    plan::KafkaSecrets,
    progress::Stats,
    retry::{self, Fault, Policy},
};

/// How long the broker keeps a transaction open without a commit (its `transaction.max.timeout.ms`
/// default, 15 minutes): a run must deliver within it, and a killed run blocks read_committed readers of
/// its partitions at most that long.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(900);

/// A Kafka topic of one run, written in one transaction.
#[derive(Clone)]
pub struct KafkaSink {
    /// The producer, and why the brokers refused it (the client context shared with the services).
    producer: Producer,
    topic: String,
    key_field: Option<String>,
    run_id: String,
    /// `bootstrapServers`, for messages.
    servers: String,
    /// Each step's time with the brokers (`spec.sink.kafka.timeoutSeconds`).
    timeout: Duration,
    policy: Policy,
    /// The run's figures: a call to the brokers (a batch counts as one) is a request.
    stats: Arc<Stats>,
    /// Set once the transaction was begun: from then on a failure aborts it.
    began: Arc<AtomicBool>,
    /// Set once the commit was requested: from then on the run may be live, and is never aborted.
    committing: Arc<AtomicBool>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").field("topic", &self.topic).field("run_id", &self.run_id).finish()
    }
}

impl KafkaSink {
    /// A sink for `run_id` of `cluster_fetch` (`<namespace>/<name>`) to the topic in `spec`, with its
    /// secrets, counting its calls to the brokers in `stats`. Nothing is sent yet; a refused setting is a
    /// permanent fault (a configuration problem).
    pub fn new(
        spec: &KafkaSinkSpec,
        run_id: &str,
        cluster_fetch: &str,
        secrets: &KafkaSecrets,
        policy: Policy,
        stats: Arc<Stats>,
    ) -> Result<KafkaSink, Fault> {
        let timeout = Duration::from_secs(u64::try_from(spec.timeout_seconds.max(1)).unwrap_or(30));
        let servers = spec.bootstrap_servers.join(",");
        let prefix = spec.transactional_id_prefix.as_deref().unwrap_or("microfleet");
        let delivery = timeout.min(TRANSACTION_TIMEOUT);
        let mut config = Broker::new(servers.clone(), security(spec, secrets)).client_config();
        config
            .set("client.id", "microfleet-fetcher")
            .set("transactional.id", format!("{prefix}-{cluster_fetch}-{run_id}"))
            .set("transaction.timeout.ms", TRANSACTION_TIMEOUT.as_millis().to_string())
            .set("message.timeout.ms", delivery.as_millis().to_string())
            .set("allow.auto.create.topics", "false");
        let producer = Producer::create(&config)
            .map_err(|e| Fault::permanent(format!("spec.sink.kafka: the Kafka client refused its settings: {e}")))?;
        Ok(KafkaSink {
            producer,
            topic: spec.topic.clone(),
            key_field: spec.key_field.clone(),
            run_id: run_id.to_string(),
            servers,
            timeout,
            policy,
            stats,
            began: Arc::new(AtomicBool::new(false)),
            committing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Runs a blocking producer call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&FutureProducer<BrokerContext>) -> Result<T, KafkaError> + Send + 'static,
    ) -> Result<T, Fault> {
        let producer = self.producer.clone();
        let joined = tokio::task::spawn_blocking(move || call(producer.inner())).await;
        match joined {
            Ok(result) => result.map_err(|e| self.fault(&e)),
            Err(e) => Err(Fault::permanent(format!("sink kafka: a producer call failed: {e}"))),
        }
    }

    /// The fault a Kafka error stands for: transient when the client says a retry may succeed.
    fn fault(&self, error: &KafkaError) -> Fault {
        let timed_out =
            |code| matches!(code, Some(RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut));
        // a fatal error (e.g. fenced) is the cause of whatever failed after it: a record refused at once
        // (`Fatal`) as much as one purged in flight
        let fatal = self.producer.inner().client().fatal_error().map(|(code, _)| code);
        let mut code = fatal.or_else(|| error.rdkafka_error_code());
        let mut retriable = fatal.is_none()
            && match error {
                KafkaError::Transaction(e) => e.is_retriable(),
                _ => timed_out(code),
            };
        let refusal = self.producer.refusal().filter(|_| timed_out(code));
        let mut reason = None;
        if let Some(refusal) = refusal {
            // the call timed out because the login or the handshake was refused: no retry will change that
            let refused = match refusal {
                Refusal::Login(_) => RDKafkaErrorCode::Authentication,
                Refusal::Tls(_) => RDKafkaErrorCode::SSL,
            };
            (code, retriable, reason) = (Some(refused), false, Some(refusal.reason().to_string()));
        }
        let message = match code {
            Some(
                RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            ) => format!(
                "sink kafka: the brokers {} refused authorization ({error}): grant the user Write and Describe on \
                 topic {} and on the transactional ids of spec.sink.kafka.transactionalIdPrefix",
                self.servers, self.topic
            ),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => format!(
                "sink kafka: the brokers {} refused the SASL login ({}): check spec.sink.kafka.sasl and its Secrets",
                self.servers,
                reason.unwrap_or_else(|| error.to_string())
            ),
            Some(RDKafkaErrorCode::SSL) => format!(
                "sink kafka: the TLS handshake with the brokers {} failed ({}): check spec.sink.kafka.tls \
                 (caSecretKeyRef names the CA that signed the brokers' certificates)",
                self.servers,
                reason.unwrap_or_else(|| error.to_string())
            ),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => self.no_topic(),
            Some(
                RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch,
            ) => {
                format!(
                    "sink kafka: another producer of this run (the same transactional.id) took over and fenced this \
                     one ({error}): the run was started again, and the newer attempt delivers it"
                )
            }
            Some(
                RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::MessageTimedOut,
            ) => format!(
                "sink kafka: no answer from the brokers {} within {} s ({error}): are they up and reachable?",
                self.servers,
                self.timeout.as_secs()
            ),
            _ => format!("sink kafka ({}): {error}", self.servers),
        };
        match retriable {
            true => Fault::transient(message),
            false => Fault::permanent(message),
        }
    }

    fn no_topic(&self) -> String {
        format!(
            "sink kafka: topic {} does not exist on the brokers {}: create it (the sink never creates topics) or fix \
             spec.sink.kafka.topic",
            self.topic, self.servers
        )
    }

    /// Runs `step` with the run's retry policy; the last fault tells how many attempts were made.
    async fn with_retries<T, F, Fut>(&self, what: &str, step: F) -> Result<T, Fault>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Fault>>,
    {
        let attempts = AtomicU32::new(0);
        let result = retry::with_retries(
            self.policy,
            || {
                attempts.fetch_add(1, Ordering::Relaxed);
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                step()
            },
            |fault, wait| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %fault, retry_in_ms = wait.as_millis() as u64, "{what} failed; retrying")
            },
        )
        .await;
        result.map_err(|fault| {
            let message = format!("{fault} (after {} attempt(s))", attempts.load(Ordering::Relaxed));
            match fault.is_transient() {
                true => Fault::transient(message),
                false => Fault::permanent(message),
            }
        })
    }

    /// Starts the run's transaction: the producer's id is registered (fencing an older producer of the
    /// same run), the topic is checked, and the transaction begun. Transient faults are retried.
    pub async fn begin(&self) -> Result<(), Fault> {
        let timeout = self.timeout;
        self.with_retries("starting the Kafka transaction", || self.blocking(move |p| p.init_transactions(timeout)))
            .await?;
        let topic = self.topic.clone();
        let partitions = self
            .with_retries("reading the topic's metadata", || {
                let topic = topic.clone();
                self.blocking(move |p| {
                    let metadata = p.client().fetch_metadata(Some(&topic), timeout)?;
                    Ok(metadata.topics().first().map(|t| (t.error(), t.partitions().len())))
                })
            })
            .await?;
        match partitions {
            Some((None, count)) if count > 0 => {}
            Some((Some(code), _)) if RDKafkaErrorCode::from(code) != RDKafkaErrorCode::UnknownTopicOrPartition => {
                return Err(self.fault(&KafkaError::MetadataFetch(RDKafkaErrorCode::from(code))));
            }
            _ => return Err(Fault::permanent(self.no_topic())),
        }
        self.blocking(|p| p.begin_transaction()).await?;
        self.began.store(true, Ordering::SeqCst);
        tracing::info!(topic = %self.topic, "Kafka transaction begun");
        Ok(())
    }

    /// Produces one sealed batch's items into the transaction and waits until the brokers have them (the
    /// client retries transient faults for up to `timeoutSeconds`; a record it gives up on fails the run).
    pub async fn send(&self, batch: &Batch) -> Result<(), Fault> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let headers = OwnedHeaders::new().insert(Header { key: "microfleet-run", value: Some(&self.run_id) });
        let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(batch.len());
        for (index, item) in batch.item_slices().enumerate() {
            let key = self.key(item, batch.seq, index)?;
            let mut record = FutureRecord::to(&self.topic).payload(item).headers(headers.clone());
            if let Some(key) = &key {
                record = record.key(key.as_slice());
            }
            loop {
                match self.producer.inner().send_result(record) {
                    Ok(delivery) => break pending.push(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), again)) => {
                        // the client's queue is full: wait for what is in flight, then enqueue again
                        self.settle(std::mem::take(&mut pending)).await?;
                        record = again;
                    }
                    Err((error, _)) => return Err(self.fault(&error)),
                }
            }
        }
        self.settle(pending).await
    }

    /// Waits for each record's delivery.
    async fn settle(&self, pending: Vec<DeliveryFuture>) -> Result<(), Fault> {
        // a failed record makes the client purge the others: report the cause, not the purge
        let purged = |e: &KafkaError| {
            matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight))
        };
        let mut failed: Option<KafkaError> = None;
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) if failed.as_ref().is_none_or(|f| purged(f) && !purged(&error)) => {
                    failed = Some(error)
                }
                Ok(Err(_)) => {}
                Err(_) => return Err(Fault::permanent("sink kafka: the producer dropped a record")),
            }
        }
        let Some(error) = failed else { return Ok(()) };
        let fault = self.fault(&error);
        Err(Fault::permanent(format!("a record was not delivered: {fault}")))
    }

    /// The record key of `item` (the value at `keyField`: a string as is, anything else as JSON text).
    fn key(&self, item: &[u8], seq: u64, index: usize) -> Result<Option<Vec<u8>>, Fault> {
        let Some(pointer) = &self.key_field else { return Ok(None) };
        let missing = || {
            Fault::permanent(format!(
                "sink kafka: item {index} of batch {seq} has no value at {pointer} (spec.sink.kafka.keyField): \
                 add the field to checks.requiredFields to refuse such a list before delivery"
            ))
        };
        let value: serde_json::Value = serde_json::from_slice(item).map_err(|_| missing())?;
        match value.pointer(pointer) {
            Some(serde_json::Value::String(key)) => Ok(Some(key.clone().into_bytes())),
            None | Some(serde_json::Value::Null) => Err(missing()),
            Some(other) => Ok(Some(other.to_string().into_bytes())),
        }
    }

    /// True once the commit was requested: the run may be live.
    pub fn commit_started(&self) -> bool {
        self.committing.load(Ordering::SeqCst)
    }

    /// Commits the transaction. A commit the brokers refused is aborted (the list is not live); a commit
    /// whose answer never came, after the retries, is unknown.
    pub async fn commit(&self) -> Result<(), CommitError> {
        if !self.began.load(Ordering::SeqCst) {
            self.begin().await.map_err(CommitError::Refused)?;
        }
        self.committing.store(true, Ordering::SeqCst);
        let timeout = self.timeout;
        let requires_abort = Arc::new(AtomicBool::new(false));
        let flag = requires_abort.clone();
        let committed = self
            .with_retries("the Kafka commit", || {
                let flag = flag.clone();
                self.blocking(move |p| {
                    p.commit_transaction(timeout).inspect_err(|e| {
                        if let KafkaError::Transaction(e) = e {
                            flag.store(e.txn_requires_abort(), Ordering::SeqCst);
                        }
                    })
                })
            })
            .await;
        match committed {
            Ok(()) => {
                tracing::info!(topic = %self.topic, "Kafka transaction committed");
                Ok(())
            }
            Err(fault) if requires_abort.load(Ordering::SeqCst) => {
                self.abort_transaction().await;
                Err(CommitError::Refused(Fault::permanent(format!("sink kafka commit refused, aborted: {fault}"))))
            }
            Err(fault) => Err(CommitError::Unknown(Fault::permanent(format!("sink kafka commit: {fault}")))),
        }
    }

    /// Aborts the transaction, unless a commit was requested (then the run may be live and is left alone).
    pub async fn abort(&self, reason: &str) {
        if self.commit_started() {
            tracing::warn!("a commit was requested, so the run may be live: not aborting it");
            return;
        }
        if self.began.load(Ordering::SeqCst) {
            tracing::info!(topic = %self.topic, reason, "aborting the Kafka transaction");
            self.abort_transaction().await;
        }
    }

    async fn abort_transaction(&self) {
        let timeout = self.timeout;
        if let Err(error) = self.blocking(move |p| p.abort_transaction(Timeout::After(timeout))).await {
            tracing::warn!(%error, "could not abort the Kafka transaction; the broker aborts it when it times out");
        }
    }
}

/// The sink's TLS and SASL settings in the services' form: TLS when `tls` is set (the CA from its Secret, or
/// the system's roots), the SASL login from its Secrets.
fn security(spec: &KafkaSinkSpec, secrets: &KafkaSecrets) -> KafkaSecurity {
    let sasl = spec.sasl.as_ref().zip(secrets.sasl.as_ref()).map(|(sasl, (username, password))| {
        let mechanism = match sasl.mechanism {
            SaslMechanismSpec::Plain => SaslMechanism::Plain,
            SaslMechanismSpec::ScramSha256 => SaslMechanism::ScramSha256,
            SaslMechanismSpec::ScramSha512 => SaslMechanism::ScramSha512,
        };
        SaslLogin::new(mechanism, username, password)
    });
    KafkaSecurity {
        protocol: SecurityProtocol::of(spec.tls.is_some(), spec.sasl.is_some()),
        sasl,
        ca: secrets.ca_pem.clone().map(TrustedCa::Pem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(key_field: Option<&str>, tls: bool, sasl: bool) -> Result<KafkaSink, Fault> {
        let yaml = format!(
            "bootstrapServers: [127.0.0.1:1]\ntopic: t\n{}{}{}",
            key_field.map(|k| format!("keyField: {k}\n")).unwrap_or_default(),
            if tls { "tls: {}\n" } else { "" },
            if sasl {
                "sasl: {mechanism: SCRAM-SHA-512, username: {name: s, key: u}, password: {name: s, key: p}}\n"
            } else {
                ""
            },
        );
        let spec: KafkaSinkSpec = serde_yaml::from_str(&format!("{yaml}timeoutSeconds: 1")).unwrap();
        let secrets = KafkaSecrets { sasl: sasl.then(|| ("u".into(), "p".into())), ca_pem: None };
        let policy = Policy { attempts: 1, initial: Duration::from_millis(1), max: Duration::from_millis(1) };
        KafkaSink::new(&spec, "run-1", "promo/users", &secrets, policy, Arc::default())
    }

    #[test]
    fn the_spec_s_tls_and_sasl_become_the_services_settings() {
        let yaml = "bootstrapServers: [127.0.0.1:1]\ntopic: t\ntls: {caSecretKeyRef: {name: s, key: ca}}\n\
                    sasl: {mechanism: SCRAM-SHA-256, username: {name: s, key: u}, password: {name: s, key: p}}\n";
        let spec: KafkaSinkSpec = serde_yaml::from_str(yaml).unwrap();
        let secrets = KafkaSecrets { sasl: Some(("user".into(), "pa55".into())), ca_pem: Some("PEM".into()) };
        let mut config = rdkafka::config::ClientConfig::new();
        security(&spec, &secrets).apply(&mut config);
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "user"),
            ("sasl.password", "pa55"),
            ("ssl.ca.pem", "PEM"),
        ] {
            assert_eq!(config.get(key), Some(value), "{key}");
        }
        let plain: KafkaSinkSpec = serde_yaml::from_str("bootstrapServers: [127.0.0.1:1]\ntopic: t\n").unwrap();
        let security = security(&plain, &KafkaSecrets::default());
        assert_eq!((security.protocol, security.sasl, security.ca), (SecurityProtocol::Plaintext, None, None));
    }

    #[test]
    fn tls_and_scram_build_here() {
        for (tls, sasl) in [(false, false), (true, false), (false, true), (true, true)] {
            assert!(sink(None, tls, sasl).is_ok(), "tls {tls}, sasl {sasl}: {:?}", sink(None, tls, sasl).err());
        }
    }

    #[test]
    fn the_key_comes_from_the_key_field() {
        let item = br#"{"user_id":"u-1","n":7,"nested":{"id":[1,2]},"none":null}"#;
        let cases: [(Option<&str>, Option<&[u8]>); 5] = [
            (None, None),
            (Some("/user_id"), Some(b"u-1")),
            (Some("/n"), Some(b"7")),
            (Some("/nested/id"), Some(b"[1,2]")),
            (Some("/nested/id/1"), Some(b"2")),
        ];
        for (pointer, expected) in cases {
            let key = sink(pointer, false, false).unwrap().key(item, 0, 0).unwrap();
            assert_eq!(key.as_deref(), expected, "{pointer:?}");
        }
        for missing in ["/absent", "/none"] {
            let error = sink(Some(missing), false, false).unwrap().key(item, 3, 9).unwrap_err();
            assert!(error.to_string().contains(&format!("item 9 of batch 3 has no value at {missing}")), "{error}");
        }
    }
}
