"""Built-in ``tpcc`` workload: TPC-C to the specification (schema, loader, transactions, checks).

Modules: :mod:`.schema` (tables, keys), :mod:`.generate` and :mod:`.loader`
(clause 4.3 population by parallel COPY), :mod:`.rand` (NURand and strings),
:mod:`.transactions` (the five transactions), :mod:`.consistency`
(clause 3.3.2) and :mod:`.workload` (the workload class).
"""

from stormdb_tui.builtin.tpcc.consistency import consistency_checks
from stormdb_tui.builtin.tpcc.workload import TpccWorkload

WORKLOAD = TpccWorkload

__all__ = ["WORKLOAD", "TpccWorkload", "consistency_checks"]
