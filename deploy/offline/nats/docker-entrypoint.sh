#!/bin/sh
# As the official nats image's: when the first argument is a flag (or there is none), run nats-server with them.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- nats-server "$@"
fi
exec "$@"
