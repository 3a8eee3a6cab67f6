package clickhouse

import "context"

// RunQuery runs sql as the API's read queries run, discarding rows.
func (db *DB) RunQuery(ctx context.Context, sql string) error {
	return db.query(ctx, statement{sql: sql}, func(scanner) error { return nil })
}
