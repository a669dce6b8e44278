#!/bin/sh
. /etc/worker.env
echo "shop worker running (log level ${LOG_LEVEL})"
