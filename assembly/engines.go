package assembly

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/vault"
)

// OpenPostgres creates the database if missing, opens it with the keyring
// of cfg's master keys and migrates it. needKeys makes missing master keys
// an error (components that read or write tokens need them).
func OpenPostgres(ctx context.Context, cfg PostgresConfig, needKeys bool) (*postgres.DB, error) {
	var opts []postgres.Option
	spec := cfg.MasterKeys
	if spec == "" && cfg.MasterKeyFile != "" {
		b, err := os.ReadFile(cfg.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("master key file: %w", err)
		}
		spec = strings.TrimSpace(string(b))
	}
	if spec != "" {
		kr, err := vault.ParseKeyring(spec)
		if err != nil {
			return nil, err
		}
		opts = append(opts, postgres.WithKeyWrapper(kr))
	} else if needKeys {
		return nil, errors.New("no master keys: set --master-keys or --master-key-file (pulse dev creates one for you)")
	}
	if err := postgres.CreateDatabase(ctx, cfg.URL); err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, cfg.URL, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenClickHouse opens the database at url, creating it if missing, and
// migrates it.
func OpenClickHouse(ctx context.Context, url string) (*clickhouse.DB, error) {
	db, err := clickhouse.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// devMasterKeyFile returns a master key file under dir, creating one with a
// fresh random key on first use. For development only.
func devMasterKeyFile(dir string) (string, error) {
	path := filepath.Join(dir, "master-keys")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dev master key: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	// The id names the key, so a database sealed under another dev key
	// fails with "unknown key" rather than a decryption error.
	sum := sha256.Sum256(key)
	spec := fmt.Sprintf("dev-%x:%s\n", sum[:4], base64.StdEncoding.EncodeToString(key))
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		return "", fmt.Errorf("dev master key: %w", err)
	}
	return path, nil
}
