#!/usr/bin/env bash
# Runs sharded statistics on a real single-node Slurm cluster and checks the result equals a
# single-machine run:
#
#   1. starts munged, slurmctld and slurmd for localhost in a temporary folder (Debian packages
#      slurm-wlm and munge; as root, SlurmUser=root), stopped and removed again on exit;
#   2. submits docs/scale-out/collect-stats.sbatch as `sbatch --array=1-4` (4 parts of
#      Samples/digits-train.npz on Samples/resnet.onnx), then docs/scale-out/merge-stats.sbatch
#      with --dependency=afterok on the array, and waits for both;
#   3. runs `stats collect` once on the whole data set, and checks the merged Grams equal it
#      (|merged − single| ≤ 3.2e-5 · max|single| per tensor: Grams accumulate in float32 blocks of
#      other rows on each side, each within γ_256 ≈ 1.53e-5 of (|X|ᵀ|X|)_ij ≤ max|single|, float64
#      sums in another order, and float32 activations that may change in the last bit with the
#      batch's composition; vector counts exactly), the parts'
#      provenance, and that `apply --stats` gives the same weights (≤ 1e-5 · max|W|) and
#      accuracies from both files.
#
# Usage: Tests/ScaleOut/slurm-array-test.sh     (MODELFORGET=path/to/modelforget to choose the binary;
#        default: .build/release/modelforget if built, else .build/debug/modelforget)
# Needs: slurm-wlm, munge, python3 with numpy, safetensors and onnx. Takes about 30 s.
# Fails loudly (exit 1, with the daemons' logs) when Slurm cannot start: it never passes silently.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
timeout_seconds=${SLURM_TEST_TIMEOUT:-300}

fail() {
    echo "slurm-array-test: FAILED: $*" >&2
    exit 1
}

for tool in munged slurmctld slurmd sbatch sinfo squeue scontrol python3; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install slurm-wlm munge)"
done
python3 -c "import numpy, safetensors, onnx" 2>/dev/null || fail "python3 needs numpy, safetensors and onnx (pip install numpy safetensors onnx)"
[ "$(id -u)" = 0 ] || fail "run as root (slurmd and SlurmUser=root)"
bin=${MODELFORGET:-}
if [ -z "$bin" ]; then
    if [ -x .build/release/modelforget ]; then bin=.build/release/modelforget; else bin=.build/debug/modelforget; fi
fi
[ -x "$bin" ] || fail "$bin not built (swift build)"
bin=$(realpath "$bin")

work=$(mktemp -d /tmp/mf-slurm.XXXXXX)
chmod 700 "$work"
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/log" "$work/bin" "$work/run"
ln -s "$bin" "$work/bin/modelforget"

show_logs() {
    for log in "$work"/log/*.log; do
        [ -s "$log" ] || continue
        echo "--- $(basename "$log") (last 20 lines)" >&2
        tail -n 20 "$log" >&2
    done
}

stop_daemon() {  # pid file
    [ -s "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    [ $status = 0 ] || show_logs
    stop_daemon "$work/run/slurmd.pid"
    stop_daemon "$work/run/slurmctld.pid"
    stop_daemon "$work/run/munged.pid"
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until `$2` succeeds, at most $1 seconds.
wait_for() {
    local seconds=$1; shift
    for _ in $(seq $((seconds * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

# --- munge: a fresh key and a daemon on a private socket.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" --pid-file="$work/run/munged.pid" \
    --log-file="$work/log/munged.log" --seed-file="$work/munge/munged.seed" ||
    fail "munged did not start"
wait_for 10 test -S "$work/munge/munge.socket" || fail "munged did not open its socket"

# --- Slurm: one node (this machine, all its CPUs and memory), one partition.
host=$(hostname -s)
cpus=$(nproc)
memory=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
port=${SLURM_TEST_PORT:-16817}
cat > "$work/slurm.conf" <<EOF
ClusterName=modelforget-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
MailProg=/bin/true
PlugStackConfig=$work/plugstack.conf
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
: > "$work/plugstack.conf"
export SLURM_CONF=$work/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
node_idle() { [ "$(sinfo -h -N -n "$host" -o %t 2>/dev/null)" = idle ]; }
wait_for 30 node_idle || fail "node $host did not become idle: $(sinfo -N 2>&1 | tr '\n' ' ')"
echo "slurm: $(sinfo --version), node $host with $cpus CPUs and $memory MB up"

# --- The job array and the merge job, exactly as docs/scale-out.md shows them.
S=$repo/Samples
cp docs/scale-out/collect-stats.sbatch docs/scale-out/merge-stats.sbatch "$work/"
cd "$work"
export PATH=$work/bin:$PATH
start=$(date +%s%N)
array=$(sbatch --parsable --array=1-4 --export=ALL,MODEL="$S/resnet.onnx",DATA="$S/digits-train.npz",PARTS="$work/parts" \
    collect-stats.sbatch) || fail "sbatch of the array was refused"
echo "submitted array job $array (4 tasks)"
timeout "$timeout_seconds" sbatch --wait --dependency=afterok:"$array" --export=ALL,PARTS="$work/parts",STATS="$work/merged.stats.safetensors" \
    merge-stats.sbatch > "$work/merge-submit.out" || {
    squeue -a 2>&1 | head -20 >&2
    cat "$work"/mf-*.out >&2 2>/dev/null || true
    fail "the array or the merge job failed (or timed out after $timeout_seconds s)"
}
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
for task in 1 2 3 4; do
    echo "task $task: $(grep -h '^{' "mf-stats-${array}_$task.out")"
done
echo "merge: $(cat mf-merge-*.out)"
echo "array + merge on Slurm: $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"

# --- The single-machine run and the comparison.
modelforget stats collect "$S/resnet.onnx" --data "$S/digits-train.npz" -o single.stats.safetensors --quiet
for name in merged single; do
    modelforget apply "$S/resnet.onnx" --classes 5,7 --data "$S/digits-train.npz" --stats "$name.stats.safetensors" \
        --eval-data "$S/digits-test.npz" -o "$name.forget-5-7.onnx" --json --quiet > "$name.summary.json"
done
python3 - <<'EOF'
import json
import numpy as np
import onnx
from onnx import numpy_helper
from safetensors import safe_open

passed = 0
def check(condition, what):
    global passed
    if not condition:
        raise SystemExit(f"slurm-array-test: FAILED: {what}")
    passed += 1
    print(f"ok {passed} - {what}")

def load(path):
    with safe_open(path, "np") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}

meta_m, merged = load("merged.stats.safetensors")
meta_s, single = load("single.stats.safetensors")
parts = [load(f"parts/part-{i}.stats.safetensors")[0] for i in range(1, 5)]
check([p["shards"] for p in parts] == ["1/4", "2/4", "3/4", "4/4"]
      and len({(p["model_sha256"], p["data_fingerprint"], p["max_patches"], p["seed"]) for p in parts}) == 1
      and sum(int(p["samples"]) for p in parts) == int(meta_s["data_samples"]),
      "the 4 parts record shards 1/4..4/4, one model, data set, cap and seed, and their samples add up to the data set")
check(meta_m["shards"] == "1-4/4" and "missing_shards" not in meta_m and meta_m["samples"] == meta_s["samples"]
      and all(meta_m[k] == meta_s[k] for k in ("model_sha256", "data_fingerprint", "max_patches", "seed")),
      f"the merged file holds parts {meta_m['shards']} of the same model and data as the single run")
worst = 0.0
for name, value in single.items():
    other = merged[name]
    if not name.endswith(".rows"):
        worst = max(worst, float(np.abs(other - value).max() / max(np.abs(value).max(), 1e-300)))
check(set(merged) == set(single) and all(int(merged[n]) == int(single[n]) for n in single if n.endswith(".rows")),
      f"merged and single files hold the same {len(single) // 2} Grams with the same vector counts")
check(worst <= 3.2e-5, f"merged Grams equal the single run's: max |merged - single| / max|single| = {worst:.1e} (tolerance 3.2e-5 = 2 γ_256 + 1e-6)")
weights_m = {t.name: numpy_helper.to_array(t) for t in onnx.load("merged.forget-5-7.onnx").graph.initializer}
weights_s = {t.name: numpy_helper.to_array(t) for t in onnx.load("single.forget-5-7.onnx").graph.initializer}
diff = max(float(np.abs(weights_m[k] - weights_s[k]).max() / max(np.abs(weights_s[k]).max(), 1e-30)) for k in weights_s)
summary_m, summary_s = json.load(open("merged.summary.json")), json.load(open("single.summary.json"))
check(diff <= 1e-5 and all(summary_m[k] == summary_s[k] for k in ("forget_accuracy_after", "retain_accuracy_after")),
      f"apply --stats gives the same weights from both files (max relative difference {diff:.1e}) and accuracies "
      f"(forget {summary_m['forget_accuracy_after']:.4f}, retain {summary_m['retain_accuracy_after']:.4f})")
print(f"slurm-array: {passed} passed, 0 failed")
EOF
