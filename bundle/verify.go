package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Problem kinds found by Verify.
const (
	ProblemArchive = "archive"  // the file is not a readable zip
	ProblemMissing = "missing"  // a file the manifest lists is not in the archive
	ProblemExtra   = "extra"    // a file in the archive is not in the manifest
	ProblemChanged = "changed"  // a file's bytes differ from the manifest's size or SHA-256
	ProblemBadJSON = "bad-json" // a JSON file does not parse
	ProblemSchema  = "schema"   // the manifest or a file breaks the bundle schema
	ProblemMarker  = "marker"   // a file does not carry the bundle's case marker
)

// Problem is one thing wrong with a bundle.
type Problem struct {
	// File is the archive path the problem is about; empty for the archive.
	File string `json:"file,omitempty"`
	// Kind is one of the Problem* constants.
	Kind string `json:"kind"`
	// Message says what is wrong, for people.
	Message string `json:"message"`
}

// String formats the problem as one line.
func (p Problem) String() string {
	if p.File == "" {
		return fmt.Sprintf("%s: %s", p.Kind, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.File, p.Kind, p.Message)
}

// Report is what Verify found.
type Report struct {
	// Case is the manifest's case marker, when it could be read.
	Case string `json:"case,omitempty"`
	// CreatedAt is the manifest's export time.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// InProgress repeats the manifest: the case was open when exported.
	InProgress bool `json:"in_progress"`
	// Files counts the files the manifest lists.
	Files int `json:"files"`
	// Bytes is the uncompressed size of the files checked.
	Bytes int64 `json:"bytes"`
	// Problems lists every problem, manifest first, then files in manifest
	// order, then extra files in archive order.
	Problems []Problem `json:"problems"`
}

// OK reports whether the bundle has no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Err returns nil for a sound bundle and an EINVALID error counting the
// problems otherwise.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return vpndiag.Errorf(vpndiag.EINVALID, "The bundle has %d problem(s); it was changed or damaged after export.", len(r.Problems))
}

func (r *Report) add(file, kind, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{File: file, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// maxSmallFile bounds what Verify reads whole: the manifest and the
// generated JSON files, which are small; evidence is only streamed.
const maxSmallFile = 64 << 20

// VerifyFile verifies the bundle at path, see Verify.
func VerifyFile(path string) (*Report, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no file %s.", path)
	} else if err != nil {
		return nil, fmt.Errorf("bundle: %w: %w", err, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Cannot read %s.", path))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if fi.IsDir() {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s is a directory, not a bundle.", path)
	}
	return Verify(f, fi.Size())
}

// Verify checks a bundle: that it is a zip, that manifest.json parses and
// follows the schema, that every file it lists is present with its size and
// SHA-256 (which catches any changed byte), that nothing else is in the
// archive, that the JSON files parse and that the files carry the case
// marker. It streams every file, in bounded memory. The error is only for
// failing to read; problems are in the report.
func Verify(r io.ReaderAt, size int64) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		rep.add("", ProblemArchive, "not a readable zip archive (%v)", err)
		return rep, nil
	}
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // a directory entry holds nothing
		}
		if !safePath(f.Name) {
			rep.add(f.Name, ProblemSchema, "unsafe path in the archive")
		}
		if entries[f.Name] != nil {
			rep.add(f.Name, ProblemSchema, "the archive holds this name twice")
			continue
		}
		entries[f.Name] = f
	}
	mf := entries[ManifestName]
	if mf == nil {
		rep.add(ManifestName, ProblemMissing, "no manifest: this is not a vpndiag support bundle, or its manifest was removed")
		return rep, nil
	}
	data, err := readSmall(mf)
	if err != nil {
		rep.add(ManifestName, ProblemChanged, "cannot be read: %v", err)
		return rep, nil
	}
	var man Manifest
	if err := json.Unmarshal(data, &man); err != nil {
		rep.add(ManifestName, ProblemBadJSON, "%v", err)
		return rep, nil
	}
	rep.Case, rep.CreatedAt, rep.InProgress, rep.Files = man.Case, man.CreatedAt, man.InProgress, len(man.Files)
	checkManifest(rep, &man)
	if mf.Comment != "" && mf.Comment != man.Case {
		rep.add(ManifestName, ProblemMarker, "entry comment %q is not the case marker %s", mf.Comment, man.Case)
	}

	listed := map[string]bool{ManifestName: true}
	for _, file := range man.Files {
		if listed[file.Name] {
			continue // reported by checkManifest
		}
		listed[file.Name] = true
		f := entries[file.Name]
		if f == nil {
			rep.add(file.Name, ProblemMissing, "listed in the manifest but not in the archive")
			continue
		}
		checkFile(rep, &man, file, f)
	}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/") && !listed[f.Name] {
			rep.add(f.Name, ProblemExtra, "in the archive but not in the manifest (%d bytes)", f.UncompressedSize64)
			listed[f.Name] = true
		}
	}
	return rep, nil
}

// checkManifest checks the manifest against the schema.
func checkManifest(rep *Report, m *Manifest) {
	bad := func(format string, args ...any) { rep.add(ManifestName, ProblemSchema, format, args...) }
	if m.Schema != SchemaName {
		bad("schema is %q, want %q", m.Schema, SchemaName)
	}
	if m.SchemaVersion != SchemaVersion {
		bad("schema_version %d is not supported (this vpndiag reads version %d)", m.SchemaVersion, SchemaVersion)
	}
	if !vpndiag.MarkerPattern.MatchString(m.Case) {
		bad("case %q is not a case marker", m.Case)
	}
	if m.CreatedAt.IsZero() {
		bad("created_at is missing")
	}
	if m.Tool.Name == "" || m.Tool.Version == "" {
		bad("tool name and version are required")
	}
	if !m.Status.Valid() {
		bad("status %q is not a case status", m.Status)
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		switch {
		case f.Name == "" || !safePath(f.Name) || f.Name == ManifestName:
			bad("files[%d]: name %q is not allowed", i, f.Name)
		case seen[f.Name]:
			bad("files[%d]: %s is listed twice", i, f.Name)
		}
		seen[f.Name] = true
		if f.Size < 0 {
			bad("files[%d]: size %d is negative", i, f.Size)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			bad("files[%d]: sha256 %q is not a hex SHA-256", i, f.SHA256)
		}
	}
	for _, name := range requiredFiles {
		if !seen[name] {
			bad("%s is not listed (every bundle has it)", name)
		}
	}
}

// checkFile streams one listed file and compares it with the manifest.
func checkFile(rep *Report, m *Manifest, want File, f *zip.File) {
	generated := !strings.HasPrefix(want.Name, EvidenceDir)
	parseJSON := generated && path.Ext(want.Name) == ".json"
	rc, err := f.Open()
	if err != nil {
		rep.add(want.Name, ProblemChanged, "cannot be read: %v", err)
		return
	}
	defer rc.Close()
	h := sha256.New()
	var head headBuffer
	var whole bytes.Buffer
	w := io.MultiWriter(h, &head)
	if parseJSON {
		w = io.MultiWriter(w, &limitedBuffer{buf: &whole, max: maxSmallFile})
	}
	n, err := io.Copy(w, rc)
	rep.Bytes += n
	if errors.Is(err, zip.ErrChecksum) {
		rep.add(want.Name, ProblemChanged, "content changed: the archive's CRC-32 does not match its bytes")
		return
	} else if err != nil {
		rep.add(want.Name, ProblemChanged, "cannot be read: %v", err)
		return
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case n != want.Size:
		rep.add(want.Name, ProblemChanged, "size is %d bytes, the manifest says %d", n, want.Size)
		return
	case !strings.EqualFold(sum, want.SHA256):
		rep.add(want.Name, ProblemChanged, "SHA-256 is %s, the manifest says %s", sum, want.SHA256)
		return
	}
	switch {
	case parseJSON:
		if n > maxSmallFile {
			rep.add(want.Name, ProblemSchema, "%d bytes is too large for a generated JSON file", n)
			return
		}
		var doc struct {
			Case *string `json:"case"`
		}
		if err := json.Unmarshal(whole.Bytes(), &doc); err != nil {
			rep.add(want.Name, ProblemBadJSON, "%v", err)
		} else if doc.Case == nil || *doc.Case != m.Case {
			rep.add(want.Name, ProblemMarker, "its \"case\" field is not the bundle's marker %s", m.Case)
		}
	case generated:
		if !bytes.Contains(head.b, []byte(m.Case)) {
			rep.add(want.Name, ProblemMarker, "the case marker %s is not in its first %d bytes", m.Case, len(head.b))
		}
	default:
		if f.Comment != m.Case {
			rep.add(want.Name, ProblemMarker, "entry comment %q is not the case marker %s", f.Comment, m.Case)
		}
	}
}

// readSmall reads a small entry whole.
func readSmall(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxSmallFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSmallFile {
		return nil, fmt.Errorf("larger than %d bytes", maxSmallFile)
	}
	return data, nil
}

// safePath reports whether name is a relative, clean, forward-slash path
// that stays inside the directory it is extracted to.
func safePath(name string) bool {
	return name != "" && !strings.Contains(name, `\`) && !strings.HasPrefix(name, "/") &&
		path.Clean(name) == name && name != ".." && !strings.HasPrefix(name, "../") && fs.ValidPath(name)
}

// headBuffer keeps the first 4 KiB written to it.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// limitedBuffer keeps up to max bytes and drops the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
