#!/usr/bin/env bash
# Apache Kafka for the tests: a real broker on 127.0.0.1, installed from Maven Central.
#
#   scripts/kafka.sh start [--zookeeper] STATE_DIR   start a broker whose files live in STATE_DIR
#   scripts/kafka.sh stop STATE_DIR                  stop what `start` started there (by PID)
#   scripts/kafka.sh jars [--zookeeper]              install the jars; print their directory
#
# Default mode: one combined KRaft node (Kafka 4.4) on a free port. --zookeeper: a standalone
# ZooKeeper and a Kafka 3.9 broker registered in it under the chroot /kafka (for the receiver
# stream's zkQuorum discovery). `start` prints `bootstrap=127.0.0.1:PORT` (and, with
# --zookeeper, `zookeeper=127.0.0.1:ZKPORT`) once the broker accepts connections.
#
# A second `start` on the same STATE_DIR after `stop` reuses its ports and data: topics,
# records and committed offsets survive (for broker-down fault tests). The processes are
# stopped by the PIDs recorded in STATE_DIR, never by name.
#
# The jars are fetched with `mvn` into ${FERROSTREAM_CACHE:-~/.cache/ferrostream}/kafka-VERSION,
# outside the clone (never committed). Environment: KAFKA_START_TIMEOUT (seconds, default 90),
# KAFKA_STOP_TIMEOUT (seconds before SIGKILL, default 20).
set -euo pipefail

KRAFT_KAFKA=4.4.0
LOG4J=2.25.5
ZK_KAFKA=3.9.1
ZOOKEEPER=3.8.4
LOGBACK=1.2.13 # the slf4j 1.7 binding ZooKeeper 3.8 is built with; Kafka 3.9 uses slf4j 1.7 too
CACHE="${FERROSTREAM_CACHE:-$HOME/.cache/ferrostream}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
# A small broker: ready in ~2.5 s at ~160 MB RSS (docs: reference-figures, "Apache Kafka for tests").
BROKER_JVM=(-Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
ZOOKEEPER_JVM=(-Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- installing the jars -----------------------------------------------------------------------

# The jars of one mode, installed once into the cache (under a lock, so concurrent first starts
# download once); prints the directory holding them.
install_jars() {
    local zk="$1" version deps
    if [ "$zk" = 1 ]; then
        version="$ZK_KAFKA"
        deps="$(dep org.apache.kafka kafka_2.13 "$ZK_KAFKA")
$(dep org.apache.zookeeper zookeeper "$ZOOKEEPER")
$(dep ch.qos.logback logback-classic "$LOGBACK")"
    else
        version="$KRAFT_KAFKA"
        # Kafka's pom has no slf4j binding: without one the broker logs nothing.
        deps="$(dep org.apache.kafka kafka_2.13 "$KRAFT_KAFKA")
$(dep org.apache.logging.log4j log4j-slf4j-impl "$LOG4J")"
    fi
    local home="$CACHE/kafka-$version"
    if [ ! -f "$home/installed" ]; then
        command -v mvn >/dev/null || die "mvn is not installed (needed once to fetch Kafka $version from Maven Central)"
        command -v java >/dev/null || die "java is not installed (Kafka needs Java 17 or later)"
        mkdir -p "$CACHE"
        exec 9>"$CACHE/kafka-$version.lock"
        flock 9
        if [ ! -f "$home/installed" ]; then
            install_locked "$home" "$version" "$deps"
        fi
        exec 9>&-
    fi
    echo "$home/libs"
}

dep() {
    echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version></dependency>"
}

install_locked() {
    local home="$1" version="$2" deps="$3" tmp
    tmp="$(mktemp -d "$CACHE/.kafka-$version.XXXXXX")"
    cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ferrostream.tests</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <dependencies>
$deps
  </dependencies>
</project>
EOF
    echo "kafka.sh: installing Apache Kafka $version from Maven Central into $home" >&2
    if ! (cd "$tmp" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1); then
        tail -n 30 "$tmp/mvn.log" >&2
        rm -rf "$tmp"
        die "mvn could not fetch Kafka $version (output above)"
    fi
    ls "$tmp"/libs/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn ran but $tmp/libs has no kafka jar"
    rm -rf "$home"
    mkdir -p "$home"
    mv "$tmp/libs" "$home/libs"
    rm -rf "$tmp"
    date -u +%FT%TZ >"$home/installed"
}

# --- processes -----------------------------------------------------------------------------------

# Is PID a live (not zombie) process started for STATE_DIR? The config path on its command line
# guards against a recycled PID.
owned_alive() {
    local pid="$1" state="$2" status
    [ -r "/proc/$pid/cmdline" ] || return 1
    status="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [ -n "$status" ] && [ "$status" != Z ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$state/"
}

stop_pidfile() {
    local file="$1" state="$2" name="$3" pid deadline
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && owned_alive "$pid" "$state"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_TIMEOUT))
        while owned_alive "$pid" "$state" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if owned_alive "$pid" "$state"; then
            echo "kafka.sh: $name (pid $pid) did not stop within ${STOP_TIMEOUT}s of SIGTERM: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
            while owned_alive "$pid" "$state" && [ "$SECONDS" -lt "$deadline" ]; do
                sleep 0.1
            done
        fi
    fi
    rm -f "$file"
}

accepts() {
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free TCP port on 127.0.0.1 whose successor is free too (KRaft's controller listener).
free_port_pair() {
    python3 - <<'EOF'
import socket

for _ in range(200):
    with socket.socket() as a:
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
    print(port)
    break
else:
    raise SystemExit("no free pair of ports on 127.0.0.1")
EOF
}

# Start a java process in the background, its log rotated per start; prints its PID.
launch() {
    local log="$1"
    shift
    [ -f "$log" ] && mv -f "$log" "$log.1"
    java "$@" </dev/null >"$log" 2>&1 &
    echo $!
}

# Wait until PORT accepts connections (and, if PATTERN is given, LOG has a line matching it)
# while PID lives; on failure show the log's tail and stop what this start began.
wait_ready() {
    local name="$1" pid="$2" port="$3" log="$4" state="$5" pattern="${6:-}"
    local deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        if ! owned_alive "$pid" "$state"; then
            echo "kafka.sh: $name (pid $pid) exited while starting; last lines of $log:" >&2
            tail -n 40 "$log" >&2
            stop_all "$state"
            exit 1
        fi
        if accepts "$port" && { [ -z "$pattern" ] || grep -qE -- "$pattern" "$log"; }; then
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "kafka.sh: $name (pid $pid) did not accept connections on 127.0.0.1:$port within ${START_TIMEOUT}s; last lines of $log:" >&2
            tail -n 40 "$log" >&2
            stop_all "$state"
            exit 1
        fi
        sleep 0.1
    done
}

stop_all() {
    local state="$1"
    stop_pidfile "$state/kafka.pid" "$state" "Kafka broker"
    stop_pidfile "$state/zookeeper.pid" "$state" "ZooKeeper"
}

check_not_running() {
    local state="$1" file pid
    for file in "$state/kafka.pid" "$state/zookeeper.pid"; do
        [ -f "$file" ] || continue
        pid="$(cat "$file")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && owned_alive "$pid" "$state"; then
            die "$state is already running (pid $pid in $file); run: $0 stop $state"
        fi
        rm -f "$file"
    done
}

check_port_free() {
    if accepts "$1"; then
        die "port 127.0.0.1:$1 (recorded in $2) is taken by another process"
    fi
}

# --- configuration -------------------------------------------------------------------------------

write_log4j2() {
    cat >"$1" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

write_logback() {
    cat >"$1" <<'EOF'
<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>[%d] %level %msg \(%logger\)%n</pattern></encoder>
  </appender>
  <logger name="kafka.request.logger" level="WARN"/>
  <logger name="state.change.logger" level="WARN"/>
  <root level="INFO"><appender-ref ref="OUT"/></root>
</configuration>
EOF
}

# Settings common to both modes: one broker, so every internal topic has one replica.
write_broker_common() {
    cat <<EOF
log.dirs=$1/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
# The 128 MB default does not fit a 256 MB heap.
log.cleaner.dedupe.buffer.size=8388608
EOF
}

start_kraft() {
    local state="$1" libs port
    libs="$(install_jars 0)"
    if [ -f "$state/ports" ]; then
        port="$(sed -n 's/^kafka=//p' "$state/ports")"
    else
        port="$(free_port_pair)"
        echo "kafka=$port" >"$state/ports"
    fi
    check_port_free "$port" "$state/ports"
    check_port_free "$((port + 1))" "$state/ports"
    if [ ! -f "$state/server.properties" ]; then
        {
            echo "process.roles=broker,controller"
            echo "node.id=1"
            echo "controller.quorum.voters=1@127.0.0.1:$((port + 1))"
            echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))"
            echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
            echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            echo "controller.listener.names=CONTROLLER"
            echo "inter.broker.listener.name=PLAINTEXT"
            echo "share.coordinator.state.topic.replication.factor=1"
            echo "share.coordinator.state.topic.min.isr=1"
            write_broker_common "$state"
        } >"$state/server.properties.tmp"
        mv "$state/server.properties.tmp" "$state/server.properties"
    fi
    write_log4j2 "$state/log4j2.properties"
    local jvm=("${BROKER_JVM[@]}" "-Dlog4j2.configurationFile=$state/log4j2.properties"
        -cp "$libs/*")
    if [ ! -f "$state/data/meta.properties" ]; then
        local id
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
        if ! java "${jvm[@]}" kafka.tools.StorageTool format --cluster-id="$id" \
            -c "$state/server.properties" >"$state/format.log" 2>&1; then
            cat "$state/format.log" >&2
            die "formatting the KRaft storage in $state/data failed (output above)"
        fi
    fi
    local pid
    pid="$(launch "$state/broker.log" "${jvm[@]}" kafka.Kafka "$state/server.properties")"
    echo "$pid" >"$state/kafka.pid"
    wait_ready "Kafka broker" "$pid" "$port" "$state/broker.log" "$state"
    echo "bootstrap=127.0.0.1:$port"
}

start_zookeeper_mode() {
    local state="$1" libs zkport port
    libs="$(install_jars 1)"
    if [ -f "$state/ports" ]; then
        zkport="$(sed -n 's/^zookeeper=//p' "$state/ports")"
        port="$(sed -n 's/^kafka=//p' "$state/ports")"
    else
        zkport="$(free_port_pair)"
        port="$(free_port_pair)"
        [ "$zkport" != "$port" ] || port="$(free_port_pair)"
        printf 'zookeeper=%s\nkafka=%s\n' "$zkport" "$port" >"$state/ports"
    fi
    check_port_free "$zkport" "$state/ports"
    check_port_free "$port" "$state/ports"
    if [ ! -f "$state/zoo.cfg" ]; then
        cat >"$state/zoo.cfg" <<EOF
tickTime=2000
dataDir=$state/zookeeper
clientPort=$zkport
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
    fi
    if [ ! -f "$state/server.properties" ]; then
        {
            echo "broker.id=0"
            # The chroot is created by the broker; readers must honour it (/kafka/brokers/ids).
            echo "zookeeper.connect=127.0.0.1:$zkport/kafka"
            echo "zookeeper.connection.timeout.ms=30000"
            echo "listeners=PLAINTEXT://127.0.0.1:$port"
            echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
            write_broker_common "$state"
        } >"$state/server.properties"
    fi
    mkdir -p "$state/zookeeper"
    write_logback "$state/logback.xml"
    local cp=(-cp "$libs/*" "-Dlogback.configurationFile=$state/logback.xml")
    local zkpid pid
    zkpid="$(launch "$state/zookeeper.log" "${ZOOKEEPER_JVM[@]}" "${cp[@]}" \
        -Dzookeeper.admin.enableServer=false \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$state/zoo.cfg")"
    echo "$zkpid" >"$state/zookeeper.pid"
    wait_ready "ZooKeeper" "$zkpid" "$zkport" "$state/zookeeper.log" "$state"
    pid="$(launch "$state/broker.log" "${BROKER_JVM[@]}" "${cp[@]}" \
        kafka.Kafka "$state/server.properties")"
    echo "$pid" >"$state/kafka.pid"
    # The port may accept before the broker registered in ZooKeeper: wait for "started" too.
    wait_ready "Kafka broker" "$pid" "$port" "$state/broker.log" "$state" \
        '\[KafkaServer id=[0-9]+\] started'
    echo "bootstrap=127.0.0.1:$port"
    echo "zookeeper=127.0.0.1:$zkport"
}

# --- commands ------------------------------------------------------------------------------------

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
zk=0
if [ "${1:-}" = --zookeeper ]; then
    zk=1
    shift
fi

case "$cmd" in
jars)
    [ $# -eq 0 ] || usage
    install_jars "$zk"
    ;;
start)
    [ $# -eq 1 ] || usage
    mkdir -p "$1"
    state="$(cd "$1" && pwd -P)"
    mode=kraft
    [ "$zk" = 0 ] || mode=zookeeper
    if [ -f "$state/mode" ] && [ "$(cat "$state/mode")" != "$mode" ]; then
        die "$state was made for $(cat "$state/mode") mode, not $mode"
    fi
    check_not_running "$state"
    echo "$mode" >"$state/mode"
    if [ "$zk" = 1 ]; then
        start_zookeeper_mode "$state"
    else
        start_kraft "$state"
    fi
    ;;
stop)
    if [ "$zk" != 0 ] || [ $# -ne 1 ]; then usage; fi
    [ -d "$1" ] || die "no such state directory: $1"
    stop_all "$(cd "$1" && pwd -P)"
    ;;
*)
    usage
    ;;
esac
