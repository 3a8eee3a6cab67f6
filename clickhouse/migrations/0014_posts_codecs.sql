-- pulse:min-server 20.3
-- Column codecs for posts; see 0013.
ALTER TABLE posts
    MODIFY COLUMN observed_at DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    MODIFY COLUMN text        String CODEC(ZSTD(3)),
    MODIFY COLUMN likes       Int64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN comments    Int64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN shares      Int64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN views       Int64 CODEC(T64, ZSTD(1))
