package web

import (
	"encoding/json"
	"strings"

	"github.com/pacer-dev/pacer/metrics"
)

// The OpenAPI 3.0 document of the JSON API, made from the column definitions the CSV export
// writes (metrics.DatasetDefs): one source for the header, the fields and their schemas.

type oaSchema struct {
	Ref                  string               `json:"$ref,omitempty"`
	Type                 string               `json:"type,omitempty"`
	Format               string               `json:"format,omitempty"`
	Nullable             bool                 `json:"nullable,omitempty"`
	Description          string               `json:"description,omitempty"`
	Enum                 []string             `json:"enum,omitempty"`
	Default              any                  `json:"default,omitempty"`
	Minimum              *int                 `json:"minimum,omitempty"`
	Maximum              *int                 `json:"maximum,omitempty"`
	Items                *oaSchema            `json:"items,omitempty"`
	Properties           map[string]*oaSchema `json:"properties,omitempty"`
	Required             []string             `json:"required,omitempty"`
	AdditionalProperties *bool                `json:"additionalProperties,omitempty"`
}

type oaParameter struct {
	Ref         string    `json:"$ref,omitempty"`
	Name        string    `json:"name,omitempty"`
	In          string    `json:"in,omitempty"`
	Description string    `json:"description,omitempty"`
	Style       string    `json:"style,omitempty"`
	Explode     *bool     `json:"explode,omitempty"`
	Schema      *oaSchema `json:"schema,omitempty"`
}

type oaMedia struct {
	Schema *oaSchema `json:"schema"`
}

type oaResponse struct {
	Ref         string             `json:"$ref,omitempty"`
	Description string             `json:"description,omitempty"`
	Content     map[string]oaMedia `json:"content,omitempty"`
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description,omitempty"`
	Tags        []string               `json:"tags,omitempty"`
	Parameters  []oaParameter          `json:"parameters,omitempty"`
	Responses   map[string]*oaResponse `json:"responses"`
}

type oaPathItem struct {
	Get *oaOperation `json:"get"`
}

type oaSecurityScheme struct {
	Type        string `json:"type"`
	Scheme      string `json:"scheme,omitempty"`
	In          string `json:"in,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

type oaComponents struct {
	Schemas         map[string]*oaSchema         `json:"schemas"`
	Parameters      map[string]*oaParameter      `json:"parameters"`
	Responses       map[string]*oaResponse       `json:"responses"`
	SecuritySchemes map[string]*oaSecurityScheme `json:"securitySchemes"`
}

type oaInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type oaDocument struct {
	OpenAPI    string                 `json:"openapi"`
	Info       oaInfo                 `json:"info"`
	Security   []map[string][]string  `json:"security"`
	Paths      map[string]*oaPathItem `json:"paths"`
	Components oaComponents           `json:"components"`
}

// schemaName is a dataset's row schema name: merge-requests -> MergeRequestsRow.
func schemaName(dataset string) string {
	var b strings.Builder
	for _, part := range strings.Split(dataset, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String() + "Row"
}

// columnSchema is the JSON schema of a column's values, by its kind.
func columnSchema(col metrics.Column) *oaSchema {
	s := &oaSchema{Nullable: col.Nullable, Description: col.Description}
	switch col.Kind {
	case metrics.KindInteger:
		s.Type, s.Format = "integer", "int64"
	case metrics.KindDecimal:
		s.Type = "number"
	case metrics.KindBoolean:
		s.Type = "boolean"
	case metrics.KindTimestamp:
		s.Type, s.Format = "string", "date-time"
	case metrics.KindDate:
		s.Type, s.Format = "string", "date"
	case metrics.KindLabels:
		s.Type, s.Items = "array", &oaSchema{Type: "string"}
	default:
		s.Type = "string"
	}
	return s
}

func ref(kind, name string) string { return "#/components/" + kind + "/" + name }

// openAPIDocument returns the API's OpenAPI 3.0 document. cookie is the session cookie's
// name; open says that nobody signs in (then no credential is needed).
func openAPIDocument(cookie string, open bool) ([]byte, error) {
	no := false
	one, maxLimit := 1, apiMaxLimit
	explode := true
	str := func(desc string) *oaSchema { return &oaSchema{Type: "string", Description: desc} }
	doc := oaDocument{
		OpenAPI: "3.0.3",
		Info: oaInfo{
			Title:   "Pacer API",
			Version: "1",
			Description: "The rows of Pacer's CSV exports as typed JSON, with the same filters and the same rows for the same query, " +
				"over the projects the caller may see. Pages come in the dataset's order; pass a page's next value as cursor for the next one " +
				"(next is null on the last page). A machine token (pacer token create NAME) goes in Authorization: Bearer.",
		},
		Security: []map[string][]string{{"bearer": {}}, {"session": {}}},
		Paths:    map[string]*oaPathItem{},
		Components: oaComponents{
			Schemas: map[string]*oaSchema{
				"Error": {
					Type: "object", Required: []string{"error"}, AdditionalProperties: &no,
					Properties: map[string]*oaSchema{"error": {
						Type: "object", Required: []string{"field", "message"}, AdditionalProperties: &no,
						Properties: map[string]*oaSchema{
							"field":   {Type: "string", Nullable: true, Description: "The query parameter at fault; null when the error is not about one."},
							"message": str("What went wrong and how to fix it."),
						},
					}},
				},
			},
			Parameters: map[string]*oaParameter{
				"from": {Name: "from", In: "query", Description: "First day of the range (UTC), inclusive. With to, makes the period custom.",
					Schema: &oaSchema{Type: "string", Format: "date"}},
				"to": {Name: "to", In: "query", Description: "Last day of the range (UTC), inclusive; default today.",
					Schema: &oaSchema{Type: "string", Format: "date"}},
				"period": {Name: "period", In: "query", Description: "A range ending today: the last N ISO weeks, this one included (default 12w), or custom with from and to.",
					Schema: &oaSchema{Type: "string", Enum: []string{"4w", "12w", "26w", "52w", "custom"}}},
				"service": {Name: "service", In: "query", Description: "Only these services (repeatable); all for every service.",
					Style: "form", Explode: &explode, Schema: &oaSchema{Type: "array", Items: &oaSchema{Type: "string"}}},
				"team": {Name: "team", In: "query", Description: "Only this configured team's services or authors.", Schema: &oaSchema{Type: "string"}},
				"by": {Name: "by", In: "query", Description: "The figures' period (metrics): ISO week, UTC day, calendar month or calendar quarter.",
					Schema: &oaSchema{Type: "string", Enum: []string{"week", "day", "month", "quarter"}, Default: "week"}},
				"limit": {Name: "limit", In: "query", Description: "Rows per page.",
					Schema: &oaSchema{Type: "integer", Minimum: &one, Maximum: &maxLimit, Default: apiDefaultLimit}},
				"cursor": {Name: "cursor", In: "query", Description: "The next value of the previous page, as it is (opaque). Keep the other filters unchanged.",
					Schema: &oaSchema{Type: "string"}},
			},
			Responses: map[string]*oaResponse{
				"BadRequest": {Description: "A parameter is malformed or names an unknown service or team; field names it.",
					Content: map[string]oaMedia{"application/json": {Schema: &oaSchema{Ref: ref("schemas", "Error")}}}},
				"Unauthorized": {Description: "No session, or a machine token that is unknown, revoked or expired.",
					Content: map[string]oaMedia{"application/json": {Schema: &oaSchema{Ref: ref("schemas", "Error")}}}},
				"ServerError": {Description: "Pacer failed; the server log has the details.",
					Content: map[string]oaMedia{"application/json": {Schema: &oaSchema{Ref: ref("schemas", "Error")}}}},
			},
			SecuritySchemes: map[string]*oaSecurityScheme{
				"bearer": {Type: "http", Scheme: "bearer",
					Description: "A read-only machine token from pacer token create NAME; it sees the projects it was granted."},
				"session": {Type: "apiKey", In: "cookie", Name: cookie,
					Description: "The browser session of a person signed in with GitLab; it sees the projects they may read there."},
			},
		},
	}
	if open {
		// Nobody signs in: the API answers without a credential (a token still narrows it).
		doc.Security = append(doc.Security, map[string][]string{})
	}
	var params []oaParameter
	for _, p := range []string{"from", "to", "period", "service", "team", "by", "limit", "cursor"} {
		params = append(params, oaParameter{Ref: ref("parameters", p)})
	}
	for _, d := range metrics.DatasetDefs {
		row := &oaSchema{Type: "object", AdditionalProperties: &no, Description: d.Description, Properties: map[string]*oaSchema{}}
		for _, col := range d.Columns {
			row.Properties[col.Name] = columnSchema(col)
			row.Required = append(row.Required, col.Name)
		}
		name := schemaName(d.Name)
		doc.Components.Schemas[name] = row
		doc.Components.Schemas[name+"Page"] = &oaSchema{
			Type: "object", Required: []string{"data", "next"}, AdditionalProperties: &no,
			Properties: map[string]*oaSchema{
				"data": {Type: "array", Items: &oaSchema{Ref: ref("schemas", name)}},
				"next": {Type: "string", Nullable: true, Description: "The cursor of the next page; null on the last page."},
			},
		}
		doc.Paths["/api/v1/"+d.Name] = &oaPathItem{Get: &oaOperation{
			OperationID: "list" + strings.TrimSuffix(name, "Row"),
			Summary:     "The " + d.Name + " export's rows, a page at a time",
			Description: d.Description + " The same rows as /export/" + d.Name + ".csv for the same query.",
			Tags:        []string{"datasets"},
			Parameters:  params,
			Responses: map[string]*oaResponse{
				"200": {Description: "A page of rows.",
					Content: map[string]oaMedia{"application/json": {Schema: &oaSchema{Ref: ref("schemas", name+"Page")}}}},
				"400": {Ref: ref("responses", "BadRequest")},
				"401": {Ref: ref("responses", "Unauthorized")},
				"500": {Ref: ref("responses", "ServerError")},
			},
		}}
	}
	return json.MarshalIndent(doc, "", "  ")
}
