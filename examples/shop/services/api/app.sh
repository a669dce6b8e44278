#!/bin/sh
echo "shop api @VERSION@ (log level ${LOG_LEVEL:-info})"
