package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
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
	// ProblemSignature: the signature is malformed, missing while a key was
	// given, made with another key, or does not match the manifest.
	ProblemSignature = "signature"
)

// VerifyOptions choose what Verify checks beyond integrity.
type VerifyOptions struct {
	// Keys are the public keys whose bundles are trusted. When set, the
	// bundle must carry a signature of its manifest by one of them, which
	// proves its origin; without keys Verify checks integrity only (anyone
	// can write a bundle with a matching manifest, and sign it with a key
	// of their own).
	Keys []ed25519.PublicKey
}

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
	// Problems lists the problems, manifest first, then files in manifest
	// order, then extra files in archive order: the first MaxProblems.
	Problems []Problem `json:"problems"`
	// MoreProblems counts the problems found beyond MaxProblems.
	MoreProblems int `json:"more_problems,omitempty"`
	// Signature says whether the bundle is signed and by which key; see
	// VerifyOptions.
	Signature Signature `json:"signature"`
}

// MaxProblems is how many problems a Report lists; a damaged or crafted
// bundle may have millions, which are counted, not kept.
const MaxProblems = 200

// OK reports whether the bundle has no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Count returns the number of problems found, listed or not.
func (r *Report) Count() int { return len(r.Problems) + r.MoreProblems }

// Err returns nil for a sound bundle and an EINVALID error counting the
// problems otherwise.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	onlySignature := r.MoreProblems == 0
	for _, p := range r.Problems {
		onlySignature = onlySignature && p.Kind == ProblemSignature
	}
	if onlySignature {
		return vpndiag.Errorf(vpndiag.EINVALID, "The bundle's files match its manifest, but its origin is not proven: %s.", r.Problems[0].Message)
	}
	return vpndiag.Errorf(vpndiag.EINVALID, "The bundle has %d problem(s); it was changed or damaged after export.", r.Count())
}

func (r *Report) add(file, kind, format string, args ...any) {
	if len(r.Problems) >= MaxProblems {
		r.MoreProblems++
		return
	}
	r.Problems = append(r.Problems, Problem{File: file, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// Limits that keep Verify's memory bounded whatever the bundle holds:
// the manifest is the only file read whole, and is small (a case with
// a thousand probe results has a manifest of about 300 KB); the generated
// JSON files are scanned as they stream, and evidence is only hashed.
const (
	maxManifest     = 8 << 20
	maxManifestList = 100_000
	// maxSmallFile bounds a generated JSON file.
	maxSmallFile = 256 << 20
)

// VerifyFile verifies the bundle at path, see Verify.
func VerifyFile(path string) (*Report, error) { return VerifyFileWith(path, VerifyOptions{}) }

// VerifyFileWith verifies the bundle at path with options, see VerifyWith.
func VerifyFileWith(path string, opts VerifyOptions) (*Report, error) {
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
	return VerifyWith(f, fi.Size(), opts)
}

// Verify checks a bundle: that it is a zip, that manifest.json parses and
// follows the schema, that every file it lists is present with its size and
// SHA-256 (which catches any changed byte), that nothing else is in the
// archive, that the JSON files parse and that the files carry the case
// marker. It streams every file, in bounded memory whatever the bundle
// holds. The error is only for failing to read; problems are in the
// report. This proves integrity only: see VerifyWith for origin.
func Verify(r io.ReaderAt, size int64) (*Report, error) {
	return VerifyWith(r, size, VerifyOptions{})
}

// VerifyWith is Verify, and also checks the bundle's signature: when
// opts has keys, the bundle must be signed by one of them.
func VerifyWith(r io.ReaderAt, size int64, opts VerifyOptions) (*Report, error) {
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
	data, err := readSmall(mf, maxManifest)
	if err != nil {
		rep.add(ManifestName, ProblemChanged, "cannot be read: %v", err)
		return rep, nil
	}
	var man Manifest
	if err := json.Unmarshal(data, &man); err != nil {
		rep.add(ManifestName, ProblemBadJSON, "%v", err)
		return rep, nil
	}
	if sf := entries[SignatureName]; sf != nil {
		sig, err := readSmall(sf, 64<<10)
		if err != nil {
			rep.add(SignatureName, ProblemChanged, "cannot be read: %v", err)
		} else {
			checkSignature(rep, sig, data, opts.Keys)
		}
	} else if len(opts.Keys) > 0 {
		rep.add(SignatureName, ProblemSignature, "the bundle is not signed, so its origin cannot be proven")
	}
	rep.Signature.Checked = len(opts.Keys) > 0
	data = nil
	rep.Case, rep.CreatedAt, rep.InProgress, rep.Files = man.Case, man.CreatedAt, man.InProgress, len(man.Files)
	if len(man.Files) > maxManifestList {
		rep.add(ManifestName, ProblemSchema, "lists %d files, more than the %d a bundle may hold", len(man.Files), maxManifestList)
		return rep, nil
	}
	checkManifest(rep, &man)
	if mf.Comment != "" && mf.Comment != man.Case {
		rep.add(ManifestName, ProblemMarker, "entry comment %q is not the case marker %s", mf.Comment, man.Case)
	}

	listed := map[string]bool{ManifestName: true, SignatureName: true}
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
		case f.Name == "" || !safePath(f.Name) || f.Name == ManifestName || f.Name == SignatureName:
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
	cr := &countReader{r: io.TeeReader(rc, io.MultiWriter(h, &head))}
	var caseValue string
	var hasCase bool
	var jsonErr error
	if parseJSON {
		caseValue, hasCase, jsonErr = scanJSON(io.LimitReader(cr, maxSmallFile))
		var se *syntaxError
		if jsonErr != nil && !errors.As(jsonErr, &se) {
			err, jsonErr = jsonErr, nil // reading failed: a changed file
		}
	}
	if err == nil {
		_, err = io.Copy(io.Discard, cr)
	}
	n := cr.n
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
		if jsonErr != nil {
			rep.add(want.Name, ProblemBadJSON, "%v", jsonErr)
		} else if !hasCase || caseValue != m.Case {
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

// readSmall reads a small entry whole, refusing one larger than max.
func readSmall(f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
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
