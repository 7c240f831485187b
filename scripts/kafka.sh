#!/usr/bin/env bash
# A real Apache Kafka broker on 127.0.0.1: Kafka 4.x from Maven Central (org.apache.kafka:kafka_2.13 and its
# dependencies, resolved with Maven), KRaft mode, one process that is both broker and controller.
#
#   scripts/kafka.sh fetch   # resolve the classpath once (cached in ~/.cache/microfleet/kafka/<version>)
#   scripts/kafka.sh tools   # resolve Kafka's command-line tools (org.apache.kafka:kafka-tools) once; prints
#                            # the folder of their classpath (scripts/node.sh runs them as the apache/kafka image)
#   scripts/kafka.sh up      # fetch if needed, format storage, start; prints the env to use
#   scripts/kafka.sh env     # eval "$(scripts/kafka.sh env)": MICROFLEET_KAFKA_BOOTSTRAP
#   scripts/kafka.sh down    # stop it (by PID) and delete its data
#   scripts/kafka.sh kill    # SIGKILL the broker (a crash; the data stays, for `start`)
#   scripts/kafka.sh start   # start it again on its existing data (after `kill`)
#   scripts/kafka.sh status
#
# Settings (environment): MICROFLEET_KAFKA_VERSION (4.1.1), MICROFLEET_KAFKA_DIR (/tmp/microfleet-kafka:
# config, data, log, PID), MICROFLEET_KAFKA_PORT (19092; the controller listens on the next port, and a
# SASL_PLAINTEXT listener on the one after: users "microfleet", PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, a super
# user, and "nobody", PLAIN, no ACLs; password "microfleet-test-password"; and an SSL listener on the next, whose
# certificate a CA made at `up` signed; `up` prints MICROFLEET_KAFKA_SASL_BOOTSTRAP, MICROFLEET_KAFKA_TLS_BOOTSTRAP
# and MICROFLEET_KAFKA_TLS_CA, that CA's PEM file),
# MICROFLEET_KAFKA_POD_ADDR (unset): also a plain-text listener on 127.0.0.1:<port + 4> advertised as
# <it>:<port + 4>, for pods on the pod network (scripts/node.sh with MICROFLEET_POD_NETWORK=1), which reach the
# host's 127.0.0.1 at their bridge's address: set it to that address (e.g. 10.88.0.1); `up` then prints
# MICROFLEET_KAFKA_POD_BOOTSTRAP,
# MICROFLEET_KAFKA_BROKER_SESSION_MS (9000, Kafka's default: how long the controller waits for the broker's
# heartbeat before it fences the broker; a test that freezes the broker with SIGSTOP sets it above the freeze —
# here, after an 11 s freeze, a service could not check its topics on the fenced broker for a minute),
# MICROFLEET_KAFKA_HEAP (512m), MICROFLEET_KAFKA_START_SECONDS (90: how long `up`/`start` wait for it),
# MICROFLEET_CACHE (~/.cache/microfleet). Needs Java 17+ and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

version="${MICROFLEET_KAFKA_VERSION:-4.1.1}"
cache="${MICROFLEET_CACHE:-$HOME/.cache/microfleet}"
dir="${MICROFLEET_KAFKA_DIR:-/tmp/microfleet-kafka}"
port="${MICROFLEET_KAFKA_PORT:-19092}"
heap="${MICROFLEET_KAFKA_HEAP:-512m}"
broker_session_ms="${MICROFLEET_KAFKA_BROKER_SESSION_MS:-9000}"
start_seconds="${MICROFLEET_KAFKA_START_SECONDS:-90}"
# the password of the SASL listener's test users (a test broker on 127.0.0.1; not a secret)
sasl_password="microfleet-test-password"
pod_addr="${MICROFLEET_KAFKA_POD_ADDR:-}"
libs="$cache/kafka/$version/libs"

log() { printf 'kafka: %s\n' "$*" >&2; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

fetch() {
  [ -f "$libs/kafka_2.13-$version.jar" ] && [ -f "$libs/log4j-slf4j-impl-2.24.3.jar" ] && return
  command -v mvn >/dev/null || die "Maven (mvn) is not installed"
  command -v java >/dev/null || die "Java 17+ is not installed"
  local work started=$SECONDS
  work="$(mktemp -d)"
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.microfleet</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <!-- Kafka logs through SLF4J 1.7: route it to the log4j2 that it ships -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
  log "resolving org.apache.kafka:kafka_2.13:$version and its dependencies (once; cached in $libs)"
  mkdir -p "$libs.partial"
  (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.partial") >&2 ||
    die "resolving Kafka $version from Maven Central failed (see above)"
  rm -rf "$libs" && mv "$libs.partial" "$libs"
  rm -rf "$work"
  log "fetched in $((SECONDS - started)) s"
}

# tools: the classpath of Kafka's command-line tools (kafka-topics.sh is org.apache.kafka.tools.TopicCommand),
# resolved once into its own folder
tools() {
  local tools_libs="$cache/kafka/$version/tools-libs"
  if [ ! -f "$tools_libs/kafka-tools-$version.jar" ]; then
    command -v mvn >/dev/null || die "Maven (mvn) is not installed"
    local work
    work="$(mktemp -d)"
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.microfleet</groupId>
  <artifactId>kafka-tools-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
EOF
    log "resolving org.apache.kafka:kafka-tools:$version and its dependencies (once; cached in $tools_libs)"
    rm -rf "$tools_libs.partial" && mkdir -p "$tools_libs.partial"
    (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tools_libs.partial") >&2 ||
      die "resolving Kafka's tools $version from Maven Central failed (see above)"
    rm -rf "$tools_libs" && mv "$tools_libs.partial" "$tools_libs"
    rm -rf "$work"
  fi
  echo "$tools_libs"
}

java_cmd() { # main class, args...
  java -Xms128m -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$libs/*" "$@"
}

running() { pid_running "$dir/kafka.pid"; }

config() {
  mkdir -p "$dir/data"
  # the pods' listener (MICROFLEET_KAFKA_POD_ADDR): on the loopback, advertised at the pods' gateway
  local pod_listener="" pod_advertised=""
  if [ -n "$pod_addr" ]; then
    pod_listener=",POD://127.0.0.1:$((port + 4))"
    pod_advertised=",POD://$pod_addr:$((port + 4))"
  fi
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((port + 1))
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1)),SASL_PLAINTEXT://127.0.0.1:$((port + 2)),SSL://127.0.0.1:$((port + 3))$pod_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$((port + 2)),SSL://127.0.0.1:$((port + 3))$pod_advertised
controller.listener.names=CONTROLLER
broker.session.timeout.ms=$broker_session_ms
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,POD:PLAINTEXT
# the TLS listener (the Kafka sink's and the services' tests): a certificate for 127.0.0.1 signed by a CA made here ($dir/tls/ca.crt)
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$dir/tls/broker.pem
# the SASL listener (the Kafka sink's and the services' tests): user "microfleet" (PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512; the SCRAM credentials are stored by kafka-storage format --add-scram) may do anything,
# user "nobody" may log in and nothing more; the PLAINTEXT listeners' ANONYMOUS stays a super user
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_microfleet="$sasl_password" user_nobody="$sasl_password";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:microfleet
allow.everyone.if.no.acl.found=false
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
EOF
  tls_files
  cat >"$dir/log4j2.properties" <<'EOF'
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
EOF
}

# A CA and a certificate for 127.0.0.1 it signed, for the TLS listener (PEM; the key unencrypted).
tls_files() {
  command -v openssl >/dev/null || die "openssl is not installed (the TLS listener needs a certificate)"
  local tls="$dir/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=microfleet test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 30 \
    -extfile "$tls/san.ext" -out "$tls/broker.crt" 2>/dev/null
  cat "$tls/broker.key" "$tls/broker.crt" >"$tls/broker.pem"
}

up() {
  fetch
  if running; then
    log "already running (dir $dir)"
    env_lines
    return
  fi
  rm -rf "$dir"
  config
  local started=$SECONDS cluster_id
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=microfleet,password=$sasl_password]" \
    --add-scram "SCRAM-SHA-512=[name=microfleet,password=$sasl_password]" >"$dir/format.log" 2>&1 ||
    die "formatting storage failed: $(cat "$dir/format.log")"
  launch
  log "Kafka $version up in $((SECONDS - started)) s on 127.0.0.1:$port (dir $dir)"
  env_lines
}

# launch: the broker on the formatted storage of $dir, in the background; waits until it has started
launch() {
  : >"$dir/kafka.log"
  nohup java -Xms128m -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  local deadline=$((SECONDS + start_seconds))
  until grep -q 'Kafka Server started' "$dir/kafka.log" 2>/dev/null; do
    running || die "Kafka exited: $(tail -n 20 "$dir/kafka.log")"
    [ $SECONDS -lt $deadline ] || die "Kafka did not start within $start_seconds s (log: $dir/kafka.log)"
    sleep 0.5
  done
}

# kill: SIGKILL the broker, as a crash does; keeps its data
crash() {
  running || die "not running (dir $dir)"
  local pid
  pid="$(cat "$dir/kafka.pid")"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/kafka.pid"
  log "killed (pid $pid; data kept in $dir)"
}

# start: the broker again on its existing data (after `kill`)
start() {
  [ -f "$dir/server.properties" ] && [ -d "$dir/data" ] || die "no formatted broker in $dir: use 'up'"
  if running; then
    log "already running (dir $dir)"
    env_lines
    return
  fi
  local started=$SECONDS
  launch
  log "Kafka $version started again in $((SECONDS - started)) s on 127.0.0.1:$port (dir $dir)"
  env_lines
}

env_lines() {
  echo "export MICROFLEET_KAFKA_BOOTSTRAP=127.0.0.1:$port"
  echo "export MICROFLEET_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$((port + 2))"
  echo "export MICROFLEET_KAFKA_TLS_BOOTSTRAP=127.0.0.1:$((port + 3))"
  echo "export MICROFLEET_KAFKA_TLS_CA=$dir/tls/ca.crt"
  # the pods' listener as the running broker advertises it (one started without it has none)
  local pod_bootstrap
  pod_bootstrap="$(sed -n 's|^advertised\.listeners=.*POD://\([^,]*\).*|\1|p' "$dir/server.properties" 2>/dev/null)"
  if [ -n "$pod_bootstrap" ]; then echo "export MICROFLEET_KAFKA_POD_BOOTSTRAP=$pod_bootstrap"; fi
}

down() {
  stop_pid "$dir/kafka.pid"
  rm -rf "$dir/data"
  log "down"
}

case "${1:-}" in
  fetch) fetch ;;
  tools) tools ;;
  up) up ;;
  down) down ;;
  kill) crash ;;
  start) start ;;
  env) env_lines ;;
  status) if running; then echo "kafka: running (pid $(cat "$dir/kafka.pid"))"; else echo "kafka: stopped"; fi ;;
  *) die "usage: scripts/kafka.sh fetch|tools|up|down|kill|start|env|status" ;;
esac
