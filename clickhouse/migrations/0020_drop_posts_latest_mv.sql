-- posts_current (0017-0019) replaces posts_latest: stop feeding it.
DROP TABLE IF EXISTS posts_latest_mv
