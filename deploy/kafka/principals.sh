#!/bin/sh
# Principals and ACLs of docker-compose.yml's broker, made once by its kafka-init service (apache/kafka
# image) before anything else connects: one SCRAM-SHA-512 user per service and per partner, each allowed
# only what it does. The topic registry (schemas/topics.py) says who produces what; tests/unit/test_compose.py
# runs this script with stand-ins for the two Kafka tools and checks every grant against it.
#
# The same two commands give a real partner its credentials (README, "Partners on Kafka").
set -eu
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_PASSWORD_INIT:?}" "${KAFKA_PASSWORD_INTAKE:?}" "${KAFKA_PASSWORD_TRIAGE:?}"
: "${KAFKA_PASSWORD_NOTIFIER:?}" "${KAFKA_PASSWORD_DASHBOARD:?}"
BIN=${KAFKA_BIN:-/opt/kafka/bin}
BOOTSTRAP=${KAFKA_BOOTSTRAP:-kafka:9092}
PARTNERS_FILE=${PARTNERS_FILE:-/deploy/partners.yaml}
# Demo partners log in as their partner id with password demo-kafka-<id> (like their demo API keys).
PARTNER_PASSWORD_PREFIX=${PARTNER_PASSWORD_PREFIX:-demo-kafka-}

ADMIN=$(mktemp)
cat > "$ADMIN" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
EOF

user() {  # name password: create the SCRAM-SHA-512 credential (or reset its password)
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --alter \
    --entity-type users --entity-name "$1" --add-config "SCRAM-SHA-512=[password=$2]"
}
allow() {  # kafka-acls.sh --add arguments: principals, operations, resources
  "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --add --force "$@"
}
each() {  # each FLAG NAME...: "FLAG NAME" for every NAME (names hold no spaces)
  flag=$1
  shift
  for name in "$@"; do printf '%s %s ' "$flag" "$name"; done
}

# Every topic the pipeline creates: the registry, and each consumer group's dead-letter topic.
TOPICS="grievance.submissions grievance.received grievance.rejected grievance.triaged case.routed
  notification.delivered notification.failed directory.changed consent.changed operator.alerts case.updated
  case.sla_breached case.feedback intake-submissions.dlq intake-feedback.dlq intake-status.dlq triage.dlq notifier.dlq
  dashboard.dlq"

user init "$KAFKA_PASSWORD_INIT"
user intake "$KAFKA_PASSWORD_INTAKE"
user triage "$KAFKA_PASSWORD_TRIAGE"
user notifier "$KAFKA_PASSWORD_NOTIFIER"
user dashboard "$KAFKA_PASSWORD_DASHBOARD"

# `grievance topics` (init) creates them; each service describes them all to notice a broker that lost
# one, and creates it again (README, Guarantees). Creating a topic is not writing to it.
# shellcheck disable=SC2046,SC2086  # word splitting is the point: names hold no spaces
allow $(each --allow-principal User:init User:intake User:triage User:notifier User:dashboard) \
  --operation Create --operation Describe $(each --topic $TOPICS)

# intake: reads partners' submissions and the case events it keeps the status of; writes what it
# receives and rejects, consent and lifecycle changes, its alerts and its groups' dead letters.
# shellcheck disable=SC2046
allow --allow-principal User:intake --operation Read $(each --topic grievance.submissions case.feedback \
  grievance.triaged case.routed notification.delivered notification.failed case.sla_breached) \
  $(each --group intake-submissions intake-feedback intake-status)
# shellcheck disable=SC2046
allow --allow-principal User:intake --operation Write $(each --topic grievance.received grievance.rejected \
  consent.changed case.updated operator.alerts intake-submissions.dlq intake-feedback.dlq intake-status.dlq)

# triage: reads received cases; writes its decisions, routings, directory changes and alerts.
allow --allow-principal User:triage --operation Read --topic grievance.received --group triage
# shellcheck disable=SC2046
allow --allow-principal User:triage --operation Write $(each --topic grievance.triaged case.routed \
  directory.changed operator.alerts triage.dlq)

# notifier: reads routings and lifecycle steps (its SLA clocks); writes delivery outcomes, SLA breaches and alerts.
# shellcheck disable=SC2046
allow --allow-principal User:notifier --operation Read $(each --topic case.routed case.updated) --group notifier
# shellcheck disable=SC2046
allow --allow-principal User:notifier --operation Write $(each --topic notification.delivered \
  notification.failed case.sla_breached operator.alerts notifier.dlq)

# dashboard: its projector reads every case topic, its dead-letter reader every <group>.dlq; it writes the
# alerts and dead letters of its projector, and requeues a dead letter onto the topic it came from (any topic
# a consumer group reads), unchanged: its consumers still check the original producer's signature.
# shellcheck disable=SC2046
allow --allow-principal User:dashboard --operation Read $(each --topic grievance.received grievance.triaged \
  case.routed notification.delivered notification.failed case.updated case.sla_breached operator.alerts \
  intake-submissions.dlq intake-feedback.dlq intake-status.dlq triage.dlq notifier.dlq dashboard.dlq) \
  $(each --group dashboard dashboard-dlq)
# Its lag reader asks the broker for every service group's committed offsets (Describe, not Read: it
# cannot join them or commit for them).
# shellcheck disable=SC2046
allow --allow-principal User:dashboard --operation Describe $(each --group intake-submissions intake-feedback \
  intake-status triage notifier)
# shellcheck disable=SC2046
allow --allow-principal User:dashboard --operation Write $(each --topic operator.alerts dashboard.dlq \
  grievance.submissions case.feedback grievance.received grievance.triaged case.routed notification.delivered \
  notification.failed case.updated case.sla_breached)

# Partners: each writes submissions (intake files only those signed with its own secret, so writing
# under another partner's key gets it nothing) and reads rejections, in consumer groups named after itself.
# Not case.updated: it carries every partner's cases; a submitter reads its own over HTTP.
PARTNERS=$(sed -n 's/^- id: *//p' "$PARTNERS_FILE")
for partner in $PARTNERS; do
  user "$partner" "$PARTNER_PASSWORD_PREFIX$partner"
  allow --allow-principal "User:$partner" --operation Read --resource-pattern-type prefixed --group "$partner"
done
# shellcheck disable=SC2046,SC2086
allow $(each --allow-principal $(for p in $PARTNERS; do printf 'User:%s ' "$p"; done)) \
  --operation Write --operation Describe $(each --topic grievance.submissions case.feedback)
# shellcheck disable=SC2046,SC2086
allow $(each --allow-principal $(for p in $PARTNERS; do printf 'User:%s ' "$p"; done)) \
  --operation Read --operation Describe --topic grievance.rejected
rm -f "$ADMIN"
