#!/usr/bin/env bash
# The main job on the real control plane (`scripts/demo.sh cluster` runs this): the operator installed by Helm
# and running as its Deployment, a ClusterFetch applied with kubectl, a run-now watched with `kubectl get cf -w`,
# its Job, Event and metrics; then a failing run and the one notification the chat channel receives.
# Everything runs on 127.0.0.1: scripts/cluster.sh (control plane), scripts/node.sh (the pod runner as node).
# Settings: USERS (default 200000), PORT_BASE (default 18080: the sample services use PORT_BASE..+2), ADMIN_PORT
# (default 18090: the operator's admin server),
# KEEP=1 leaves the cluster running at the end (stop it with scripts/node.sh down; scripts/cluster.sh down).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
users="${USERS:-200000}"
base="${PORT_BASE:-18080}"
admin_port="${ADMIN_PORT:-18090}"
watcher=""
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  if [ "${KEEP:-}" != 1 ]; then
    scripts/node.sh down || true
    scripts/cluster.sh down || true
  fi
}
trap cleanup EXIT

say "the tools, the control plane and its node (first time: builds Kubernetes, etcd and Helm, ~10 min)"
tool_env="$(scripts/tools.sh)"
eval "$tool_env"
cluster_env="$(scripts/cluster.sh up)"
eval "$cluster_env"
scripts/node.sh up
kubectl get nodes

say "the CRDs (server-side apply) and the chart (helm install): the operator runs as its Deployment"
kubectl apply --server-side -f crds/
helm upgrade --install microfleet charts/microfleet --namespace microfleet-system --create-namespace --wait \
  --set image.repository=microfleet-operator,image.tag=demo \
  --set fetcherImage.repository=microfleet-fetcher,fetcherImage.tag=demo \
  --set replicaCount=1,metrics.port=$admin_port,podDisruptionBudget.enabled=false
kubectl -n microfleet-system get deploy,pods

say "the sample clustering service, promotion platform and chat webhook, as a Deployment in namespace promo"
kubectl create namespace promo --dry-run=client -o yaml | kubectl apply -f -
cat <<EOF | kubectl apply -f -
apiVersion: apps/v1
kind: Deployment
metadata: {name: sample-services, namespace: promo}
spec:
  selector: {matchLabels: {app: sample-services}}
  template:
    metadata: {labels: {app: sample-services}}
    spec:
      containers:
        - name: demo
          image: microfleet-demo:demo
          args: ["--users", "$users", "--clustering-port", "$base", "--promotion-port", "$((base + 1))", "--webhook-port", "$((base + 2))"]
          readinessProbe: {tcpSocket: {port: $((base + 2))}, periodSeconds: 1}
EOF
kubectl -n promo create secret generic promo-oncall-webhook \
  --from-literal=url="http://127.0.0.1:$((base + 2))/hooks/T0000/B0000/demo-token" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n promo rollout status deploy/sample-services --timeout=60s

say "the ClusterFetch (examples/promo-eligible-users-local.yaml), and kubectl get cf -w"
sed -e "s/127.0.0.1:18080/127.0.0.1:$base/; s/127.0.0.1:18081/127.0.0.1:$((base + 1))/" \
  examples/promo-eligible-users-local.yaml | kubectl apply -f -
kubectl -n promo get cf -w &
watcher=$!
wait_until 30 kubectl -n promo get cronjob promo-eligible-users

say "run now: the operator starts a Job from the CronJob; the pod runs the fetcher"
kubectl -n promo annotate cf promo-eligible-users microfleet.io/run-now="$(date +%s)" --overwrite
wait_until 180 sh -c "kubectl -n promo get cf promo-eligible-users -o jsonpath='{.status.recentRuns[0].outcome}' | grep -q ."
sleep 2
kill "$watcher" 2>/dev/null; watcher=""
echo
kubectl -n promo get jobs
echo "status.recentRuns[0]:"
kubectl -n promo get cf promo-eligible-users -o jsonpath='{.status.recentRuns[0]}' | python3 -m json.tool
echo "Events:"
kubectl -n promo get events --field-selector involvedObject.name=promo-eligible-users \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message
echo "the operator's metrics for it:"
curl -s "http://127.0.0.1:$admin_port/metrics" | grep 'name="promo-eligible-users"' | grep -E 'last_run_items|last_run_succeeded|consecutive_failures'

say "a failing run: the source is unreachable; one notifier Job sends one notification"
kubectl -n promo patch cf promo-eligible-users --type merge \
  -p '{"spec":{"source":{"url":"http://127.0.0.1:1/v1/users"},"retry":{"attempts":1}}}'
kubectl -n promo annotate cf promo-eligible-users microfleet.io/run-now="$(date +%s)-failing" --overwrite
wait_until 180 sh -c "kubectl -n promo get cf promo-eligible-users -o jsonpath='{.status.recentRuns[*].notification}' | grep -q Delivered"
kubectl -n promo get cf promo-eligible-users
kubectl -n promo get jobs
echo "the chat channel received:"
curl -s "http://127.0.0.1:$((base + 2))/received" | python3 -m json.tool
if [ "${KEEP:-}" = 1 ]; then
  echo; echo "left running: KUBECONFIG=$KUBECONFIG kubectl -n promo get cf; stop with scripts/node.sh down; scripts/cluster.sh down"
fi
