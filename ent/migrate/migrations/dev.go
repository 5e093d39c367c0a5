package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"

	_ "github.com/lib/pq"  // PostgreSQL driver
	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// DevSQLite opens an empty in-memory SQLite database (one connection, so it stays one database).
func DevSQLite() (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:dev?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// DevPostgres creates a scratch database on the server at rawURL (whose own database is only
// used to create and drop it) and returns a pool on it and a func that drops it. A database
// rather than a schema: atlas takes a connection with other schemas in it for a dirty one.
func DevPostgres(ctx context.Context, rawURL string) (*sql.DB, func(), error) {
	admin, err := sql.Open("postgres", rawURL)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("catalogd_dev_%08x", rand.Uint32())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create the dev database: %w", err)
	}
	drop := func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		drop()
		return nil, nil, err
	}
	u.Path = "/" + name
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		drop()
		return nil, nil, err
	}
	return db, func() { db.Close(); drop() }, nil
}
