"""DDL of the five SLiMS tables in their real shape (SLiMS 9 install schema, trimmed), per backend.

The indexes are the ones SLiMS ships, so there is deliberately no index on
visitor_count.checkin_date or loan.date: benchmarks and tests see what a stock
library database gives the service. Columns the service never reads are kept
where SLiMS has them, so the models cannot assume a table holds only what they map.
"""

from __future__ import annotations

MAIN_TABLES = ("visitor_count", "loan", "item", "biblio", "member")
# The small tables of names the reports read (SLiMS 9.6 added mst_visitor_room).
LOOKUP_TABLES = ("mst_visitor_room", "mst_member_type", "mst_coll_type", "mst_location")
SLIMS_TABLES = MAIN_TABLES + LOOKUP_TABLES

_MYSQL = {
    "visitor_count": """
        CREATE TABLE visitor_count (
          visitor_id int(11) NOT NULL AUTO_INCREMENT,
          member_id varchar(20) DEFAULT NULL,
          member_name varchar(255) NOT NULL,
          institution varchar(100) DEFAULT NULL,
          room_code varchar(5) DEFAULT NULL,
          checkin_date datetime NOT NULL,
          PRIMARY KEY (visitor_id),
          KEY member_id (member_id),
          KEY room_code (room_code)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "loan": """
        CREATE TABLE loan (
          loan_id int(11) NOT NULL AUTO_INCREMENT,
          item_code varchar(20) DEFAULT NULL,
          member_id varchar(20) DEFAULT NULL,
          loan_date date NOT NULL,
          due_date date NOT NULL,
          renewed int(11) NOT NULL DEFAULT 0,
          loan_rules_id int(11) NOT NULL DEFAULT 0,
          actual date DEFAULT NULL,
          is_lent int(11) NOT NULL DEFAULT 0,
          is_return int(11) NOT NULL DEFAULT 0,
          return_date date DEFAULT NULL,
          input_date datetime DEFAULT NULL,
          last_update datetime DEFAULT NULL,
          uid int(11) DEFAULT NULL,
          PRIMARY KEY (loan_id),
          KEY item_code (item_code),
          KEY member_id (member_id),
          KEY input_date (input_date, last_update, uid)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "item": """
        CREATE TABLE item (
          item_id int(11) NOT NULL AUTO_INCREMENT,
          biblio_id int(11) DEFAULT NULL,
          call_number varchar(50) DEFAULT NULL,
          coll_type_id int(3) DEFAULT NULL,
          item_code varchar(20) DEFAULT NULL,
          inventory_code varchar(200) DEFAULT NULL,
          location_id varchar(3) DEFAULT NULL,
          item_status_id char(3) DEFAULT NULL,
          input_date datetime NOT NULL,
          last_update datetime DEFAULT NULL,
          uid int(11) DEFAULT NULL,
          PRIMARY KEY (item_id),
          UNIQUE KEY item_code (item_code),
          KEY uid (uid)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "biblio": """
        CREATE TABLE biblio (
          biblio_id int(11) NOT NULL AUTO_INCREMENT,
          gmd_id int(11) DEFAULT NULL,
          title text NOT NULL,
          sor varchar(200) DEFAULT NULL,
          edition varchar(50) DEFAULT NULL,
          isbn_issn varchar(32) DEFAULT NULL,
          publisher_id int(11) DEFAULT NULL,
          publish_year varchar(20) DEFAULT NULL,
          collation varchar(50) DEFAULT NULL,
          call_number varchar(50) DEFAULT NULL,
          classification varchar(40) DEFAULT NULL,
          language_id char(5) DEFAULT 'en',
          image varchar(100) DEFAULT NULL,
          opac_hide smallint(1) DEFAULT 0,
          input_date datetime DEFAULT NULL,
          last_update datetime DEFAULT NULL,
          uid int(11) DEFAULT NULL,
          PRIMARY KEY (biblio_id),
          KEY gmd_id (gmd_id),
          FULLTEXT KEY title_ft_idx (title)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "member": """
        CREATE TABLE member (
          member_id varchar(20) NOT NULL,
          member_name varchar(100) NOT NULL,
          gender int(1) NOT NULL DEFAULT 0,
          birth_date date DEFAULT NULL,
          member_type_id int(6) DEFAULT NULL,
          member_address varchar(255) DEFAULT NULL,
          member_email varchar(100) DEFAULT NULL,
          inst_name varchar(100) DEFAULT NULL,
          member_since_date date DEFAULT NULL,
          register_date date DEFAULT NULL,
          expire_date date NOT NULL,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL,
          PRIMARY KEY (member_id),
          KEY member_name (member_name),
          KEY member_type_id (member_type_id)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "mst_visitor_room": """
        CREATE TABLE mst_visitor_room (
          id int(11) NOT NULL AUTO_INCREMENT,
          name varchar(50) NOT NULL,
          unique_code varchar(5) NOT NULL,
          created_at datetime DEFAULT NULL,
          updated_at datetime DEFAULT NULL,
          PRIMARY KEY (id),
          UNIQUE KEY unique_code (unique_code)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "mst_member_type": """
        CREATE TABLE mst_member_type (
          member_type_id int(11) NOT NULL AUTO_INCREMENT,
          member_type_name varchar(50) NOT NULL,
          loan_limit int(11) NOT NULL DEFAULT 0,
          loan_periode int(11) NOT NULL DEFAULT 0,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL,
          PRIMARY KEY (member_type_id),
          UNIQUE KEY member_type_name (member_type_name)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "mst_coll_type": """
        CREATE TABLE mst_coll_type (
          coll_type_id int(3) NOT NULL AUTO_INCREMENT,
          coll_type_name varchar(30) NOT NULL,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL,
          PRIMARY KEY (coll_type_id),
          UNIQUE KEY coll_type_name (coll_type_name)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
    "mst_location": """
        CREATE TABLE mst_location (
          location_id varchar(3) NOT NULL,
          location_name varchar(100) DEFAULT NULL,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL,
          PRIMARY KEY (location_id),
          UNIQUE KEY location_name (location_name)
        ) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci""",
}

# SQLite: the same columns; NOCASE stands in for utf8_unicode_ci on the text SLiMS compares.
_SQLITE = {
    "visitor_count": """
        CREATE TABLE visitor_count (
          visitor_id integer PRIMARY KEY AUTOINCREMENT,
          member_id varchar(20) COLLATE NOCASE DEFAULT NULL,
          member_name varchar(255) COLLATE NOCASE NOT NULL,
          institution varchar(100) COLLATE NOCASE DEFAULT NULL,
          room_code varchar(5) DEFAULT NULL,
          checkin_date datetime NOT NULL
        )""",
    "loan": """
        CREATE TABLE loan (
          loan_id integer PRIMARY KEY AUTOINCREMENT,
          item_code varchar(20) DEFAULT NULL,
          member_id varchar(20) COLLATE NOCASE DEFAULT NULL,
          loan_date date NOT NULL,
          due_date date NOT NULL,
          renewed integer NOT NULL DEFAULT 0,
          loan_rules_id integer NOT NULL DEFAULT 0,
          actual date DEFAULT NULL,
          is_lent integer NOT NULL DEFAULT 0,
          is_return integer NOT NULL DEFAULT 0,
          return_date date DEFAULT NULL,
          input_date datetime DEFAULT NULL,
          last_update datetime DEFAULT NULL,
          uid integer DEFAULT NULL
        )""",
    "item": """
        CREATE TABLE item (
          item_id integer PRIMARY KEY AUTOINCREMENT,
          biblio_id integer DEFAULT NULL,
          call_number varchar(50) DEFAULT NULL,
          coll_type_id integer DEFAULT NULL,
          item_code varchar(20) DEFAULT NULL UNIQUE,
          inventory_code varchar(200) DEFAULT NULL,
          location_id varchar(3) DEFAULT NULL,
          item_status_id char(3) DEFAULT NULL,
          input_date datetime NOT NULL,
          last_update datetime DEFAULT NULL,
          uid integer DEFAULT NULL
        )""",
    "biblio": """
        CREATE TABLE biblio (
          biblio_id integer PRIMARY KEY AUTOINCREMENT,
          gmd_id integer DEFAULT NULL,
          title text COLLATE NOCASE NOT NULL,
          sor varchar(200) DEFAULT NULL,
          edition varchar(50) DEFAULT NULL,
          isbn_issn varchar(32) DEFAULT NULL,
          publisher_id integer DEFAULT NULL,
          publish_year varchar(20) DEFAULT NULL,
          collation varchar(50) DEFAULT NULL,
          call_number varchar(50) DEFAULT NULL,
          classification varchar(40) DEFAULT NULL,
          language_id char(5) DEFAULT 'en',
          image varchar(100) DEFAULT NULL,
          opac_hide smallint DEFAULT 0,
          input_date datetime DEFAULT NULL,
          last_update datetime DEFAULT NULL,
          uid integer DEFAULT NULL
        )""",
    "member": """
        CREATE TABLE member (
          member_id varchar(20) COLLATE NOCASE NOT NULL PRIMARY KEY,
          member_name varchar(100) COLLATE NOCASE NOT NULL,
          gender integer NOT NULL DEFAULT 0,
          birth_date date DEFAULT NULL,
          member_type_id integer DEFAULT NULL,
          member_address varchar(255) DEFAULT NULL,
          member_email varchar(100) DEFAULT NULL,
          inst_name varchar(100) COLLATE NOCASE DEFAULT NULL,
          member_since_date date DEFAULT NULL,
          register_date date DEFAULT NULL,
          expire_date date NOT NULL,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL
        )""",
    "mst_visitor_room": """
        CREATE TABLE mst_visitor_room (
          id integer PRIMARY KEY AUTOINCREMENT,
          name varchar(50) NOT NULL,
          unique_code varchar(5) COLLATE NOCASE NOT NULL UNIQUE,
          created_at datetime DEFAULT NULL,
          updated_at datetime DEFAULT NULL
        )""",
    "mst_member_type": """
        CREATE TABLE mst_member_type (
          member_type_id integer PRIMARY KEY AUTOINCREMENT,
          member_type_name varchar(50) NOT NULL UNIQUE,
          loan_limit integer NOT NULL DEFAULT 0,
          loan_periode integer NOT NULL DEFAULT 0,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL
        )""",
    "mst_coll_type": """
        CREATE TABLE mst_coll_type (
          coll_type_id integer PRIMARY KEY AUTOINCREMENT,
          coll_type_name varchar(30) NOT NULL UNIQUE,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL
        )""",
    "mst_location": """
        CREATE TABLE mst_location (
          location_id varchar(3) COLLATE NOCASE NOT NULL PRIMARY KEY,
          location_name varchar(100) DEFAULT NULL UNIQUE,
          input_date date DEFAULT NULL,
          last_update date DEFAULT NULL
        )""",
}

_SQLITE_INDEXES = (
    "CREATE INDEX visitor_count_member_id ON visitor_count (member_id)",
    "CREATE INDEX visitor_count_room_code ON visitor_count (room_code)",
    "CREATE INDEX loan_item_code ON loan (item_code)",
    "CREATE INDEX loan_member_id ON loan (member_id)",
    "CREATE INDEX loan_input_date ON loan (input_date, last_update, uid)",
    "CREATE INDEX item_uid ON item (uid)",
    "CREATE INDEX biblio_gmd_id ON biblio (gmd_id)",
    "CREATE INDEX member_member_name ON member (member_name)",
    "CREATE INDEX member_member_type_id ON member (member_type_id)",
)


def create_statements(vendor: str) -> list[str]:
    """CREATE TABLE (and index) statements for the given Django vendor ('mysql' or 'sqlite')."""
    if vendor == "mysql":
        return [_MYSQL[table] for table in SLIMS_TABLES]
    if vendor == "sqlite":
        return [_SQLITE[table] for table in SLIMS_TABLES] + list(_SQLITE_INDEXES)
    raise ValueError(f"the demo library supports MariaDB/MySQL and SQLite, not {vendor}")


def drop_statements(vendor: str) -> list[str]:
    quote = "`" if vendor == "mysql" else '"'
    return [f"DROP TABLE IF EXISTS {quote}{table}{quote}" for table in SLIMS_TABLES]


# seed_demo's mark on a database it created: --force replaces only a library that carries it,
# and only a marked library receives the demo's live check-ins.
MARKER_TABLE = "libdash_demo_seed"


def marker_statements(vendor: str, *, seed: int, seeded_at: str) -> list[str]:
    quote = "`" if vendor == "mysql" else '"'
    table = f"{quote}{MARKER_TABLE}{quote}"
    engine = " ENGINE=MyISAM" if vendor == "mysql" else ""  # as the SLiMS tables beside it
    return [
        f"CREATE TABLE {table} (seeded_at varchar(32) NOT NULL, seed integer NOT NULL){engine}",
        f"INSERT INTO {table} (seeded_at, seed) VALUES ('{seeded_at}', {int(seed)})",
    ]


def drop_marker_statement(vendor: str) -> str:
    quote = "`" if vendor == "mysql" else '"'
    return f"DROP TABLE IF EXISTS {quote}{MARKER_TABLE}{quote}"
