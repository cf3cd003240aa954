package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
)

// exporter is the CSV area: /export/<dataset>.csv with the dashboard's filters gives the same
// rows as `pacer export <dataset>` with the same flags.
type exporter struct{}

func (h *exporter) csv(c *echo.Context) error {
	name := c.Param("file")
	dataset, ok := strings.CutSuffix(name, ".csv")
	if !ok || !validDataset(dataset) {
		return notFoundf("There is no export called %q: use one of /export/%s.csv.", truncate(name, 60), strings.Join(metrics.Datasets, ".csv, /export/"))
	}
	q, err := parseQuery(c.Request().URL.Query(), engineOf(c).Now())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// Check before the headers go out, so that a bad filter is an error page, not a download.
	if err := engineOf(c).Validate(ctx, q.Filter()); err != nil {
		return err
	}
	filename := "pacer-" + dataset + "-" + q.From.Format(time.DateOnly) + "-" + q.To.Format(time.DateOnly) + ".csv"
	hd := c.Response().Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	hd.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	return metrics.WriteCSV(ctx, c.Response(), engineOf(c), dataset, q.Filter())
}

func validDataset(name string) bool {
	for _, d := range metrics.Datasets {
		if d == name {
			return true
		}
	}
	return false
}
