#!/usr/bin/env bash
# Runs the local services microtask talks to: a single-node Kafka broker (KRaft, jars from
# Maven Central, see scripts/kafka/pom.xml) and a Redis server, both on 127.0.0.1.
# State (data, logs, pid files) lives in .run/ at the repository root.
set -eu

usage() {
    cat >&2 <<'USAGE'
usage: scripts/services.sh COMMAND
  up                    install missing packages, start Kafka and Redis, wait until both answer
  down [--wipe]         stop both (--wipe also deletes their data and logs)
  wipe                  same as: down --wipe
  status                say whether each answers (exit 1 unless both do)
  kafka-start | kafka-stop | redis-start | redis-stop
                        start or stop one service (used by tests to restart it mid-job)
  topics ARGS...        run Kafka's kafka-topics tool against the local broker,
                        e.g. topics --create --topic t --partitions 3
The broker also listens with SASL/PLAIN (user "microtask", password
"microtask-secret") on the port two after MT_KAFKA_PORT, to try -X security
settings against.
environment: MT_KAFKA_PORT (9092; the controller uses the port after it), MT_REDIS_PORT (6379)
USAGE
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$ROOT/.run
KAFKA_PORT=${MT_KAFKA_PORT:-9092}
CONTROLLER_PORT=$((KAFKA_PORT + 1))
SASL_PORT=$((KAFKA_PORT + 2))
REDIS_PORT=${MT_REDIS_PORT:-6379}
LIBS=$RUN/kafka-libs
KAFKA_DATA=$RUN/kafka-data
KAFKA_PID=$RUN/kafka.pid
KAFKA_LOG=$RUN/kafka.log
REDIS_DATA=$RUN/redis-data
REDIS_PID=$RUN/redis.pid
# Any fixed base64 UUID will do for a throw-away local cluster ("microtask-local1").
CLUSTER_ID=bWljcm90YXNrLWxvY2FsMQ
KAFKA_WAIT=90

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }

# pid_of FILE PATTERN: print the pid stored in FILE if that process is alive and its command
# line contains PATTERN; otherwise remove the stale FILE and fail.
pid_of() {
    local pid
    pid=$(cat "$1" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -aq -- "$2" "/proc/$pid/cmdline" 2>/dev/null; then
        echo "$pid"
        return 0
    fi
    rm -f "$1"
    return 1
}

# True at once if something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kafka_answers() {
    # The port check spares kcat's 2 s metadata timeout when nothing listens. The broker
    # lists itself in a metadata reply only once it is ready to serve.
    port_open "$KAFKA_PORT" &&
        timeout 10 kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 2>/dev/null | grep -q ' broker [0-9]* at '
}

redis_answers() {
    [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

# The broker's classpath, copied once from Maven's local repository (which caches downloads).
kafka_jars() {
    local version out
    version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")
    [ -f "$LIBS/kafka_2.13-$version.jar" ] && return 0
    say "fetching Kafka $version jars (Maven)"
    rm -rf "$LIBS"
    # mvn -q still prints colour escapes; show its output only when it fails.
    if ! out=$(mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS" 2>&1); then
        echo "$out" >&2
        die "could not resolve the Kafka jars"
    fi
}

# The java command line for the broker and its tools (as Kafka's own start scripts set it).
java_cmd() { # java_cmd LOG4J_CONFIG_FILE: sets the array JAVA
    # 1 GB: the tests and benchmarks leave thousands of partitions behind,
    # and a broker short of heap pauses long enough to be fenced (below).
    JAVA=(java -Xmx1g -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
        -Djava.awt.headless=true "-Dlog4j.configuration=file:$RUN/$1" -cp "$LIBS/*")
}

kafka_config() {
    cat >"$RUN/server.properties" <<EOF
# Written by scripts/services.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_microtask="microtask-secret";
log.dirs=$KAFKA_DATA
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# One node is its own controller: a missed heartbeat under load (two busy
# cores) would fence it and leave every partition without a leader for a
# moment. Allow long pauses before that.
broker.session.timeout.ms=30000
broker.heartbeat.interval.ms=2000
EOF
    # The broker logs to stdout (redirected to kafka.log); the tools only say what went wrong.
    printf '%s\n' 'log4j.rootLogger=INFO, out' \
        'log4j.appender.out=org.apache.log4j.ConsoleAppender' \
        'log4j.appender.out.layout=org.apache.log4j.PatternLayout' \
        'log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n' \
        'log4j.logger.org.apache.kafka.clients=WARN' >"$RUN/log4j.properties"
    printf '%s\n' 'log4j.rootLogger=WARN, err' \
        'log4j.appender.err=org.apache.log4j.ConsoleAppender' \
        'log4j.appender.err.Target=System.err' \
        'log4j.appender.err.layout=org.apache.log4j.PatternLayout' \
        'log4j.appender.err.layout.ConversionPattern=%p %m%n' >"$RUN/tools-log4j.properties"
}

kafka_start() {
    local pid deadline
    if kafka_answers; then
        say "kafka already up on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    if ! pid=$(pid_of "$KAFKA_PID" kafka.Kafka); then
        mkdir -p "$RUN"
        kafka_jars
        kafka_config
        if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
            java_cmd tools-log4j.properties
            "${JAVA[@]}" kafka.tools.StorageTool format \
                -t "$CLUSTER_ID" -c "$RUN/server.properties" >>"$KAFKA_LOG" 2>&1 ||
                die "formatting Kafka storage failed, see $KAFKA_LOG"
        fi
        say "starting kafka on 127.0.0.1:$KAFKA_PORT"
        echo "=== $(date '+%F %T') services.sh: starting broker" >>"$KAFKA_LOG"
        # setsid: own session, so the broker outlives the calling shell and its signals.
        # The background job is not a process group leader, so setsid execs java in place
        # and $! is the broker's own pid.
        java_cmd log4j.properties
        setsid "${JAVA[@]}" kafka.Kafka "$RUN/server.properties" \
            </dev/null >>"$KAFKA_LOG" 2>&1 &
        pid=$!
        echo "$pid" >"$KAFKA_PID"
    fi
    deadline=$((SECONDS + KAFKA_WAIT))
    while [ $SECONDS -lt $deadline ]; do
        kafka_answers && { say "kafka up (pid $pid)"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 30 "$KAFKA_LOG" >&2
    die "kafka did not answer on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
}

kafka_stop() {
    local pid
    if ! pid=$(pid_of "$KAFKA_PID" kafka.Kafka); then
        if kafka_answers; then
            say "kafka on 127.0.0.1:$KAFKA_PORT was not started by this script; left running"
            return 1
        fi
        say "kafka already stopped"
        return 0
    fi
    say "stopping kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "kafka still running after 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    rm -f "$KAFKA_PID"
}

redis_start() {
    if redis_answers; then
        say "redis already up on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    mkdir -p "$REDIS_DATA"
    pid_of "$REDIS_PID" redis-server >/dev/null || true # clears a stale pid file
    say "starting redis on 127.0.0.1:$REDIS_PORT"
    # Job state must survive a Redis restart (merges are counted once only
    # because Redis keeps what it acknowledged): an append-only file, no RDB.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --dir "$REDIS_DATA" --pidfile "$REDIS_PID" --logfile "$RUN/redis.log" \
        --save '' --appendonly yes --appendfsync everysec >&2
    for _ in $(seq 50); do
        redis_answers && { say "redis up"; return 0; }
        sleep 0.2
    done
    tail -n 20 "$RUN/redis.log" >&2
    die "redis did not answer on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
    local pid
    if ! pid=$(pid_of "$REDIS_PID" redis-server); then
        if redis_answers; then
            say "redis on 127.0.0.1:$REDIS_PORT was not started by this script; left running"
            return 1
        fi
        say "redis already stopped"
        return 0
    fi
    say "stopping redis (pid $pid)"
    timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 ||
        kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$REDIS_PID"
}

status() {
    local rc=0
    if kafka_answers; then echo "kafka: up (127.0.0.1:$KAFKA_PORT)"; else echo "kafka: down"; rc=1; fi
    if redis_answers; then echo "redis: up (127.0.0.1:$REDIS_PORT)"; else echo "redis: down"; rc=1; fi
    return $rc
}

down() {
    local left=""
    case "${1:-}" in "" | --wipe) ;; *) usage; exit 2 ;; esac
    # A service this script did not start is reported and left alone; not an error here.
    kafka_stop || left="$left kafka"
    redis_stop || left="$left redis"
    if [ "${1:-}" = --wipe ]; then
        [ -z "$left" ] || die "not wiping data: still running:$left"
        say "deleting Kafka and Redis data and logs"
        rm -rf "$KAFKA_DATA" "$REDIS_DATA" "$KAFKA_LOG" "$RUN/redis.log"
    fi
}

case "${1:-}" in
up)
    "$ROOT/scripts/deps.sh"
    kafka_start
    redis_start
    ;;
down) down "${2:-}" ;;
wipe) down --wipe ;;
status) status ;;
kafka-start) kafka_start ;;
kafka-stop) kafka_stop ;;
redis-start) redis_start ;;
redis-stop) redis_stop ;;
topics)
    shift
    [ -f "$RUN/tools-log4j.properties" ] || die "run 'scripts/services.sh up' first"
    java_cmd tools-log4j.properties
    exec "${JAVA[@]}" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@"
    ;;
*)
    usage
    exit 2
    ;;
esac
