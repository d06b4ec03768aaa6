package kb

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/vpndiag/vpndiag"
)

//go:embed articles/*.md
var articleFS embed.FS

// Entry is one kb article.
type Entry struct {
	// Slug names the article, one of the Article* constants; the file is
	// articles/SLUG.md.
	Slug string `json:"slug"`
	// Title is the article's first heading.
	Title string `json:"title"`
	// GuideSection is the title of the troubleshooting guide's section the
	// article covers, from its "Guide section:" line.
	GuideSection string `json:"guide_section"`
	// Body is the Markdown after the title and the guide-section line.
	Body string `json:"body"`
}

// guidePrefix starts the line that names the guide's section.
const guidePrefix = "Guide section: "

// Article returns the article named slug; ENOTFOUND when there is none.
func Article(slug string) (*Entry, error) {
	data, err := fs.ReadFile(articleFS, path.Join("articles", slug+".md"))
	if err != nil || slug == "" || strings.ContainsAny(slug, "/.") {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no kb article %q.", slug)
	}
	e, err := parse(slug, string(data))
	if err != nil {
		return nil, fmt.Errorf("kb: %w", err)
	}
	return e, nil
}

// Articles returns every article, in the order of Slugs (articles with a
// slug not in Slugs last, by name).
func Articles() []*Entry {
	var out []*Entry
	for _, slug := range names() {
		if e, err := Article(slug); err == nil {
			out = append(out, e)
		}
	}
	return out
}

// names returns the slugs of the embedded files in Slugs order.
func names() []string {
	ents, _ := fs.ReadDir(articleFS, "articles")
	var files []string
	for _, e := range ents {
		files = append(files, strings.TrimSuffix(e.Name(), ".md"))
	}
	slices.SortFunc(files, func(a, b string) int {
		ia, ib := slices.Index(Slugs, a), slices.Index(Slugs, b)
		if ia < 0 {
			ia = len(Slugs)
		}
		if ib < 0 {
			ib = len(Slugs)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	return files
}

// parse splits an article file into title, guide section and body.
func parse(slug, text string) (*Entry, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("article %s: the first line must be a \"# Title\" heading", slug)
	}
	e := &Entry{Slug: slug, Title: strings.TrimSpace(strings.TrimPrefix(lines[0], "# "))}
	rest := lines[1:]
	for len(rest) > 0 && strings.TrimSpace(rest[0]) == "" {
		rest = rest[1:]
	}
	if len(rest) == 0 || !strings.HasPrefix(rest[0], guidePrefix) {
		return nil, fmt.Errorf("article %s: the line after the title must start with %q", slug, guidePrefix)
	}
	e.GuideSection = strings.Trim(strings.TrimSpace(strings.TrimPrefix(rest[0], guidePrefix)), `"“”`)
	e.Body = strings.TrimSpace(strings.Join(rest[1:], "\n"))
	return e, nil
}

// Validate checks the kb: every slug in Slugs has an article, every article
// file has a known slug, a title, a guide section and a body. It returns
// every problem found, each naming the article.
func Validate() []string {
	var probs []string
	files := names()
	for _, slug := range Slugs {
		if !slices.Contains(files, slug) {
			probs = append(probs, fmt.Sprintf("kb: article %s: articles/%s.md is missing", slug, slug))
		}
	}
	for _, slug := range files {
		if !slices.Contains(Slugs, slug) {
			probs = append(probs, fmt.Sprintf("kb: articles/%s.md: slug is not one of kb.Slugs", slug))
			continue
		}
		data, _ := fs.ReadFile(articleFS, path.Join("articles", slug+".md"))
		e, err := parse(slug, string(data))
		switch {
		case err != nil:
			probs = append(probs, "kb: "+err.Error())
		case e.Title == "":
			probs = append(probs, fmt.Sprintf("kb: article %s: empty title", slug))
		case e.GuideSection == "":
			probs = append(probs, fmt.Sprintf("kb: article %s: empty guide section", slug))
		case len(e.Body) < 200:
			probs = append(probs, fmt.Sprintf("kb: article %s: body is too short to help anyone", slug))
		}
	}
	return probs
}
