#!/usr/bin/env bash
# One study on a Cloud TPU VM slice: copy this checkout to every worker, install, run the same
# command on all workers at once (--worker=all), as the Flax examples and big_vision do.
#
#   launch/tpu_vm.sh [--dry-run] [--no-setup] TPU_NAME ZONE experiments.<study> \
#       --workdir=/mnt/runs/m1 [--config.key=value ...]
#
# On a slice, each worker's process calls jax.distributed.initialize() (the CLI finds
# TPU_WORKER_HOSTNAMES) and feeds its slice of every global batch. The workdir must be a path
# every worker sees: a shared disk (Filestore/NFS) or a Cloud Storage bucket mounted with
# gcsfuse; set BUCKET=name to have the setup step mount gs://name at /mnt/name on every worker
# (then use --workdir=/mnt/name/...). Run again with the same arguments after a preemption
# (with --no-setup if the VMs kept their disks): the run resumes from its last checkpoint.
# --dry-run prints the gcloud command lines instead of running them.
# Environment: PROJECT (gcloud --project), BUCKET, JAX_SPEC (default "jax[tpu]"),
# REMOTE_DIR (default dl_jax, under each worker's home).
set -euo pipefail

dry_run=0
setup=1
while [[ $# -gt 0 && $1 == --* ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --no-setup) setup=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $# -lt 4 ]]; then
  echo "usage: launch/tpu_vm.sh [--dry-run] [--no-setup] TPU_NAME ZONE experiments.<study>" \
    "--workdir=DIR [flags ...]" >&2
  exit 2
fi
tpu="$1"; zone="$2"; module="$3"; shift 3
remote_dir="${REMOTE_DIR:-dl_jax}"
jax_spec="${JAX_SPEC:-jax[tpu]}"
gcloud_args=(--zone="$zone")
[[ -n ${PROJECT:-} ]] && gcloud_args+=(--project="$PROJECT")
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
archive="${TMPDIR:-/tmp}/dl_jax_$$.tar.gz"

run() {  # prints the command (dry run) or runs it
  if [[ $dry_run -eq 1 ]]; then
    printf '%q ' "$@"; echo
  else
    "$@"
  fi
}

# The study command, quoted once for the remote shell.
study_cmd="cd ~/$remote_dir && PYTHONPATH=. python3 -m $(printf '%q' "$module")"
for arg in "$@"; do study_cmd+=" $(printf '%q' "$arg")"; done

if [[ $setup -eq 1 ]]; then
  run git -C "$root" archive --format=tar.gz -o "$archive" HEAD
  run gcloud compute tpus tpu-vm scp "$archive" "$tpu:~/dl_jax.tar.gz" --worker=all \
    "${gcloud_args[@]}"
  setup_cmd="mkdir -p ~/$remote_dir && tar -xzf ~/dl_jax.tar.gz -C ~/$remote_dir"
  setup_cmd+=" && python3 -m pip install -q -U $(printf '%q' "$jax_spec") -e ~/$remote_dir"
  if [[ -n ${BUCKET:-} ]]; then
    setup_cmd+=" && sudo mkdir -p /mnt/$BUCKET && sudo chown \$USER /mnt/$BUCKET"
    setup_cmd+=" && (mountpoint -q /mnt/$BUCKET || gcsfuse --implicit-dirs $BUCKET /mnt/$BUCKET)"
  fi
  run gcloud compute tpus tpu-vm ssh "$tpu" --worker=all "${gcloud_args[@]}" \
    --command="$setup_cmd"
  [[ $dry_run -eq 1 ]] || rm -f "$archive"
fi
run gcloud compute tpus tpu-vm ssh "$tpu" --worker=all "${gcloud_args[@]}" \
  --command="$study_cmd"
