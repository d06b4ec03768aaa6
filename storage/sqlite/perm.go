package sqlite

import (
	"errors"
	"io/fs"
	"os"
)

// privateFiles makes the database file, and its WAL and shared-memory
// files, readable by the owner only (0600), whatever the umask: they hold
// cases, evidence and token hashes. It creates the database file when it
// does not exist; SQLite then gives the -wal and -shm files it creates the
// database file's mode.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
