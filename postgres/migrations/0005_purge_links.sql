-- 0005_purge_links: the links a deleted user had, kept with the purge
-- request, so the purge can tombstone every processor table row keyed by
-- them (a link the aggregator never saw, because all its payloads were
-- dead-lettered, still has a row in the normalizer's table).
ALTER TABLE purge_requests ADD COLUMN link_ids uuid[] NOT NULL DEFAULT '{}';
