#!/bin/bash
# Grade a class on Slurm: a job array of SHARDS tasks (grade.sbatch, one shard each) and the merge (merge.sbatch),
# which starts once every task has succeeded. Run it from the course folder, with the settings of grade.sbatch in
# the environment; arguments are passed to the array's sbatch (for example --partition=NAME or --cpus-per-task=4).
#   SHARDS=8 GRADES=/shared/grades/lab2 docs/cluster/slurm/submit.sh
set -euo pipefail

here=$(dirname "$0")
shards=${SHARDS:-8}
array=$(SHARDS=$shards sbatch --parsable --array="0-$((shards - 1))" "$@" "$here/grade.sbatch")
array=${array%%;*}  # --parsable prints ID or ID;CLUSTER
merge=$(sbatch --parsable --dependency="afterok:$array" "$here/merge.sbatch")
merge=${merge%%;*}
echo "grading: job array $array ($shards shards); merge: job $merge, once every shard has succeeded"
