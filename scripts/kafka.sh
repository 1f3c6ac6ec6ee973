#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on 127.0.0.1 for development,
# tests and CI, run from Maven Central jars (scripts/kafka/pom.xml). No Docker.
#
#   scripts/kafka.sh start|stop|status|restart|bootstrap
#
# Environment:
#   KAFKA_PORT             client port (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1)
#   KAFKA_DIR              data, logs, config and pid file (default <repo>/target/kafka)
#   KAFKA_HEAP             broker heap (default 512m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 90)
#
# start is idempotent (a running broker is left alone), stop kills exactly the process whose pid this
# script recorded, after checking that it is that broker (same server.properties), never by name.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DIR="${KAFKA_DIR:-$ROOT/target/kafka}"
HEAP="${KAFKA_HEAP:-512m}"
TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PIDFILE="$DIR/kafka.pid"
PROPS="$DIR/server.properties"
CLASSPATH_FILE="$DIR/classpath.txt"
POM="$ROOT/scripts/kafka/pom.xml"

log() { echo "kafka.sh: $*" >&2; }

# The pid recorded by start, if that process is still our broker.
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

classpath() {
  if [[ ! -s "$CLASSPATH_FILE" || "$POM" -nt "$CLASSPATH_FILE" ]]; then
    log "resolving the broker classpath from Maven Central ($POM)"
    "$ROOT/mvnw" -B -q -f "$POM" dependency:build-classpath \
      -Dmdep.includeScope=runtime -Dmdep.outputFile="$CLASSPATH_FILE.tmp" >&2
    mv "$CLASSPATH_FILE.tmp" "$CLASSPATH_FILE"
  fi
  cat "$CLASSPATH_FILE"
}

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  cat > "$PROPS" <<EOF
# written by scripts/kafka.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
log.segment.bytes=67108864
message.max.bytes=16777216
EOF
  cat > "$DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $DIR/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
EOF
}

start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on 127.0.0.1:$(configured_port)"
    return 0
  fi
  if port_open "$PORT"; then
    log "port $PORT is taken by another process; set KAFKA_PORT"
    return 1
  fi
  command -v java >/dev/null || { log "java not found"; return 1; }
  local cp
  cp="$(classpath)"
  write_config
  local opts=(-Xmx"$HEAP" -Xms64m -XX:+UseSerialGC -Djava.awt.headless=true
              -Dlog4j2.configurationFile="$DIR/log4j2.properties" -Dkafka.logs.dir="$DIR/logs")
  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    log "formatting storage in $DIR/data"
    java "${opts[@]}" -cp "$cp" kafka.tools.StorageTool format \
      -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
      -c "$PROPS" > "$DIR/logs/format.out" 2>&1 || { cat "$DIR/logs/format.out" >&2; return 1; }
  fi
  # setsid: the broker outlives this shell and gets no signal meant for the caller's process group
  setsid nohup java "${opts[@]}" -cp "$cp" kafka.Kafka "$PROPS" > "$DIR/logs/server.out" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$PIDFILE"
  log "started pid $pid, waiting for 127.0.0.1:$PORT"
  local deadline=$((SECONDS + TIMEOUT))
  while (( SECONDS < deadline )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker exited during startup; last lines of $DIR/logs:"
      tail -n 30 "$DIR/logs/server.out" "$DIR/logs/server.log" >&2 2>/dev/null || true
      rm -f "$PIDFILE"
      return 1
    fi
    if port_open "$PORT" && grep -q "Kafka Server started" "$DIR/logs/server.log" 2>/dev/null; then
      log "ready: bootstrap.servers=127.0.0.1:$PORT"
      return 0
    fi
    sleep 0.5
  done
  log "broker did not answer within ${TIMEOUT}s; see $DIR/logs"
  return 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop in 30 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  log "stopped pid $pid"
}

# The client port of the broker this directory holds (the one it was started with), else $PORT.
configured_port() {
  if [[ -f "$PROPS" ]]; then
    sed -n 's/^listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$PROPS"
  else
    echo "$PORT"
  fi
}

status() {
  local pid
  PORT="$(configured_port)"
  if pid="$(running_pid)" && port_open "$PORT"; then
    echo "running pid $pid bootstrap.servers=127.0.0.1:$PORT dir=$DIR"
  elif [[ -n "${pid:-}" ]]; then
    echo "starting pid $pid (port $PORT not answering yet) dir=$DIR"
  else
    echo "stopped dir=$DIR"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  bootstrap) echo "127.0.0.1:$(configured_port)" ;;
  *) echo "usage: $0 start|stop|status|restart|bootstrap" >&2; exit 2 ;;
esac
