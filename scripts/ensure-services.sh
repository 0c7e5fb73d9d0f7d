#!/usr/bin/env bash
# Make sure RabbitMQ and PostgreSQL answer on loopback; start the local servers
# when they are installed and stopped, and say clearly what is missing otherwise.
# Skipped when TEST_AMQP_URI / TEST_DATABASE_URL point elsewhere (the caller owns those).
set -u

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for() { # name host port seconds
  local i
  for ((i = 0; i < $4 * 2; i++)); do
    answers "$2" "$3" && return 0
    sleep 0.5
  done
  return 1
}

missing=0

if ! answers 127.0.0.1 5432; then
  if ls /etc/postgresql/*/main >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    wait_for postgresql 127.0.0.1 5432 60 || { echo "ensure-services: PostgreSQL did not start" >&2; missing=1; }
  else
    echo "ensure-services: PostgreSQL is not running on 127.0.0.1:5432 and no local server is installed." >&2
    echo "  install it (apt-get install postgresql) or set TEST_DATABASE_URL / DATABASE_URL" >&2
    missing=1
  fi
fi

if ! answers 127.0.0.1 5672; then
  if command -v rabbitmq-server >/dev/null; then
    echo "ensure-services: starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_for rabbitmq 127.0.0.1 5672 120 || { echo "ensure-services: RabbitMQ did not start" >&2; missing=1; }
  else
    echo "ensure-services: RabbitMQ is not running on 127.0.0.1:5672 and no local server is installed." >&2
    echo "  install it (apt-get install rabbitmq-server) or set TEST_AMQP_URI / AMQP_URI" >&2
    missing=1
  fi
fi

# The management API makes a vhost per test cheap, the shovel links vhosts (deploy/).
if command -v rabbitmq-plugins >/dev/null && answers 127.0.0.1 5672; then
  if ! answers 127.0.0.1 15672; then
    rabbitmq-plugins enable rabbitmq_management rabbitmq_shovel >/dev/null 2>&1 || true
    wait_for management 127.0.0.1 15672 60 || echo "ensure-services: RabbitMQ management API not up; tests fall back to rabbitmqctl" >&2
  fi
fi

exit $missing
