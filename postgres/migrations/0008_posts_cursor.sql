-- Incremental posts reads: where each link's next read starts (the
-- connector's cursor) and when its recent posts were last all re-read
-- (the decaying refresh of their engagement: the last 7 days once a day,
-- the last 30 once a week). The fetcher sets them on every link a fetch
-- was delivered to; a link without a cursor (new, or from before this
-- migration) makes its account's next fetch a full read, so every
-- link's normalizer state knows the account's recent posts.
ALTER TABLE links ADD COLUMN posts_cursor text;
ALTER TABLE links ADD COLUMN posts_week_read_at timestamptz;
ALTER TABLE links ADD COLUMN posts_month_read_at timestamptz;
