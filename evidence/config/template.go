package config

import (
	"regexp"
	"strings"
)

// Vendors and clouds publish device configurations as templates that a
// generator fills in: Azure's XSLT files (<xsl:value-of select="Data/X"/>),
// Jinja or Go templates ({{ x }}). A placeholder written with spaces breaks
// the vendors' word-based syntax ("tunnel-group <xsl:value-of …/> type
// ipsec-l2l" no longer has the name as its second word), so the file was
// either not recognised or read with its names cut in two. untemplate
// rewrites each placeholder as one ${NAME} word, which every parser already
// takes for a template reference, keeps the XSLT's literal <xsl:text>
// content and drops the XSLT's own element lines, without changing the
// number of lines so that findings keep pointing at the right line.
var (
	xslValue  = regexp.MustCompile(`<xsl:value-of\s+select\s*=\s*"([^"]*)"\s*/>`)
	xslText   = regexp.MustCompile(`<xsl:text>([^<]*)</xsl:text>`)
	xslTag    = regexp.MustCompile(`</?xsl:[^>]*>`)
	xmlHeader = regexp.MustCompile(`<\?xml[^>]*\?>`)
	jinjaExpr = regexp.MustCompile(`\{\{-?\s*([^{}]*?)\s*-?\}\}`)
	notName   = regexp.MustCompile(`[^A-Za-z0-9_]+`)
)

// placeholder turns a template expression (an XPath, a Jinja variable) into
// a ${NAME} word: its last path element, letters, digits and underscores.
func placeholder(expr string) string {
	e := strings.TrimSpace(expr)
	if i := strings.LastIndexAny(e, "/."); i >= 0 && i < len(e)-1 {
		e = e[i+1:]
	}
	e = strings.Trim(notName.ReplaceAllString(e, "_"), "_")
	if e == "" {
		e = "VALUE"
	}
	return "${" + e + "}"
}

// untemplate rewrites template placeholders as single words (see above).
// Text without any is returned unchanged.
func untemplate(text string) string {
	if strings.Contains(text, "<xsl:") {
		text = xslValue.ReplaceAllStringFunc(text, func(m string) string {
			return placeholder(xslValue.FindStringSubmatch(m)[1])
		})
		text = xslText.ReplaceAllString(text, "$1")
		text = xslTag.ReplaceAllString(text, "")
		text = xmlHeader.ReplaceAllString(text, "")
		text = strings.TrimPrefix(text, "\ufeff")
	}
	if strings.Contains(text, "{{") {
		text = jinjaExpr.ReplaceAllStringFunc(text, func(m string) string {
			return placeholder(jinjaExpr.FindStringSubmatch(m)[1])
		})
	}
	return text
}
