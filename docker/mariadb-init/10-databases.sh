#!/bin/sh
# First start of the MariaDB container: the demo SLiMS database, the service's own database,
# and the SELECT-only user the service reads the library with.
set -eu
mariadb -uroot -p"$MARIADB_ROOT_PASSWORD" <<SQL
CREATE DATABASE IF NOT EXISTS slims CHARACTER SET utf8 COLLATE utf8_unicode_ci;
CREATE DATABASE IF NOT EXISTS dashboard CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'dashboard'@'%' IDENTIFIED BY '${DASHBOARD_DB_PASSWORD}';
GRANT SELECT ON slims.* TO 'dashboard'@'%';
SQL
