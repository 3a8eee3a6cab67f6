-- posts_current holds every row posts_latest held (0019); nothing reads
-- posts_latest any more.
DROP TABLE IF EXISTS posts_latest
