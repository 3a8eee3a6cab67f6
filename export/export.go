// Package export writes one user's analytics as Parquet, an Arrow IPC
// stream or CSV, with apache/arrow-go. Rows come from the store in bounded
// batches (column-wise), each batch becomes one Arrow record (one Parquet
// row group) and is written out before the next is read, so memory does
// not grow with the number of rows.
//
// Datasets and their columns (names and types are the same in every
// format; timestamps are UTC, in milliseconds since the Unix epoch, Arrow
// type timestamp[ms, tz=UTC]; CSV writes them as RFC 3339):
//
// metrics, one row per account and bucket (see pulse.Point):
//
//	platform string, account_id string, handle string,
//	bucket timestamp (the bucket's start),
//	followers int64 (last hourly value), followers_min int64,
//	followers_max int64, followers_avg float64, following int64,
//	posts_count int64, hours int64 (hourly observations; 0 for a bucket
//	with post activity only, whose follower fields are then 0),
//	posts_published int64, likes_gained int64, comments_gained int64
//
// posts, one row per post created in the range, latest counters:
//
//	platform string, account_id string, post_id string,
//	created_at timestamp, text string, permalink string,
//	likes int64, comments int64, shares int64, views int64
package export

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/pulsehq/pulse"
)

// Format is an output format.
type Format string

// The formats.
const (
	Parquet Format = "parquet"
	Arrow   Format = "arrow" // Arrow IPC stream format
	CSV     Format = "csv"
)

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Parquet, Arrow, CSV:
		return f, nil
	}
	return "", fmt.Errorf("export: unknown format %q (parquet, arrow or csv)", s)
}

// ContentType is the format's media type.
func (f Format) ContentType() string {
	switch f {
	case Parquet:
		return "application/vnd.apache.parquet"
	case Arrow:
		return "application/vnd.apache.arrow.stream"
	}
	return "text/csv; charset=utf-8"
}

// Ext is the format's file name extension, with its dot.
func (f Format) Ext() string {
	switch f {
	case Parquet:
		return ".parquet"
	case Arrow:
		return ".arrows"
	}
	return ".csv"
}

// Source is the analytics store. *pulse.DB implements it.
type Source = pulse.Exports

// BatchRows is the rows per batch, record and Parquet row group.
const BatchRows = 16384

var timestampType = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// MetricsSchema is the metrics dataset's schema.
var MetricsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "platform", Type: arrow.BinaryTypes.String},
	{Name: "account_id", Type: arrow.BinaryTypes.String},
	{Name: "handle", Type: arrow.BinaryTypes.String},
	{Name: "bucket", Type: timestampType},
	{Name: "followers", Type: arrow.PrimitiveTypes.Int64},
	{Name: "followers_min", Type: arrow.PrimitiveTypes.Int64},
	{Name: "followers_max", Type: arrow.PrimitiveTypes.Int64},
	{Name: "followers_avg", Type: arrow.PrimitiveTypes.Float64},
	{Name: "following", Type: arrow.PrimitiveTypes.Int64},
	{Name: "posts_count", Type: arrow.PrimitiveTypes.Int64},
	{Name: "hours", Type: arrow.PrimitiveTypes.Int64},
	{Name: "posts_published", Type: arrow.PrimitiveTypes.Int64},
	{Name: "likes_gained", Type: arrow.PrimitiveTypes.Int64},
	{Name: "comments_gained", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// PostsSchema is the posts dataset's schema.
var PostsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "platform", Type: arrow.BinaryTypes.String},
	{Name: "account_id", Type: arrow.BinaryTypes.String},
	{Name: "post_id", Type: arrow.BinaryTypes.String},
	{Name: "created_at", Type: timestampType},
	{Name: "text", Type: arrow.BinaryTypes.String},
	{Name: "permalink", Type: arrow.BinaryTypes.String},
	{Name: "likes", Type: arrow.PrimitiveTypes.Int64},
	{Name: "comments", Type: arrow.PrimitiveTypes.Int64},
	{Name: "shares", Type: arrow.PrimitiveTypes.Int64},
	{Name: "views", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// recordWriter is one format's writer.
type recordWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

type csvWriter struct{ *csv.Writer }

func (w csvWriter) Close() error { w.Flush(); return w.Error() }

// counting wraps a format's writer, noting whether a record was written.
type counting struct {
	recordWriter
	n int
}

func (c *counting) Write(rec arrow.RecordBatch) error { c.n++; return c.recordWriter.Write(rec) }

func newWriter(w io.Writer, f Format, schema *arrow.Schema, mem memory.Allocator) (*counting, error) {
	out, err := formatWriter(w, f, schema, mem)
	if err != nil {
		return nil, err
	}
	return &counting{recordWriter: out}, nil
}

func formatWriter(w io.Writer, f Format, schema *arrow.Schema, mem memory.Allocator) (recordWriter, error) {
	switch f {
	case Parquet:
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
			parquet.WithMaxRowGroupLength(BatchRows), parquet.WithAllocator(mem))
		return pqarrow.NewFileWriter(schema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
	case Arrow:
		return ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem)), nil
	case CSV:
		return csvWriter{csv.NewWriter(w, schema, csv.WithHeader(true), csv.WithNullWriter(""))}, nil
	}
	return nil, fmt.Errorf("export: unknown format %q", f)
}

// Metrics writes q's metrics (what Series answers) to w in format f.
// The caller bounds q (user, range); an error after the first bytes
// leaves w truncated.
func Metrics(ctx context.Context, w io.Writer, f Format, src Source, q pulse.SeriesQuery) error {
	mem := memory.NewGoAllocator()
	out, err := newWriter(w, f, MetricsSchema, mem)
	if err != nil {
		return err
	}
	rb := array.NewRecordBuilder(mem, MetricsSchema)
	defer rb.Release()
	err = src.ExportMetrics(ctx, q, BatchRows, func(b *pulse.MetricsBatch) error {
		appendStrings(rb.Field(0), b.Platform)
		appendStrings(rb.Field(1), b.AccountID)
		appendStrings(rb.Field(2), b.Handle)
		appendTimes(rb.Field(3), b.Bucket)
		rb.Field(4).(*array.Int64Builder).AppendValues(b.Followers, nil)
		rb.Field(5).(*array.Int64Builder).AppendValues(b.FollowersMin, nil)
		rb.Field(6).(*array.Int64Builder).AppendValues(b.FollowersMax, nil)
		rb.Field(7).(*array.Float64Builder).AppendValues(b.FollowersAvg, nil)
		rb.Field(8).(*array.Int64Builder).AppendValues(b.Following, nil)
		rb.Field(9).(*array.Int64Builder).AppendValues(b.PostsCount, nil)
		rb.Field(10).(*array.Int64Builder).AppendValues(b.Hours, nil)
		rb.Field(11).(*array.Int64Builder).AppendValues(b.PostsPublished, nil)
		rb.Field(12).(*array.Int64Builder).AppendValues(b.LikesGained, nil)
		rb.Field(13).(*array.Int64Builder).AppendValues(b.CommentsGained, nil)
		return writeRecord(out, rb)
	})
	return finish(out, rb, err)
}

// Posts writes q's posts to w in format f, like Metrics.
func Posts(ctx context.Context, w io.Writer, f Format, src Source, q pulse.PostsExportQuery) error {
	mem := memory.NewGoAllocator()
	out, err := newWriter(w, f, PostsSchema, mem)
	if err != nil {
		return err
	}
	rb := array.NewRecordBuilder(mem, PostsSchema)
	defer rb.Release()
	err = src.ExportPosts(ctx, q, BatchRows, func(b *pulse.PostsBatch) error {
		appendStrings(rb.Field(0), b.Platform)
		appendStrings(rb.Field(1), b.AccountID)
		appendStrings(rb.Field(2), b.PostID)
		appendTimes(rb.Field(3), b.CreatedAt)
		appendStrings(rb.Field(4), b.Text)
		appendStrings(rb.Field(5), b.Permalink)
		rb.Field(6).(*array.Int64Builder).AppendValues(b.Likes, nil)
		rb.Field(7).(*array.Int64Builder).AppendValues(b.Comments, nil)
		rb.Field(8).(*array.Int64Builder).AppendValues(b.Shares, nil)
		rb.Field(9).(*array.Int64Builder).AppendValues(b.Views, nil)
		return writeRecord(out, rb)
	})
	return finish(out, rb, err)
}

// finish closes out (writing Parquet's footer) unless the export failed.
// Without any row it writes one empty record, so that every format has
// its schema (a CSV file its header).
func finish(out *counting, rb *array.RecordBuilder, err error) error {
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if out.n == 0 {
		if err := writeRecord(out, rb); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("export: close: %w", err)
	}
	return nil
}

func writeRecord(out recordWriter, rb *array.RecordBuilder) error {
	rec := rb.NewRecordBatch()
	defer rec.Release()
	return out.Write(rec)
}

func appendStrings(b array.Builder, vs []string) { b.(*array.StringBuilder).AppendValues(vs, nil) }

func appendTimes(b array.Builder, ts []time.Time) {
	tb := b.(*array.TimestampBuilder)
	tb.Reserve(len(ts))
	for _, t := range ts {
		tb.UnsafeAppend(arrow.Timestamp(t.UnixMilli()))
	}
}
