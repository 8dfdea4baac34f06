"""The nine TPC-C tables (clause 1.3), their keys and the usual secondary indexes.

Column order follows the specification's table layouts, and the loader
writes COPY rows in exactly this order. Keys and indexes are separate
statements so they are built after the bulk load, when building them is far
cheaper than maintaining them row by row. A one-row ``load_info`` table
records the scale and the NURand C-load constants so ``check`` can verify the
data and a run can choose valid C-run constants (clause 2.1.6.1).
"""

from __future__ import annotations

from typing import Any

SCHEMA = "tpcc"

TABLES: dict[str, tuple[str, ...]] = {
    "warehouse": (
        "w_id integer NOT NULL",
        "w_name varchar(10)",
        "w_street_1 varchar(20)",
        "w_street_2 varchar(20)",
        "w_city varchar(20)",
        "w_state char(2)",
        "w_zip char(9)",
        "w_tax numeric(4,4)",
        "w_ytd numeric(12,2)",
    ),
    "district": (
        "d_id integer NOT NULL",
        "d_w_id integer NOT NULL",
        "d_name varchar(10)",
        "d_street_1 varchar(20)",
        "d_street_2 varchar(20)",
        "d_city varchar(20)",
        "d_state char(2)",
        "d_zip char(9)",
        "d_tax numeric(4,4)",
        "d_ytd numeric(12,2)",
        "d_next_o_id integer",
    ),
    "customer": (
        "c_id integer NOT NULL",
        "c_d_id integer NOT NULL",
        "c_w_id integer NOT NULL",
        "c_first varchar(16)",
        "c_middle char(2)",
        "c_last varchar(16)",
        "c_street_1 varchar(20)",
        "c_street_2 varchar(20)",
        "c_city varchar(20)",
        "c_state char(2)",
        "c_zip char(9)",
        "c_phone char(16)",
        "c_since timestamp",
        "c_credit char(2)",
        "c_credit_lim numeric(12,2)",
        "c_discount numeric(4,4)",
        "c_balance numeric(12,2)",
        "c_ytd_payment numeric(12,2)",
        "c_payment_cnt integer",
        "c_delivery_cnt integer",
        "c_data varchar(500)",
    ),
    "history": (
        "h_c_id integer",
        "h_c_d_id integer",
        "h_c_w_id integer",
        "h_d_id integer",
        "h_w_id integer",
        "h_date timestamp",
        "h_amount numeric(6,2)",
        "h_data varchar(24)",
    ),
    "new_order": (
        "no_o_id integer NOT NULL",
        "no_d_id integer NOT NULL",
        "no_w_id integer NOT NULL",
    ),
    "orders": (
        "o_id integer NOT NULL",
        "o_d_id integer NOT NULL",
        "o_w_id integer NOT NULL",
        "o_c_id integer",
        "o_entry_d timestamp",
        "o_carrier_id integer",
        "o_ol_cnt integer",
        "o_all_local integer",
    ),
    "order_line": (
        "ol_o_id integer NOT NULL",
        "ol_d_id integer NOT NULL",
        "ol_w_id integer NOT NULL",
        "ol_number integer NOT NULL",
        "ol_i_id integer",
        "ol_supply_w_id integer",
        "ol_delivery_d timestamp",
        "ol_quantity integer",
        "ol_amount numeric(6,2)",
        "ol_dist_info char(24)",
    ),
    "item": (
        "i_id integer NOT NULL",
        "i_im_id integer",
        "i_name varchar(24)",
        "i_price numeric(5,2)",
        "i_data varchar(50)",
    ),
    "stock": (
        "s_i_id integer NOT NULL",
        "s_w_id integer NOT NULL",
        "s_quantity integer",
        *(f"s_dist_{n:02d} char(24)" for n in range(1, 11)),
        "s_ytd numeric(8,0)",
        "s_order_cnt integer",
        "s_remote_cnt integer",
        "s_data varchar(50)",
    ),
}

# Primary keys as the specification defines them; history has none (clause 1.3).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "warehouse": ("w_id",),
    "district": ("d_w_id", "d_id"),
    "customer": ("c_w_id", "c_d_id", "c_id"),
    "new_order": ("no_w_id", "no_d_id", "no_o_id"),
    "orders": ("o_w_id", "o_d_id", "o_id"),
    "order_line": ("ol_w_id", "ol_d_id", "ol_o_id", "ol_number"),
    "item": ("i_id",),
    "stock": ("s_w_id", "s_i_id"),
}

# Secondary indexes for Payment/Order-Status by last name and the newest order of a customer.
INDEXES: dict[str, tuple[str, tuple[str, ...]]] = {
    "customer_last_name_idx": ("customer", ("c_w_id", "c_d_id", "c_last", "c_first")),
    "orders_customer_idx": ("orders", ("o_w_id", "o_d_id", "o_c_id", "o_id")),
}

# Clause 1.3's foreign keys, added only when the option asks for them.
FOREIGN_KEYS: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("district", ("d_w_id",), "warehouse", ("w_id",)),
    ("customer", ("c_w_id", "c_d_id"), "district", ("d_w_id", "d_id")),
    ("history", ("h_c_w_id", "h_c_d_id", "h_c_id"), "customer", ("c_w_id", "c_d_id", "c_id")),
    ("history", ("h_w_id", "h_d_id"), "district", ("d_w_id", "d_id")),
    ("new_order", ("no_w_id", "no_d_id", "no_o_id"), "orders", ("o_w_id", "o_d_id", "o_id")),
    ("orders", ("o_w_id", "o_d_id", "o_c_id"), "customer", ("c_w_id", "c_d_id", "c_id")),
    ("order_line", ("ol_w_id", "ol_d_id", "ol_o_id"), "orders", ("o_w_id", "o_d_id", "o_id")),
    ("order_line", ("ol_supply_w_id", "ol_i_id"), "stock", ("s_w_id", "s_i_id")),
    ("stock", ("s_w_id",), "warehouse", ("w_id",)),
    ("stock", ("s_i_id",), "item", ("i_id",)),
)

LOAD_INFO_DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.load_info (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    scale integer NOT NULL,
    c_last integer NOT NULL,
    c_id integer NOT NULL,
    ol_i_id integer NOT NULL,
    version text NOT NULL,
    complete boolean NOT NULL DEFAULT false,
    loaded_at timestamptz NOT NULL DEFAULT now()
)"""


def columns(table: str) -> list[str]:
    """Column names of ``table`` in COPY order."""
    return [spec.split()[0] for spec in TABLES[table]]


def create_table_statements() -> list[str]:
    """``CREATE TABLE`` for the nine tables, without keys (those come after loading)."""
    return [
        f"CREATE TABLE {SCHEMA}.{name} ({', '.join(cols)})" for name, cols in TABLES.items()
    ]


def index_statements() -> list[str]:
    """Primary keys and secondary indexes, largest table first so parallel builds finish together."""
    order = ("order_line", "stock", "customer", "orders", "item", "new_order", "district", "warehouse")
    stmts = [
        f"ALTER TABLE {SCHEMA}.{t} ADD CONSTRAINT {t}_pkey PRIMARY KEY ({', '.join(PRIMARY_KEYS[t])})"
        for t in order
    ]
    stmts[3:3] = [
        f"CREATE INDEX {name} ON {SCHEMA}.{table} ({', '.join(cols)})"
        for name, (table, cols) in INDEXES.items()
    ]
    return stmts


def foreign_key_statements() -> list[str]:
    return [
        f"ALTER TABLE {SCHEMA}.{table} ADD CONSTRAINT {table}_fk{i} FOREIGN KEY ({', '.join(cols)}) "
        f"REFERENCES {SCHEMA}.{ref} ({', '.join(ref_cols)})"
        for i, (table, cols, ref, ref_cols) in enumerate(FOREIGN_KEYS)
    ]


def load_info(conn: Any) -> dict[str, Any] | None:
    """The ``load_info`` row as a dict, or None when the schema or the row is missing."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.load_info",))
        row = cur.fetchone()
        if not row or row[0] is None:
            return None
        cur.execute(
            f"SELECT scale, c_last, c_id, ol_i_id, version, complete, loaded_at FROM {SCHEMA}.load_info"
        )
        row = cur.fetchone()
    if row is None:
        return None
    keys = ("scale", "c_last", "c_id", "ol_i_id", "version", "complete", "loaded_at")
    return dict(zip(keys, row, strict=True))


def expected_rows(scale: int) -> dict[str, int]:
    """Row counts right after loading (clause 4.3.1); order_line varies and is given as its mean."""
    return {
        "warehouse": scale,
        "district": 10 * scale,
        "customer": 30_000 * scale,
        "history": 30_000 * scale,
        "orders": 30_000 * scale,
        "new_order": 9_000 * scale,
        "order_line": 300_000 * scale,
        "item": 100_000,
        "stock": 100_000 * scale,
    }
