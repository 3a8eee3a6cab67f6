-- pulse:min-server 20.3
-- Column codecs for the observation tables (CODEC needs ClickHouse 19.x or
-- newer; 20.3 is the oldest release this was checked against). On an older
-- server this migration is skipped and not recorded, so it applies on the
-- first `pulse migrate` after an upgrade. Codecs apply to parts written or
-- merged afterwards; existing data stays readable as it is.
ALTER TABLE account_metrics_hourly
    MODIFY COLUMN observed_at DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    MODIFY COLUMN followers   Int64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN following   Int64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN posts_count Int64 CODEC(T64, ZSTD(1))
