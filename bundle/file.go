package bundle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vpndiag/vpndiag"
)

// FileMode is the permission of a bundle file: read and write for its owner
// only.
const FileMode fs.FileMode = 0o600

// DefaultFileName is the bundle's file name when none is given:
// VPN-20261125-7KQ2-bundle.zip.
func DefaultFileName(marker string) string { return marker + "-bundle.zip" }

// ExportFile writes the bundle of the case to path, with FileMode,
// atomically: it writes a temporary file in the same directory, syncs it and
// renames it into place,
// so that a failure (disk full, interrupted) leaves nothing under path and
// no temporary file either. An existing path is refused unless force is
// set.
func (x *Exporter) ExportFile(ctx context.Context, marker, path string, force bool) (*Result, error) {
	m, err := NormalizeMarker(marker)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = DefaultFileName(m)
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s is a directory; give a file name with -o.", path)
		}
		if !force {
			return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "%s already exists; use --force to replace it.", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fileError(path, err)
	}
	dir := filepath.Dir(path)
	// Find the case before creating anything, so an unknown case leaves
	// nothing behind and says so first.
	if _, err := x.Cases.FindCaseByMarker(ctx, m); vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no case %s (check the marker, or the database with --db).", m)
	} else if err != nil {
		return nil, fmt.Errorf("bundle: find case: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fileError(dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	res, err := x.Export(ctx, m, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		// Owner only, whatever the umask: the bundle holds a customer's
		// configurations and logs (redacted, but still their network's
		// addresses and design), for the support engineer who exported it
		// to share on purpose.
		err = tmp.Chmod(FileMode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		if vpndiag.ErrorCode(err) != vpndiag.EINTERNAL || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, fileError(path, err)
	}
	ok = true
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	res.Path = path
	return res, nil
}

// fileError turns a file system error into a message that says what went
// wrong with which path, keeping the detail for logs.
func fileError(path string, err error) error {
	var msg string
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		msg = fmt.Sprintf("The disk is full: the bundle could not be written to %s, and nothing was left there.", path)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		msg = fmt.Sprintf("Cannot write to %s: permission denied (choose another place with -o).", path)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		msg = fmt.Sprintf("Cannot write to %s: the directory does not exist.", path)
	default:
		var ve *vpndiag.Error
		if errors.As(err, &ve) {
			return err
		}
		msg = fmt.Sprintf("Cannot write the bundle to %s; nothing was left there.", path)
	}
	return fmt.Errorf("bundle: %w: %w", err, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "%s", msg))
}
