package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"testing"
)

// TestLibPQCopyStatementTakesCopyData checks the lib/pq internal that bulk writes on PostgreSQL
// rely on (see copyDataStmt), on a real server: the PostgreSQL suite fails when it is gone.
func TestLibPQCopyStatementTakesCopyData(t *testing.T) {
	base := os.Getenv("CATALOGD_TEST_POSTGRES")
	if base == "" {
		t.Skip("CATALOGD_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	db, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// As Apply does: the COPY runs through the connection's raw driver conn inside a transaction.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "CREATE TEMP TABLE copy_probe (a text, b bigint)"); err != nil {
		t.Fatal(err)
	}
	err = conn.Raw(func(dc any) error {
		st, err := dc.(driver.Conn).Prepare("COPY copy_probe (a, b) FROM STDIN")
		if err != nil {
			return err
		}
		defer st.Close()
		cd, ok := st.(copyDataStmt)
		if !ok {
			t.Fatalf("lib/pq's COPY statement %T has no CopyData: bulk writes on PostgreSQL need another way in (e.g. pgx's CopyFrom)", st)
		}
		if _, err := cd.CopyData(ctx, "x\t1\ny\\ttab\t2"); err != nil {
			return err
		}
		_, err = st.Exec(nil) //nolint:staticcheck // ends the COPY
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var b string
	if err := tx.QueryRowContext(ctx, "SELECT count(*), max(a) FROM copy_probe").Scan(&n, &b); err != nil {
		t.Fatal(err)
	}
	if n != 2 || b != "y\ttab" {
		t.Fatalf("copied %d rows, max(a) %q; want 2 rows and an unescaped tab", n, b)
	}
}
