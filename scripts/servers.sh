#!/usr/bin/env bash
# Starts and stops the real servers the tests run against, on 127.0.0.1 and
# free ports, with every file under one directory.
#
#   servers.sh start DIR           a standalone ZooKeeper 3.8 and a 1-member etcd
#   servers.sh start-ensemble DIR  a 3-member ZooKeeper ensemble (server faults)
#   servers.sh start-etcd-compat DIR
#                                  a 1-member etcd from Debian's etcd-server
#                                  (3.4), installed with apt-get when missing
#   servers.sh start-nosync DIR    a second ZooKeeper and etcd with fsync off
#                                  (benchmarks; data on /dev/shm when present)
#   servers.sh stop DIR            stops whatever of the above runs from DIR
#
# start prints `export ZKRECIPES_ZK_ENDPOINTS=...` and
# `export ZKRECIPES_ETCD_ENDPOINTS=...` and writes them to DIR/env;
# start-ensemble prints `export ZKRECIPES_ZK_ENSEMBLE=...` and
# `export ZKRECIPES_ZK_ENSEMBLE_DIR=DIR` and writes them to DIR/ensemble.env;
# start-etcd-compat prints `export ZKRECIPES_ETCD_ENDPOINTS=...` for the old
# etcd and writes it to DIR/compat.env (and its version to DIR/compat.version);
# start-nosync prints `export ZKRECIPES_ZK_ENDPOINTS_NOSYNC=...` and
# `export ZKRECIPES_ETCD_ENDPOINTS_NOSYNC=...` and writes them to
# DIR/nosync.env. Its ZooKeeper runs with forceSync=no and its etcd with
# --unsafe-no-fsync, their data on tmpfs (/dev/shm) when there is one: a
# crash loses acknowledged writes, so they are for benchmarks that show what
# the clients and recipes cost without the disk.
# Diagnostics go to stderr. Layout of DIR:
#
#   zk/{zoo.cfg,data/,zk.log,start}   zk.pid
#   etcd/{data/,etcd.log,start}       etcd.pid
#   zk-ensemble/ID/{zoo.cfg,data/myid,zk.log,start}
#   zk-ensemble.pids                  lines "ID PID CLIENT-PORT"
#   etcd-compat/{data/,etcd.log,start} etcd-compat.pid
#   nosync/{zk/,etcd/,data}           zk-nosync.pid etcd-nosync.pid
#                                     (data: a link to /dev/shm/zkrecipes-nosync.*)
#
# Each `start` file is a generated script that starts that one server in the
# background and prints its PID; tests use it to restart an ensemble member.
#
# ZooKeeper is Debian's package, installed with apt-get when missing, run with
# java directly (Debian's zkServer.sh always reads /etc/zookeeper). etcd is
# scripts/build-etcd.sh's binary, or $ZKRECIPES_ETCD_BIN. A start waits at
# most $ZKRECIPES_SERVERS_TIMEOUT seconds (default 60) for the servers to
# serve, and retries with other ports when one was taken meanwhile.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
timeout_s=${ZKRECIPES_SERVERS_TIMEOUT:-60}
zk_jar=/usr/share/java/zookeeper.jar
slf4j_jar=/usr/share/java/slf4j-simple.jar
zk_main=org.apache.zookeeper.server.quorum.QuorumPeerMain
compat_etcd=/usr/bin/etcd # Debian's etcd-server

log() { echo "servers: $*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# now prints the time in seconds with milliseconds.
now() { date +%s.%3N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $*"
  fi
}

# ensure_zookeeper installs Debian's ZooKeeper (and a Java runtime) if missing,
# and the interop peers internal/peers runs: kazoo for /usr/bin/python3 and
# Apache Curator's jars.
ensure_zookeeper() {
  local pkgs=()
  [ -f "$zk_jar" ] || pkgs+=(zookeeper)
  command -v java >/dev/null 2>&1 || pkgs+=(default-jre-headless)
  /usr/bin/python3 -c 'import kazoo' >/dev/null 2>&1 || pkgs+=(python3-kazoo)
  [ -f /usr/share/java/curator-recipes.jar ] ||
    pkgs+=(libcurator-recipes-java libcurator-framework-java libcurator-client-java libcurator-discovery-java)
  command -v javac >/dev/null 2>&1 || pkgs+=(default-jdk-headless) # compiles the Curator peer
  [ ${#pkgs[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get to install them"
  log "installing ${pkgs[*]} with apt-get"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
  [ -f "$zk_jar" ] || die "apt-get installed zookeeper but $zk_jar is missing"
  command -v java >/dev/null 2>&1 || die "no java after installing ${pkgs[*]}"
}

zk_classpath() {
  local cp=$zk_jar
  [ -f "$slf4j_jar" ] && cp+=:$slf4j_jar # without it ZooKeeper logs nothing
  echo "$cp"
}

# --- processes -------------------------------------------------------------

# alive PID: the process exists and is not a zombie (our servers are orphans,
# and PID 1 in a container may never reap them).
alive() {
  local pid=${1:-} state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [ -d /proc/self ]; then
    state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] && [ "$state" != X ]
  else
    kill -0 "$pid" 2>/dev/null
  fi
}

# owned PID DIR: the process runs from DIR (its command line names DIR), so a
# recycled PID of someone else's process is never signalled.
owned() {
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2/"
}

# wait_gone SECONDS PID...: waits until every PID has exited; sets `left` to
# those still running when it gives up.
wait_gone() {
  local deadline=$((SECONDS + $1)) pid
  shift
  while :; do
    left=()
    for pid in "$@"; do alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# stop_pids DIR "ZK_PIDS" "ETCD_PIDS": SIGKILL for etcd (SIGTERM can hang),
# SIGTERM for ZooKeeper and SIGKILL 5 s later; waits until all have exited.
stop_pids() {
  local dir=$1 zk=() etcd=() pid
  left=()
  for pid in $2; do alive "$pid" && owned "$pid" "$dir" && zk+=("$pid"); done
  for pid in $3; do alive "$pid" && owned "$pid" "$dir" && etcd+=("$pid"); done
  [ $((${#zk[@]} + ${#etcd[@]})) -gt 0 ] || return 0
  [ ${#etcd[@]} -eq 0 ] || kill -KILL "${etcd[@]}" 2>/dev/null || true
  [ ${#zk[@]} -eq 0 ] || kill -TERM "${zk[@]}" 2>/dev/null || true
  wait_gone 5 "${zk[@]}" "${etcd[@]}" && return 0
  log "still running 5 s after SIGTERM: ${left[*]}; sending SIGKILL"
  kill -KILL "${left[@]}" 2>/dev/null || true
  wait_gone 10 "${left[@]}" && return 0
  log "still running 10 s after SIGKILL: ${left[*]}"
  return 1
}

# --- ports -----------------------------------------------------------------

# Ports come from 20000 up to the start of the kernel's ephemeral range, so
# an outgoing connection never holds one; a port is taken when something
# accepts a connection on it. Ports picked by this run are never reused.
port_lo=20000
port_hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
[ "$port_hi" -gt $((port_lo + 1000)) ] 2>/dev/null || port_hi=40000
picked=" "

# listening PORT: something on 127.0.0.1 accepts connections on PORT.
listening() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
  [ $? -eq 124 ] # a connect that hangs: treat the port as taken
}

# free_port sets REPLY to a port nothing listens on.
free_port() {
  local p i
  for ((i = 0; i < 500; i++)); do
    p=$((port_lo + (RANDOM * 32768 + RANDOM) % (port_hi - port_lo + 1)))
    [[ $picked == *" $p "* ]] && continue
    picked+="$p "
    listening "$p" && continue
    REPLY=$p
    return 0
  done
  die "no free port between $port_lo and $port_hi"
}

# --- probes ----------------------------------------------------------------

# zk_mode PORT prints the server's mode (standalone, leader, follower) once it
# serves sessions; `ruok` answers before that, `srvr` prints Mode: only then.
zk_mode() {
  { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf srvr >&3 && cat <&3" 2>/dev/null || true; } |
    sed -n 's/^Mode: //p'
}

# etcd_healthy PORT: GET /health says "health":"true".
etcd_healthy() {
  local out
  if command -v curl >/dev/null 2>&1; then
    out=$(curl -sS -m 2 "http://127.0.0.1:$1/health" 2>/dev/null) || return 1
  else
    out=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 &&
      printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1:$1\r\nConnection: close\r\n\r\n' >&3 &&
      cat <&3" 2>/dev/null) || return 1
  fi
  [[ $out == *'"health":"true"'* ]]
}

# owns_port PID PORT: PID listens on PORT, so the server answering there is
# ours and not one that took the port first (Linux; elsewhere assumed).
owns_port() {
  local hex inode
  [ -r /proc/net/tcp ] || return 0
  hex=$(printf '%04X' "$2")
  while read -r inode; do
    find "/proc/$1/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q . && return 0
  done < <(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  return 1
}

# ready KIND PORT PID: the server of PID serves on PORT.
ready() {
  case $1 in
  zk) [[ $(zk_mode "$2") =~ ^(standalone|leader|follower)$ ]] ;;
  etcd) etcd_healthy "$2" ;;
  esac && owns_port "$3" "$2"
}

# wait_ready NAME KIND PID PORT LOG ...: waits until every server is ready.
# Returns 1 if one exits or the deadline passes, 2 if one exited because its
# port was taken (worth a retry on other ports).
wait_ready() {
  local deadline=$((SECONDS + timeout_s)) n=$(($# / 5)) pending i
  local -a names kinds pids ports logs ready_
  for ((i = 0; i < n; i++)); do
    names[i]=$1 kinds[i]=$2 pids[i]=$3 ports[i]=$4 logs[i]=$5 ready_[i]=0
    shift 5
  done
  while :; do
    pending=0
    for ((i = 0; i < n; i++)); do
      [ "${ready_[i]}" = 1 ] && continue
      if ready "${kinds[i]}" "${ports[i]}" "${pids[i]}"; then
        ready_[i]=1
        continue
      fi
      if ! alive "${pids[i]}"; then
        if grep -qi 'address already in use' "${logs[i]}" 2>/dev/null; then
          log "${names[i]} could not bind its ports (taken meanwhile)"
          return 2
        fi
        log "${names[i]} exited before it served; the end of ${logs[i]}:"
        tail -n 40 "${logs[i]}" | sed 's/^/    /' >&2
        return 1
      fi
      pending=$((pending + 1))
    done
    [ "$pending" -gt 0 ] || return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      for ((i = 0; i < n; i++)); do
        [ "${ready_[i]}" = 1 ] && continue
        log "${names[i]} not serving on 127.0.0.1:${ports[i]} after ${timeout_s}s; the end of ${logs[i]}:"
        tail -n 40 "${logs[i]}" | sed 's/^/    /' >&2
      done
      return 1
    fi
    sleep 0.05
  done
}

# --- launching ---------------------------------------------------------------

# write_launcher FILE LOG CMD...: a script that starts CMD in the background,
# in its own session (a Ctrl-C at the terminal does not reach it), with output
# to LOG, and prints its PID.
write_launcher() {
  local file=$1 logf=$2
  shift 2
  {
    echo '#!/usr/bin/env bash'
    echo '# Generated by scripts/servers.sh: starts one server in the background and prints its PID.'
    echo 'set -euo pipefail'
    printf 'cmd=(%s)\n' "$(printf '%q ' "$@")"
    printf 'log=%q\n' "$logf"
    cat <<'EOF'
if command -v setsid >/dev/null 2>&1; then
  setsid "${cmd[@]}" </dev/null >>"$log" 2>&1 &
else
  "${cmd[@]}" </dev/null >>"$log" 2>&1 &
fi
echo $!
EOF
  } >"$file"
  chmod +x "$file"
}

# etcd_launcher DIR BIN NAME DATADIR CLIENTPORT PEERPORT [FLAG...]: the
# launcher DIR/start (log DIR/etcd.log) of a 1-member etcd on 127.0.0.1 with
# fast elections, quiet logs and FLAGs.
etcd_launcher() {
  local dir=$1 bin=$2 name=$3 data=$4 client=$5 peer=$6
  shift 6
  write_launcher "$dir/start" "$dir/etcd.log" "$bin" \
    --name "$name" --data-dir "$data" \
    --listen-client-urls "http://127.0.0.1:$client" \
    --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" \
    --initial-cluster-state new \
    --heartbeat-interval=10 --election-timeout=100 --log-level=warn "$@"
}

# zk_config FILE DATADIR CLIENTPORT [LINE...]
zk_config() {
  local file=$1 data=$2 port=$3
  shift 3
  {
    echo "tickTime=200"
    echo "initLimit=50"
    echo "syncLimit=5"
    echo "dataDir=$data"
    echo "clientPort=$port"
    echo "clientPortAddress=127.0.0.1"
    echo "maxClientCnxns=0"
    echo "admin.enableServer=false"
    echo "4lw.commands.whitelist=*"
    echo "extendedTypesEnabled=true"
    echo "maxSessionTimeout=60000"
    printf '%s\n' "$@"
  } >"$file"
}

# zk_launcher DIR(of this server) HEAP
zk_launcher() {
  write_launcher "$1/start" "$1/zk.log" java "-Xmx$2" -XX:+UseSerialGC \
    -Dznode.container.checkIntervalMs=1000 -cp "$(zk_classpath)" "$zk_main" "$1/zoo.cfg"
}

# server_dir ARG: creates ARG and prints its absolute path.
server_dir() {
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  (cd "$1" && pwd)
}

pids_of() { cat "$@" 2>/dev/null | awk '{ print ($2 != "" ? $2 : $1) }' || true; }

any_alive() {
  local pid
  for pid in $(pids_of "$@"); do alive "$pid" && return 0; done
  return 1
}

cmd_start() {
  local dir t0 etcd_bin attempt rc zk_port client_port peer_port zk_pid etcd_pid
  dir=$(server_dir "${1:-}")
  if any_alive "$dir/zk.pid" "$dir/etcd.pid"; then
    log "already running from $dir"
    cat "$dir/env"
    return 0
  fi
  ensure_zookeeper
  etcd_bin=${ZKRECIPES_ETCD_BIN:-}
  [ -n "$etcd_bin" ] || etcd_bin=$(bash "$here/build-etcd.sh")
  [ -x "$etcd_bin" ] || die "no etcd binary at $etcd_bin"
  t0=$(now)
  for attempt in 1 2 3; do
    rm -rf "$dir/zk" "$dir/etcd"
    rm -f "$dir/zk.pid" "$dir/etcd.pid" "$dir/env"
    mkdir -p "$dir/zk/data" "$dir/etcd"
    free_port
    zk_port=$REPLY
    free_port
    client_port=$REPLY
    free_port
    peer_port=$REPLY

    zk_config "$dir/zk/zoo.cfg" "$dir/zk/data" "$zk_port"
    zk_launcher "$dir/zk" 512m
    etcd_launcher "$dir/etcd" "$etcd_bin" zkrecipes "$dir/etcd/data" "$client_port" "$peer_port"

    zk_pid=$(bash "$dir/zk/start")
    echo "$zk_pid" >"$dir/zk.pid"
    etcd_pid=$(bash "$dir/etcd/start")
    echo "$etcd_pid" >"$dir/etcd.pid"

    rc=0
    wait_ready ZooKeeper zk "$zk_pid" "$zk_port" "$dir/zk/zk.log" \
      etcd etcd "$etcd_pid" "$client_port" "$dir/etcd/etcd.log" || rc=$?
    if [ "$rc" = 0 ]; then
      {
        echo "export ZKRECIPES_ZK_ENDPOINTS=127.0.0.1:$zk_port"
        echo "export ZKRECIPES_ETCD_ENDPOINTS=127.0.0.1:$client_port"
      } >"$dir/env"
      log "ZooKeeper on 127.0.0.1:$zk_port (pid $zk_pid), etcd on 127.0.0.1:$client_port (pid $etcd_pid), serving after $(since "$t0")"
      cat "$dir/env"
      return 0
    fi
    stop_pids "$dir" "$zk_pid" "$etcd_pid" || true
    [ "$rc" = 2 ] && [ "$attempt" -lt 3 ] && continue
    die "could not start the servers (files in $dir)"
  done
  die "could not start the servers: ports kept being taken"
}

cmd_start_ensemble() {
  local dir t0 attempt rc id i servers args pids_file line endpoints
  local -a cport qport eport pid
  dir=$(server_dir "${1:-}")
  pids_file=$dir/zk-ensemble.pids
  if any_alive "$pids_file"; then
    log "ensemble already running from $dir"
    cat "$dir/ensemble.env"
    return 0
  fi
  ensure_zookeeper
  t0=$(now)
  for attempt in 1 2 3; do
    rm -rf "$dir/zk-ensemble"
    rm -f "$pids_file" "$dir/ensemble.env"
    servers=()
    for id in 1 2 3; do
      free_port
      cport[id]=$REPLY
      free_port
      qport[id]=$REPLY
      free_port
      eport[id]=$REPLY
      servers+=("server.$id=127.0.0.1:${qport[id]}:${eport[id]}")
    done
    args=()
    endpoints=
    for id in 1 2 3; do
      mkdir -p "$dir/zk-ensemble/$id/data"
      echo "$id" >"$dir/zk-ensemble/$id/data/myid"
      zk_config "$dir/zk-ensemble/$id/zoo.cfg" "$dir/zk-ensemble/$id/data" "${cport[id]}" \
        standaloneEnabled=false "${servers[@]}"
      zk_launcher "$dir/zk-ensemble/$id" 256m
      pid[id]=$(bash "$dir/zk-ensemble/$id/start")
      echo "$id ${pid[id]} ${cport[id]}" >>"$pids_file"
      args+=("ZooKeeper member $id" zk "${pid[id]}" "${cport[id]}" "$dir/zk-ensemble/$id/zk.log")
      endpoints+=${endpoints:+,}127.0.0.1:${cport[id]}
    done
    rc=0
    wait_ready "${args[@]}" || rc=$?
    if [ "$rc" = 0 ]; then
      {
        echo "export ZKRECIPES_ZK_ENSEMBLE=$endpoints"
        echo "export ZKRECIPES_ZK_ENSEMBLE_DIR=$dir"
      } >"$dir/ensemble.env"
      line=
      for id in 1 2 3; do line+=" $id:$(zk_mode "${cport[id]}")"; done
      log "ZooKeeper ensemble on $endpoints (members:$line), serving after $(since "$t0")"
      cat "$dir/ensemble.env"
      return 0
    fi
    stop_pids "$dir" "${pid[*]}" "" || true
    [ "$rc" = 2 ] && [ "$attempt" -lt 3 ] && continue
    die "could not start the ensemble (files in $dir)"
  done
  die "could not start the ensemble: ports kept being taken"
}

# ensure_etcd_compat installs Debian's etcd-server (etcd 3.4) if missing.
ensure_etcd_compat() {
  [ -x "$compat_etcd" ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing etcd-server and no apt-get to install it"
  log "installing etcd-server with apt-get"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >&2
  [ -x "$compat_etcd" ] || die "apt-get installed etcd-server but $compat_etcd is missing"
}

cmd_start_etcd_compat() {
  local dir t0 attempt rc client_port peer_port pid version
  dir=$(server_dir "${1:-}")
  if any_alive "$dir/etcd-compat.pid"; then
    log "old etcd already running from $dir"
    cat "$dir/compat.env"
    return 0
  fi
  ensure_etcd_compat
  version=$("$compat_etcd" --version 2>/dev/null | awk '/etcd Version/ { print $3 }')
  t0=$(now)
  for attempt in 1 2 3; do
    rm -rf "$dir/etcd-compat"
    rm -f "$dir/etcd-compat.pid" "$dir/compat.env"
    mkdir -p "$dir/etcd-compat"
    free_port
    client_port=$REPLY
    free_port
    peer_port=$REPLY
    # The systemd unit of the package is not used; 3.4 wants --logger=zap
    # for --log-level (its default logger is deprecated and noisy).
    etcd_launcher "$dir/etcd-compat" "$compat_etcd" zkrecipes-compat "$dir/etcd-compat/data" \
      "$client_port" "$peer_port" --logger=zap
    pid=$(bash "$dir/etcd-compat/start")
    echo "$pid" >"$dir/etcd-compat.pid"
    rc=0
    wait_ready "etcd $version" etcd "$pid" "$client_port" "$dir/etcd-compat/etcd.log" || rc=$?
    if [ "$rc" = 0 ]; then
      echo "export ZKRECIPES_ETCD_ENDPOINTS=127.0.0.1:$client_port" >"$dir/compat.env"
      echo "$version" >"$dir/compat.version"
      log "etcd $version on 127.0.0.1:$client_port (pid $pid), serving after $(since "$t0")"
      cat "$dir/compat.env"
      return 0
    fi
    stop_pids "$dir" "" "$pid" || true
    [ "$rc" = 2 ] && [ "$attempt" -lt 3 ] && continue
    die "could not start the old etcd (files in $dir)"
  done
  die "could not start the old etcd: ports kept being taken"
}

# nosync_data DIR: creates the data directory of the fsync-off servers and
# prints it: DIR/nosync/data, a link to a fresh directory on /dev/shm when
# there is one (tmpfs), else a plain directory. Paths the servers are given go
# through the link, so their command lines name DIR (see owned).
nosync_data() {
  local dir=$1 shm
  nosync_drop_data "$dir"
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    shm=$(mktemp -d /dev/shm/zkrecipes-nosync.XXXXXX)
    ln -s "$shm" "$dir/nosync/data"
  else
    mkdir -p "$dir/nosync/data"
  fi
  echo "$dir/nosync/data"
}

# nosync_drop_data DIR: removes the fsync-off servers' data (and its tmpfs
# directory).
nosync_drop_data() {
  local link=$1/nosync/data target
  if [ -L "$link" ]; then
    target=$(readlink "$link")
    case $target in
    /dev/shm/zkrecipes-nosync.*) rm -rf "$target" ;;
    esac
    rm -f "$link"
  else
    rm -rf "$link"
  fi
}

cmd_start_nosync() {
  local dir t0 etcd_bin attempt rc zk_port client_port peer_port zk_pid etcd_pid data
  dir=$(server_dir "${1:-}")
  if any_alive "$dir/zk-nosync.pid" "$dir/etcd-nosync.pid"; then
    log "fsync-off servers already running from $dir"
    cat "$dir/nosync.env"
    return 0
  fi
  ensure_zookeeper
  etcd_bin=${ZKRECIPES_ETCD_BIN:-}
  [ -n "$etcd_bin" ] || etcd_bin=$(bash "$here/build-etcd.sh")
  [ -x "$etcd_bin" ] || die "no etcd binary at $etcd_bin"
  t0=$(now)
  for attempt in 1 2 3; do
    rm -f "$dir/zk-nosync.pid" "$dir/etcd-nosync.pid" "$dir/nosync.env"
    mkdir -p "$dir/nosync"
    data=$(nosync_data "$dir")
    rm -rf "$dir/nosync/zk" "$dir/nosync/etcd"
    mkdir -p "$dir/nosync/zk" "$dir/nosync/etcd" "$data/zk"
    free_port
    zk_port=$REPLY
    free_port
    client_port=$REPLY
    free_port
    peer_port=$REPLY

    # forceSync is read as the system property zookeeper.forceSync; zoo.cfg
    # sets it too (unknown keys become zookeeper.* properties).
    zk_config "$dir/nosync/zk/zoo.cfg" "$data/zk" "$zk_port" forceSync=no
    write_launcher "$dir/nosync/zk/start" "$dir/nosync/zk/zk.log" java -Xmx512m -XX:+UseSerialGC \
      -Dzookeeper.forceSync=no -Dznode.container.checkIntervalMs=1000 \
      -cp "$(zk_classpath)" "$zk_main" "$dir/nosync/zk/zoo.cfg"
    etcd_launcher "$dir/nosync/etcd" "$etcd_bin" zkrecipes-nosync "$data/etcd" \
      "$client_port" "$peer_port" --unsafe-no-fsync

    zk_pid=$(bash "$dir/nosync/zk/start")
    echo "$zk_pid" >"$dir/zk-nosync.pid"
    etcd_pid=$(bash "$dir/nosync/etcd/start")
    echo "$etcd_pid" >"$dir/etcd-nosync.pid"

    rc=0
    wait_ready "ZooKeeper (forceSync=no)" zk "$zk_pid" "$zk_port" "$dir/nosync/zk/zk.log" \
      "etcd (--unsafe-no-fsync)" etcd "$etcd_pid" "$client_port" "$dir/nosync/etcd/etcd.log" || rc=$?
    if [ "$rc" = 0 ]; then
      {
        echo "export ZKRECIPES_ZK_ENDPOINTS_NOSYNC=127.0.0.1:$zk_port"
        echo "export ZKRECIPES_ETCD_ENDPOINTS_NOSYNC=127.0.0.1:$client_port"
      } >"$dir/nosync.env"
      log "fsync off, data in $(readlink -f "$data"): ZooKeeper on 127.0.0.1:$zk_port (pid $zk_pid), etcd on 127.0.0.1:$client_port (pid $etcd_pid), serving after $(since "$t0")"
      cat "$dir/nosync.env"
      return 0
    fi
    stop_pids "$dir" "$zk_pid" "$etcd_pid" || true
    nosync_drop_data "$dir"
    [ "$rc" = 2 ] && [ "$attempt" -lt 3 ] && continue
    die "could not start the fsync-off servers (files in $dir)"
  done
  die "could not start the fsync-off servers: ports kept being taken"
}

cmd_stop() {
  local dir zk etcd t0
  [ -n "${1:-}" ] || usage
  [ -d "$1" ] || return 0
  dir=$(cd "$1" && pwd)
  t0=$(now)
  zk=$(pids_of "$dir/zk.pid" "$dir/zk-ensemble.pids" "$dir/zk-nosync.pid")
  etcd=$(pids_of "$dir/etcd.pid" "$dir/etcd-compat.pid" "$dir/etcd-nosync.pid")
  stop_pids "$dir" "$zk" "$etcd"
  rm -f "$dir/zk.pid" "$dir/etcd.pid" "$dir/zk-ensemble.pids" "$dir/etcd-compat.pid" \
    "$dir/zk-nosync.pid" "$dir/etcd-nosync.pid"
  nosync_drop_data "$dir"
  log "stopped the servers of $dir in $(since "$t0")"
}

case ${1:-} in
start) cmd_start "${2:-}" ;;
start-ensemble) cmd_start_ensemble "${2:-}" ;;
start-etcd-compat) cmd_start_etcd_compat "${2:-}" ;;
start-nosync) cmd_start_nosync "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
*) usage ;;
esac
