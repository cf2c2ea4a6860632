-- pgbench reference 2: the same submission as one call of the server's own
-- SQL function (one round trip, one transaction), as gen-server issues it.
SELECT status FROM gen_submit(:provider, :call, NULL, '73282932000074', 'Bench org', '32', 'Bench',
                              'development', 13500000, (SELECT body FROM bench_body),
                              (SELECT sha FROM bench_body), NULL);
