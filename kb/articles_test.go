package kb_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

func TestValidate(t *testing.T) {
	if probs := kb.Validate(); len(probs) > 0 {
		t.Fatalf("kb problems:\n%s", strings.Join(probs, "\n"))
	}
}

func TestArticles(t *testing.T) {
	all := kb.Articles()
	if len(all) != len(kb.Slugs) {
		t.Fatalf("%d articles for %d slugs", len(all), len(kb.Slugs))
	}
	for i, a := range all {
		if a.Slug != kb.Slugs[i] {
			t.Errorf("article %d is %s, want %s (Slugs order)", i, a.Slug, kb.Slugs[i])
		}
		if a.Title == "" || a.GuideSection == "" || strings.HasPrefix(a.Body, "Guide section") {
			t.Errorf("article %s: %+v", a.Slug, a)
		}
	}
	a, err := kb.Article(kb.ArticleIKEv2HourlyDrop)
	if err != nil {
		t.Fatal(err)
	}
	if a.GuideSection != "Tunnel drop every 60 minutes while using IKEv2" || !strings.Contains(a.Body, "51 minutes") {
		t.Fatalf("article = %+v", a)
	}
}

func TestArticleNotFound(t *testing.T) {
	for _, slug := range []string{"", "nosuch", "../facts", "ikev2-hourly-drop.md", "articles/reset-tunnels"} {
		if _, err := kb.Article(slug); vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
			t.Errorf("Article(%q): err = %v, want not_found", slug, err)
		}
	}
}

// TestOwnWords: no article copies a long run of the guide's sentences. The
// guide's lines are compared as 12-word windows.
func TestOwnWords(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "guide", "vpn-troubleshooting-guide.txt"))
	if err != nil {
		t.Skipf("the guide is not next to the repository: %v", err)
	}
	data := string(b)
	windows := map[string]bool{}
	words := strings.Fields(strings.ToLower(data))
	for i := 0; i+12 <= len(words); i++ {
		windows[strings.Join(words[i:i+12], " ")] = true
	}
	for _, a := range kb.Articles() {
		w := strings.Fields(strings.ToLower(a.Body))
		for i := 0; i+12 <= len(w); i++ {
			if s := strings.Join(w[i:i+12], " "); windows[s] {
				t.Errorf("article %s repeats the guide: %q", a.Slug, s)
				break
			}
		}
	}
}
