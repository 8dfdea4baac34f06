-- A script of the kind users write: a Gaussian hot spot, a branch on a drawn value, two tables.
\set naccounts 100000 * :scale
\set aid random_gaussian(1, :naccounts, 5.0)
\set bid random(1, 1 * :scale)
\set delta random(-5000, 5000)
\if :delta > 0
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
\else
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
\endif
SELECT bbalance FROM pgbench_branches WHERE bid = :bid;
