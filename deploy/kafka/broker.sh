#!/bin/sh
# Apache Kafka for docker-compose.yml: one KRaft node (broker and controller), clients only over
# SASL/SCRAM-SHA-512, every request authorised by ACLs (nothing is allowed that no ACL allows).
#
# The controller listener is bound to the loopback interface: only this container reaches it, so the
# ANONYMOUS principal it carries can be a super user without any client ever being one. The first client
# principal, `admin` (a super user: the broker's own inter-broker login, kafka-init, operators), is created
# when the storage is formatted (KIP-900), since nothing can log in to create it later; every other
# principal and ACL is kafka-init's (principals.sh). Passwords must not hold `"` or `\` (JAAS quoting).
set -eu
: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}" "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}"
CONFIG=/tmp/server.properties
JAAS="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$KAFKA_ADMIN_PASSWORD\";"

cat > "$CONFIG" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
controller.listener.names=CONTROLLER
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=SASL_PLAINTEXT://kafka:9092
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$JAAS
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=/tmp/kraft-combined-logs
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF

# What the healthcheck and an operator inside this container log in with.
cat > /tmp/admin.properties <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$JAAS
EOF

/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" --config "$CONFIG" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]"
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
