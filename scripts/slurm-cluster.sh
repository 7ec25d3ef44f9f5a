#!/usr/bin/env bash
# A single-node SLURM cluster with accounting (slurmdbd + MariaDB) on this machine: the test
# cluster of tests/test_slurm.py, and a way to try the SLURM profile on a laptop.
#
#   sudo scripts/slurm-cluster.sh start    # install what is missing, configure, start, wait
#   sudo scripts/slurm-cluster.sh status
#   sudo scripts/slurm-cluster.sh stop     # scancel everything, stop the daemons
#
# Debian/Ubuntu only (apt-get), as root. Every daemon is started by hand (no systemd needed;
# containers' policy-rc.d denies package scripts to start services) and writes a pid file;
# `stop` stops them by pid file in reverse order, whatever state they are in. Idempotent:
# `start` on a running cluster only checks it, `stop` on a stopped one does nothing.
# munge or MariaDB already running (a laptop's own services) are used and left running.
# It refuses to touch a SLURM configuration it did not write (set SLURM_CLUSTER_FORCE=1).
#
# Exit codes: 0 done; 77 cannot run here (not root, no apt-get, a foreign SLURM set-up: the
# reason is the last line on stderr); 1 failed.
#
# Knobs (environment): SLURM_CLUSTER_NAME (reasonmed), SLURM_CLUSTER_PARTITION (debug),
# SLURM_CLUSTER_TIMEOUT (seconds to wait for the node and accounting, 60).
set -euo pipefail

CANNOT=77
CLUSTER=${SLURM_CLUSTER_NAME:-reasonmed}
PARTITION=${SLURM_CLUSTER_PARTITION:-debug}
TIMEOUT=${SLURM_CLUSTER_TIMEOUT:-60}
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
MARK="# written by scripts/slurm-cluster.sh (reasonmed test cluster)"
ETC=/etc/slurm
CONF=$ETC/slurm.conf
DBDCONF=$ETC/slurmdbd.conf
LOGDIR=/var/log/slurm
STATE=/var/lib/slurm
OWN=/run/reasonmed-slurm          # <daemon>.ours: this script started it, so `stop` stops it
MYSQL_SOCK=/run/mysqld/mysqld.sock
declare -A PIDFILE=([munged]=/run/munge/munged.pid [mariadbd]=/run/mysqld/mysqld.pid
                    [slurmdbd]=/run/slurmdbd.pid [slurmctld]=/run/slurmctld.pid
                    [slurmd]=/run/slurmd.pid)
ORDER=(munged mariadbd slurmdbd slurmctld slurmd)

say() { echo "slurm-cluster: $*" >&2; }
cannot() { say "cannot run here: $*"; exit "$CANNOT"; }
die() { say "error: $*"; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

live() {  # a process that runs: not gone, not a zombie (a container's init may reap late)
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

pid_of() {  # the live pid of a daemon from its pid file, or nothing
    local f=${PIDFILE[$1]} pid
    [[ -s $f ]] || return 0
    pid=$(tr -dc 0-9 <"$f")
    [[ -n $pid ]] && live "$pid" || return 0
    # a recycled pid is not our daemon (comm is cut to 15 characters)
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${1:0:15}" ]] && echo "$pid"
    return 0
}

running() { [[ -n $(pid_of "$1") ]]; }

preflight() {
    [[ $(id -u) -eq 0 ]] || cannot "needs root (it installs packages and starts system daemons)"
    command -v apt-get >/dev/null || cannot "no apt-get (Debian/Ubuntu only)"
    getent hosts "$(hostname)" >/dev/null || cannot "the hostname $(hostname) does not resolve"
    if [[ -e $CONF ]] && ! head -1 "$CONF" | grep -qF "$MARK" && [[ -z ${SLURM_CLUSTER_FORCE:-} ]]; then
        cannot "$CONF exists and was not written by this script (a real SLURM set-up?);" \
               "SLURM_CLUSTER_FORCE=1 overwrites it"
    fi
}

install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    local t0; t0=$(now)
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
    say "installed in $(since "$t0") s"
}

db_password() {  # keep the password of an earlier start (slurmdbd.conf is mode 600)
    local pw=""
    [[ -r $DBDCONF ]] && pw=$(sed -n 's/^StoragePass=//p' "$DBDCONF")
    [[ -n $pw ]] || pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    echo "$pw"
}

# Write $2 to $1 (mode $3) when its content differs; return 0 when it changed.
put() {
    local f=$1 body=$2 mode=$3
    if [[ -f $f ]] && [[ $(cat "$f") == "$body" ]]; then
        return 1
    fi
    printf '%s\n' "$body" >"$f.tmp" && chmod "$mode" "$f.tmp" && mv "$f.tmp" "$f"
    return 0
}

write_configs() {  # returns 0 when a config changed
    local host node mem changed=1
    host=$(hostname -s)
    # What slurmd sees on this host (CPUs, sockets, cores, threads), less 1 GiB of memory for
    # the daemons, so the node never registers below its configuration (it would drain).
    node=$(slurmd -C | head -1 | sed 's/ RealMemory=[0-9]*//')
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$((mem > 2048 ? mem - 1024 : mem))
    mkdir -p "$ETC" "$LOGDIR" "$STATE/slurmctld" "$STATE/slurmd"
    put "$CONF" "$MARK
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default a job that asks no --mem takes the whole node
DefMemPerCPU=500
ReturnToService=2
MinJobAge=300
# accounting: the Snakemake SLURM executor polls sacct for job states
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$host
# sacct shows the executor's --comment (rule and wildcards of each job)
AccountingStoreFlags=job_comment
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=${PIDFILE[slurmctld]}
SlurmdPidFile=${PIDFILE[slurmd]}
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
$node RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP" 644 && changed=0
    put "$DBDCONF" "$MARK
AuthType=auth/munge
DbdHost=$host
SlurmUser=root
PidFile=${PIDFILE[slurmdbd]}
LogFile=$LOGDIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$(db_password)
StorageLoc=slurm_acct_db" 600 && changed=0
    return $changed
}

own() { mkdir -p "$OWN" && touch "$OWN/$1.ours"; }

start_munge() {
    if running munged; then return 0; fi
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munge already runs here (not started by this script): using it"; return 0
    fi
    [[ -s /etc/munge/munge.key ]] || runuser -u munge -- /usr/sbin/mungekey --create 2>/dev/null \
        || /usr/sbin/create-munge-key -f >/dev/null 2>&1 || true
    mkdir -p /run/munge /var/log/munge && chown munge:munge /run/munge /var/log/munge
    own munged
    runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
}

start_mariadb() {
    if ! running mariadbd && mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1; then
        say "MariaDB already runs here (not started by this script): using it"
    elif ! running mariadbd; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql \
            >"$LOGDIR/mariadb-install.log" 2>&1 || die "mariadb-install-db failed ($LOGDIR/mariadb-install.log)"
        own mariadbd
        # stdout/stderr go to a log root opens: --log-error under /var/log fails as user mysql
        setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket="$MYSQL_SOCK" \
            --pid-file="${PIDFILE[mariadbd]}" --skip-networking \
            >>"$LOGDIR/mariadb.log" 2>&1 </dev/null &
    fi
    local i
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1 || die "MariaDB did not come up ($LOGDIR/mariadb.log)"
    local pw; pw=$(sed -n 's/^StoragePass=//p' "$DBDCONF")
    mariadb --socket="$MYSQL_SOCK" -u root <<SQL || die "cannot set up the accounting database as MariaDB's root"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

start_daemon() {  # slurmdbd / slurmctld / slurmd: each daemonizes and writes its pid file
    local d=$1 end=$((SECONDS + TIMEOUT))
    running "$d" && return 0
    own "$d"
    "/usr/sbin/$d" || die "$d did not start (see $LOGDIR/$d.log)"
    until running "$d"; do
        ((SECONDS < end)) || die "$d wrote no pid file (see $LOGDIR/$d.log)"
        sleep 0.1
    done
}

alive() {  # fail fast, with its log, when a daemon died
    local d
    for d in "$@"; do
        running "$d" || die "$d died; the end of $LOGDIR/$d.log:
$(tail -5 "$LOGDIR/$d.log" 2>/dev/null)"
    done
}

wait_dbd() {  # slurmdbd writes its pid file before it listens; slurmctld needs it listening
    local end=$((SECONDS + TIMEOUT))
    until timeout 5 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; do
        alive slurmdbd
        ((SECONDS < end)) || die "slurmdbd does not answer after ${TIMEOUT} s ($LOGDIR/slurmdbd.log)"
        sleep 0.1
    done
}

wait_ready() {
    local end=$((SECONDS + TIMEOUT)) state="" registered=""
    while ((SECONDS < end)); do
        alive slurmdbd slurmctld slurmd
        state=$(timeout 5 sinfo -h -o %T 2>/dev/null | head -1 || true)
        registered=$(timeout 5 sacctmgr -n -P show cluster format=cluster 2>/dev/null \
                     | grep -x "$CLUSTER" || true)
        # up and responding (a busy node is mixed or allocated; `idle*` does not respond)
        if [[ $state =~ ^(idle|mixed|allocated|completing)$ && -n $registered ]]; then return 0; fi
        # a node left down/drained by an earlier run comes back
        if [[ $state == down* || $state == drain* ]]; then
            scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        fi
        sleep 0.1
    done
    [[ -n $registered ]] && registered="registered" || registered="not registered"
    die "not ready after ${TIMEOUT} s: node state '${state:-none}', cluster '$CLUSTER'" \
        "$registered in accounting (logs: $LOGDIR)"
}

cmd_start() {
    local t0; t0=$(now)
    preflight
    install
    if write_configs && { running slurmctld || running slurmd || running slurmdbd; }; then
        say "configuration changed: restarting the SLURM daemons"
        stop_slurm
    fi
    start_munge
    start_mariadb
    start_daemon slurmdbd
    wait_dbd
    # slurmctld registers the cluster in accounting itself once slurmdbd answers
    start_daemon slurmctld
    start_daemon slurmd
    wait_ready
    echo "slurm-cluster: up in $(since "$t0") s: cluster $CLUSTER, partition $PARTITION," \
         "node $(hostname -s) ($(sinfo -h -o '%c CPUs, %m MB' | head -1))"
}

stop_one() {  # TERM, wait, KILL: whatever state the daemon is in
    local d=$1 pid i
    pid=$(pid_of "$d")
    if [[ -n $pid ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            live "$pid" || break
            sleep 0.1
        done
        if live "$pid"; then
            say "$d ($pid) ignored SIGTERM for 15 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "${PIDFILE[$d]}" "$OWN/$d.ours"
}

stop_slurm() {
    local ids i
    if running slurmctld; then
        ids=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
        if [[ -n ${ids// /} ]]; then
            say "cancelling jobs $ids"
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
            for ((i = 0; i < 150; i++)); do  # let slurmd end the job steps
                [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_one slurmd
    stop_one slurmctld
    stop_one slurmdbd
}

cmd_stop() {
    local t0; t0=$(now)
    [[ $(id -u) -eq 0 ]] || cannot "needs root"
    stop_slurm
    # MariaDB and munge only when this script started them (a laptop's own services stay)
    [[ -e $OWN/mariadbd.ours ]] && stop_one mariadbd
    [[ -e $OWN/munged.ours ]] && stop_one munged
    echo "slurm-cluster: stopped in $(since "$t0") s"
}

cmd_status() {
    local d pid rc=0
    for d in "${ORDER[@]}"; do
        pid=$(pid_of "$d")
        if [[ -n $pid ]]; then
            printf '%-10s running (pid %s)\n' "$d" "$pid"
        else
            printf '%-10s stopped\n' "$d"; rc=3
        fi
    done
    if running slurmctld; then
        sinfo 2>&1 || true
        sacctmgr -n -P show cluster format=cluster 2>&1 | sed 's/^/accounting cluster: /' || true
    fi
    return $rc
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
