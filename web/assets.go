package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/views"
)

//go:embed static
var staticFS embed.FS

// assets serves the embedded static files under content-hashed names
// (site.3f2a1b4c.css), so they can be cached for a year and still change with each release.
type assets struct {
	byURL map[string]asset  // /static/site.3f2a1b4c.css -> file
	url   map[string]string // site.css -> /static/site.3f2a1b4c.css
}

type asset struct {
	body        []byte
	contentType string
}

func loadAssets() (*assets, error) {
	a := &assets{byURL: map[string]asset{}, url: map[string]string{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: read static files: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: read static file %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		base := strings.TrimSuffix(e.Name(), ext)
		url := "/static/" + base + "." + hex.EncodeToString(sum[:])[:10] + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.byURL[url] = asset{body: body, contentType: ct}
		a.url[e.Name()] = url
	}
	return a, nil
}

// views returns the URLs the layout links to.
func (a *assets) views() views.Assets {
	return views.Assets{CSS: a.url["site.css"], JS: a.url["htmx.min.js"], Icon: a.url["favicon.svg"], Script: a.url["pacer.js"]}
}

// serve answers /static/* with the file of that hashed name.
func (a *assets) serve(c *echo.Context) error {
	f, ok := a.byURL[c.Request().URL.Path]
	if !ok {
		return notFoundf("there is no static file %s (static file names change with each release; reload the page)", c.Request().URL.Path)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, f.contentType, f.body)
}
